"""Routing metrics: what a router's choices are worth, and its quality-cost curve summarised.

A router sends each input to one member (an LLM, a SQL generator...). On an outcome table
``quality[N, M]`` (0/1 correctness or a score in [0, 1], NaN = not observed) with costs
``[M]`` or ``[N, M]``, a choice ``choice[N]`` has a mean quality and a mean cost. Sweeping a
router's knob (a budget, a willingness to pay) gives points ``(cost, quality)``; the
summaries here are those of RouterBench (Hu et al., 2024: AIQ, the zero router) and RouteLLM
(Ong et al., 2024: APGR, CPT) for two members.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ensel._validation import (
    _numeric,
    check_choice,
    check_real,
    check_real_param,
)
from ensel.metrics.cost import _check_curve

__all__ = ["aiq_score", "apgr_score", "cost_to_match", "cpt_score", "quality_at_cost",
           "routing_quality", "routing_scores", "zero_router_hull"]

MISSING = ("raise", "zero", "ignore")


def _check_points(costs: Any, qualities: Any, owner: str) -> tuple[np.ndarray, np.ndarray]:
    return _check_curve(costs, qualities, owner, "qualities")


def routing_quality(quality: Any, choice: Any, *, costs: Any = None,
                    missing: str = "raise") -> tuple[float, float]:
    """Mean quality and mean cost of sending input ``n`` to member ``choice[n]``.

    Parameters
    ----------
    quality : array-like of shape (N, M)
        Outcomes in [0, 1]; NaN where not observed.
    choice : array-like of shape (N,), int
        The member chosen for each input.
    costs : array-like of shape (M,) or (N, M), optional
        Cost of each call; default one unit per member.
    missing : {"raise", "zero", "ignore"}, default="raise"
        A choice that lands on a NaN outcome: an error naming the row and member, quality 0,
        or the row left out of the quality mean (its cost still counts).

    Returns
    -------
    quality : float
    cost : float

    Examples
    --------
    >>> import numpy as np
    >>> from ensel.metrics import routing_quality
    >>> Q = [[1, 0], [0, 1], [np.nan, 1]]
    >>> routing_quality(Q, [0, 1, 1], costs=[1.0, 3.0])
    (1.0, 2.3333333333333335)
    >>> routing_quality(Q, [0, 0, 0], costs=[1.0, 3.0], missing="zero")
    (0.3333333333333333, 1.0)
    """
    check_choice(missing, "missing", "routing_quality", MISSING)
    Q = _numeric(quality, "quality").astype(np.float64)
    if Q.ndim != 2 or Q.shape[0] == 0:
        raise ValueError(f"quality must be 2-D [N, M] with N >= 1; got shape {Q.shape}.")
    pick = np.asarray(choice)
    if (pick.shape != (Q.shape[0],) or not np.issubdtype(pick.dtype, np.integer)
            or (pick < 0).any() or (pick >= Q.shape[1]).any()):
        raise ValueError(f"choice must be {Q.shape[0]} member indices in [0, {Q.shape[1] - 1}]; "
                         f"got shape {pick.shape}, dtype {pick.dtype}.")
    from ensel.metrics.cost import _check_costs

    rows = np.arange(Q.shape[0])
    got = Q[rows, pick]
    cost = float(_check_costs(costs, Q.shape, "routing_quality")[rows, pick].mean())
    nan = np.isnan(got)
    if nan.any() and missing == "raise":
        r = int(np.argmax(nan))
        raise ValueError(f"routing_quality: row {r} is sent to member {int(pick[r])}, whose "
                         f"outcome is not observed (NaN; {int(nan.sum())} rows in all). Pass "
                         f"missing='zero' or 'ignore' to say how to count them.")
    if missing == "zero":
        got = np.where(nan, 0.0, got)
    elif nan.all():
        return float("nan"), cost
    return float(np.nanmean(got)), cost


def zero_router_hull(costs: Any, qualities: Any) -> tuple[np.ndarray, np.ndarray]:
    """The non-decreasing upper convex hull of ``(cost, quality)`` points.

    For the single members' points this is RouterBench's *zero router*: every mix of two
    members (send a random fraction of the inputs to one, the rest to the other) lies on a
    segment between them, and the hull keeps the best of those mixes at each cost.

    Parameters
    ----------
    costs : array-like of shape (K,)
    qualities : array-like of shape (K,)

    Returns
    -------
    hull_costs, hull_qualities : ndarray of shape (H,)
        The hull's vertices by increasing cost (quality strictly increasing along them).

    Examples
    --------
    >>> from ensel.metrics import zero_router_hull
    >>> x, q = zero_router_hull([1, 2, 3, 4], [0.5, 0.55, 0.9, 0.8])
    >>> x.tolist(), q.tolist()
    ([1.0, 3.0], [0.5, 0.9])
    """
    x, q = _check_points(costs, qualities, "zero_router_hull")
    order = np.lexsort((-q, x))
    hull: list[tuple[float, float]] = []
    for xi, qi in zip(x[order], q[order], strict=True):
        if hull and qi <= hull[-1][1]:
            continue                    # no better than a cheaper point: off the hull
        while len(hull) >= 2:
            (x1, q1), (x2, q2) = hull[-2], hull[-1]
            if (q2 - q1) * (xi - x1) <= (qi - q1) * (x2 - x1):
                hull.pop()              # hull[-1] lies on or below the segment to the new one
            else:
                break
        hull.append((float(xi), float(qi)))
    hx, hq = np.array(hull).T
    return hx, hq


def _hull_at(costs: np.ndarray, qualities: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The hull's quality at each cost of ``grid``: 0 below its cheapest point, flat above."""
    hx, hq = zero_router_hull(costs, qualities)
    out = np.interp(grid, hx, hq)
    return np.where(grid < hx[0], 0.0, out)


