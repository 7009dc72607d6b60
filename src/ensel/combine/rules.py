"""Combination rules: pure array functions from member predictions and a selection to one output.

Shapes follow the table: ``P[N, M, C]`` (probabilities) or ``P[N, M]`` / ``P[N, M, D]``
(regression values); ``weights`` is ``[M]`` (the same for every row) or ``[N, M]`` (per row),
non-negative. A row whose weights are all zero is an error of the caller, not silently fixed.
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-15


def _row_weights(weights: np.ndarray | None, n: int, m: int) -> np.ndarray:
    if weights is None:
        return np.ones((n, m))
    w = np.asarray(weights, dtype=np.float64)
    return np.broadcast_to(w, (n, m)) if w.ndim == 1 else w


def vote_counts(P: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted votes per class: every member votes for its most probable class.

    Parameters
    ----------
    P : ndarray of shape (N, M, C)
    weights : ndarray of shape (M,) or (N, M), optional
        A member's vote counts this much (default 1; 0 removes the member).

    Returns
    -------
    votes : ndarray of shape (N, C), float64

    Examples
    --------
    >>> import numpy as np
    >>> P = np.array([[[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]])
    >>> vote_counts(P).tolist()
    [[2.0, 1.0]]
    >>> vote_counts(P, np.array([0.0, 1.0, 0.0])).tolist()
    [[0.0, 1.0]]
    """
    n, m, c = P.shape
    w = _row_weights(weights, n, m)
    top = np.argmax(P, axis=2)                                   # [N, M]
    votes = np.zeros((n, c))
    np.add.at(votes, (np.repeat(np.arange(n), m), top.ravel()), w.ravel())
    return votes


def vote(P: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Plurality (or weighted) vote as class frequencies ``[N, C]`` summing to 1 per row.

    Ties are left in the frequencies; `predict` breaks them towards the class that comes first.

    Examples
    --------
    >>> import numpy as np
    >>> P = np.array([[[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]])
    >>> vote(P).round(3).tolist()
    [[0.667, 0.333]]
    """
    votes = vote_counts(P, weights)
    return votes / votes.sum(axis=1, keepdims=True)


def average(P: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """(Weighted) mean over members: ``sum_m w[n, m] P[n, m] / sum_m w[n, m]``.

    Parameters
    ----------
    P : ndarray of shape (N, M, C), (N, M) or (N, M, D)
    weights : ndarray of shape (M,) or (N, M), optional

    Returns
    -------
    combined : ndarray of shape (N, C), (N,) or (N, D), float64

    Examples
    --------
    >>> import numpy as np
    >>> P = np.array([[[0.9, 0.1], [0.3, 0.7]]])
    >>> average(P).round(3).tolist()
    [[0.6, 0.4]]
    >>> average(P, np.array([3.0, 1.0])).round(3).tolist()
    [[0.75, 0.25]]
    """
    n, m = P.shape[:2]
    w = _row_weights(weights, n, m)
    w = w / w.sum(axis=1, keepdims=True)
    if P.ndim == 2:
        return np.einsum("nm,nm->n", w, P, dtype=np.float64)
    return np.einsum("nm,nmc->nc", w, P, dtype=np.float64)


def proba_of_label(P: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``Q[n, m] = P[n, m, y[n]]``: every member's probability of the true class, ``[N, M]``."""
    return np.take_along_axis(P, np.asarray(y)[:, None, None], axis=2)[:, :, 0]


def log_loss(proba: np.ndarray, y: np.ndarray, *, eps: float = _EPS) -> float:
    """Mean negative log-likelihood of class indices ``y[N]`` under ``proba[N, C]``.

    Probabilities are clipped below at ``eps`` (as scikit-learn's ``log_loss`` does), so hard
    votes give a large but finite loss.
    """
    p = proba[np.arange(len(y)), y]
    return float(-np.mean(np.log(np.clip(p, eps, None))))


def squared_error(pred: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error, summed over outputs for ``[N, D]`` targets."""
    diff = np.asarray(pred, dtype=np.float64) - y
    return float(np.mean(np.sum(diff.reshape(len(diff), -1) ** 2, axis=1)))
