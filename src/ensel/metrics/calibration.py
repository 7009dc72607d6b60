"""Accuracy and calibration of one combined prediction ``proba[N, C]``.

Conventions: ``y`` holds int class indices into the columns of ``proba``; a predicted label is
``argmax`` over classes (ties go to the lowest class index); logarithms are natural.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ensel._validation import check_labels, check_n_bins, check_proba, check_strategy

__all__ = [
    "accuracy_score",
    "brier_score_loss",
    "expected_calibration_error",
    "log_loss",
    "reliability_curve",
]


def accuracy_score(y: Any, proba_or_labels: Any) -> float:
    """Fraction of rows whose predicted label equals ``y``.

    Parameters
    ----------
    y : array-like of shape (N,)
        True class indices.
    proba_or_labels : array-like of shape (N, C) or (N,)
        Class probabilities (the label is their argmax, ties to the lowest index) or predicted
        class indices.

    Returns
    -------
    float
        Accuracy in [0, 1].

    Examples
    --------
    >>> from ensel.metrics import accuracy_score
    >>> accuracy_score([0, 1, 1], [[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    0.6666666666666666
    >>> accuracy_score([0, 1, 1], [0, 1, 0])
    0.6666666666666666
    """
    pred = np.asarray(proba_or_labels)
    if pred.ndim == 2:
        proba = check_proba(pred, what="proba_or_labels")
        y = check_labels(y, n_rows=proba.shape[0], n_classes=proba.shape[1],
                         against="proba_or_labels")
        labels = proba.argmax(axis=1)
    elif pred.ndim == 1:
        y = check_labels(y)
        labels = check_labels(pred, what="proba_or_labels", n_rows=None)
        if labels.shape[0] != y.shape[0]:
            raise ValueError(
                f"proba_or_labels has {labels.shape[0]} rows but y has {y.shape[0]}."
            )
    else:
        raise ValueError(
            f"proba_or_labels must be 2-D [N, C] probabilities or 1-D [N] labels; got shape "
            f"{pred.shape}."
        )
    return float(np.mean(labels == y))


def log_loss(y: Any, proba: Any, *, eps: float = 1e-12) -> float:
    """Mean negative log-likelihood of the true class, in nats.

    ``-mean_n log(max(proba[n, y_n], eps))``. Rows are used as given (they are checked to sum
    to 1 within 1e-4, not renormalised).

    Parameters
    ----------
    y : array-like of shape (N,)
        True class indices.
    proba : array-like of shape (N, C)
        Predicted class probabilities.
    eps : float, default=1e-12
        Probabilities below ``eps`` are raised to ``eps`` so that a confident mistake costs
        ``-log(eps)`` (about 27.6) instead of infinity. ``eps=0`` disables the clipping.

    Returns
    -------
    float
        Log loss, >= 0; 0 for perfect, confident predictions.

    Examples
    --------
    >>> from ensel.metrics import log_loss
    >>> round(log_loss([0, 1], [[0.5, 0.5], [0.2, 0.8]]), 6)  # (ln 2 + ln 1.25) / 2
    0.458145
    """
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 <= eps < 1:
        raise ValueError(
            f"The 'eps' parameter of log_loss must be a float in [0, 1). Got {eps!r} instead."
        )
    proba = check_proba(proba)
    y = check_labels(y, n_rows=proba.shape[0], n_classes=proba.shape[1])
    p_true = np.maximum(proba[np.arange(y.shape[0]), y], eps)
    with np.errstate(divide="ignore"):
        return float(-np.mean(np.log(p_true)))


def brier_score_loss(y: Any, proba: Any) -> float:
    """Multi-class Brier score: mean over rows of the squared distance to the one-hot label.

    ``mean_n sum_c (proba[n, c] - [y_n == c])**2``, Brier's (1950) original definition, in
    [0, 2]. The same formula is used for every number of classes, so for a binary problem
    this is **twice** scikit-learn's binary ``brier_score_loss(y, proba[:, 1])`` (which scores
    the positive class only); it equals scikit-learn's ``scale_by_half=False``.

    Parameters
    ----------
    y : array-like of shape (N,)
        True class indices.
    proba : array-like of shape (N, C)
        Predicted class probabilities.

    Returns
    -------
    float
        Brier score in [0, 2]; 0 for perfect, confident predictions.

    Examples
    --------
    >>> from ensel.metrics import brier_score_loss
    >>> round(brier_score_loss([0, 1], [[0.5, 0.5], [0.2, 0.8]]), 6)  # (0.5 + 0.08) / 2
    0.29
    """
    proba = check_proba(proba)
    y = check_labels(y, n_rows=proba.shape[0], n_classes=proba.shape[1])
    onehot = np.zeros_like(proba)
    onehot[np.arange(y.shape[0]), y] = 1.0
    return float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))


def _bins(y: np.ndarray, proba: np.ndarray, n_bins: int, strategy: str) -> dict[str, np.ndarray]:
    conf = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == y).astype(np.float64)
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    else:
        edges = np.quantile(conf, np.linspace(0.0, 1.0, n_bins + 1))
    # right-closed bins (e_b, e_{b+1}]; the first bin also takes e_0
    idx = np.searchsorted(edges[1:-1], conf, side="left")
    counts = np.bincount(idx, minlength=n_bins)
    sum_conf = np.bincount(idx, weights=conf, minlength=n_bins)
    sum_acc = np.bincount(idx, weights=correct, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(counts > 0, sum_conf / counts, np.nan)
        mean_acc = np.where(counts > 0, sum_acc / counts, np.nan)
    return {"confidence": mean_conf, "accuracy": mean_acc, "counts": counts.astype(np.int64),
            "edges": edges}


def reliability_curve(y: Any, proba: Any, *, n_bins: int = 15,
                      strategy: str = "uniform") -> dict[str, np.ndarray]:
    """Top-label reliability curve: mean confidence and accuracy per confidence bin.

    The confidence of a row is ``max_c proba[n, c]`` and it is correct when ``argmax_c
    proba[n, c] == y_n``. Bins are right-closed, ``(e_b, e_{b+1}]`` (the first also holds
    ``e_0``).

    Parameters
    ----------
    y : array-like of shape (N,)
        True class indices.
    proba : array-like of shape (N, C)
        Predicted class probabilities.
    n_bins : int, default=15
        Number of bins.
    strategy : {"uniform", "quantile"}, default="uniform"
        ``"uniform"``: equal-width bins on [0, 1]. ``"quantile"``: equal-mass bins, edges at
        the quantiles of the confidences; tied confidences stay in one bin, so bins may hold
        unequal counts or be empty.

    Returns
    -------
    dict of str to ndarray
        ``"confidence"`` (n_bins,) mean confidence per bin, NaN for an empty bin;
        ``"accuracy"`` (n_bins,) accuracy per bin, NaN for an empty bin;
        ``"counts"`` (n_bins,) int number of rows per bin;
        ``"edges"`` (n_bins + 1,) bin edges.

    Examples
    --------
    >>> from ensel.metrics import reliability_curve
    >>> curve = reliability_curve([0, 1, 1], [[0.9, 0.1], [0.6, 0.4], [0.3, 0.7]], n_bins=2)
    >>> curve["counts"], curve["accuracy"]
    (array([0, 3]), array([       nan, 0.66666667]))
    """
    n_bins = check_n_bins(n_bins, "reliability_curve")
    strategy = check_strategy(strategy, "reliability_curve")
    proba = check_proba(proba)
    y = check_labels(y, n_rows=proba.shape[0], n_classes=proba.shape[1])
    return _bins(y, proba, n_bins, strategy)


def expected_calibration_error(y: Any, proba: Any, *, n_bins: int = 15,
                               strategy: str = "uniform") -> float:
    """Top-label expected calibration error (Guo et al., 2017).

    ``ECE = sum_b (n_b / N) * |acc_b - conf_b|`` over the non-empty bins of
    :func:`reliability_curve`, where ``conf_b`` is the mean top-label confidence and
    ``acc_b`` the accuracy of the rows in bin ``b``.

    Parameters
    ----------
    y : array-like of shape (N,)
        True class indices.
    proba : array-like of shape (N, C)
        Predicted class probabilities.
    n_bins : int, default=15
        Number of bins.
    strategy : {"uniform", "quantile"}, default="uniform"
        Equal-width (``"uniform"``) or equal-mass (``"quantile"``) bins; see
        :func:`reliability_curve`.

    Returns
    -------
    float
        ECE in [0, 1]; 0 for perfectly calibrated predictions.

    Examples
    --------
    >>> from ensel.metrics import expected_calibration_error
    >>> proba = [[0.9, 0.1], [0.6, 0.4], [0.3, 0.7]]
    >>> round(expected_calibration_error([0, 1, 1], proba, n_bins=2), 6)  # |2/3 - 0.7333|
    0.066667
    """
    n_bins = check_n_bins(n_bins, "expected_calibration_error")
    strategy = check_strategy(strategy, "expected_calibration_error")
    proba = check_proba(proba)
    y = check_labels(y, n_rows=proba.shape[0], n_classes=proba.shape[1])
    curve = _bins(y, proba, n_bins, strategy)
    full = curve["counts"] > 0
    weights = curve["counts"][full] / y.shape[0]
    gaps = np.abs(curve["accuracy"][full] - curve["confidence"][full])
    return float(np.sum(weights * gaps))
