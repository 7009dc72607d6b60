"""``ensel benchmark`` and ``ensel report``: every combiner side by side, and the HTML report."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from ensel.cli._options import int_range, parse_budgets


def _ks(value: str | None) -> list[int] | None:
    """``"1,3"`` → [1, 3], ``"1-3"`` → [1, 2, 3], ``"none"`` → []; None stays None."""
    if value is None:
        return None
    if value.strip().lower() in ("none", ""):
        return []
    out = []
    for part in value.split(","):
        low, dash, high = part.strip().partition("-")
        if not (low.isdigit() and (high.isdigit() or not dash)):
            out = [0]
            break
        out += list(range(int(low), int(high or low) + 1))
    if min(out, default=0) < 1:
        raise ValueError(f"--ks takes ints >= 1, ranges like 1-5, or 'none'. Got {value!r}.")
    return out


def _budgets(value: str | None) -> list[float] | None:
    """``"0.1,0.5,1"`` → [0.1, 0.5, 1.0], ``"none"`` → []; None stays None."""
    return None if value is None else parse_budgets(value)


def _split(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def benchmark(
    suite: Annotated[str, typer.Option(
        help="Built-in suite: 'quick' (digits, breast_cancer and subsamples of pendigits and "
             "letter; 1 seed; minutes), 'full' (all four datasets in full; 3 seeds) or "
             "'images' (CNN members on MNIST 5k, a CNN selection network, the peers on the "
             "pixels; 3 seeds; members cached in $ENSEL_CACHE or ~/.cache/ensel).")
    ] = "quick",
    table: Annotated[Path | None, typer.Option(
        help="Run on a saved PredictionTable instead of a suite (needs y; X for the dynamic "
             "combiners). A directory with selection/ and test/ sub-tables is used as is, "
             "otherwise the table is split 50/50 (stratified, --split-seed).")] = None,
    combiners: Annotated[list[str] | None, typer.Option(
        help="Combiners to run (repeat or comma-separate): registry names such as 'stacking', "
             "'e2e-cel', and 'deslib:knora-e' (or 'deslib' for all of DESlib's). Default: all, "
             "DESlib's when installed (the images suite: its peer set; DESlib's with "
             "--deslib).")] = None,
    seeds: Annotated[int | None, typer.Option(
        callback=int_range(1),
        help="Number of seeds 0..N-1 (default: 1 for quick and --table, 3 for full and "
             "images).")] = None,
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("ensel-benchmark"),
    datasets: Annotated[list[str] | None, typer.Option(
        help="Only these datasets of the suite (repeat or comma-separate).")] = None,
    pools: Annotated[list[str] | None, typer.Option(
        help="Only these pools: specialists, natural.")] = None,
    ks: Annotated[str | None, typer.Option(
        help="Fixed k at which e2e-cel is also run, e.g. '1,3' or '1-5' or 'none' (default: "
             "1,3 for quick, 1-5 for full, 3 for images).")] = None,
    deslib: Annotated[bool | None, typer.Option(
        "--deslib/--no-deslib", help="Run DESlib's methods (default: when installed).")
    ] = None,
    budgets: Annotated[str | None, typer.Option(
        help="Budgets (mean cost per input, fraction of the whole pool) at which every budgeted "
             "combiner (e.g. cascade) is also run, e.g. '0.2,0.5' or 'none' (default: 0.1,0.2,"
             "0.3,0.5,0.7,1.0; images: 0.2,0.3,0.4).")] = None,
    split_seed: Annotated[int, typer.Option(
        callback=int_range(0), help="Seed of the selection/test split of --table.")] = 0,
    jobs: Annotated[int, typer.Option(
        callback=int_range(1),
        help="Run this many (dataset, pool, seed) parts at once, each in its own process "
             "(torch, BLAS and OpenMP on one thread in each); the same records as with 1.")] = 1,
    max_rows: Annotated[int | None, typer.Option(
        hidden=True, callback=int_range(20),
        help="Cap every dataset's rows (stratified), for smoke tests.")] = None,
) -> None:
    """Hold every combiner side by side on a suite or your table; write JSON, Markdown, HTML."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from ensel.benchmark.runner import command_line, format_duration, plan_benchmark, run_benchmark
    from ensel.report.tables import fmt, fmt_seconds, groups, summarise, winner, winner_name

    console = Console(stderr=True)
    if not console.is_terminal:       # logs and CI: wide enough for the summary table
        console = Console(stderr=True, width=150)
    plan = plan_benchmark(suite=suite, table=table, combiners=combiners, seeds=seeds,
                          ks=_ks(ks), datasets=_split(datasets), pools=_split(pools),
                          max_rows=max_rows, deslib=deslib, split_seed=split_seed,
                          budgets=_budgets(budgets))
    parts = ", ".join(f"{d}/{p}" + (f" ({r} rows)" if r else "") for d, p, r in plan.parts)
    say = partial(console.print, soft_wrap=True)
    say(f"[bold]ensel benchmark[/bold] — {plan.suite}: {escape(parts)}")
    say(f"seeds {plan.seeds}; {len(plan.names)} combiners: {escape(', '.join(plan.names))}")
    if plan.tables is not None:
        say(f"split: {escape(plan.split)}")
    for note in plan.skipped:
        what = escape(str(note.get("combiner") or note.get("dataset")))
        say(f"[yellow]skipped {what}: {escape(note['reason'])}[/yellow]")
    expected = plan.expected_seconds()
    if expected is not None:
        say(f"expected duration: {format_duration(expected)} on 2 cores (measured with every "
            f"combiner and DESlib; less with fewer)")
    if not plan.parts or not plan.names:
        raise ValueError("Nothing to run: no dataset/pool or no combiner is left.")
    argv = _as_argv(suite=suite, table=table, combiners=combiners, seeds=seeds, out=out,
                    datasets=datasets, pools=pools, ks=ks, deslib=deslib,
                    split_seed=split_seed, max_rows=max_rows, budgets=budgets,
                    jobs=None if jobs == 1 else jobs)
    paths, header = run_benchmark(plan, out, command=command_line(argv), console=console,
                                  jobs=jobs)
    from ensel.report.results import load_results

    document = load_results(paths["results"])
    summary = Table(title="who wins where (test accuracy, mean over seeds)")
    for column in ("dataset / pool", "best", "accuracy", "margin", "e2e-cel", "e2e-cel − best",
                   "best: members/input", "best: fit s"):
        summary.add_column(column, justify="left" if column in ("dataset / pool", "best")
                           else "right")
    for dataset, pool in groups(document["records"]):
        w = winner(summarise(document["records"], dataset, pool))
        if w is None:
            continue
        best, sel = w["best"], w["selector"]
        summary.add_row(
            escape(f"{dataset} / {pool}"), escape(winner_name(w)), fmt(best["accuracy"]),
            "–" if w["runner_up"] is None else f"{100 * w['margin']:+.2f} pts",
            fmt(sel["accuracy"]) if sel else "–",
            f"{100 * (sel['accuracy'] - best['accuracy']):+.2f} pts" if sel else "–",
            fmt(best["members_per_input"], 1), fmt_seconds(best["fit_seconds"]))
    console.print(summary)
    console.print(f"done in {header['wall_seconds']:.0f} s")
    for kind, path in paths.items():
        typer.echo(f"{kind}: {path}")
    if header["failures"]:
        say(f"[red]{len(header['failures'])} combiner run(s) failed; see "
            f"{escape(str(paths['results']))}[/red]")
        # SystemExit, not typer.Exit: click (standalone_mode=False) turns Exit into a return
        # value that ensel.cli.main does not pass on
        raise SystemExit(1)


def report(
    results: Annotated[Path, typer.Argument(
        help="results.json written by 'ensel benchmark'.")],
    output: Annotated[Path | None, typer.Option(
        "-o", "--output",
        help="HTML file to write (default: report.html beside the results file).")] = None,
) -> None:
    """Render a results file as a self-contained HTML report (tables and figures)."""
    from ensel.report.results import load_results

    document = load_results(results)
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ValueError('ensel report needs matplotlib: pip install "ensel[report]"') from exc
    from ensel.report.html import write_report

    if output is None:
        base = results if results.is_dir() else results.parent
        output = base / "report.html"
    path = write_report(document, output)
    typer.echo(f"report: {path}")


def _as_argv(**options: object) -> list[str]:
    """The options given (those not at their default), as command-line arguments."""
    args = ["benchmark"]
    for name, value in options.items():
        if value is None or value == [] or (name == "split_seed" and value == 0) or \
                (name == "suite" and options.get("table") is not None):
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            args.append(flag if value else "--no-" + name)
        elif isinstance(value, list):
            for item in value:
                args += [flag, str(item)]
        else:
            args += [flag, str(value)]
    return args
