"""``ensel route``: evaluate LLM routers on logged outcomes and costs (RouterBench CSV layout).

Only typer is imported here; scikit-learn, torch and matplotlib load inside the command.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from ensel.cli import _options

route_app = typer.Typer(
    name="route",
    help="Routing prompts to LLMs by outcome and cost: fit routers on logged results and "
         "compare them with the single models, the zero router and the oracle.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

MISSING = ("zero", "ignore")
PIPED_WIDTH = 100
FORMAT, VERSION = "ensel.route.evaluate", 1


def parse_budgets(value: str) -> list[float]:
    """``"0.25,0.5"`` → [0.25, 0.5] (multiples of the best single model's cost); ``"none"`` → [].

    Examples
    --------
    >>> parse_budgets("0.25, 0.5"), parse_budgets("none")
    ([0.25, 0.5], [])
    """
    return _options.parse_budgets(value, high=math.inf,
                                  unit=" (multiples of the best single model's cost)")


def load_split(path: Path, flag: str) -> tuple[Any, list[str]]:
    """The outcome table and prompts of one CSV (optionally gzipped) in the RouterBench layout."""
    from ensel.datasets import load_routerbench

    if not path.is_file():
        raise ValueError(f"{flag} {path}: no such file (a CSV or CSV.gz in the RouterBench "
                         f"layout: prompt, MODEL|correct, MODEL|cost).")
    return load_routerbench(path)


def check_splits(train: Any, test: Any, paths: tuple[Path, Path], missing: str | None) -> None:
    """Refuse, before any fitting, different models in the two files or unstated missing cells."""
    if list(train.members) != list(test.members):
        only_train = sorted(set(train.members) - set(test.members))
        only_test = sorted(set(test.members) - set(train.members))
        raise ValueError(f"--train {paths[0]} and --test {paths[1]} must have the same models "
                         f"in the same column order; only in train: {only_train or '-'}, only "
                         f"in test: {only_test or '-'}.")
    import numpy as np

    n_missing = int(np.isnan(np.asarray(test.P, dtype=np.float64)).sum())
    if n_missing and missing is None:
        raise ValueError(f"--test {paths[1]} has {n_missing} missing outcomes (empty |correct "
                         f"cells); say how to count a prompt routed to one: --missing zero "
                         f"(wrong) or --missing ignore (left out of the quality).")


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or not math.isfinite(float(value)):
        return "–"
    return f"{float(value):.{digits}f}"


def results_table(evaluation: dict[str, Any]) -> Any:
    """The rich table of `ensel.combine.routing.evaluate_routers`'s results."""
    from rich.table import Table

    res, budgets = evaluation["results"], evaluation["budgets"]
    two = len(evaluation["members"]) == 2
    zero, oracle = res["zero router"]["aiq"], res.get("oracle", {}).get("aiq")
    table = Table(title=f"Routing {evaluation['n_test']} test prompts among "
                        f"{len(evaluation['members'])} models (fitted on "
                        f"{evaluation['n_train']})")
    columns = ["router", "AIQ", "gap\nclosed", "quality\nat best's\ncost",
               "cost to\nmatch\nbest", *(f"quality\nat {b:g}×\nbest's cost" for b in budgets),
               *(("APGR", "CPT\n(50%)") if two else ()), "fit s"]
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right", no_wrap=i == 0)
    for name, r in res.items():
        label = (f"{name}\n {r['members_run'][0].rsplit('/', 1)[-1]}" if r["kind"] == "single"
                 else name)
        gap = ((r["aiq"] - zero) / (oracle - zero) if oracle is not None and oracle > zero
               else float("nan"))
        table.add_row(label, _fmt(r["aiq"], 4), _fmt(100 * gap, 1) + "%" * math.isfinite(gap),
                      _fmt(r["quality_at_best_cost"]), _fmt(r["cost_to_match_best"], 2),
                      *(_fmt(q) for q in r["quality_at_budgets"]),
                      *((_fmt(r["apgr"]), _fmt(r["cpt"])) if two else ()),
                      _fmt(r["fit_seconds"], 1))
    return table


def _json_ready(obj: Any) -> Any:
    """NaN / inf → None (JSON null), through dicts and lists."""
    if isinstance(obj, dict):
        return {k: _json_ready(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_ready(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_outputs(evaluation: dict[str, Any], output: Path, paths: tuple[Path, Path]
                  ) -> dict[str, Path]:
    """``results.json`` (always) and ``cost_quality.png`` (when matplotlib is installed)."""
    import importlib.util

    from ensel import _io

    document = {"format": FORMAT, "version": VERSION, "train": str(paths[0]),
                "test": str(paths[1]), **evaluation}
    written = {"results": _io.write_json(output / "results.json", _json_ready(document))}
    if importlib.util.find_spec("matplotlib") is not None:
        from ensel.report.plots import routing_cost_quality, to_png

        png = to_png(routing_cost_quality(evaluation, title=f"{paths[1].name}: quality / cost "
                                                            f"(star: best single model)"))
        with _io.atomic_file(output / "cost_quality.png") as tmp:
            tmp.write_bytes(png)
        written["plot"] = output / "cost_quality.png"
    return written


@route_app.command()
def evaluate(
    train: Annotated[Path, typer.Option(
        "--train", help="CSV (or .csv.gz) of logged outcomes to fit the routers on: a prompt "
                        "column, then MODEL|correct and MODEL|cost for each model (and "
                        "MODEL|response, for the answer cascade).")],
    test: Annotated[Path, typer.Option(
        "--test", help="CSV of the same models' outcomes on other prompts, to evaluate on.")],
    budgets: Annotated[str, typer.Option(
        "--budgets", help="Mean costs per prompt, as multiples of the best single model's "
                          "cost, at which to read each router's quality, e.g. '0.25,0.5' or "
                          "'none'.")] = "0.5",
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Folder for results.json and cost_quality.png.")
    ] = Path("ensel-route"),
    missing: Annotated[str | None, typer.Option(
        "--missing", help="How a prompt routed to a missing test outcome counts: 'zero' "
                          "(wrong) or 'ignore' (left out of the quality). Required when the "
                          "test file has empty |correct cells.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the learned router.")] = 0,
    max_epochs: Annotated[int | None, typer.Option(
        "--max-epochs", hidden=True, help="Cap the learned router's epochs (smoke tests).")
    ] = None,
) -> None:
    """Fit routers on TRAIN, sweep their cost knob on TEST, print the table, write the plot.

    Peers: the best single and the cheapest model (chosen on train), the zero router,
    the oracle, a k-NN router, a per-model predictive router, and ensel's learned router;
    with a MODEL|response column for every model, also ensel's answer cascade (cheap models
    first, a dearer one where their answers disagree).
    """
    from rich.console import Console

    from ensel.combine.routing import add_prompt_features, default_routers, evaluate_routers

    wanted = parse_budgets(budgets)
    if missing is not None and missing not in MISSING:
        raise ValueError(f"--missing takes 'zero' or 'ignore'. Got {missing!r}.")
    if output.exists() and not output.is_dir():
        raise ValueError(f"--output {output} is a file; give a folder.")
    (t_train, p_train), (t_test, p_test) = load_split(train, "--train"), load_split(test, "--test")
    check_splits(t_train, t_test, (train, test), missing)
    tables = add_prompt_features((t_train, p_train), (t_test, p_test))
    evaluation = evaluate_routers(default_routers(random_state=seed, max_epochs=max_epochs),
                                  *tables, missing=missing or "raise", budgets=wanted)
    console = Console()
    if not console.is_terminal:        # piped or captured: wide enough for the table
        console = Console(width=PIPED_WIDTH)
    console.print(results_table(evaluation))
    best = evaluation["best_single"]
    point = evaluation["single_models"][best]
    console.print(f"best single model on test: {best}, quality {point['quality']:.3f} at "
                  f"{point['cost']:.4g} per prompt (\"best's cost\"; \"cost to match\" is a "
                  f"fraction of it). Best single and cheapest are chosen on train. Gap closed: "
                  f"share of the zero router → oracle AIQ gap.")
    for kind, path in write_outputs(evaluation, output, (train, test)).items():
        typer.echo(f"{kind}: {path}")
