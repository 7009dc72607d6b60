"""Summaries of benchmark records: means over seeds, winners, and the Markdown tables.

No plotting here: `results.md` is written from these functions alone.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

METRICS = ("accuracy", "log_loss", "brier", "ece", "ece_quantile", "oracle_accuracy",
           "best_single", "gap_closed", "members_per_input", "selected_per_input",
           "cost_fraction", "cost", "fit_seconds", "predict_seconds")
"""Numeric record keys averaged over seeds (those absent from a record are skipped)."""

REFERENCE = ("oracle",)
"""Combiners that look at the test labels: shown, but never a winner."""

SELECTOR = "e2e-cel"
"""Registry name of the DifferentiableSelector."""

_SWEEP = re.compile(r"^(?P<base>.+)\[k=(?P<k>\d+)\]$")


def sweep_name(base: str, k: int) -> str:
    """The record name of ``base`` run at a fixed ``k``, e.g. ``"e2e-cel[k=2]"``.

    Examples
    --------
    >>> sweep_name("e2e-cel", 2)
    'e2e-cel[k=2]'
    """
    return f"{base}[k={k}]"


def is_sweep(record: Mapping[str, Any]) -> bool:
    """Whether a record belongs to the sweep over ``k`` (it has an int ``k``)."""
    return isinstance(record.get("k"), int) and not isinstance(record.get("k"), bool)


def _mean(values: Iterable[Any]) -> float:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return float(np.mean(vals)) if vals else float("nan")


def _or(value: float, default: float) -> float:
    return value if math.isfinite(value) else default


def _std(values: Iterable[Any]) -> float:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return float(np.std(vals)) if len(vals) > 1 else float("nan")


def groups(records: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """The (dataset, pool) pairs in the order they first appear in ``records``."""
    seen: dict[tuple[str, str], None] = {}
    for r in records:
        seen.setdefault((str(r["dataset"]), str(r["pool"])), None)
    return list(seen)


def summarise(records: Sequence[Mapping[str, Any]], dataset: str, pool: str, *,
              sweep: bool = False) -> list[dict[str, Any]]:
    """Means over seeds of every combiner on one dataset x pool, best accuracy first.

    Parameters
    ----------
    records : sequence of mapping
        Benchmark records.
    dataset, pool : str
        Which part to summarise.
    sweep : bool, default=False
        ``False``: the combiners as registered (no ``[k=...]`` records); ``True``: only the
        sweep over ``k``, ordered by ``k``.

    Returns
    -------
    list of dict
        One per combiner with ``combiner``, ``k``, ``n_seeds``, ``accuracy_std`` and the mean
        of every key of `METRICS` (NaN when no seed has it).
    """
    by_name: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in records:
        if str(r["dataset"]) == dataset and str(r["pool"]) == pool and is_sweep(r) == sweep:
            by_name[str(r["combiner"])].append(r)
    rows = []
    for name, rs in by_name.items():
        row: dict[str, Any] = {"combiner": name, "k": rs[0].get("k"),
                               "n_seeds": len({r["seed"] for r in rs}),
                               "family": rs[0].get("family", "ensel")}
        for key in METRICS:
            row[key] = _mean(r.get(key) for r in rs)
        row["accuracy_std"] = _std(r.get("accuracy") for r in rs)
        rows.append(row)
    if sweep:
        rows.sort(key=lambda r: r["k"])
    else:
        rows.sort(key=lambda r: (-_or(r["accuracy"], -1.0), _or(r["members_per_input"], 1e9),
                                 _or(r["log_loss"], 1e9), r["combiner"]))
    return rows


def winner(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Best and runner-up of `summarise` rows (reference combiners like the oracle excluded).

    Returns
    -------
    dict or None
        ``best`` and ``runner_up`` rows (``runner_up`` may be None), ``margin`` (accuracy
        points, best minus runner-up), ``selector`` (the DifferentiableSelector's row or None)
        and ``ties`` (combiners with the best accuracy). None when no row has an accuracy.
    """
    ranked = [r for r in rows if r["combiner"] not in REFERENCE
              and math.isfinite(r["accuracy"])]
    if not ranked:
        return None
    best = ranked[0]
    runner = ranked[1] if len(ranked) > 1 else None
    selector = next((r for r in rows if r["combiner"] == SELECTOR), None)
    ties = [r["combiner"] for r in ranked if r["accuracy"] == best["accuracy"]]
    return {"best": best, "runner_up": runner,
            "margin": float("nan") if runner is None else best["accuracy"] - runner["accuracy"],
            "selector": selector, "ties": ties}


