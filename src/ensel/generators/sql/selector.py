"""The learned SQL candidate selector: features of executed candidates -> listwise scorer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ensel.generators.selector import CONFIG, ListwiseSelector, _upgrade_params
from ensel.generators.sql.data import ExecutedQuestion
from ensel.generators.sql.features import UNPENALIZED, feature_names, group_features

__all__ = ["SQLSelector", "choose_groups", "database_folds", "system_accuracies"]

_NOT_FITTED = "This %(name)s is not fitted yet: call fit() or load() first."
_META_KEYS = ("systems", "system_accuracy", "feature_names", "alpha", "params")


def system_accuracies(executed: Sequence[ExecutedQuestion]) -> dict[str, float]:
    """Execution accuracy of every system on ``executed`` (which must have gold results).

    A system that is absent from a question counts as wrong there.
    """
    _check_gold(executed, "system_accuracies")
    systems = executed[0].systems
    correct = np.array([eq.correct & eq.present for eq in executed])
    return {s: float(correct[:, j].mean()) for j, s in enumerate(systems)}


def _check_gold(executed: Sequence[ExecutedQuestion], where: str) -> None:
    if not executed:
        raise ValueError(f"{where} needs at least one executed question.")
    for eq in executed:
        if eq.correct is None:
            raise ValueError(f"{where}: question {eq.question.id!r} has no gold SQL; training and "
                             f"accuracy need it.")


def database_folds(db_ids: Sequence[str], n_splits: int) -> list[np.ndarray]:
    """Split questions into ``n_splits`` held-out masks by database, balanced by size.

    Databases are assigned largest first to the currently smallest fold (deterministic);
    with fewer databases than ``n_splits``, one fold per database.

    Returns
    -------
    list of ndarray of shape (Q,), bool
        Held-out mask of each fold.
    """
    ids = np.asarray(db_ids)
    names, counts = np.unique(ids, return_counts=True)
    if len(names) < 2:
        raise ValueError(f"Cross-validation by database needs at least 2 databases, got "
                         f"{names.tolist()}.")
    n = min(n_splits, len(names))
    folds: list[list[str]] = [[] for _ in range(n)]
    sizes = [0] * n
    for i in sorted(range(len(names)), key=lambda i: (-counts[i], names[i])):
        f = sizes.index(min(sizes))
        folds[f].append(str(names[i]))
        sizes[f] += int(counts[i])
    return [np.isin(ids, f) for f in folds]


def _consensus_groups(executed: Sequence[ExecutedQuestion], width: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Consensus group index ``[Q]`` and group sizes ``[Q, G]`` (0 for padding)."""
    cons = np.zeros(len(executed), dtype=np.int64)
    sizes = np.zeros((len(executed), width), dtype=np.int64)
    for q, eq in enumerate(executed):
        g = eq.groups
        if g.n_groups:
            cons[q] = int(g.labels[g.consensus()])
            sizes[q, :g.n_groups] = g.sizes
    return cons, sizes


