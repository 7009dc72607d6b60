"""Competence of members in a region: pure, vectorised functions (no loop over inputs).

Inputs shared by every function:

- ``region`` : int ndarray of shape (N, K) — for each of N query rows, the indices of its K
  nearest selection rows, nearest first (from ``NearestNeighbors.kneighbors``);
- ``correct`` : bool ndarray of shape (N_sel, M) — whether member m is right on selection row i
  (`PredictionTable.correct`).

Every function returns one value per query row and member, ``[N, M]``. The semantics follow
DESlib 0.3.7 (``deslib/dcs/ola.py``, ``lca.py``, ``des/knora_e.py``, ``knora_u.py``,
``meta_des.py``) so that results agree with it.
"""

from __future__ import annotations

import numpy as np


def local_accuracy(region: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """Overall local accuracy (OLA): share of the K neighbours each member gets right.

    Returns
    -------
    competence : ndarray of shape (N, M), float64 in [0, 1]

    Examples
    --------
    >>> import numpy as np
    >>> correct = np.array([[1, 0], [1, 1], [0, 1]], dtype=bool)
    >>> local_accuracy(np.array([[0, 1], [2, 1]]), correct).tolist()
    [[1.0, 0.5], [0.5, 1.0]]
    """
    return np.mean(correct[region], axis=1, dtype=np.float64)


def local_correct_counts(region: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """KNORA-U weights: how many of the K neighbours each member gets right.

    Returns
    -------
    counts : ndarray of shape (N, M), float64 in {0, ..., K}

    Examples
    --------
    >>> import numpy as np
    >>> correct = np.array([[1, 0], [1, 1], [0, 1]], dtype=bool)
    >>> local_correct_counts(np.array([[0, 1], [2, 1]]), correct).tolist()
    [[2.0, 1.0], [1.0, 2.0]]
    """
    return np.sum(correct[region], axis=1, dtype=np.float64)


def class_local_accuracy(region: np.ndarray, correct: np.ndarray, y_sel: np.ndarray,
                         predicted: np.ndarray) -> np.ndarray:
    """Local class accuracy (LCA): accuracy on the neighbours of the class the member predicts.

    For query n and member m, among the neighbours whose label is the class m predicts for n,
    the share that m gets right; 0 when no neighbour has that label (DESlib's rule).

    Parameters
    ----------
    region : ndarray of shape (N, K)
    correct : ndarray of shape (N_sel, M), bool
    y_sel : ndarray of shape (N_sel,)
        Class indices of the selection rows.
    predicted : ndarray of shape (N, M)
        Class index each member predicts for each query row.

    Returns
    -------
    competence : ndarray of shape (N, M), float64 in [0, 1]

    Examples
    --------
    >>> import numpy as np
    >>> correct = np.array([[1, 0], [1, 1], [0, 1]], dtype=bool)
    >>> y_sel = np.array([0, 0, 1])
    >>> class_local_accuracy(np.array([[0, 1, 2]]), correct, y_sel, np.array([[0, 1]])).tolist()
    [[1.0, 1.0]]
    """
    same = y_sel[region][:, :, None] == predicted[:, None, :]         # [N, K, M]
    hits = np.sum(same & correct[region], axis=1)
    total = np.sum(same, axis=1)
    return np.divide(hits, total, out=np.zeros(hits.shape), where=total > 0)


def correct_prefix_length(region: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """How many neighbours, nearest first, each member gets right before its first error.

    KNORA-E's competence: member m is an oracle of the region of the j nearest neighbours iff
    its prefix length is at least j.

    Returns
    -------
    length : ndarray of shape (N, M), int64 in {0, ..., K}

    Examples
    --------
    >>> import numpy as np
    >>> correct = np.array([[1, 0], [1, 1], [0, 1]], dtype=bool)
    >>> correct_prefix_length(np.array([[1, 0, 2]]), correct).tolist()
    [[2, 1]]
    """
    return np.cumprod(correct[region], axis=1).sum(axis=1)


def knora_e_mask(region: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """KNORA-Eliminate selection: the oracles of the largest region that has one.

    The region shrinks from K neighbours (farthest first dropped) until some member classifies
    all of it correctly; those members are selected. When no member is right even on the
    nearest neighbour, every member is selected (DESlib's fallback).

    Returns
    -------
    mask : ndarray of shape (N, M), bool, at least one True per row

    Examples
    --------
    >>> import numpy as np
    >>> correct = np.array([[1, 0, 1], [1, 1, 0], [0, 1, 0]], dtype=bool)
    >>> knora_e_mask(np.array([[1, 0, 2], [2, 1, 0]]), correct).tolist()
    [[True, False, False], [False, True, False]]
    """
    length = correct_prefix_length(region, correct)
    return length == length.max(axis=1, keepdims=True)


def best_mask(competence: np.ndarray) -> np.ndarray:
    """One-hot mask of the most competent member per row; ties go to the lowest index.

    Examples
    --------
    >>> import numpy as np
    >>> best_mask(np.array([[0.5, 0.7, 0.7]])).tolist()
    [[False, True, False]]
    """
    mask = np.zeros(competence.shape, dtype=bool)
    mask[np.arange(len(competence)), np.argmax(competence, axis=1)] = True
    return mask


def threshold_mask(competence: np.ndarray, threshold: float) -> np.ndarray:
    """Members whose competence exceeds ``threshold``; rows with none select every member.

    Examples
    --------
    >>> import numpy as np
    >>> threshold_mask(np.array([[0.2, 0.9], [0.1, 0.3]]), 0.5).tolist()
    [[False, True], [True, True]]
    """
    mask = competence > threshold
    mask[~mask.any(axis=1)] = True
    return mask


def positive_or_all(weights: np.ndarray) -> np.ndarray:
    """``weights`` with all-zero rows replaced by ones (every member counts equally there).

    Examples
    --------
    >>> import numpy as np
    >>> positive_or_all(np.array([[0.0, 2.0], [0.0, 0.0]])).tolist()
    [[0.0, 2.0], [1.0, 1.0]]
    """
    out = np.array(weights, dtype=np.float64)
    out[~(out > 0).any(axis=1)] = 1.0
    return out


def meta_features(region: np.ndarray, profile_region: np.ndarray, correct: np.ndarray,
                  true_class_proba: np.ndarray, P_query: np.ndarray) -> np.ndarray:
    """META-DES meta-features of every (query row, member) pair (Cruz et al., 2015).

    Parameters
    ----------
    region : ndarray of shape (N, K)
        Neighbours in the input space.
    profile_region : ndarray of shape (N, Kp)
        Neighbours in the output-profile space (the members' concatenated probabilities).
    correct : ndarray of shape (N_sel, M), bool
    true_class_proba : ndarray of shape (N_sel, M)
        Each member's probability of the true class of each selection row.
    P_query : ndarray of shape (N, M, C)
        The members' probabilities on the query rows.

    Returns
    -------
    features : ndarray of shape (N, M, 2K + Kp + 2), float64
        In DESlib's order: f1 — correct on each of the K neighbours; f2 — probability of the
        neighbour's true class; f3 — local accuracy; f4 — correct on each of the Kp
        output-profile neighbours; f5 — the member's confidence (max probability) on the query.

    Examples
    --------
    >>> import numpy as np
    >>> correct = np.array([[1, 0], [0, 1]], dtype=bool)
    >>> q = np.array([[0.8, 0.3], [0.4, 0.9]])
    >>> P = np.array([[[0.6, 0.4], [0.1, 0.9]]])
    >>> meta_features(np.array([[0, 1]]), np.array([[1]]), correct, q, P)[0].tolist()
    [[1.0, 0.0, 0.8, 0.4, 0.5, 0.0, 0.6], [0.0, 1.0, 0.3, 0.9, 0.5, 1.0, 0.9]]
    """
    f1 = correct[region].transpose(0, 2, 1).astype(np.float64)          # [N, M, K]
    f2 = true_class_proba[region].transpose(0, 2, 1).astype(np.float64)  # [N, M, K]
    f3 = f1.mean(axis=2, keepdims=True)                                  # [N, M, 1]
    f4 = correct[profile_region].transpose(0, 2, 1).astype(np.float64)  # [N, M, Kp]
    f5 = P_query.max(axis=2, keepdims=True).astype(np.float64)          # [N, M, 1]
    return np.concatenate([f1, f2, f3, f4, f5], axis=2)
