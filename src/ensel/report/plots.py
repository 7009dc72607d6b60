"""The report's figures, drawn with matplotlib's object API on the Agg canvas.

No pyplot and no global backend switch: importing this module does not change how a user's own
plots render. Every function returns a `matplotlib.figure.Figure`; `to_png` encodes it.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

SELECTOR_COLOR = "#c0392b"
ENSEL_COLOR = "#2e6da4"
PEER_COLOR = "#7f8c8d"
REFERENCE_COLOR = "#27ae60"
_SIZE = (5.6, 4.0)
_DPI = 90


def to_png(fig: Figure, *, dpi: int = _DPI) -> bytes:
    """The figure as PNG bytes (Agg canvas).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    dpi : int, default=90

    Returns
    -------
    bytes
    """
    import matplotlib
    from matplotlib.text import Text

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    # names come from users ('$\\frac{' in a member name): print them, never parse them as
    # mathtext; texts made while drawing (new ticks) read the rc setting
    for text in fig.findobj(Text):
        text.set_parse_math(False)
    with matplotlib.rc_context({"text.parse_math": False}):
        fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _new(size: tuple[float, float] = _SIZE) -> tuple[Figure, Any]:
    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.add_subplot()


def _finite(x: Any) -> bool:
    return x is not None and math.isfinite(float(x))


def _color(row: Mapping[str, Any]) -> str:
    name = str(row["combiner"])
    if name.startswith("e2e-cel"):
        return SELECTOR_COLOR
    if name.startswith("deslib:"):
        return PEER_COLOR
    return ENSEL_COLOR


def frontier(rows: Sequence[Mapping[str, Any]], sweep: Sequence[Mapping[str, Any]], *,
             oracle: float, best_single: float, n_members: int | None) -> Figure:
    """Accuracy against members evaluated per input: the cost/accuracy frontier.

    Every point is numbered, most accurate first, and the key under the plot names the
    combiners at each point (combiners with equal cost and accuracy share one point and one
    number), so each one can be found even where points or lines coincide. Bold numbers are
    on the frontier: nothing cheaper is as accurate.

    Parameters
    ----------
    rows : sequence of mapping
        Per-combiner means (`ensel.report.tables.summarise`), with ``combiner``,
        ``accuracy`` and ``members_per_input``.
    sweep : sequence of mapping
        Means of the DifferentiableSelector at fixed k (drawn as a connected line).
    oracle, best_single : float
        Drawn as horizontal reference lines.
    n_members : int or None
        Pool size (the right end of the x axis).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = frontier([{"combiner": "average", "accuracy": 0.9, "members_per_input": 3.0},
    ...                 {"combiner": "stacking", "accuracy": 0.9, "members_per_input": 3.0}],
    ...                [], oracle=0.97, best_single=0.85, n_members=3)
    >>> [t.get_text() for t in fig.legends[0].get_texts()][-1]
    '1  average, stacking: 0.900 at 3'
    """
    points = [r for r in [*rows, *sweep] if r["combiner"] != "oracle"
              and _finite(r["accuracy"]) and _finite(r["members_per_input"])]
    groups = _point_groups(points)
    keys = [_key_text(i + 1, g) for i, g in enumerate(groups)]
    n_lines = sum(k.count("\n") + 1 for k in keys) + 4
    fig, ax = _new((_SIZE[0], 3.4 + 0.075 * n_lines))
    xs = np.array([g[0] for g in groups], dtype=float)
    ys = np.array([g[1] for g in groups], dtype=float)
    colors = [_group_color(g[2]) for g in groups]
    ax.scatter(xs, ys, c=colors, s=30, zorder=3, edgecolors="white", linewidths=0.6)
    front = _front(xs, ys)
    if front:
        fx, fy = list(xs[front]), list(ys[front])
        ax.step(fx + [max(xs.max(), n_members or xs.max())], fy + [fy[-1]], where="post",
                color="#555", lw=1, alpha=0.6, zorder=2, label="frontier")
    good = [r for r in sweep if _finite(r["accuracy"]) and _finite(r["members_per_input"])]
    if good:
        ax.plot([r["members_per_input"] for r in good], [r["accuracy"] for r in good], "--",
                color=SELECTOR_COLOR, lw=1, alpha=0.8, label="e2e-cel, k = 1, 2, …")
    for base, curve in budget_curves(points).items():
        ax.plot([r["members_per_input"] for r in curve], [r["accuracy"] for r in curve], "-",
                lw=1, alpha=0.8, label=f"{base}, budget = …")
    if _finite(oracle):
        ax.axhline(oracle, color=REFERENCE_COLOR, ls="--", lw=1, label=f"oracle {oracle:.3f}")
    if _finite(best_single):
        ax.axhline(best_single, color="#999", ls=":", lw=1,
                   label=f"best single {best_single:.3f}")
    ax.set_xlim(0, (n_members or (xs.max() if len(xs) else 1)) + 0.6)
    low = [v for v in [*ys, best_single] if _finite(v)]
    high = [v for v in [*ys, oracle] if _finite(v)]
    if low:
        span = max(high) - min(low)
        ax.set_ylim(max(0.0, min(low) - 0.06 * span - 0.005),
                    min(1.0, max(high) + 0.06 * span + 0.005))
    _number_points(ax, xs, ys, colors, set(front))
    handles, labels = ax.get_legend_handles_labels()
    from matplotlib.lines import Line2D

    handles += [Line2D([], [], ls="", marker="o", ms=4, color=c) for c in colors]
    fig.legend(handles, labels + keys, loc="outside lower center", ncols=2, fontsize=6.8,
               frameon=False, handlelength=1.6, columnspacing=1.2)
    ax.set_xlabel("members evaluated per input")
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)
    ax.set_title("cost / accuracy (numbers: see the key below)", fontsize=10)
    return fig


def budget_curves(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Rows named ``base[budget=b]``, grouped by ``base`` and sorted by budget (a curve each).

    Examples
    --------
    >>> rows = [{"combiner": "cascade[budget=1]"}, {"combiner": "stacking"},
    ...         {"combiner": "cascade[budget=0.3]"}]
    >>> {k: [r["combiner"] for r in v] for k, v in budget_curves(rows).items()}
    {'cascade': ['cascade[budget=0.3]', 'cascade[budget=1]']}
    """
    import re

    curves: dict[str, list[tuple[float, Mapping[str, Any]]]] = {}
    for row in rows:
        match = re.fullmatch(r"(?P<base>.+)\[budget=(?P<b>[0-9.e+-]+)\]", str(row["combiner"]))
        if match:
            curves.setdefault(match["base"], []).append((float(match["b"]), row))
    return {base: [r for _, r in sorted(pts, key=lambda p: p[0])] for base, pts in curves.items()}