def aiq_score(costs: Any, qualities: Any, *, cost_range: tuple[float, float]) -> float:
    """Average Improvement in Quality (RouterBench): the mean of the hull over a cost range.

    The router's points are replaced by their non-decreasing convex hull
    (`zero_router_hull`: a router can mix its own settings), which is integrated over
    ``cost_range`` -- RouterBench uses the single members' cheapest and dearest mean cost --
    and divided by its width. Below the router's cheapest point the hull counts 0 (the
    router cannot run that cheaply); above its dearest point it stays flat.

    Parameters
    ----------
    costs : array-like of shape (K,)
        Mean cost of each point.
    qualities : array-like of shape (K,)
        Mean quality of each point.
    cost_range : (float, float)
        ``(low, high)``, ``low < high``.

    Returns
    -------
    float
        In [0, max quality].

    Examples
    --------
    >>> from ensel.metrics import aiq_score
    >>> round(aiq_score([1, 3], [0.5, 0.9], cost_range=(1, 3)), 6)   # the segment's mean
    0.7
    >>> round(aiq_score([2], [0.8], cost_range=(1, 3)), 6)   # 0 on [1, 2), 0.8 on [2, 3]
    0.4
    """
    x, q = _check_points(costs, qualities, "aiq_score")
    low, high = _check_range(cost_range)
    # the hull is piecewise linear: integrate exactly over its vertices and the range ends
    hx, _ = zero_router_hull(x, q)
    grid = np.unique(np.clip(np.concatenate([[low, high], hx, np.nextafter(hx, -np.inf)]),
                             low, high))
    values = _hull_at(x, q, grid)
    return float(np.sum(np.diff(grid) * (values[1:] + values[:-1]) / 2) / (high - low))


def _check_range(cost_range: Any) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in cost_range)
    except (TypeError, ValueError):
        raise ValueError(f"The 'cost_range' parameter of aiq_score must be (low, high). Got "
                         f"{cost_range!r} instead.") from None
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"The 'cost_range' parameter of aiq_score must have finite "
                         f"low < high. Got {cost_range!r} instead.")
    return low, high


