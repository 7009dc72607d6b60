"""Cost of a selective ensemble: how many members run per input."""

from __future__ import annotations

from typing import Any

import numpy as np

from ensel._validation import _numeric, check_finite

__all__ = ["cost_fraction", "members_per_input"]


def _check_selection(selection: Any, threshold: Any, owner: str) -> np.ndarray:
    if (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
            or not np.isfinite(threshold) or threshold < 0):
        raise ValueError(
            f"The 'threshold' parameter of {owner} must be a finite float >= 0. "
            f"Got {threshold!r} instead."
        )
    selection = _numeric(selection, "selection")
    if selection.ndim != 2:
        raise ValueError(
            f"selection must be 2-D [N, M] (a 0/1 mask or weights per input and member); got "
            f"shape {selection.shape}."
        )
    if selection.shape[0] == 0 or selection.shape[1] == 0:
        raise ValueError(
            f"selection must have at least one row and one member; got shape {selection.shape}."
        )
    check_finite(selection, "selection")
    return np.abs(selection.astype(np.float64)) > threshold


def members_per_input(selection: Any, *, threshold: float = 0.0) -> float:
    """Mean number of members evaluated per input.

    A member counts as evaluated for an input when its entry in the selection is non-zero
    (``|selection[n, m]| > threshold``), whether the selection is a 0/1 mask or weights.

    Parameters
    ----------
    selection : array-like of shape (N, M)
        Per-input selection, as returned by a combiner's ``select``.
    threshold : float, default=0.0
        Entries with absolute value at most ``threshold`` count as not selected (useful for
        relaxed masks with tiny non-zero weights).

    Returns
    -------
    float
        Mean count in [0, M].

    Examples
    --------
    >>> from ensel.metrics import members_per_input
    >>> members_per_input([[1, 0, 1, 0], [0.5, 0.25, 0.25, 0.0]])
    2.5
    """
    chosen = _check_selection(selection, threshold, "members_per_input")
    return float(chosen.sum(axis=1).mean())


def cost_fraction(selection: Any, *, threshold: float = 0.0) -> float:
    """Mean fraction of the pool evaluated per input: ``members_per_input / M``.

    Parameters
    ----------
    selection : array-like of shape (N, M)
        Per-input selection (0/1 mask or weights).
    threshold : float, default=0.0
        As in :func:`members_per_input`.

    Returns
    -------
    float
        Fraction in [0, 1]; 1 for the full ensemble.

    Examples
    --------
    >>> from ensel.metrics import cost_fraction
    >>> cost_fraction([[1, 0, 1, 0], [0.5, 0.25, 0.25, 0.0]])
    0.625
    """
    chosen = _check_selection(selection, threshold, "cost_fraction")
    return float(chosen.sum(axis=1).mean() / chosen.shape[1])
