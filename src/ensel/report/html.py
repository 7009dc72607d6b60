"""A self-contained HTML report of a benchmark: tables and figures in one file.

The page has no scripts and no external assets: figures are PNG images embedded as base64
``data:`` URIs and the style sheet is inline, so the file can be mailed or archived as is.
"""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ensel.report import tables as T

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       color: #222; background: #fafafa; }
main { max-width: 1220px; margin: 0 auto; padding: 0 24px 48px; }
header { background: #1f3b57; color: #fff; padding: 20px 24px; }
header h1 { margin: 0 0 6px; font-size: 24px; }
header p { margin: 2px 0; font-size: 13px; color: #d7e3ef; }
h2 { font-size: 19px; margin: 32px 0 8px; border-bottom: 2px solid #1f3b57; padding-bottom: 4px; }
p.facts, p.note { font-size: 13px; color: #555; margin: 4px 0 10px; }
nav ul { columns: 3; font-size: 14px; padding-left: 18px; }
table { border-collapse: collapse; font-size: 13px; background: #fff; margin: 6px 0 14px; }
th, td { padding: 4px 9px; border-bottom: 1px solid #e3e3e3; text-align: right; }
th { background: #eef2f6; position: sticky; top: 0; }
td:first-child, th:first-child { text-align: left; }
td.text, th.text { text-align: left; }
tr.best td { background: #e8f6ec; font-weight: 600; }
tr.selector td:first-child { color: #c0392b; font-weight: 600; }
tr.reference td { color: #888; font-style: italic; }
.plots { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 14px; }
figure { margin: 0; background: #fff; border: 1px solid #e3e3e3; padding: 8px; }
figure img { max-width: 100%; height: auto; display: block; margin: 0 auto; }
figcaption { font-size: 12px; color: #555; margin-top: 4px; }
p.missing { font-size: 12px; color: #999; font-style: italic; }
dl.run { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; font-size: 13px; }
dl.run dt { font-weight: 600; }
dl.run dd { margin: 0; font-family: ui-monospace, monospace; word-break: break-all; }
"""

SECTIONS = ("summary", "run")
"""Ids of the page-level sections (each dataset x pool section has id ``part-<slug>``)."""

PLOT_KINDS = ("frontier", "reliability", "selection", "disagreement", "k")
"""``data-plot`` values of the figures in a dataset x pool section."""


def slug(*parts: str) -> str:
    """An HTML id from names: lower case, runs of other characters as ``-``.

    Examples
    --------
    >>> slug("letter", "Natural pool")
    'letter--natural-pool'
    """
    return "--".join(re.sub(r"[^a-z0-9]+", "-", p.lower()).strip("-") for p in parts)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _img(fig: Any, alt: str) -> str:
    from ensel.report.plots import to_png

    data = base64.b64encode(to_png(fig)).decode("ascii")
    fig.clear()
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _figure(kind: str, fig: Any, alt: str, caption: str) -> str:
    return (f'<figure data-plot="{kind}">{_img(fig, alt)}'
            f"<figcaption>{caption}</figcaption></figure>")


def _missing(kind: str, why: str) -> str:
    return f'<figure data-plot="{kind}" class="empty"><p class="missing">{_e(why)}</p></figure>'


def _results_table(rows: Sequence[Mapping[str, Any]], ties: Sequence[str]) -> str:
    head = ("<tr><th>combiner</th><th>accuracy</th><th>NLL</th><th>Brier</th><th>ECE</th>"
            "<th>gap closed</th><th>members / input</th><th>fit s</th><th>predict s</th></tr>")
    body = []
    for r in rows:
        name = r["combiner"]
        classes = []
        if name in ties:
            classes.append("best")
        if name == T.SELECTOR:
            classes.append("selector")
        if name in T.REFERENCE:
            classes.append("reference")
        label = name + (" (uses labels)" if name in T.REFERENCE else "")
        cls = f' class="{" ".join(classes)}"' if classes else ""
        body.append(
            f"<tr{cls}><td>{_e(label)}</td><td>{_e(T.fmt_accuracy(r))}</td>"
            f"<td>{T.fmt(r['log_loss'], 3)}</td><td>{T.fmt(r['brier'], 3)}</td>"
            f"<td>{T.fmt(r['ece'], 3)}</td><td>{T.fmt(r['gap_closed'], 3)}</td>"
            f"<td>{T.fmt(r['members_per_input'], 1)}</td>"
            f"<td>{T.fmt_seconds(r['fit_seconds'])}</td>"
            f"<td>{T.fmt_seconds(r['predict_seconds'])}</td></tr>")
    return f'<table class="results"><thead>{head}</thead><tbody>{"".join(body)}</tbody></table>'


def _summary(records: Sequence[Mapping[str, Any]], parts: Sequence[tuple[str, str]]) -> str:
    head = ("<tr><th class='text'>dataset / pool</th><th class='text'>best</th><th>accuracy</th>"
            "<th>margin over runner-up</th><th class='text'>runner-up</th><th>e2e-cel</th>"
            "<th>e2e-cel − best</th><th>best: members / input</th><th>best: fit s</th>"
            "<th>e2e-cel: members / input</th><th>e2e-cel: fit s</th></tr>")
    body = []
    for dataset, pool in parts:
        w = T.winner(T.summarise(records, dataset, pool))
        if w is None:
            continue
        best, runner, sel = w["best"], w["runner_up"], w["selector"]
        diff = sel["accuracy"] - best["accuracy"] if sel else float("nan")
        body.append(
            f"<tr><td><a href='#part-{slug(dataset, pool)}'>{_e(dataset)} / {_e(pool)}</a></td>"
            f"<td class='text'>{_e(T.winner_name(w))}</td><td>{T.fmt(best['accuracy'])}</td>"
            f"<td>{_points(w['margin'])}</td>"
            f"<td class='text'>{_e(runner['combiner']) if runner else '–'}</td>"
            f"<td>{T.fmt(sel['accuracy']) if sel else '–'}</td><td>{_points(diff)}</td>"
            f"<td>{T.fmt(best['members_per_input'], 1)}</td>"
            f"<td>{T.fmt_seconds(best['fit_seconds'])}</td>"
            f"<td>{T.fmt(sel['members_per_input'], 1) if sel else '–'}</td>"
            f"<td>{T.fmt_seconds(sel['fit_seconds']) if sel else '–'}</td></tr>")
    return (f'<section id="summary"><h2>Who wins where</h2>'
            f'<p class="note">Mean test accuracy over seeds; the oracle (which looks at the '
            f'labels) never counts as a winner. Margins are in accuracy points.</p>'
            f'<table class="results"><thead>{head}</thead><tbody>{"".join(body)}</tbody>'
            f"</table></section>")


def _points(diff: float) -> str:
    if diff is None or not math.isfinite(diff):
        return "–"
    return f"{100 * diff:+.2f} pts"


def _part(document: Mapping[str, Any], dataset: str, pool: str) -> str:
    records = document["records"]
    rows = T.summarise(records, dataset, pool)
    sweep = T.summarise(records, dataset, pool, sweep=True)
    facts = T.section_facts(records, dataset, pool)
    w = T.winner(rows)
    entry = next((e for e in document.get("plots", [])
                  if str(e["dataset"]) == dataset and str(e["pool"]) == pool), None)
    figures = [_frontier_figure(rows, sweep, facts, dataset, pool),
               *_entry_figures(entry, rows, dataset, pool),
               _k_figure(rows, sweep, facts, dataset, pool)]
    return (f'<section class="part" id="part-{slug(dataset, pool)}" '
            f'data-dataset="{_e(dataset)}" data-pool="{_e(pool)}">'
            f"<h2>{_e(dataset)} / {_e(pool)}</h2>"
            f'<p class="facts">{_e(T.describe_facts(facts))}</p>'
            f"{_results_table(rows, w['ties'] if w else [])}"
            f'<div class="plots">{"".join(figures)}</div></section>')


def _frontier_figure(rows: list, sweep: list, facts: Mapping[str, Any], dataset: str,
                     pool: str) -> str:
    from ensel.report import plots as P

    return _figure(
        "frontier",
        P.frontier(rows, sweep, oracle=facts["oracle_accuracy"],
                   best_single=facts["best_single"], n_members=facts["n_members"]),
        f"accuracy against members per input, {dataset} / {pool}",
        "How to read it: each point is a combiner's test accuracy against the members it must "
        "run per input (further left is cheaper); its number leads to the key under the plot, "
        "which names every combiner at that point (equal results share one). Bold numbers and "
        "the grey step make the frontier: nothing cheaper is as accurate. The dashed red line "
        "is the DifferentiableSelector at k = 1, 2, …")


def _entry_figures(entry: Mapping[str, Any] | None, rows: list, dataset: str,
                   pool: str) -> list[str]:
    """Reliability, selection heat map and disagreement, from one seed's saved arrays."""
    from ensel.report import plots as P

    figures = []
    if entry and entry.get("reliability"):
        figures.append(_figure(
            "reliability", P.reliability(entry["reliability"], rows),
            f"reliability diagram, {dataset} / {pool}",
            f"Accuracy against confidence in 10 equal-width bins (seed {entry['seed']}); on "
            f"the dotted diagonal a combiner's confidence is its accuracy."))
    else:
        figures.append(_missing("reliability", "No reliability curves in the results file."))
    if entry and entry.get("selection_frequency") is not None:
        figures.append(_figure(
            "selection",
            P.selection_heatmap(entry["selection_frequency"], entry["members"],
                                entry.get("classes") or [], selector=entry["selector"]),
            f"selection heat map of {entry['selector']}, {dataset} / {pool}",
            f"Share of the test inputs of each true class for which {_e(entry['selector'])} "
            f"picks each member (seed {entry['seed']})."))
    else:
        figures.append(_missing("selection", "The DifferentiableSelector (e2e-cel) was not "
                                             "run here, so there is no selection to show."))
    if entry:
        figures.append(_figure(
            "disagreement", P.disagreement_matrix(entry["disagreement"], entry["members"]),
            f"pairwise disagreement of members, {dataset} / {pool}",
            f"Share of test inputs on which exactly one of two members is right "
            f"(seed {entry['seed']})."))
    else:
        figures.append(_missing("disagreement", "No member predictions in the results file."))
    return figures


def _k_figure(rows: list, sweep: list, facts: Mapping[str, Any], dataset: str,
              pool: str) -> str:
    from ensel.report import plots as P

    if not sweep:
        return _missing("k", "The DifferentiableSelector was not swept over k here.")
    refs = {}
    for name, label in (("stacking", "stacking"), ("average", "average")):
        row = next((r for r in rows if r["combiner"] == name), None)
        if row is not None:
            refs[label] = row["accuracy"]
    refs["best single"] = facts["best_single"]
    return _figure(
        "k", P.accuracy_vs_k(sweep, refs),
        f"e2e-cel accuracy against k, {dataset} / {pool}",
        "The DifferentiableSelector trained and evaluated at each fixed k (mean ± std over "
        "seeds); members run per input = k when it selects from the inputs alone. "
        "Reference lines far below the sweep are left out.")


def _run(header: Mapping[str, Any]) -> str:
    items = []
    packages = header.get("packages") or {}
    shown = {
        "command": header.get("command"), "date": header.get("date"),
        "suite": header.get("suite"), "seeds": header.get("seeds"),
        "split": header.get("split"),
        "python": header.get("python"), "platform": header.get("platform"),
        "CPUs": header.get("cpu_count"), "torch threads": header.get("torch_threads"),
        "packages": ", ".join(f"{k} {v}" for k, v in packages.items() if v),
        "wall time": None if header.get("wall_seconds") is None
        else f"{header['wall_seconds']:.0f} s",
    }
    for key, value in shown.items():
        if value is not None and value != "":
            items.append(f"<dt>{_e(key)}</dt><dd>{_e(value)}</dd>")
    notes = []
    for note in header.get("skipped", []):
        what = note.get("combiner") or note.get("dataset")
        notes.append(f"<li>{_e(what)}: skipped — {_e(note.get('reason'))}</li>")
    for note in header.get("failures", []):
        notes.append(f"<li>{_e(note.get('combiner'))} on {_e(note.get('dataset'))} / "
                     f"{_e(note.get('pool'))}, seed {_e(note.get('seed'))}: failed — "
                     f"{_e(note.get('error'))}</li>")
    notes_html = f"<h3>Not run</h3><ul>{''.join(notes)}</ul>" if notes else ""
    return (f'<section id="run"><h2>Run</h2><dl class="run">{"".join(items)}</dl>'
            f"{notes_html}</section>")


def render_report(document: Mapping[str, Any]) -> str:
    """The HTML page of a results document.

    Parameters
    ----------
    document : mapping
        A checked results document (`ensel.report.load_results`).

    Returns
    -------
    str
        A complete, self-contained HTML page: a "who wins where" summary, then per dataset x
        pool the results table and five figures (cost/accuracy frontier, reliability diagram,
        selection heat map, disagreement matrix, accuracy against k), then the run's details.
    """
    header = document["header"]
    records = document["records"]
    parts = T.groups(records)
    title = f"ensel benchmark — {header.get('suite', '')}"
    nav = "".join(f"<li><a href='#part-{slug(d, p)}'>{_e(d)} / {_e(p)}</a></li>"
                  for d, p in parts)
    body = [
        (f"<header><h1>{_e(title)}</h1>"
         f"<p>{_e(header.get('date', ''))} · ensel "
         f"{_e((header.get('packages') or {}).get('ensel', '?'))} · "
         f"{_e(header.get('cpu_count', '?'))} CPUs · {len(records)} results</p>"
         f"<p><code>{_e(header.get('command', ''))}</code></p></header><main>"),
        (f'<nav id="contents"><h2>Contents</h2><ul>{nav}'
         f"<li><a href='#summary'>who wins where</a></li><li><a href='#run'>run</a></li>"
         f"</ul></nav>"),
        _summary(records, parts),
    ]
    if not records:
        body.append('<p class="missing">The results file holds no records.</p>')
    body += [_part(document, d, p) for d, p in parts]
    body.append(_run(header))
    body.append("</main>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
            + "".join(body) + "</body></html>\n")


def write_report(document: Mapping[str, Any] | str | Path, path: str | Path) -> Path:
    """Write the HTML report of a results document (or results file) to ``path``.

    Parameters
    ----------
    document : mapping, str or Path
        A results document, or the path of a results file to load and check.
    path : str or Path
        Where to write the HTML (its directory is created).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    FileNotFoundError, ValueError
        For a missing or invalid results file (see `ensel.report.load_results`).
    """
    from ensel.report.results import check_results, load_results

    if isinstance(document, (str, Path)):
        document = load_results(document)
    else:
        check_results(document)
    from ensel._io import write_text

    return write_text(Path(path), render_report(document))   # atomic; creates the folder
