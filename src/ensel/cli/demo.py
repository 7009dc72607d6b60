"""``ensel demo``: the specialists pool on scikit-learn's digits, combined three ways."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from ensel.cli._options import int_range

N_MEMBERS = 10
"""Specialists in the demo's pool."""

PIPED_WIDTH = 100
"""Columns the demo renders at when its output is not a terminal."""


def demo(
    seed: Annotated[int, typer.Option(
        callback=int_range(0), help="Seed of the split, the pool and the selector.")] = 0,
    k: Annotated[int, typer.Option(
        callback=int_range(1, N_MEMBERS),
        help=f"Members the selector picks per input (1 to {N_MEMBERS}).")] = 3,
) -> None:
    """Build a pool of 10 specialists on digits and compare ways to combine them."""
    import torch
    from rich.console import Console
    from rich.progress import Progress

    from ensel.combine.cascade import Cascade
    from ensel.combine.learned import DifferentiableSelector
    from ensel.combine.static import Average, BestSingle, Stacking
    from ensel.datasets import load_dataset
    from ensel.evaluation import evaluate_combiner
    from ensel.protocol import specialists_pool, split_protocol
    from ensel.table import PredictionTable

    torch.set_num_threads(1)  # small networks: one thread is several times faster here
    console = Console()
    if not console.is_terminal:        # piped or captured: wide enough for the table
        console = Console(width=PIPED_WIDTH)
    start = time.perf_counter()
    X, y = load_dataset("digits")
    split = split_protocol(X, y, random_state=seed)
    console.print(f"digits: {len(y)} images, {len(set(y))} classes; split 50/25/25 into "
                  f"base-train / selection / test (seed {seed}).")
    combiners = {
        "best member": BestSingle(),
        "average": Average(),
        "stacking": Stacking(),
        f"e2e-CEL (k={k})": DifferentiableSelector(k=k, random_state=seed),
        f"cascade (budget {DEMO_BUDGET:g})": Cascade(budget=DEMO_BUDGET),
    }
    records = {}
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("fitting 10 specialist MLPs", total=2 + len(combiners))
        members = specialists_pool(split.X_base, split.y_base, n_members=N_MEMBERS,
                                   random_state=seed)
        progress.advance(task)
        sel = PredictionTable.from_estimators(members, split.X_sel, split.y_sel)
        test = PredictionTable.from_estimators(members, split.X_test, split.y_test)
        progress.advance(task)
        for name, combiner in combiners.items():
            progress.update(task, description=f"fitting {name}")
            records[name] = evaluate_combiner(combiner, sel, test)
            progress.advance(task)
    accs = test.correct().mean(0)
    console.print(f"Pool: {N_MEMBERS} specialists, each trained mostly on 2 classes; alone they "
                  f"are {accs.min():.1%}–{accs.max():.1%} accurate on test.")
    console.print(_results_table(records))
    for line in (
        "oracle: accuracy if each input went to a member that is right on it (the ceiling).",
        "gap closed: (acc. - best single) / (oracle - best single): 1 = oracle, 0 = best single, "
        "< 0 = worse.",
        "best single: the member most accurate on test; 'best member' picks one on the "
        "selection split.",
        f"members/input: members run per input; e2e-CEL runs only the {k} it picks.",
        _budget_line(records["stacking"], records[f"cascade (budget {DEMO_BUDGET:g})"]),
    ):
        console.print(line, soft_wrap=True)
    console.print(f"done in {time.perf_counter() - start:.0f} s")


DEMO_BUDGET = 0.5   # the cascade reaches stacking on this pool at about half the cost


def _budget_line(stacking: dict, budgeted: dict) -> str:
    """"stacking's accuracy at X% of the cost", or by how much the budgeted row falls short."""
    share = budgeted["members_per_input"] / N_MEMBERS
    diff = 100 * (budgeted["accuracy"] - stacking["accuracy"])
    verdict = "stacking's accuracy" if diff >= -0.1 else f"{-diff:.1f} points below stacking"
    return f"budget: the cascade gets {verdict} at {share:.0%} of the cost (it exits when sure)."

def _results_table(records: dict) -> Any:
    """The demo's table: one row per combiner, test-split scores."""
    from rich.table import Table

    table = Table(title="digits / specialists pool, test split")
    for column in ("combiner", "acc.", "NLL", "oracle", "gap closed", "members/input",
                   "fit s"):
        table.add_column(column, justify="left" if column == "combiner" else "right")
    for name, r in records.items():
        table.add_row(name, f"{r['accuracy']:.3f}", f"{r['log_loss']:.3f}",
                      f"{r['oracle_accuracy']:.3f}", f"{r['gap_closed']:.2f}",
                      f"{r['members_per_input']:.1f}", f"{r['fit_seconds']:.1f}")
    return table
