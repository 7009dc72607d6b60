"""Regression metrics: thin, validated wrappers over scikit-learn (imported on first use)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ensel._validation import _numeric, check_finite

__all__ = ["mean_squared_error", "r2_score"]


def _check_pair(y: Any, pred: Any) -> tuple[np.ndarray, np.ndarray]:
    y = _numeric(y, "y").astype(np.float64)
    pred = _numeric(pred, "pred").astype(np.float64)
    if y.ndim not in (1, 2):
        raise ValueError(f"y must be [N] or [N, D] targets; got shape {y.shape}.")
    if y.shape[0] == 0:
        raise ValueError("y is empty: it must hold at least one target.")
    if pred.shape != y.shape:
        raise ValueError(
            f"pred has shape {pred.shape} but y has shape {y.shape}; they must match exactly."
        )
    check_finite(y, "y")
    check_finite(pred, "pred")
    return y, pred


def mean_squared_error(y: Any, pred: Any) -> float:
    """Mean squared error, averaged over rows and outputs.

    Parameters
    ----------
    y : array-like of shape (N,) or (N, D)
        Targets.
    pred : array-like of the same shape as ``y``
        Predictions.

    Returns
    -------
    float
        MSE, >= 0.

    Examples
    --------
    >>> from ensel.metrics import mean_squared_error
    >>> mean_squared_error([1.0, 2.0, 3.0], [1.0, 2.0, 5.0])
    1.3333333333333333
    """
    y, pred = _check_pair(y, pred)
    from sklearn.metrics import mean_squared_error as _mse

    return float(_mse(y, pred))


def r2_score(y: Any, pred: Any) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot``, averaged uniformly over outputs.

    Follows scikit-learn's ``r2_score``: for a constant target (``SS_tot = 0``) it is 1.0 if
    the predictions are perfect and 0.0 otherwise; with a single row it is ``nan``.

    Parameters
    ----------
    y : array-like of shape (N,) or (N, D)
        Targets.
    pred : array-like of the same shape as ``y``
        Predictions.

    Returns
    -------
    float
        R², at most 1 (may be negative).

    Examples
    --------
    >>> from ensel.metrics import r2_score
    >>> r2_score([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
    0.5
    """
    y, pred = _check_pair(y, pred)
    if y.shape[0] < 2:
        return float("nan")
    from sklearn.metrics import r2_score as _r2

    return float(_r2(y, pred))