def _point_groups(points: Sequence[Mapping[str, Any]]) -> list[tuple[float, float, list[str]]]:
    """``(cost, accuracy, names)`` of each distinct point, most accurate (then cheapest) first."""
    groups: dict[tuple[float, float], list[str]] = {}
    for r in points:
        key = (round(float(r["members_per_input"]), 2), round(float(r["accuracy"]), 4))
        groups.setdefault(key, []).append(str(r["combiner"]))
    return sorted(((x, y, names) for (x, y), names in groups.items()),
                  key=lambda g: (-g[1], g[0]))


def _group_color(names: Sequence[str]) -> str:
    if any(n.startswith("e2e-cel") for n in names):
        return SELECTOR_COLOR
    if all(n.startswith("deslib:") for n in names):
        return PEER_COLOR
    return ENSEL_COLOR


def _key_text(number: int, group: tuple[float, float, list[str]], width: int = 46) -> str:
    import textwrap

    x, y, names = group
    text = f"{number}  {', '.join(names)}: {y:.3f} at {x:g}"
    return "\n".join(textwrap.wrap(text, width, subsequent_indent="     ",
                                   break_on_hyphens=False))


def _front(xs: np.ndarray, ys: np.ndarray) -> list[int]:
    """Indices on the Pareto frontier (the best accuracy at each cost or less), by cost."""
    front, best = [], -np.inf
    for i in np.lexsort((-ys, xs)):
        if ys[i] > best:
            front.append(int(i))
            best = ys[i]
    return front