def choose_groups(scores: np.ndarray, mask: np.ndarray, consensus: np.ndarray,
                  sizes: np.ndarray, *, margin: float, vote_gap: int | None) -> np.ndarray:
    """The gate of :class:`SQLSelector`: consensus unless a group outscores it by > ``margin``.

    Only groups at most ``vote_gap`` votes behind the consensus group may override it.

    Parameters
    ----------
    scores : ndarray of shape (Q, G)
        Score of every result group of every question.
    mask : ndarray of shape (Q, G), bool
        Present groups.
    consensus : ndarray of shape (Q,), int
        The consensus group of each question.
    sizes : ndarray of shape (Q, G), int
        Votes (candidates) of each group.
    margin : float
        How much higher than the consensus group's score a group must score to override it;
        ``-inf`` is the plain argmax of the scores (equal scores: the earliest group),
        ``inf`` is consensus.
    vote_gap : int or None
        Largest vote deficit of an overriding group (``0``: only groups tied with consensus;
        ``None``: any).

    Returns
    -------
    ndarray of shape (Q,), int
        The chosen group of each question.

    Examples
    --------
    >>> import numpy as np
    >>> scores = np.array([[0.0, 1.0, 3.0]])
    >>> mask, sizes = np.ones((1, 3), dtype=bool), np.array([[5, 4, 1]])
    >>> choose_groups(scores, mask, np.array([0]), sizes, margin=0.5, vote_gap=None).tolist()
    [2]
    >>> choose_groups(scores, mask, np.array([0]), sizes, margin=0.5, vote_gap=1).tolist()
    [1]
    """
    cons = consensus
    q = np.arange(len(cons))
    if np.isneginf(margin):
        return np.argmax(np.where(mask, scores, -np.inf), axis=1)
    if np.isposinf(margin):
        return cons.copy()
    eligible = mask.copy()
    eligible[q, cons] = False
    if vote_gap is not None:
        eligible &= (sizes[q, cons][:, None] - sizes) <= vote_gap
    alt_scores = np.where(eligible, scores, -np.inf)
    alt = np.argmax(alt_scores, axis=1)
    override = eligible.any(axis=1) & (alt_scores[q, alt] - scores[q, cons] > margin)
    return np.where(override, alt, cons)


def _error(correct: np.ndarray, pick: np.ndarray) -> float:
    return float(1.0 - correct[np.arange(len(pick)), pick].mean())


@dataclass
class _Grid:
    """The checked search grid of one fit: penalties, gate margins (None: no gate), vote gaps."""

    alphas: list[float]
    margins: list[float] | None
    gaps: list[int | None]


@dataclass
class _Data:
    """The training arrays of one fit: group features, mask, correctness and the vote."""

    X: np.ndarray            # [Q, G, F]
    mask: np.ndarray         # [Q, G]
    correct: np.ndarray      # [Q, G]
    penalty: np.ndarray      # [F]
    cons: np.ndarray         # [Q], consensus group
    sizes: np.ndarray        # [Q, G], group sizes
    db_ids: np.ndarray       # [Q]

    def pick(self, scores: np.ndarray, rows: np.ndarray, margin: float,
             vote_gap: int | None) -> np.ndarray:
        """The gate's chosen group on ``rows`` (see :func:`choose_groups`)."""
        return choose_groups(scores[rows], self.mask[rows], self.cons[rows], self.sizes[rows],
                             margin=margin, vote_gap=vote_gap)


@dataclass
class _CrossValidation:
    """Held-out group scores ``[Q, G]`` of each ``alpha``, the held-out rows and CV errors."""

    scores: dict[float, np.ndarray]
    held: np.ndarray
    errors: dict[float, float]