def winner_name(w: Mapping[str, Any]) -> str:
    """The winner's name, with how many others tie with it on accuracy.

    Ties are broken by fewer members per input, then lower log loss, then name.
    """
    others = len(w["ties"]) - 1
    return w["best"]["combiner"] + (f" (+{others} tied)" if others else "")


def fmt(value: Any, digits: int = 4) -> str:
    """A number for a table: fixed ``digits`` decimals, ``–`` for missing/NaN.

    Examples
    --------
    >>> fmt(0.95781), fmt(float("nan")), fmt(None)
    ('0.9578', '–', '–')
    """
    if value is None:
        return "–"
    x = float(value)
    if not math.isfinite(x):
        return "–"
    return f"{x:.{digits}f}"


def fmt_seconds(value: Any) -> str:
    """Seconds with precision that suits their size (``0.0012``, ``0.31``, ``4.2``, ``37``)."""
    if value is None or not math.isfinite(float(value)):
        return "–"
    x = float(value)
    if x < 0.01:
        return f"{x:.4f}"
    if x < 1:
        return f"{x:.2f}"
    if x < 10:
        return f"{x:.1f}"
    return f"{x:.0f}"


def fmt_accuracy(row: Mapping[str, Any]) -> str:
    """Mean accuracy, with ``± std`` over seeds when there are several."""
    text = fmt(row["accuracy"])
    if row.get("n_seeds", 1) > 1 and math.isfinite(row.get("accuracy_std", float("nan"))):
        text += f" ± {row['accuracy_std']:.4f}"
    return text


def section_facts(records: Sequence[Mapping[str, Any]], dataset: str, pool: str) -> dict:
    """Sizes shared by a dataset x pool: members, classes, rows, seeds, oracle, best single."""
    rs = [r for r in records if str(r["dataset"]) == dataset and str(r["pool"]) == pool]
    first = rs[0]
    return {
        "n_members": first.get("n_members"), "n_classes": first.get("n_classes"),
        "n_selection": first.get("n_selection"), "n_test": first.get("n_test"),
        "n_rows": first.get("n_rows"), "n_rows_available": first.get("n_rows_available"),
        "seeds": sorted({r["seed"] for r in rs}),
        "oracle_accuracy": _mean(r.get("oracle_accuracy") for r in rs),
        "best_single": _mean(r.get("best_single") for r in rs),
    }


def describe_facts(facts: Mapping[str, Any]) -> str:
    """One line describing `section_facts` (Markdown-safe, no HTML)."""
    parts = []
    if facts.get("n_members") is not None:
        parts.append(f"{facts['n_members']} members")
    if facts.get("n_classes") is not None:
        parts.append(f"{facts['n_classes']} classes")
    if facts.get("n_rows") and facts.get("n_rows_available") and \
            facts["n_rows"] < facts["n_rows_available"]:
        parts.append(f"stratified subsample of {facts['n_rows']:,} of "
                     f"{facts['n_rows_available']:,} rows")
    if facts.get("n_selection") is not None:
        parts.append(f"selection {facts['n_selection']:,} / test {facts['n_test']:,} rows")
    seeds = facts["seeds"]
    parts.append(f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}")
    parts.append(f"oracle {fmt(facts['oracle_accuracy'])}")
    parts.append(f"best single member {fmt(facts['best_single'])}")
    return " · ".join(parts)


def _winners_table(records: list[Mapping[str, Any]], parts: list[tuple[str, str]]) -> list[str]:
    """The "who wins where" table, one row per dataset x pool."""
    lines = ["## Who wins where", "",
             ("| dataset | pool | best | accuracy | margin over runner-up | runner-up | "
              "e2e-cel | e2e-cel − best | best: members/input, fit s | "
              "e2e-cel: members/input, fit s |"),
             "|---|---|---|---|---|---|---|---|---|---|"]
    for dataset, pool in parts:
        w = winner(summarise(records, dataset, pool))
        if w is None:
            continue
        best, runner, sel = w["best"], w["runner_up"], w["selector"]
        best_name = winner_name(w)
        lines.append(
            f"| {dataset} | {pool} | {best_name} | {fmt(best['accuracy'])} | "
            f"{_points(w['margin'])} | {runner['combiner'] if runner else '–'} | "
            f"{fmt(sel['accuracy']) if sel else '–'} | "
            f"{_points(sel['accuracy'] - best['accuracy']) if sel else '–'} | "
            f"{fmt(best['members_per_input'], 1)}, {fmt_seconds(best['fit_seconds'])} | "
            f"{_cost_and_time(sel)} |")
    lines.append("")
    return lines


