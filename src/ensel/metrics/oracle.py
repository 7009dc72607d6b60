"""The oracle of a pool and how much of the gap to it a combiner closes."""

from __future__ import annotations

from typing import Any

import numpy as np

from ensel._validation import check_labels, check_pool, check_real

__all__ = ["gap_closed", "oracle_accuracy"]


def oracle_accuracy(P: Any, y: Any) -> float:
    """Fraction of rows on which at least one member predicts the true class.

    The accuracy of a perfect per-input selector that picks one member: an upper bound for
    selection, though not for combiners that average or stack probabilities.

    Parameters
    ----------
    P : array-like of shape (N, M, C)
        Class probabilities of every member; a member's label is its argmax (ties to the
        lowest class index).
    y : array-like of shape (N,)
        True class indices.

    Returns
    -------
    float
        Oracle accuracy in [0, 1], at least the accuracy of every member.

    Examples
    --------
    >>> import numpy as np
    >>> from ensel.metrics import oracle_accuracy
    >>> P = np.array([[[0.9, 0.1], [0.2, 0.8]],    # row 0: member 0 right
    ...               [[0.7, 0.3], [0.6, 0.4]]])   # row 1: both wrong
    >>> oracle_accuracy(P, [0, 1])
    0.5
    """
    P = check_pool(P)
    y = check_labels(y, n_rows=P.shape[0], n_classes=P.shape[2], against="P")
    correct = P.argmax(axis=2) == y[:, None]
    return float(np.mean(correct.any(axis=1)))


def gap_closed(score: float, best_single: float, oracle: float) -> float:
    """Share of the gap between the best single member and the oracle that a method closes.

    ``(score - best_single) / (oracle - best_single)``: 0 means no better than the best
    member, 1 means as good as the oracle. It is negative for a method worse than the best
    member, and may exceed 1 (averaging or stacking can be right where every member is
    wrong). The ratio does not depend on whether higher or lower is better, so it also
    works for losses given the corresponding values.

    When ``oracle == best_single`` there is no gap to close and the result is ``nan``
    (no warning is raised).

    Parameters
    ----------
    score : float
        The method's metric (e.g. test accuracy).
    best_single : float
        The same metric for the best single member.
    oracle : float
        The same metric for the oracle (e.g. :func:`oracle_accuracy`).

    Returns
    -------
    float
        The gap closed, or ``nan`` when ``oracle == best_single``.

    Examples
    --------
    >>> from ensel.metrics import gap_closed
    >>> round(gap_closed(0.95, best_single=0.73, oracle=0.99), 4)
    0.8462
    >>> gap_closed(0.9, best_single=0.9, oracle=0.9)
    nan
    """
    score = check_real(score, "score", "gap_closed")
    best_single = check_real(best_single, "best_single", "gap_closed")
    oracle = check_real(oracle, "oracle", "gap_closed")
    if oracle == best_single:
        return float("nan")
    return (score - best_single) / (oracle - best_single)