class SQLSelector(BaseEstimator):
    """Pick one SQL candidate per question with a learned scorer (XiYan-SQL-style selection).

    Candidates that execute to the same result are equivalent, so the selector scores a
    question's result groups, each described by
    ``ensel.generators.sql.features.group_features`` (the vote, which systems proposed
    it and their training accuracy, the result's shape, duplicates and NULLs, SQL structure,
    question/SQL overlap), with a :class:`~ensel.generators.selector.ListwiseSelector`
    trained by a k = 1 listwise loss over the groups. The vote share and the consensus tie
    order are not penalised, so a strong penalty gives back consensus and a weaker one lets
    the other features in; the penalty is chosen by cross-validation across the training
    databases. Train on some databases, apply to others.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=()
        Hidden layers of the scorer; ``()`` is a linear scorer (the default: a few hundred
        training questions do not support more, see ``docs/sql.md``).
    method : {"softmax", "sparse", "entropic", "perturbed", "straight_through"}, \
default="softmax"
        Relaxed 1-of-K selection used in training (see :class:`ListwiseSelector`).
    method_options : dict, optional
        Options of the relaxation (see :class:`ListwiseSelector`).
    alphas : sequence of float, default=(0.1, 0.3, 1.0, 3.0, 10.0)
        L2 penalties tried; the one with the best cross-validated score is refitted on all
        training questions (ties: the larger penalty).
    cv : int, default=5
        Folds by database for choosing ``alpha`` (fewer when there are fewer databases). With
        one value in ``alphas`` no cross-validation runs.
    scoring : {"accuracy", "loss"}, default="accuracy"
        Cross-validation criterion: selection error, or the listwise log-loss.
    solver : {"lbfgs", "adam"}, default="lbfgs"
    max_iter : int, default=100
    random_state : int, default=0
    margins : sequence of float or None, default=None
        The **gate** between consensus and the scorer (off by default: nested
        cross-validation inside the training databases did not favour it, see
        ``docs/sql.md``; ``(0.0, 0.5, 1.0, 2.0)`` is the grid measured there). The selector
        keeps the consensus group unless another group scores higher than it by more than a
        margin and trails it by at most ``vote_gap`` votes. The margin and the vote gap are
        chosen together with ``alpha`` by the same cross-validation across the training
        databases, among these margins **and "never override"** (margin ``inf``, which is
        consensus exactly); equal errors go to the more conservative gate (larger margin,
        then smaller vote gap, then larger ``alpha``). ``None`` turns the gate off: plain
        argmax of the group scores (the selector before the gate; equal to margin 0 with an
        unlimited vote gap, except for score ties).
    vote_gaps : sequence of int or None, default=(0, 1, 2, None)
        Largest vote deficit (consensus group size minus the group's size) of a group that
        may override consensus; ``0``: only groups tied with consensus; ``None``: any.
    features : sequence of str, optional
        Keep only the feature columns whose name starts with one of these prefixes (e.g.
        ``("group.", "result.")``); default: all of :func:`feature_names`. The vote share
        ``group.share`` is always kept.
    min_gain : int, default=0
        An overriding gate is chosen only if it gets more than ``min_gain`` more training
        questions right in cross-validation than consensus does.

    Attributes
    ----------
    systems_ : list of str
        Candidate systems, in the order the features assume.
    system_accuracy_ : dict of str to float
        Each system's accuracy on the training questions (a feature at inference).
    feature_names_ : list of str
    alpha_ : float
        The chosen penalty.
    cv_results_ : dict of float to float
        Cross-validated error (``1 - accuracy``) or loss of every ``alpha`` (with the gate:
        the error of the best gate at that ``alpha``).
    margin_ : float
        The chosen gate margin (``inf``: never override, the selector is consensus;
        ``-inf``: no gate, argmax of the scores).
    vote_gap_ : int or None
        The chosen vote gap (``None``: any).
    gate_cv_results_ : dict of (float, int or None, float) to float
        Cross-validated error of every ``(alpha, vote_gap, margin)``; ``consensus_cv_error_``
        is consensus on the same folds.
    scorer_ : ListwiseSelector

    Examples
    --------
    >>> from ensel.generators.sql import (SQLiteDatabases, execute_questions,
    ...                                   load_questions)        # doctest: +SKIP
    >>> qs = load_questions("questions.jsonl")                    # doctest: +SKIP
    >>> ex = execute_questions(qs, SQLiteDatabases("database"))   # doctest: +SKIP
    >>> train = [e for e in ex if e.question.db_id != "world_1"]  # doctest: +SKIP
    >>> sel = SQLSelector().fit(train)                            # doctest: +SKIP
    >>> picks = sel.select([e for e in ex if e.question.db_id == "world_1"])  # doctest: +SKIP
    """

    def __init__(self, hidden_layer_sizes: Sequence[int] = (), *, method: str = "softmax",
                 method_options: dict[str, Any] | None = None,
                 alphas: Sequence[float] = (0.1, 0.3, 1.0, 3.0, 10.0), cv: int = 5,
                 scoring: str = "accuracy", solver: str = "lbfgs", max_iter: int = 100,
                 random_state: int = 0,
                 margins: Sequence[float] | None = None,
                 vote_gaps: Sequence[int | None] = (0, 1, 2, None),
                 features: Sequence[str] | None = None, min_gain: int = 0) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.method = method
        self.method_options = method_options
        self.alphas = alphas
        self.cv = cv
        self.scoring = scoring
        self.solver = solver
        self.max_iter = max_iter
        self.random_state = random_state
        self.margins = margins
        self.vote_gaps = vote_gaps
        self.features = features
        self.min_gain = min_gain

    def _scorer(self, alpha: float) -> ListwiseSelector:
        return ListwiseSelector(self.hidden_layer_sizes, method=self.method,
                                method_options=self.method_options, alpha=alpha,
                                solver=self.solver, max_iter=self.max_iter,
                                random_state=self.random_state)

    def _features(self, executed: Sequence[ExecutedQuestion],
                  accuracy: Sequence[dict[str, float]] | dict[str, float]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Group features ``X[Q, G, F]``, group mask ``[Q, G]`` and group correctness."""
        accs = [accuracy] * len(executed) if isinstance(accuracy, dict) else accuracy
        n_groups = max(max(eq.groups.n_groups for eq in executed), 1)
        n_feat = len(feature_names(executed[0].systems))
        X = np.zeros((len(executed), n_groups, n_feat), dtype=np.float32)
        mask = np.zeros((len(executed), n_groups), dtype=bool)
        correct = np.zeros((len(executed), n_groups), dtype=bool)
        for q, (eq, acc) in enumerate(zip(executed, accs, strict=True)):
            g = eq.groups.n_groups
            if g == 0:          # every candidate failed: one dummy unit, never right
                mask[q, 0] = True
                continue
            X[q, :g] = group_features(eq, acc)
            mask[q, :g] = True
            if eq.correct is not None:
                correct[q, :g] = [bool(eq.correct[m[0]]) for m in eq.groups.members]
        return X[:, :, self._columns()], mask, correct

    def _columns(self) -> np.ndarray:
        """Indices of the feature columns in use."""
        names = self.feature_names_
        if self.features is None:
            return np.arange(len(names))
        prefixes = tuple(self.features) + UNPENALIZED
        return np.array([i for i, n in enumerate(names) if n.startswith(prefixes)])

    def _check_systems(self, executed: Sequence[ExecutedQuestion]) -> None:
        for eq in executed:
            if list(eq.systems) != self.systems_:
                raise ValueError(
                    f"question {eq.question.id!r} was executed with systems {list(eq.systems)} "
                    f"but the selector was trained on {self.systems_}; pass "
                    f"systems=selector.systems_ to execute_questions.")

    def _check_params(self) -> _Grid:
        """Check the parameters (no state is set) and return the grid they describe."""
        alphas = [float(a) for a in self.alphas]
        if not alphas or any(a < 0 for a in alphas):
            raise ValueError(f"The 'alphas' parameter of SQLSelector must be a non-empty "
                             f"sequence of floats >= 0. Got {self.alphas!r} instead.")
        if self.scoring not in ("accuracy", "loss"):
            raise ValueError(f"The 'scoring' parameter of SQLSelector must be 'accuracy' or "
                             f"'loss'. Got {self.scoring!r} instead.")
        margins = None if self.margins is None else [float(m) for m in self.margins]
        if margins is not None and (not margins or any(not np.isfinite(m) or m < 0
                                                        for m in margins)):
            raise ValueError(f"The 'margins' parameter of SQLSelector must be None or a "
                             f"non-empty sequence of finite floats >= 0. Got {self.margins!r} "
                             f"instead.")
        gaps = list(self.vote_gaps)
        if not gaps or any(g is not None and (int(g) != g or g < 0) for g in gaps):
            raise ValueError(f"The 'vote_gaps' parameter of SQLSelector must be a non-empty "
                             f"sequence of ints >= 0 or None. Got {self.vote_gaps!r} instead.")
        if self.features is not None and (
                isinstance(self.features, str) or not self.features
                or not all(isinstance(f, str) for f in self.features)):
            raise ValueError(f"The 'features' parameter of SQLSelector must be None or a "
                             f"non-empty sequence of name prefixes. Got {self.features!r} "
                             f"instead.")
        return _Grid(alphas, margins, gaps)

    def fit(self, executed: Sequence[ExecutedQuestion]) -> SQLSelector:
        """Train on executed questions that have gold SQL.

        The steps: check the parameters, build the training arrays (system accuracies left
        one database out), score every ``alpha`` by cross-validation across databases, choose
        ``alpha`` (and the gate, with ``margins``), refit the scorer on all questions.

        The system-accuracy feature of a training question is computed without that
        question's database (leave one database out), as it will be on unseen databases.

        Parameters
        ----------
        executed : sequence of ExecutedQuestion
            All with the same ``systems``; from at least 2 databases when more than one
            ``alphas`` value is to be compared.

        Returns
        -------
        self
        """
        _check_gold(executed, "SQLSelector.fit")
        grid = self._check_params()
        data = self._training_data(list(executed))
        self.cv_results_: dict[float, float] = {}
        self.gate_cv_results_: dict[tuple[float, int | None, float], float] = {}
        self.alpha_ = grid.alphas[0]
        self.margin_, self.vote_gap_ = (-np.inf, None) if grid.margins is None else (np.inf, 0)
        gated_cv = grid.margins is not None and len(set(data.db_ids.tolist())) > 1
        if len(grid.alphas) > 1 or gated_cv:
            cv = self._cross_validate(data, grid.alphas)
            self.cv_results_ = cv.errors
            best = min(cv.errors.values())
            self.alpha_ = max(a for a, v in cv.errors.items() if v <= best + 1e-9)
            if grid.margins is not None:
                self._choose_gate(data, cv, grid)
        self.scorer_ = self._scorer(self.alpha_).fit(data.X, data.mask, data.correct,
                                                     penalty=data.penalty)
        return self

    def _training_data(self, executed: list[ExecutedQuestion]) -> _Data:
        """Set ``systems_``, ``system_accuracy_``, ``feature_names_``; the training arrays."""
        self.systems_ = list(executed[0].systems)
        self._check_systems(executed)
        self.system_accuracy_ = system_accuracies(executed)
        self.feature_names_ = feature_names(self.systems_)
        db_ids = np.array([eq.question.db_id for eq in executed])
        loo: dict[str, dict[str, float]] = {}
        for db in sorted(set(db_ids.tolist())):
            others = [eq for eq, d in zip(executed, db_ids, strict=True) if d != db]
            loo[db] = system_accuracies(others) if others else self.system_accuracy_
        X, mask, correct = self._features(executed, [loo[d] for d in db_ids])
        penalty = np.array([0.0 if self.feature_names_[i] in UNPENALIZED else 1.0
                            for i in self._columns()])
        cons, sizes = _consensus_groups(executed, mask.shape[1])
        return _Data(X, mask, correct, penalty, cons, sizes, db_ids)

    def _cross_validate(self, data: _Data, alphas: list[float]) -> _CrossValidation:
        """Held-out scores of every ``alpha`` on folds by database, and its CV error."""
        folds = [h for h in database_folds(data.db_ids, self.cv) if data.correct[~h].any()]
        held_all = np.zeros(len(data.db_ids), dtype=bool)
        for held in folds:
            held_all |= held
        scores: dict[float, np.ndarray] = {}
        errors: dict[float, float] = {}
        for a in alphas:
            scores[a] = np.full(data.mask.shape, -np.inf, dtype=np.float64)
            losses, weights = [], []
            for held in folds:
                s = self._scorer(a).fit(data.X[~held], data.mask[~held], data.correct[~held],
                                        penalty=data.penalty)
                scores[a][held] = s.decision_function(data.X[held], data.mask[held])
                n_ok = int(data.correct[held].any(axis=1).sum())
                if self.scoring == "loss" and n_ok:
                    losses.append(s.loss(data.X[held], data.mask[held], data.correct[held]))
                    weights.append(n_ok)
            if self.scoring == "loss":
                errors[a] = float(np.average(losses, weights=weights))
            else:
                errors[a] = _error(data.correct[held_all],
                                   data.pick(scores[a], held_all, -np.inf, None))
        return _CrossValidation(scores, held_all, errors)

    def _choose_gate(self, data: _Data, cv: _CrossValidation, grid: _Grid) -> None:
        """Set ``margin_``, ``vote_gap_`` (and maybe ``alpha_``) from the CV error of each gate.

        Candidates are tried in order of preference on equal error, the most conservative
        first; a gate must beat consensus by more than ``min_gain`` questions.
        """
        held = cv.held
        c_held = data.correct[held]
        self.consensus_cv_error_ = _error(c_held, data.cons[held])
        cands = [(a, g, m) for m in sorted(grid.margins or (), reverse=True)
                 for g in sorted(grid.gaps, key=lambda g: np.inf if g is None else g)
                 for a in sorted(grid.alphas, reverse=True)
                 if not (self.scoring == "loss" and a != self.alpha_)]
        for a, g, m in cands:
            self.gate_cv_results_[(a, g, m)] = _error(c_held, data.pick(cv.scores[a], held, m, g))
        best_key, best_err = None, self.consensus_cv_error_ - self.min_gain / int(held.sum())
        for key in cands:
            if self.gate_cv_results_[key] < best_err - 1e-9:
                best_key, best_err = key, self.gate_cv_results_[key]
        if best_key is not None:
            self.alpha_, self.vote_gap_, self.margin_ = best_key
        else:
            self.margin_, self.vote_gap_ = np.inf, 0
        if self.scoring != "loss":
            for a in grid.alphas:
                self.cv_results_[a] = min(v for k, v in self.gate_cv_results_.items()
                                          if k[0] == a)

    def decision_function(self, executed: Sequence[ExecutedQuestion]) -> np.ndarray:
        """Candidate scores, shape ``(Q, K)``: each candidate gets its result group's score.

        Higher is better; ``-inf`` for failed or absent candidates (they cannot be right).
        """
        check_is_fitted(self, "scorer_", msg=_NOT_FITTED)
        executed = list(executed)
        if not executed:
            return np.zeros((0, len(self.systems_)), dtype=np.float32)
        self._check_systems(executed)
        X, mask, _ = self._features(executed, self.system_accuracy_)
        group_scores = self.scorer_.decision_function(X, mask)
        out = np.full((len(executed), len(self.systems_)), -np.inf, dtype=np.float32)
        for q, eq in enumerate(executed):
            for g, members in enumerate(eq.groups.members):
                out[q, members] = group_scores[q, g]
        return out

    def select(self, executed: Sequence[ExecutedQuestion]) -> np.ndarray:
        """Index (into ``systems_``) of the chosen candidate per question, shape ``(Q,)``.

        The first candidate of the chosen result group: the consensus group unless the gate
        lets a better-scored group override it (see ``margins``; without the gate, the
        best-scored group, equal scores to the earliest candidate). Candidate 0 when every
        candidate failed.
        """
        check_is_fitted(self, "scorer_", msg=_NOT_FITTED)
        executed = list(executed)
        if not executed:
            return np.zeros(0, dtype=np.int64)
        self._check_systems(executed)
        X, mask, _ = self._features(executed, self.system_accuracy_)
        cons, sizes = _consensus_groups(executed, mask.shape[1])
        scores = self.scorer_.decision_function(X, mask)
        groups = choose_groups(scores, mask, cons, sizes, margin=self.margin_,
                               vote_gap=self.vote_gap_)
        return np.array([eq.groups.members[g][0] if eq.groups.n_groups else 0
                         for eq, g in zip(executed, groups, strict=True)], dtype=np.int64)

    def save(self, path: str | Path) -> Path:
        """Save to the folder ``path``: ``config.json`` + ``model.safetensors`` (no pickle).

        Written crash-consistently (see :meth:`ListwiseSelector.save`): an interrupted save
        leaves the selector saved before in ``path`` whole.

        Parameters
        ----------
        path : str or Path
            A new or empty folder, or one holding a saved selector (replaced).

        Returns
        -------
        Path
        """
        check_is_fitted(self, "scorer_", msg=_NOT_FITTED)
        meta = {"kind": "SQLSelector", "systems": self.systems_,
                "system_accuracy": self.system_accuracy_, "feature_names": self.feature_names_,
                "alpha": self.alpha_, "params": self._saved_params(),
                # None: no gate (margins=None) or never override (the gate chose consensus)
                "margin": float(self.margin_) if np.isfinite(self.margin_) else None,
                "vote_gap": self.vote_gap_}
        return self.scorer_.save(path, metadata=meta)

    def _saved_params(self) -> dict[str, Any]:
        """``get_params()`` as plain JSON values."""
        def floats(values: Sequence[float] | None) -> list[float] | None:
            return None if values is None else [float(v) for v in values]

        return {**self.get_params(),
                "hidden_layer_sizes": [int(h) for h in self.hidden_layer_sizes],
                "method_options": None if self.method_options is None else
                dict(self.method_options),
                "alphas": floats(self.alphas), "margins": floats(self.margins),
                "vote_gaps": [None if g is None else int(g) for g in self.vote_gaps],
                "features": None if self.features is None else list(self.features),
                "min_gain": int(self.min_gain)}

    @classmethod
    def load(cls, path: str | Path) -> SQLSelector:
        """Read a selector written by :meth:`save`.

        Parameters
        ----------
        path : str or Path
            The folder given to :meth:`save`.

        Returns
        -------
        SQLSelector

        Raises
        ------
        FileNotFoundError
            No saved selector in ``path``.
        ValueError
            Not a SQLSelector, missing or invalid entries, or a feature set this version of
            ensel does not compute; the message names the file.
        """
        scorer = ListwiseSelector.load(path)
        where = Path(path) / CONFIG
        meta = scorer.metadata_
        if meta.get("kind") != "SQLSelector":
            raise ValueError(f"{str(path)!r} holds a ListwiseSelector, not a SQLSelector "
                             f"(metadata kind {meta.get('kind')!r}).")
        missing = [k for k in _META_KEYS if k not in meta]
        if missing:
            raise ValueError(f"{where}: the SQLSelector metadata lacks the key(s) {missing}.")
        self = cls._from_params(meta["params"], where)
        self.systems_ = list(meta["systems"])
        self.system_accuracy_ = {k: float(v) for k, v in meta["system_accuracy"].items()}
        self.feature_names_ = list(meta["feature_names"])
        if self.feature_names_ != feature_names(self.systems_):
            raise ValueError(f"{str(path)!r} was saved with a different feature set than this "
                             f"version of ensel computes; retrain it.")
        self.alpha_ = float(meta["alpha"])
        margin = meta.get("margin")
        self.margin_ = (-np.inf if self.margins is None else
                        np.inf if margin is None else float(margin))
        self.vote_gap_ = meta.get("vote_gap")
        self.scorer_ = scorer
        return self

    @classmethod
    def _from_params(cls, saved: dict[str, Any], where: Path) -> SQLSelector:
        """A selector with the saved parameters, checked as at construction."""
        params = _upgrade_params(dict(saved), f"{where} (SQLSelector metadata)")
        params.setdefault("margins", None)      # saved before the gate: no gate
        for key in ("hidden_layer_sizes", "alphas", "margins", "vote_gaps", "features"):
            if isinstance(params.get(key), list):
                params[key] = tuple(params[key])
        try:
            self = cls(**params)
            self._check_params()
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from exc
        return self