def _spread(values: np.ndarray, gap: float, low: float = 0.03,
            high: float = 0.95) -> np.ndarray:
    """Label positions (axes fractions) near ``values``, at least ``gap`` apart, in order.

    Labels that would overlap form a block centred on their points, kept in ``[low, high]``
    where it fits.

    Examples
    --------
    >>> _spread(np.array([0.5, 0.5, 0.1]), gap=0.1).round(2).tolist()
    [0.45, 0.55, 0.1]
    """
    order = np.argsort(values, kind="stable")
    blocks: list[list[float]] = []          # [first position, labels, sum of their targets]
    for target in np.asarray(values, dtype=float)[order]:
        blocks.append([target, 1, target])
        while True:
            last = blocks[-1]
            size = (last[1] - 1) * gap
            last[0] = min(max(last[2] / last[1] - size / 2, low), high - size)
            if len(blocks) > 1 and blocks[-2][0] + blocks[-2][1] * gap > last[0] + 1e-12:
                first = blocks.pop(-2)
                last[1] += first[1]
                last[2] += first[2]
            else:
                break
    out = np.empty(len(order))
    out[order] = [start + j * gap for start, n, _ in blocks for j in range(int(n))]
    return out


def _columns(fx: np.ndarray, width: float = 0.05) -> list[np.ndarray]:
    """Indices of points grouped into columns: neighbours closer than ``width`` in x."""
    order = np.argsort(fx, kind="stable")
    columns, current = [], [order[0]]
    for i in order[1:]:
        if fx[i] - fx[current[-1]] < width:
            current.append(i)
        else:
            columns.append(np.array(current))
            current = [i]
    return [*columns, np.array(current)]


def _number_points(ax: Any, xs: np.ndarray, ys: np.ndarray, colors: Sequence[str],
                   bold: set[int]) -> None:
    """Write each point's number beside it; the numbers of one column are spread apart."""
    if not len(xs):
        return
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    fx, fy = (xs - x0) / (x1 - x0), (ys - y0) / (y1 - y0)
    gap = 9.5 / 72 / 2.5                     # 9.5 pt in an axes about 2.5 inches tall
    columns = _columns(fx)
    for c, column in enumerate(columns):
        # numbers go on the left at the right edge, or when the next column is close by
        right = fx[column].max() > 0.88 or (
            c + 1 < len(columns) and fx[columns[c + 1]].min() - fx[column].max() < 0.12)
        lx = fx[column].min() - 0.02 if right else fx[column].max() + 0.02
        for i, ly in zip(column, _spread(fy[column], gap), strict=True):
            lead = abs(ly - fy[i]) > 0.012 or abs(lx - fx[i]) > 0.03
            ax.annotate(str(i + 1), (xs[i], ys[i]), xytext=(lx, ly), textcoords="axes fraction",
                        ha="right" if right else "left", va="center", fontsize=7.5,
                        color=colors[i], fontweight="bold" if i in bold else "normal",
                        annotation_clip=False,
                        arrowprops={"arrowstyle": "-", "lw": 0.5, "color": colors[i],
                                    "alpha": 0.6, "shrinkA": 1, "shrinkB": 2} if lead else None)


