"""Input checks for ``ensel.metrics`` (arrays in, numbers out).

The generic checks (NaN/inf, the probability tolerance) come from ``ensel._validation``; what is
specific to metrics is worded here: ``y`` as class indices, a combined prediction ``proba[N, C]``
and a pool ``P[N, M, C]`` without the table-building hints of ``_validation``.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np

from ensel._validation import PROBA_TOL, _first, check_finite, check_P

STRATEGIES = ("uniform", "quantile")


def _numeric(a: Any, what: str) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype == bool:
        return a
    if a.dtype == object or not np.issubdtype(a.dtype, np.number):
        raise ValueError(f"{what} must be a numeric array; got dtype {a.dtype}.")
    if np.iscomplexobj(a):
        raise ValueError(f"{what} must be real; got dtype {a.dtype}.")
    return a


def check_labels(y: Any, *, what: str = "y", n_rows: int | None = None,
                 n_classes: int | None = None, against: str = "proba") -> np.ndarray:
    """``y`` as int64 class indices of shape [N], in ``[0, n_classes)`` when that is known."""
    y = _numeric(y, what)
    if y.ndim != 1:
        raise ValueError(f"{what} must be 1-D [N] class indices; got shape {y.shape}.")
    if y.shape[0] == 0:
        raise ValueError(f"{what} is empty: it must hold at least one class index.")
    if n_rows is not None and y.shape[0] != n_rows:
        raise ValueError(f"{what} has {y.shape[0]} rows but {against} has {n_rows}.")
    if y.dtype == bool:
        raise ValueError(f"{what} must hold int class indices; got dtype bool.")
    if y.dtype.kind == "f":
        check_finite(y, what)
        frac = np.mod(y, 1) != 0
        if frac.any():
            row = int(np.argmax(frac))
            raise ValueError(
                f"{what} must hold int class indices; got the non-integer value "
                f"{y[row].item()!r} in row {row}."
            )
    # range first, on the original dtype, so that huge floats cannot wrap around in the cast
    bad = (y < 0) if n_classes is None else ((y < 0) | (y >= n_classes))
    if bad.any():
        row = int(np.argmax(bad))
        if n_classes is None:
            raise ValueError(
                f"{what} must hold class indices >= 0; got {int(y[row])} in row {row}."
            )
        raise ValueError(
            f"{what} has the label {int(y[row])} in row {row}, outside the class indices "
            f"[0, {n_classes}) of {against} ({n_classes} classes)."
        )
    return y.astype(np.int64)


def check_proba(proba: Any, *, what: str = "proba") -> np.ndarray:
    """A combined prediction ``proba[N, C]``: finite, in [0, 1], rows summing to 1.

    Returns a float64 copy clipped to [0, 1] (values may be outside by at most ``PROBA_TOL``).
    """
    proba = _numeric(proba, what)
    if proba.ndim != 2:
        hint = (" For a binary problem pass both columns, e.g. np.column_stack([1 - p, p])."
                if proba.ndim == 1 else "")
        raise ValueError(
            f"{what} must be 2-D [N, C] class probabilities; got shape {proba.shape}.{hint}"
        )
    if proba.shape[0] == 0 or proba.shape[1] == 0:
        raise ValueError(f"{what} must have at least one row and one class; got shape "
                         f"{proba.shape}.")
    proba = proba.astype(np.float64)
    check_finite(proba, what)
    outside = (proba < -PROBA_TOL) | (proba > 1 + PROBA_TOL)
    if outside.any():
        n, c = _first(outside)
        raise ValueError(
            f"{what}: probability {proba[n, c]:.4g} in row {n}, class index {c} is outside "
            f"[0, 1]."
        )
    sums = proba.sum(axis=1)
    off = np.abs(sums - 1.0) > PROBA_TOL
    if off.any():
        n = int(np.argmax(off))
        raise ValueError(
            f"{what}: probabilities in row {n} sum to {sums[n]:.4f}, expected 1 "
            f"(tol {PROBA_TOL:g})."
        )
    return np.clip(proba, 0.0, 1.0)


def check_pool(P: Any, *, what: str = "P") -> np.ndarray:
    """A pool ``P[N, M, C]`` of class probabilities, as a float64 array clipped to [0, 1]."""
    P = check_P(P)
    if P.ndim != 3:
        raise ValueError(
            f"{what} must be 3-D [N, M, C] class probabilities of every member; got shape "
            f"{P.shape}."
        )
    P = P.astype(np.float64)
    check_finite(P, what)
    outside = (P < -PROBA_TOL) | (P > 1 + PROBA_TOL)
    if outside.any():
        n, m, c = _first(outside)
        raise ValueError(
            f"{what}: probability {P[n, m, c]:.4g} of member {m} in row {n}, class index {c} "
            f"is outside [0, 1]."
        )
    sums = P.sum(axis=2)
    off = np.abs(sums - 1.0) > PROBA_TOL
    if off.any():
        n, m = _first(off)
        raise ValueError(
            f"{what}: probabilities of member {m} in row {n} sum to {sums[n, m]:.4f}, "
            f"expected 1 (tol {PROBA_TOL:g})."
        )
    return np.clip(P, 0.0, 1.0)


def check_n_bins(n_bins: Any, owner: str) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, Integral) or n_bins < 1:
        raise ValueError(
            f"The 'n_bins' parameter of {owner} must be an int >= 1. Got {n_bins!r} instead."
        )
    return int(n_bins)


def check_strategy(strategy: Any, owner: str) -> str:
    if strategy not in STRATEGIES:
        raise ValueError(
            f"The 'strategy' parameter of {owner} must be one of {STRATEGIES}. "
            f"Got {strategy!r} instead."
        )
    return str(strategy)


def check_real(value: Any, name: str, owner: str) -> float:
    """A finite real number (python or numpy scalar)."""
    if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(value):
        raise ValueError(
            f"The '{name}' argument of {owner} must be a finite real number. "
            f"Got {value!r} instead."
        )
    return float(value)
