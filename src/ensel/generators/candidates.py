"""Group a question's candidates by an equivalence and pick the consensus.

Independent of SQL: candidates are anything with a hashable ``key`` (candidates with different
keys are never equivalent) and, optionally, an exact ``equal`` test applied inside a key
bucket. Failed candidates (key ``None``) are never grouped with anything.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

__all__ = ["Groups", "group_candidates"]

T = TypeVar("T")


@dataclass(frozen=True)
class Groups:
    """Equivalence groups of one question's candidates.

    Attributes
    ----------
    labels : ndarray of shape (K,), int
        Group index of every candidate, ``-1`` for a failed candidate.
    members : list of list of int
        Candidate indices of each group, ascending; groups are numbered in order of their
        first candidate.
    failed : ndarray of shape (K,), bool
        Candidates that produced no comparable output (e.g. SQL that did not execute).

    Examples
    --------
    >>> g = group_candidates(["a", "b", None, "a", "b"])
    >>> g.labels.tolist(), g.sizes.tolist(), g.failed.tolist()
    ([0, 1, -1, 0, 1], [2, 2], [False, False, True, False, False])
    >>> g.consensus()          # tie 2-2: the group holding the earliest candidate wins
    0
    >>> g.consensus(weights=[0.1, 0.9, 0.5, 0.1, 0.9])   # weighted vote: group "b" scores 1.8
    1
    """

    labels: np.ndarray
    members: list[list[int]]
    failed: np.ndarray

    @property
    def n_candidates(self) -> int:
        return int(self.labels.shape[0])

    @property
    def n_groups(self) -> int:
        return len(self.members)

    @property
    def sizes(self) -> np.ndarray:
        """Number of candidates in every group, shape ``(n_groups,)``."""
        return np.array([len(m) for m in self.members], dtype=np.int64)

    def group_size(self) -> np.ndarray:
        """Size of each candidate's group, shape ``(K,)`` (0 for a failed candidate)."""
        out = np.zeros(self.n_candidates, dtype=np.int64)
        for m in self.members:
            out[m] = len(m)
        return out

    def consensus(self, weights: Sequence[float] | np.ndarray | None = None) -> int:
        """Index of the candidate the (weighted) majority picks.

        Parameters
        ----------
        weights : array-like of shape (K,), optional
            A vote weight per candidate (default: one vote each).

        Returns
        -------
        int
            The first (lowest-index) candidate of the group with the largest total weight.
            **Tie rule:** among groups with equal total weight (within 1e-9), the group whose
            first candidate comes earliest wins, so list candidates strongest generator first.
            When every candidate failed, candidate 0.
        """
        if weights is None:
            w = np.ones(self.n_candidates)
        else:
            w = np.asarray(weights, dtype=float)
            if w.shape != (self.n_candidates,):
                raise ValueError(
                    f"'weights' must have shape ({self.n_candidates},), one per candidate. "
                    f"Got shape {w.shape} instead."
                )
        if not self.members:
            return 0
        scores = [float(w[m].sum()) for m in self.members]
        best = max(scores)
        # members are ordered by first candidate: the first group within 1e-9 of the best
        return next(m[0] for m, s in zip(self.members, scores, strict=True) if s >= best - 1e-9)


def group_candidates(
    keys: Sequence[Hashable | None],
    *,
    items: Sequence[T] | None = None,
    equal: Callable[[T, T], bool] | None = None,
) -> Groups:
    """Group candidates by equal keys, refined by an exact equivalence test.

    Parameters
    ----------
    keys : sequence of hashable or None, length K
        A summary per candidate; ``None`` marks a failed candidate (never grouped).
        Equivalent candidates must have equal keys.
    items : sequence, length K, optional
        The candidates' outputs handed to ``equal``.
    equal : callable (item, item) -> bool, optional
        The exact equivalence (must be an equivalence relation), applied only between
        candidates whose keys are equal. Without it, equal keys mean equivalent.

    Returns
    -------
    Groups
    """
    k = len(keys)
    if (items is None) != (equal is None):
        raise ValueError("Pass 'items' and 'equal' together, or neither.")
    if items is not None and len(items) != k:
        raise ValueError(f"'items' has {len(items)} entries but 'keys' has {k}.")
    labels = np.full(k, -1, dtype=np.int64)
    members: list[list[int]] = []
    buckets: dict[Any, list[int]] = {}        # key -> group ids with that key
    for i, key in enumerate(keys):
        if key is None:
            continue
        gids = buckets.setdefault(key, [])
        for g in gids:
            if equal is None or equal(items[members[g][0]], items[i]):  # type: ignore[index]
                labels[i] = g
                members[g].append(i)
                break
        else:
            labels[i] = len(members)
            gids.append(len(members))
            members.append([i])
    return Groups(labels=labels, members=members, failed=labels < 0)