def quality_at_cost(costs: Any, qualities: Any, cost: float) -> float:
    """The router's hull quality at a given cost (e.g. the best single member's cost).

    Parameters
    ----------
    costs, qualities : array-like of shape (K,)
        The router's points.
    cost : float

    Returns
    -------
    float
        0 below the router's cheapest point.

    Examples
    --------
    >>> from ensel.metrics import quality_at_cost
    >>> round(quality_at_cost([1, 3], [0.5, 0.9], 2.0), 6)
    0.7
    """
    x, q = _check_points(costs, qualities, "quality_at_cost")
    cost = check_real(cost, "cost", "quality_at_cost")
    return float(_hull_at(x, q, np.array([cost]))[0])


def cost_to_match(costs: Any, qualities: Any, target: float) -> float:
    """The smallest cost at which the router's hull reaches ``target`` quality (NaN: never).

    Parameters
    ----------
    costs, qualities : array-like of shape (K,)
    target : float
        E.g. the best single member's quality.

    Returns
    -------
    float

    Examples
    --------
    >>> from ensel.metrics import cost_to_match
    >>> round(cost_to_match([1, 3], [0.5, 0.9], 0.7), 6)
    2.0
    """
    x, q = _check_points(costs, qualities, "cost_to_match")
    target = check_real(target, "target", "cost_to_match")
    hx, hq = zero_router_hull(x, q)
    if target > hq[-1] + 1e-12:
        return float("nan")
    if target <= hq[0]:
        return float(hx[0])
    return float(np.interp(target, hq, hx))


def _pgr_curve(strong_fraction: Any, qualities: Any, weak: float, strong: float, owner: str
               ) -> tuple[np.ndarray, np.ndarray]:
    """Points (fraction of calls to the strong member, PGR), with (0, 0) and (1, 1) added."""
    f, q = _check_points(strong_fraction, qualities, owner)
    weak = check_real(weak, "weak_quality", owner)
    strong = check_real(strong, "strong_quality", owner)
    if not strong > weak:
        raise ValueError(f"{owner} needs strong_quality > weak_quality; got {strong!r} and "
                         f"{weak!r}.")
    if (f < 0).any() or (f > 1).any():
        raise ValueError(f"{owner}: strong_fraction must lie in [0, 1]; got {f.min()!r}.."
                         f"{f.max()!r}.")
    pgr = (q - weak) / (strong - weak)
    f = np.concatenate([[0.0], f, [1.0]])
    pgr = np.concatenate([[0.0], pgr, [1.0]])
    order = np.argsort(f, kind="stable")
    return f[order], pgr[order]


def apgr_score(strong_fraction: Any, qualities: Any, *, weak_quality: float,
               strong_quality: float) -> float:
    """Average Performance Gap Recovered (RouteLLM), for a router between two members.

    ``PGR = (quality - weak) / (strong - weak)`` at each point; APGR is the area under PGR
    against the fraction of calls sent to the strong member, on [0, 1] (trapezoids, with
    the ends (0, 0) = always weak and (1, 1) = always strong added). Random routing scores
    0.5.

    Parameters
    ----------
    strong_fraction : array-like of shape (K,)
        Fraction of inputs sent to the strong member at each point, in [0, 1].
    qualities : array-like of shape (K,)
        The router's mean quality there.
    weak_quality, strong_quality : float
        Each member's quality alone (``strong > weak``).

    Returns
    -------
    float

    Examples
    --------
    >>> from ensel.metrics import apgr_score
    >>> apgr_score([0.5], [0.8], weak_quality=0.6, strong_quality=0.8)   # PGR 1 at half
    0.75
    """
    f, pgr = _pgr_curve(strong_fraction, qualities, weak_quality, strong_quality, "apgr_score")
    return float(np.sum(np.diff(f) * (pgr[1:] + pgr[:-1]) / 2))


