"""Cost of a selective ensemble: which members run per input, what that costs, and the
accuracy-cost frontier.

The members a combiner runs for an input are the non-zero entries of its selection
(``select(table) != 0``); weighted by the member costs (``[M]`` or ``[N, M]``, default one
unit each) they give the cost per input, and its mean over the inputs divided by the mean
cost of running the whole pool is the cost fraction (a budget of 0.25 = a quarter of the
pool's cost on average).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ensel._validation import _numeric, check_finite, check_real

__all__ = ["accuracy_cost_auc", "cost_fraction", "cost_per_input", "cost_to_reach",
           "exit_stages", "exit_threshold",
           "members_per_input"]


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


def _check_costs(costs: Any, shape: tuple[int, int], owner: str) -> np.ndarray:
    """Costs ``[M]`` or ``[N, M]`` as ``[N, M]`` float64 (None: one unit per member)."""
    n, m = shape
    if costs is None:
        return np.ones(shape)
    from ensel._validation import check_costs

    try:
        arr = check_costs(costs, n, [f"m{j}" for j in range(m)])
    except ValueError as exc:
        raise ValueError(f"{owner}: {exc} (members are named by position)") from exc
    return np.broadcast_to(arr, shape)


def cost_per_input(selection: Any, costs: Any = None, *, threshold: float = 0.0) -> np.ndarray:
    """Cost of the members run for each input: ``sum_m costs[n, m] [|selection[n, m]| > t]``.

    Parameters
    ----------
    selection : array-like of shape (N, M)
        Per-input selection, as returned by a combiner's ``select``.
    costs : array-like of shape (M,) or (N, M), optional
        Member costs (``PredictionTable.costs``); default one unit per member.
    threshold : float, default=0.0
        As in :func:`members_per_input`.

    Returns
    -------
    ndarray of shape (N,)

    Examples
    --------
    >>> from ensel.metrics import cost_per_input
    >>> cost_per_input([[1, 0, 1], [0, 1, 0]], costs=[1.0, 2.0, 5.0]).tolist()
    [6.0, 2.0]
    """
    chosen = _check_selection(selection, threshold, "cost_per_input")
    return (chosen * _check_costs(costs, chosen.shape, "cost_per_input")).sum(axis=1)


def cost_fraction(selection: Any, *, costs: Any = None, threshold: float = 0.0) -> float:
    """Mean cost per input as a fraction of the mean cost of running the whole pool.

    ``mean_n cost_per_input(selection, costs)[n] / mean_n sum_m costs[n, m]``; with unit costs
    (the default) this is ``members_per_input / M``.

    Parameters
    ----------
    selection : array-like of shape (N, M)
        Per-input selection (0/1 mask or weights).
    costs : array-like of shape (M,) or (N, M), optional
        Member costs; default one unit per member.
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
    >>> cost_fraction([[1, 0], [0, 1]], costs=[1.0, 3.0])     # (1 + 3) / 2 over 4
    0.5
    """
    chosen = _check_selection(selection, threshold, "cost_fraction")
    full = _check_costs(costs, chosen.shape, "cost_fraction")
    return float((chosen * full).sum() / full.sum())


def _check_curve(costs: Any, scores: Any, owner: str, what: str = "scores"
                 ) -> tuple[np.ndarray, np.ndarray]:
    """A cost-score curve (the score array named ``what`` in errors): 1-D, same length,
    finite, as float64. Shared with `ensel.metrics.routing`."""
    x = _numeric(costs, "costs")
    s = _numeric(scores, what)
    if x.ndim != 1 or s.shape != x.shape or len(x) == 0:
        raise ValueError(f"{owner} needs 1-D costs and {what} of the same length >= 1; got "
                         f"shapes {x.shape} and {s.shape}.")
    check_finite(x, "costs")
    check_finite(s, what)
    return x.astype(np.float64), s.astype(np.float64)


def cost_to_reach(costs: Any, scores: Any, target: float, *,
                  tolerance: float = 0.001) -> float:
    """The smallest cost whose score is within ``tolerance`` of ``target`` (NaN if none).

    For the frontier summary *cost to reach stacking*: the points of one method at several
    budgets, ``target`` = stacking's accuracy, ``tolerance`` = 0.1 point (0.001).

    Parameters
    ----------
    costs : array-like of shape (K,)
        The budgets (or measured cost fractions) of the points.
    scores : array-like of shape (K,)
        Their scores (higher is better, e.g. accuracy).
    target : float
        The score to reach.
    tolerance : float, default=0.001
        A point reaches the target when ``score >= target - tolerance``.

    Returns
    -------
    float
        The smallest such cost, or NaN when no point reaches the target.

    Examples
    --------
    >>> from ensel.metrics import cost_to_reach
    >>> cost_to_reach([0.1, 0.3, 0.5, 1.0], [0.90, 0.9585, 0.97, 0.96], target=0.9592)
    0.3
    """
    x, s = _check_curve(costs, scores, "cost_to_reach")
    target = check_real(target, "target", "cost_to_reach")
    tolerance = check_real(tolerance, "tolerance", "cost_to_reach")
    if tolerance < 0:
        raise ValueError(f"The 'tolerance' argument of cost_to_reach must be >= 0. Got "
                         f"{tolerance!r} instead.")
    reached = s >= target - tolerance - 1e-12
    return float(x[reached].min()) if reached.any() else float("nan")


def accuracy_cost_auc(costs: Any, scores: Any) -> float:
    """Normalised area under the score-cost curve: the mean score over the cost range.

    The points are sorted by cost and joined by straight lines (trapezoidal rule); the area is
    divided by ``max(costs) - min(costs)``, so methods run at the same budgets compare on the
    same scale (a single point, or points at one cost, give their mean score).

    Parameters
    ----------
    costs : array-like of shape (K,)
        Budgets (or measured cost fractions).
    scores : array-like of shape (K,)
        Scores at those costs, e.g. accuracy.

    Returns
    -------
    float

    Examples
    --------
    >>> from ensel.metrics import accuracy_cost_auc
    >>> accuracy_cost_auc([0.5, 0.0, 1.0], [0.8, 0.6, 0.9])   # (0.35 + 0.425) / 1
    0.775
    """
    x, s = _check_curve(costs, scores, "accuracy_cost_auc")
    order = np.argsort(x, kind="stable")
    x, s = x[order], s[order]
    span = x[-1] - x[0]
    if span <= 0:
        return float(s.mean())
    return float(np.sum(np.diff(x) * (s[1:] + s[:-1]) / 2) / span)


def exit_stages(conf: np.ndarray, threshold: float) -> np.ndarray:
    """Exit stage per row: the first stage with ``conf >= threshold``, else the last.

    ``conf[N, S]`` is the confidence after each stage; returns ints ``[N]``.
    """
    conf = _check_stages(conf, "conf", "exit_stages")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating)) \
            or np.isnan(threshold):
        raise ValueError(f"exit_stages needs a number (or +-inf) as threshold; got "
                         f"{threshold!r}.")
    confident = conf >= threshold
    confident[:, -1] = True
    return np.argmax(confident, axis=1)


def _check_stages(values: Any, name: str, owner: str) -> np.ndarray:
    """``[N, S]`` with ``N, S >= 1`` and no NaN, as float64."""
    out = _numeric(values, name)
    if out.ndim != 2 or 0 in out.shape:
        raise ValueError(f"{owner} needs {name} of shape [N, S] (rows x stages, both >= 1); "
                         f"got shape {out.shape}.")
    if np.isnan(out).any():
        row = int(np.argwhere(np.isnan(out))[0, 0])
        raise ValueError(f"{owner}: {name} has NaN (first in row {row}).")
    return out.astype(np.float64)


def exit_threshold(conf: np.ndarray, spent: np.ndarray, target: float) -> tuple[float, bool]:
    """The largest exit threshold whose mean cost is within ``target``, and whether any is.

    ``conf[N, S]``: the confidence after each stage; ``spent[N, S]``: the cost of running a
    row up to and including each stage (non-decreasing along a row). A higher threshold
    keeps rows longer, so the mean cost grows with it and the largest one within the budget
    is found by bisection over the distinct confidences. Returns ``inf`` (no row exits early)
    when the whole run fits, and ``(-inf, met)`` when even exiting every row after the first
    stage does not fit (``met`` False) or only that fits.

    Examples
    --------
    >>> conf = np.array([[0.9, 1.0], [0.5, 1.0]])
    >>> spent = np.array([[1.0, 2.0], [1.0, 2.0]])
    >>> exit_threshold(conf, spent, 1.5)         # the confident row exits, the other runs on
    (0.9, True)
    """
    conf = _check_stages(conf, "conf", "exit_threshold")
    spent = _check_stages(spent, "spent", "exit_threshold")
    if spent.shape != conf.shape:
        raise ValueError(f"exit_threshold needs conf and spent of the same shape [N, S]; got "
                         f"{conf.shape} and {spent.shape}.")
    check_finite(spent, "spent")
    target = check_real(target, "target", "exit_threshold")
    target *= 1 + 1e-9
    rows = np.arange(len(conf))

    def cost(threshold: float) -> float:
        return float(spent[rows, exit_stages(conf, threshold)].mean())

    candidates = np.unique(conf[:, :-1])
    if cost(np.inf) <= target:
        return float(np.inf), True
    if len(candidates) == 0 or cost(candidates[0]) > target:
        return float(-np.inf), cost(-np.inf) <= target
    lo, hi = 0, len(candidates) - 1           # cost(candidates[lo]) <= target
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if cost(candidates[mid]) <= target:
            lo = mid
        else:
            hi = mid - 1
    return float(candidates[lo]), True
