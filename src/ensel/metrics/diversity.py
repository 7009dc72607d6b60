"""Diversity of a pool ``P[N, M, C]``: pairwise measures and the Vendi score.

The pairwise measures of Kuncheva & Whitaker (2003) use the members' *oracle outputs*: whether
each member's label (argmax over classes, ties to the lowest index) is correct. For members
``i`` and ``j`` let ``N11``, ``N10``, ``N01``, ``N00`` count the rows where both are right, only
``i`` is right, only ``j`` is right, both are wrong. Cohen's kappa instead compares the
members' predicted labels directly. Every pairwise function returns a symmetric ``[M, M]``
matrix whose diagonal compares a member with itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.special import entr

from ensel._validation import check_labels, check_pool

__all__ = [
    "cohen_kappa",
    "disagreement",
    "double_fault",
    "pairwise_diversity",
    "q_statistic",
    "vendi_score",
]

Kernel = str | Callable[[np.ndarray, np.ndarray], float] | np.ndarray


def _labels(P: Any, y: Any) -> tuple[np.ndarray, np.ndarray, int]:
    P = check_pool(P)
    y = check_labels(y, n_rows=P.shape[0], n_classes=P.shape[2], against="P")
    return P.argmax(axis=2), y, P.shape[2]


def _counts(pred: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """``N11, N10, N01, N00`` as float [M, M] count matrices (exact integers)."""
    right = (pred == y[:, None]).astype(np.float64)
    wrong = 1.0 - right
    n11 = right.T @ right
    n10 = right.T @ wrong
    n00 = wrong.T @ wrong
    return n11, n10, n10.T, n00


def _disagreement(n11, n10, n01, n00) -> np.ndarray:
    return (n10 + n01) / (n11 + n10 + n01 + n00)


def _double_fault(n11, n10, n01, n00) -> np.ndarray:
    return n00 / (n11 + n10 + n01 + n00)


def _q(n11, n10, n01, n00) -> np.ndarray:
    num = n11 * n00 - n01 * n10
    den = n11 * n00 + n01 * n10
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def _kappa(pred: np.ndarray, n_classes: int) -> np.ndarray:
    n, m = pred.shape
    agree = np.empty((m, m))
    for i in range(m):
        agree[i] = np.count_nonzero(pred[:, [i]] == pred, axis=0)
    marg = np.stack([np.bincount(pred[:, i], minlength=n_classes) for i in range(m)])
    marg = marg.astype(np.float64)
    chance = marg @ marg.T                      # N^2 * p_e, exact integers
    num = n * agree - chance                    # N^2 * (p_o - p_e)
    den = float(n) * n - chance                 # N^2 * (1 - p_e)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def disagreement(P: Any, y: Any) -> np.ndarray:
    """Pairwise disagreement: fraction of rows where exactly one of two members is right.

    ``(N10 + N01) / N``. Two members that are wrong with different labels agree here (both
    are wrong).

    Parameters
    ----------
    P : array-like of shape (N, M, C)
        Class probabilities of every member.
    y : array-like of shape (N,)
        True class indices.

    Returns
    -------
    ndarray of shape (M, M)
        Symmetric, in [0, 1], zero diagonal; 0 for identical members.

    Examples
    --------
    >>> import numpy as np
    >>> from ensel.metrics import disagreement
    >>> P = np.eye(2)[[[0, 0, 1], [0, 1, 1]]]     # 2 rows, 3 members, 2 classes
    >>> disagreement(P, [0, 0])
    array([[0. , 0.5, 1. ],
           [0.5, 0. , 0.5],
           [1. , 0.5, 0. ]])
    """
    pred, y, _ = _labels(P, y)
    return _disagreement(*_counts(pred, y))


def double_fault(P: Any, y: Any) -> np.ndarray:
    """Pairwise double fault: fraction of rows where both members are wrong.

    ``N00 / N``. The diagonal holds each member's error rate.

    Parameters
    ----------
    P : array-like of shape (N, M, C)
        Class probabilities of every member.
    y : array-like of shape (N,)
        True class indices.

    Returns
    -------
    ndarray of shape (M, M)
        Symmetric, in [0, 1]; lower means more diverse errors.

    Examples
    --------
    >>> import numpy as np
    >>> from ensel.metrics import double_fault
    >>> P = np.eye(2)[[[0, 0, 1], [0, 1, 1]]]
    >>> double_fault(P, [0, 0])
    array([[0. , 0. , 0. ],
           [0. , 0.5, 0.5],
           [0. , 0.5, 1. ]])
    """
    pred, y, _ = _labels(P, y)
    return _double_fault(*_counts(pred, y))


def q_statistic(P: Any, y: Any) -> np.ndarray:
    """Pairwise Yule's Q statistic of the members' oracle outputs.

    ``Q = (N11 N00 - N01 N10) / (N11 N00 + N01 N10)``, in [-1, 1]: positive when members
    tend to be right on the same rows, 0 for independent members, negative when one is
    right where the other is wrong. It is ``nan`` where the denominator is 0 (e.g. for a
    member that is never wrong, or never right), including on the diagonal.

    Parameters
    ----------
    P : array-like of shape (N, M, C)
        Class probabilities of every member.
    y : array-like of shape (N,)
        True class indices.

    Returns
    -------
    ndarray of shape (M, M)
        Symmetric, values in [-1, 1] or ``nan``.

    Examples
    --------
    >>> import numpy as np
    >>> from ensel.metrics import q_statistic
    >>> right = np.array([[1, 1, 0], [1, 1, 0], [0, 0, 1], [0, 0, 1]])  # [N, M]: correct?
    >>> P = np.eye(2)[1 - right]                  # label 0 where right; y is all 0
    >>> q_statistic(P, [0, 0, 0, 0])
    array([[ 1.,  1., -1.],
           [ 1.,  1., -1.],
           [-1., -1.,  1.]])
    """
    pred, y, _ = _labels(P, y)
    return _q(*_counts(pred, y))


def cohen_kappa(P: Any) -> np.ndarray:
    """Pairwise Cohen's kappa between the members' predicted labels.

    ``kappa = (p_o - p_e) / (1 - p_e)`` with ``p_o`` the fraction of rows where two members
    predict the same label and ``p_e = sum_c q_i(c) q_j(c)`` the agreement expected from
    their label frequencies ``q``. 1 for identical labels, about 0 for independent members,
    lower means more diverse. ``nan`` where ``p_e = 1`` (both members always predict the
    same single class), including on the diagonal. Equal to scikit-learn's
    ``cohen_kappa_score(pred_i, pred_j)``.

    Parameters
    ----------
    P : array-like of shape (N, M, C)
        Class probabilities of every member; labels are the argmax.

    Returns
    -------
    ndarray of shape (M, M)
        Symmetric, values in [-1, 1] or ``nan``.

    Examples
    --------
    >>> import numpy as np
    >>> from ensel.metrics import cohen_kappa
    >>> P = np.eye(2)[[[0, 0, 1], [1, 1, 0]]]     # members 0 and 1 agree, 2 disagrees
    >>> cohen_kappa(P)
    array([[ 1.,  1., -1.],
           [ 1.,  1., -1.],
           [-1., -1.,  1.]])
    """
    P = check_pool(P)
    return _kappa(P.argmax(axis=2), P.shape[2])


def pairwise_diversity(P: Any, y: Any) -> dict[str, np.ndarray]:
    """All pairwise diversity matrices of a pool at once.

    Parameters
    ----------
    P : array-like of shape (N, M, C)
        Class probabilities of every member.
    y : array-like of shape (N,)
        True class indices.

    Returns
    -------
    dict of str to ndarray of shape (M, M)
        ``"disagreement"``, ``"double_fault"``, ``"q_statistic"`` and ``"cohen_kappa"``, as
        returned by the functions of those names.

    Examples
    --------
    >>> import numpy as np
    >>> from ensel.metrics import pairwise_diversity
    >>> P = np.eye(2)[[[0, 0, 1], [0, 1, 1]]]
    >>> sorted(pairwise_diversity(P, [0, 0]))
    ['cohen_kappa', 'disagreement', 'double_fault', 'q_statistic']
    """
    pred, y, n_classes = _labels(P, y)
    counts = _counts(pred, y)
    return {
        "disagreement": _disagreement(*counts),
        "double_fault": _double_fault(*counts),
        "q_statistic": _q(*counts),
        "cohen_kappa": _kappa(pred, n_classes),
    }


def _check_kernel_matrix(K: Any, n_members: int) -> np.ndarray:
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (n_members, n_members):
        raise ValueError(
            f"The kernel of vendi_score must give a [M, M] = [{n_members}, {n_members}] matrix; "
            f"got shape {K.shape}."
        )
    if not np.isfinite(K).all():
        i, j = (int(v) for v in np.argwhere(~np.isfinite(K))[0])
        raise ValueError(f"The kernel matrix of vendi_score has {K[i, j]} at ({i}, {j}).")
    asym = np.abs(K - K.T) > 1e-8
    if asym.any():
        i, j = (int(v) for v in np.argwhere(asym)[0])
        raise ValueError(
            f"The kernel matrix of vendi_score must be symmetric; K[{i}, {j}] = {K[i, j]:.6g} "
            f"but K[{j}, {i}] = {K[j, i]:.6g}."
        )
    off = np.abs(np.diag(K) - 1.0) > 1e-6
    if off.any():
        i = int(np.argmax(off))
        raise ValueError(
            f"The kernel matrix of vendi_score must have K[i, i] = 1; K[{i}, {i}] = "
            f"{K[i, i]:.6g}."
        )
    return K


def vendi_score(P: Any, *, kernel: Kernel = "cosine") -> float:
    """Vendi score of a pool: the effective number of distinct members (Friedman & Dieng, 2022).

    ``VS = exp(-sum_i lambda_i log lambda_i)``, where ``lambda_i`` are the eigenvalues of
    ``K / M`` and ``K[M, M]`` is a positive semi-definite similarity between members with
    ``K[i, i] = 1``. It runs from 1 (all members alike) to ``M`` (all mutually orthogonal).

    By default ``K`` is the cosine similarity of the members' flattened predictions
    ``P[:, m, :].ravel()`` (length ``N * C``): members that predict the same distributions on
    every row have similarity 1; members that put their mass on different classes on every
    row have similarity 0.

    Parameters
    ----------
    P : array-like of shape (N, M, C)
        Class probabilities of every member.
    kernel : "cosine", callable or array-like of shape (M, M), default="cosine"
        ``"cosine"``; a function ``kernel(p_i, p_j) -> float`` called on two members'
        predictions of shape (N, C); or a precomputed matrix. The resulting ``K`` must be
        symmetric with a unit diagonal and positive semi-definite (eigenvalues >= -1e-8).

    Returns
    -------
    float
        Vendi score in [1, M].

    Examples
    --------
    >>> import numpy as np
    >>> from ensel.metrics import vendi_score
    >>> P = np.tile([0.7, 0.2, 0.1], (4, 3, 1))            # 3 identical members
    >>> round(vendi_score(P), 6)
    1.0
    >>> P = np.tile(np.eye(3), (4, 1, 1))                  # 3 members, disjoint classes
    >>> round(vendi_score(P), 6)
    3.0
    """
    P = check_pool(P)
    n_members = P.shape[1]
    if isinstance(kernel, str):
        if kernel != "cosine":
            raise ValueError(
                f"The 'kernel' parameter of vendi_score must be 'cosine', a callable or an "
                f"[M, M] array. Got {kernel!r} instead."
            )
        V = P.transpose(1, 0, 2).reshape(n_members, -1)
        V = V / np.linalg.norm(V, axis=1, keepdims=True)   # rows sum to 1: norm > 0
        K = np.clip(V @ V.T, -1.0, 1.0)
        np.fill_diagonal(K, 1.0)
    elif callable(kernel):
        K = np.empty((n_members, n_members))
        for i in range(n_members):
            for j in range(i, n_members):
                K[i, j] = K[j, i] = float(kernel(P[:, i, :], P[:, j, :]))
        K = _check_kernel_matrix(K, n_members)
    else:
        K = _check_kernel_matrix(kernel, n_members)
    lam = np.linalg.eigvalsh(K / n_members)
    if lam.min() < -1e-8:
        raise ValueError(
            f"The kernel matrix of vendi_score must be positive semi-definite; its smallest "
            f"eigenvalue (of K / M) is {lam.min():.4g}."
        )
    lam = np.clip(lam, 0.0, None)
    return float(np.exp(np.sum(entr(lam / lam.sum()))))