def cpt_score(strong_fraction: Any, qualities: Any, *, weak_quality: float,
              strong_quality: float, level: float = 0.5) -> float:
    """Call-Performance Threshold (RouteLLM): fewest strong calls to recover ``level`` of the gap.

    The smallest fraction of calls to the strong member at which the PGR curve (see
    `apgr_score`, linear between points) first reaches ``level``; CPT(50%) by default.

    Parameters
    ----------
    strong_fraction, qualities : array-like of shape (K,)
    weak_quality, strong_quality : float
    level : float, default=0.5
        In (0, 1].

    Returns
    -------
    float
        In [0, 1].

    Examples
    --------
    >>> from ensel.metrics import cpt_score
    >>> round(cpt_score([0.2, 0.6], [0.7, 0.75], weak_quality=0.6, strong_quality=0.8), 6)
    0.2
    """
    f, pgr = _pgr_curve(strong_fraction, qualities, weak_quality, strong_quality, "cpt_score")
    level = check_real(level, "level", "cpt_score")
    if not 0 < level <= 1:
        raise ValueError(f"The 'level' parameter of cpt_score must be in (0, 1]. Got {level!r} "
                         f"instead.")
    i = int(np.argmax(pgr >= level - 1e-12))
    if i == 0:
        return float(f[0])
    (f0, f1), (p0, p1) = f[i - 1:i + 1], pgr[i - 1:i + 1]
    return float(f0 + (level - p0) * (f1 - f0) / (p1 - p0))


def routing_scores(costs: Any, qualities: Any, *, single_costs: Any, single_qualities: Any,
                   strong_fraction: Any = None, budgets: Any = ()) -> dict[str, Any]:
    """One router's cost-quality points summarised against the single members.

    Parameters
    ----------
    costs, qualities : array-like of shape (K,)
        The router's points (e.g. `ensel.combine.routing_curve` on a test table).
    single_costs, single_qualities : array-like of shape (M,)
        Each member alone on the same inputs. The *best single* member is the one of
        highest quality (the cheaper one on a tie).
    strong_fraction : array-like of shape (K,), optional
        With two members: the share of inputs sent to the better one at each point; adds
        RouteLLM's ``apgr`` and ``cpt`` (CPT(50%); NaN when both members are equally good).
    budgets : sequence of float, default=()
        Mean costs per input, as multiples of the best single member's cost, at which to
        read the router's hull quality.

    Returns
    -------
    dict
        ``aiq`` (`aiq_score` over the single members' cost range), ``quality_at_best_cost``,
        ``cost_to_match_best`` (`cost_to_match` the best single quality, as a fraction of
        its cost; NaN: never), ``quality_at_budgets`` (one per budget), and ``apgr``,
        ``cpt`` when ``strong_fraction`` is given.

    Examples
    --------
    >>> from ensel.metrics import routing_scores
    >>> s = routing_scores([1, 2], [0.6, 0.8], single_costs=[1, 4], single_qualities=[0.6, 0.8],
    ...                    strong_fraction=[0.0, 0.5], budgets=[0.25])
    >>> round(s["aiq"], 4), s["cost_to_match_best"], s["quality_at_budgets"], s["apgr"]
    (0.7667, 0.5, [0.6], 0.75)
    """
    x, q = _check_points(costs, qualities, "routing_scores")
    sx, sq = _check_points(single_costs, single_qualities, "routing_scores (single members)")
    best = int(np.lexsort((sx, -sq))[0])
    fractions = [check_real_param(b, "budgets", "routing_scores", low=0.0, high=np.inf,
                                  include_low=False, include_high=False) for b in budgets]
    out: dict[str, Any] = {
        "aiq": aiq_score(x, q, cost_range=(float(sx.min()), float(sx.max())))
        if sx.max() > sx.min() else float("nan"),
        "quality_at_best_cost": quality_at_cost(x, q, float(sx[best])),
        "cost_to_match_best": cost_to_match(x, q, float(sq[best])) / float(sx[best]),
        "quality_at_budgets": [quality_at_cost(x, q, b * float(sx[best])) for b in fractions],
    }
    if strong_fraction is not None:
        if len(sx) != 2:
            raise ValueError(f"routing_scores: strong_fraction needs exactly two members "
                             f"(APGR, CPT); got {len(sx)}.")
        weak, strong = float(sq.min()), float(sq.max())
        kw = {"weak_quality": weak, "strong_quality": strong}
        tie = not strong > weak
        out["apgr"] = float("nan") if tie else apgr_score(strong_fraction, q, **kw)
        out["cpt"] = float("nan") if tie else cpt_score(strong_fraction, q, **kw)
    return out