def _cost_and_time(row: Mapping[str, Any] | None) -> str:
    if row is None:
        return "–"
    return f"{fmt(row['members_per_input'], 1)}, {fmt_seconds(row['fit_seconds'])}"


def _section_table(records: list[Mapping[str, Any]], dataset: str, pool: str) -> list[str]:
    """One dataset x pool: every combiner's means over seeds, the winners in bold."""
    lines = [f"## {dataset} / {pool}", "",
             describe_facts(section_facts(records, dataset, pool)), "",
             ("| combiner | accuracy | NLL | ECE | gap closed | members/input | fit s | "
              "predict s |"),
             "|---|---|---|---|---|---|---|---|"]
    rows = summarise(records, dataset, pool)
    w = winner(rows)
    for row in rows:
        name = row["combiner"]
        if w and name in w["ties"]:
            name = f"**{name}**"
        elif name in REFERENCE:
            name = f"{name} (uses labels)"
        lines.append(
            f"| {name} | {fmt_accuracy(row)} | {fmt(row['log_loss'], 3)} | "
            f"{fmt(row['ece'], 3)} | {fmt(row['gap_closed'], 3)} | "
            f"{fmt(row['members_per_input'], 1)} | {fmt_seconds(row['fit_seconds'])} | "
            f"{fmt_seconds(row['predict_seconds'])} |")
    lines.append("")
    return lines


def frontier(records: Sequence[Mapping[str, Any]], dataset: str, pool: str,
             reference: str = "stacking", tolerance: float = 0.001) -> list[dict[str, Any]]:
    """The accuracy-cost frontier of every budgeted combiner on one dataset x pool.

    Budgeted records carry ``budget`` and ``budget_of`` (the combiner's name); means over
    seeds. ``cost_to_reach`` is the smallest budget whose accuracy is within ``tolerance`` of
    ``reference``'s (NaN when none, or when ``reference`` did not run); ``auc`` the normalised
    area under accuracy against budget (`ensel.metrics.accuracy_cost_auc`).

    Returns
    -------
    list of dict
        ``combiner``, ``budgets``, ``accuracy``, ``log_loss``, ``cost_fraction`` (lists, by
        budget), ``cost_to_reach`` and ``auc``.
    """
    from ensel.metrics import accuracy_cost_auc, cost_to_reach

    mine = [r for r in records if str(r["dataset"]) == dataset and str(r["pool"]) == pool]
    ref = _mean(r.get("accuracy") for r in mine if r["combiner"] == reference)
    by_base: dict[str, dict[float, list]] = defaultdict(lambda: defaultdict(list))
    for r in mine:
        if isinstance(r.get("budget"), (int, float)) and r.get("budget_of"):
            by_base[str(r["budget_of"])][float(r["budget"])].append(r)
    out = []
    for name, per_budget in by_base.items():
        budgets = sorted(per_budget)
        row: dict[str, Any] = {"combiner": name, "budgets": budgets}
        for key in ("accuracy", "log_loss", "cost_fraction"):
            row[key] = [_mean(r.get(key) for r in per_budget[b]) for b in budgets]
        finite = [(b, a) for b, a in zip(budgets, row["accuracy"], strict=True)
                  if math.isfinite(a)]
        xs, ys = [b for b, _ in finite], [a for _, a in finite]
        row["cost_to_reach"] = (cost_to_reach(xs, ys, ref, tolerance=tolerance)
                                if finite and math.isfinite(ref) else float("nan"))
        row["auc"] = accuracy_cost_auc(xs, ys) if finite else float("nan")
        out.append(row)
    return out