def reliability(curves: Mapping[str, Mapping[str, Sequence[Any]]],
                rows: Sequence[Mapping[str, Any]], *, limit: int = 5) -> Figure:
    """Reliability diagram: accuracy against confidence per bin, for a few combiners.

    Shows the DifferentiableSelector, stacking, averaging and the most accurate combiners, up
    to ``limit`` curves; the legend gives each one's ECE.

    Parameters
    ----------
    curves : mapping of str to mapping
        Combiner → ``{"confidence", "accuracy", "counts"}`` per bin (None for an empty bin).
    rows : sequence of mapping
        Per-combiner means, best accuracy first (for the choice and the ECE).
    limit : int, default=5

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _new()
    ax.plot([0, 1], [0, 1], color="#999", ls=":", lw=1, label="perfectly calibrated")
    ece = {r["combiner"]: r.get("ece") for r in rows}
    wanted = ["e2e-cel", "stacking", "average"]
    wanted += [r["combiner"] for r in rows if r["combiner"] != "oracle"]
    shown = [n for n in dict.fromkeys(wanted) if n in curves][:limit]
    colors = [SELECTOR_COLOR, "#2e6da4", "#e67e22", "#8e44ad", "#16a085", "#7f8c8d"]
    for name, color in zip(shown, colors, strict=False):        # at most 6
        curve = curves[name]
        pairs = [(c, a) for c, a, n in zip(curve["confidence"], curve["accuracy"],
                                           curve["counts"], strict=False)
                 if n and _finite(c) and _finite(a)]
        if not pairs:
            continue
        cx, ay = zip(*pairs, strict=True)
        label = name if not _finite(ece.get(name)) else f"{name} (ECE {ece[name]:.3f})"
        ax.plot(cx, ay, "o-", color=color, ms=3.5, lw=1.2, label=label)
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("confidence (top-class probability)")
    ax.set_ylabel("accuracy in bin")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7.5, loc="upper left")
    ax.set_title("reliability", fontsize=10)
    return fig


def _labels(names: Sequence[str], width: int = 14) -> list[str]:
    return [n if len(n) <= width else n[:width - 1] + "…" for n in names]


def selection_heatmap(frequency: Sequence[Sequence[Any]], members: Sequence[str],
                      classes: Sequence[str], *, selector: str) -> Figure:
    """Heat map of which member the selector picks for which true class.

    Parameters
    ----------
    frequency : array-like of shape (M, C)
        Share of the test inputs of each class for which each member is picked (None: no
        input of that class).
    members : sequence of str
    classes : sequence of str
    selector : str
        The combiner shown (in the title).

    Returns
    -------
    matplotlib.figure.Figure
    """
    F = np.array([[np.nan if v is None else float(v) for v in row] for row in frequency])
    n_members, n_classes = F.shape
    fig, ax = _new((max(4.6, 1.9 + 0.26 * n_classes), max(3.8, 1.2 + 0.3 * n_members)))
    image = ax.imshow(np.ma.masked_invalid(F), vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_yticks(range(n_members), _labels(members), fontsize=7.5)
    ax.set_xticks(range(n_classes), _labels(classes, 6), fontsize=7.5,
                  rotation=90 if n_classes > 12 else 0)
    ax.set_xlabel("true class")
    ax.set_ylabel("member")
    fig.colorbar(image, ax=ax, label="share of the class's inputs", shrink=0.9)
    ax.set_title(f"which member {selector} picks", fontsize=10)
    return fig


def disagreement_matrix(matrix: Sequence[Sequence[Any]], members: Sequence[str]) -> Figure:
    """The members' pairwise disagreement (share of inputs where exactly one is right).

    Parameters
    ----------
    matrix : array-like of shape (M, M)
    members : sequence of str

    Returns
    -------
    matplotlib.figure.Figure
    """
    D = np.array([[np.nan if v is None else float(v) for v in row] for row in matrix])
    m = D.shape[0]
    fig, ax = _new((max(4.6, 1.8 + 0.34 * m), max(3.8, 1.4 + 0.3 * m)))
    top = float(np.nanmax(D)) if np.isfinite(D).any() and np.nanmax(D) > 0 else 1.0
    image = ax.imshow(np.ma.masked_invalid(D), vmin=0, vmax=top, cmap="magma_r")
    ax.set_yticks(range(m), _labels(members), fontsize=7.5)
    ax.set_xticks(range(m), _labels(members), fontsize=7.5, rotation=90)
    if m <= 12:
        for i in range(m):
            for j in range(m):
                if np.isfinite(D[i, j]):
                    ax.text(j, i, f"{D[i, j]:.2f}", ha="center", va="center", fontsize=6,
                            color="white" if D[i, j] > 0.6 * top else "black")
    fig.colorbar(image, ax=ax, label="disagreement", shrink=0.9)
    ax.set_title("pairwise disagreement of members", fontsize=10)
    return fig


def accuracy_vs_k(sweep: Sequence[Mapping[str, Any]],
                  references: Mapping[str, float]) -> Figure:
    """Accuracy of the DifferentiableSelector at each fixed k (mean ± std over seeds).

    Parameters
    ----------
    sweep : sequence of mapping
        Means per k with ``k``, ``accuracy`` and ``accuracy_std``.
    references : mapping of str to float
        Horizontal lines, e.g. ``{"stacking": 0.95, "best single": 0.73}``. References with
        the same value (to 3 decimals) share one line labelled with every name, so none hides
        under another.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = accuracy_vs_k([{"k": 1, "accuracy": 0.9, "accuracy_std": 0.0}],
    ...                     {"stacking": 0.958, "average": 0.958})
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ['stacking = average 0.958', 'e2e-cel at fixed k']
    """
    fig, ax = _new()
    rows = [r for r in sweep if _finite(r["accuracy"])]
    values = [float(r["accuracy"]) for r in rows]
    near = [v for v in references.values() if _finite(v)]
    if values:      # references far below the sweep would squash it: leave those out
        low = min(values) - 0.05
        references = {n: v for n, v in references.items() if _finite(v) and v >= low}
        near = list(references.values())
    ks = [int(r["k"]) for r in rows]
    acc = [float(r["accuracy"]) for r in rows]
    err = [float(r["accuracy_std"]) if _finite(r.get("accuracy_std")) else 0.0 for r in rows]
    ax.errorbar(ks, acc, yerr=err, fmt="o-", color=SELECTOR_COLOR, capsize=3, lw=1.5,
                label="e2e-cel at fixed k")
    styles = ["--", "-.", ":", (0, (5, 2, 1, 2))]
    colors = [ENSEL_COLOR, "#e67e22", "#999", REFERENCE_COLOR]
    shared: dict[str, list[str]] = {}
    for name, value in references.items():
        if _finite(value):
            shared.setdefault(f"{value:.3f}", []).append(name)
    for (value, names), ls, color in zip(shared.items(), styles, colors, strict=False):
        ax.axhline(float(value), ls=ls, color=color, lw=1, label=f"{' = '.join(names)} {value}")
    ax.set_xticks(ks)
    if values:
        span = [*values, *near]
        pad = max(0.005, 0.1 * (max(span) - min(span)))
        ax.set_ylim(max(0.0, min(span) - pad - max(err, default=0)),
                    min(1.0, max(span) + pad + max(err, default=0)))
    ax.set_xlabel("k (members selected per input)")
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7.5, loc="best")
    ax.set_title("e2e-cel accuracy against k", fontsize=10)
    return fig


def risk_coverage(curves: Mapping[str, Mapping[str, Sequence[float]]], *,
                  risks: Sequence[float] = (0.02, 0.05)) -> Figure:
    """Risk–coverage curves of several combiners side by side (selective prediction).

    Parameters
    ----------
    curves : mapping of str to mapping
        Combiner → ``{"coverage": [...], "risk": [...]}``, as from
        `ensel.metrics.risk_coverage_curve`; an optional ``"aurc"`` goes into the legend.
    risks : sequence of float, default=(0.02, 0.05)
        Target risks drawn as horizontal lines.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _new()
    colors = [SELECTOR_COLOR, ENSEL_COLOR, "#e67e22", "#8e44ad", "#16a085", PEER_COLOR]
    top = 0.0
    for i, (name, curve) in enumerate(curves.items()):
        color = colors[i % len(colors)]
        cov = np.asarray(curve["coverage"], dtype=float)
        risk = np.asarray(curve["risk"], dtype=float)
        if not len(cov):
            continue
        label = name if not _finite(curve.get("aurc")) else f"{name} (AURC {curve['aurc']:.4f})"
        ax.step(cov, risk, where="post", color=color, lw=1.3, label=label)
        top = max(top, float(risk[cov >= 0.05].max()) if (cov >= 0.05).any() else risk.max())
    for value in risks:
        ax.axhline(value, color="#999", ls=":", lw=1)
        ax.annotate(f"risk {value:g}", (0.01, value), textcoords="offset points", xytext=(0, 2),
                    fontsize=7, color="#777")
    ax.set_xlim(0, 1.0)
    ax.set_ylim(0, max(top, *risks, 0.01) * 1.1)
    ax.set_xlabel("coverage (share of inputs answered)")
    ax.set_ylabel("selective risk (error rate on answered)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7.5, loc="upper left")
    ax.set_title("risk / coverage", fontsize=10)
    return fig


def routing_cost_quality(evaluation: Mapping[str, Any], *, title: str | None = None) -> Figure:
    """Quality against mean cost per input of routers, on a log cost axis.

    The single members are labelled points (the best single one a star); the zero router
    (their non-decreasing convex hull) is a dashed line; each router is the hull of its
    points (faint markers), i.e. the best mix of its settings at each cost, as AIQ counts it.

    Parameters
    ----------
    evaluation : mapping
        As returned by `ensel.combine.routing.evaluate_routers`: ``single_models`` (member →
        ``{"cost", "quality"}``), ``best_single`` and ``results`` (name → ``{"kind", "cost",
        "quality", "aiq"}``; entries of kind ``"router"`` are drawn as curves).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> ev = {"single_models": {"a": {"cost": 1.0, "quality": 0.5},
    ...                         "b": {"cost": 10.0, "quality": 0.8}}, "best_single": "b",
    ...       "results": {"r": {"kind": "router", "cost": [2.0, 5.0], "quality": [0.6, 0.85],
    ...                         "aiq": 0.7}}}
    >>> fig = routing_cost_quality(ev)
    >>> fig.axes[0].get_xscale(), [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ('log', ['zero router', 'r (AIQ 0.700)'])
    """
    from ensel.metrics import zero_router_hull

    singles = evaluation["single_models"]
    sx = np.array([v["cost"] for v in singles.values()], dtype=float)
    sq = np.array([v["quality"] for v in singles.values()], dtype=float)
    fig, ax = _new((6.4, 4.6))
    log = bool((sx > 0).all())
    high = float(sx.max())

    def hull_line(x: Any, q: Any, **style: Any) -> None:
        hx, hq = zero_router_hull(x, q)
        end = max(high, float(hx[-1]))
        grid = (np.geomspace(hx[0], end, 200) if log and end > hx[0]
                else np.linspace(hx[0], end, 200))
        ax.plot(grid, np.interp(grid, hx, hq), **style)

    hull_line(sx, sq, color=PEER_COLOR, ls="--", lw=1.2, label="zero router", zorder=2)
    colors = iter([ENSEL_COLOR, "#e67e22", "#8e44ad", "#16a085", "#d35400"])
    for name, entry in evaluation["results"].items():
        if entry.get("kind") != "router" or not len(entry["cost"]):
            continue
        color = (REFERENCE_COLOR if name == "oracle" else
                 SELECTOR_COLOR if "ensel" in name else next(colors, PEER_COLOR))
        label = name if not _finite(entry.get("aiq")) else f"{name} (AIQ {entry['aiq']:.3f})"
        ax.scatter(entry["cost"], entry["quality"], s=6, color=color, alpha=0.35, zorder=3)
        hull_line(entry["cost"], entry["quality"], color=color, lw=1.5, label=label, zorder=4)
    best = list(singles).index(evaluation["best_single"])
    ax.scatter(sx, sq, s=22, color="#333", zorder=5)
    ax.scatter(sx[best:best + 1], sq[best:best + 1], s=110, marker="*", color="#f1c40f",
               edgecolors="#333", linewidths=0.6, zorder=6)
    for name, x, q in zip(singles, sx, sq, strict=True):
        ax.annotate(str(name).rsplit("/", 1)[-1], (x, q), textcoords="offset points",
                    xytext=(4, -3), fontsize=6.5, color="#333", zorder=7)
    if log:                     # plain tick labels: to_png never parses mathtext
        from matplotlib.ticker import FuncFormatter, NullFormatter

        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("mean cost per input (log scale)" if log else "mean cost per input")
    ax.set_ylabel("mean quality")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7.5, loc="best")
    ax.set_title(title or "quality / cost (star: best single model)", fontsize=10)
    return fig