def _frontier_lines(records: Sequence[Mapping[str, Any]],
                    parts: Sequence[tuple[str, str]]) -> list[str]:
    lines: list[str] = []
    for dataset, pool in parts:
        for row in frontier(records, dataset, pool):
            if not lines:
                lines += ["## Accuracy against cost", "",
                          ("Budgeted combiners at every budget (mean cost per input as a "
                           "fraction of the whole pool): test accuracy (measured cost "
                           "fraction). Cost to reach stacking = smallest budget within 0.1 pt "
                           "of stacking's accuracy; AUC = mean accuracy over the budgets."), "",
                          "| dataset / pool | combiner | accuracy (cost) by budget | "
                          "cost to reach stacking | AUC |", "|---|---|---|---|---|"]
            points = ", ".join(f"{b:g}: {fmt(a)} ({fmt(c, 2)})" for b, a, c in
                               zip(row["budgets"], row["accuracy"], row["cost_fraction"],
                                   strict=True))
            reach = row["cost_to_reach"]
            lines.append(f"| {dataset} / {pool} | {row['combiner']} | {points} | "
                         f"{'not reached' if not math.isfinite(reach) else f'{reach:g}'} | "
                         f"{fmt(row['auc'])} |")
    return [*lines, ""] if lines else []


def markdown(document: Mapping[str, Any]) -> str:
    """The Markdown summary of a results document (what ``results.md`` holds).

    Parameters
    ----------
    document : mapping
        A results document (``header`` and ``records``), as from
        `ensel.report.load_results`.

    Returns
    -------
    str
        A "who wins where" table, one table per dataset x pool (means over seeds, best
        accuracy first) and the DifferentiableSelector's accuracy against ``k``.
    """
    header = document["header"]
    records = document["records"]
    lines = [f"# ensel benchmark — {header.get('suite', '?')}", ""]
    lines.append(f"{header.get('date', '')} · ensel {header.get('packages', {}).get('ensel', '?')}"
                 f" · {header.get('cpu_count', '?')} CPUs · `{header.get('command', '')}`")
    lines.append("")
    lines.append("Test-split scores, means over seeds. Accuracy ± std over seeds where there "
                 "are several. gap closed = (accuracy − best single) / (oracle − best single); "
                 "members/input = members that must run per input (all of them for combiners "
                 "that need every member's prediction to decide). The oracle looks at the "
                 "labels and is a bound, not a competitor.")
    lines.append("")
    parts = groups(records)
    lines += _winners_table(records, parts)
    for dataset, pool in parts:
        lines += _section_table(records, dataset, pool)
    sweep_lines = _sweep_table(records, parts)
    if sweep_lines:
        lines += ["## DifferentiableSelector against k", "",
                  ("Test accuracy of e2e-cel with a fixed k (members run per input = k when it "
                   "selects from the inputs alone)."), "", *sweep_lines, ""]
    lines += _frontier_lines(records, parts)
    notes = list(header.get("skipped", [])) + list(header.get("failures", []))
    if notes:
        lines += ["## Not run", ""]
        for note in header.get("skipped", []):
            lines.append(f"- {note.get('combiner')}: skipped — {note.get('reason')}")
        for note in header.get("failures", []):
            lines.append(f"- {note.get('combiner')} on {note.get('dataset')}/{note.get('pool')}"
                         f" seed {note.get('seed')}: failed — {note.get('error')}")
        lines.append("")
    return "\n".join(lines)


def _points(diff: float) -> str:
    if diff is None or not math.isfinite(diff):
        return "–"
    return f"{100 * diff:+.2f} pts"


def _sweep_table(records: Sequence[Mapping[str, Any]],
                 parts: Sequence[tuple[str, str]]) -> list[str]:
    ks = sorted({int(r["k"]) for r in records if is_sweep(r)})
    if not ks:
        return []
    lines = ["| dataset | pool | " + " | ".join(f"k={k}" for k in ks) + " |",
             "|---|---|" + "---|" * len(ks)]
    for dataset, pool in parts:
        rows = {r["k"]: r for r in summarise(records, dataset, pool, sweep=True)}
        if not rows:
            continue
        best_k = max(rows, key=lambda k: rows[k]["accuracy"])
        cells = []
        for k in ks:
            if k not in rows:
                cells.append("–")
                continue
            text = fmt(rows[k]["accuracy"])
            cells.append(f"**{text}**" if k == best_k else text)
        lines.append(f"| {dataset} | {pool} | " + " | ".join(cells) + " |")
    return lines
