"""``ensel demo``: the specialists pool on scikit-learn's digits, combined three ways."""

from __future__ import annotations

import time

import typer


def demo(
    seed: int = typer.Option(0, help="Seed of the split, the pool and the selector."),
    k: int = typer.Option(3, help="Members the selector picks per input."),
) -> None:
    """Build a pool of 10 specialists on digits and compare ways to combine them."""
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from ensel.combine.learned import DifferentiableSelector
    from ensel.combine.static import Average, BestSingle, Stacking
    from ensel.datasets import load_dataset
    from ensel.evaluation import evaluate_combiner
    from ensel.protocol import specialists_pool, split_protocol
    from ensel.table import PredictionTable

    import torch

    torch.set_num_threads(1)  # small networks: one thread is several times faster here
    console = Console(width=max(Console().width, 88))
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
    }
    records = {}
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("fitting 10 specialist MLPs", total=2 + len(combiners))
        members = specialists_pool(split.X_base, split.y_base, random_state=seed)
        progress.advance(task)
        sel = PredictionTable.from_estimators(members, split.X_sel, split.y_sel)
        test = PredictionTable.from_estimators(members, split.X_test, split.y_test)
        progress.advance(task)
        for name, combiner in combiners.items():
            progress.update(task, description=f"fitting {name}")
            records[name] = evaluate_combiner(combiner, sel, test)
            progress.advance(task)
    accs = test.correct().mean(0)
    console.print(f"Pool: 10 specialists, each trained mostly on 2 classes; alone they are "
                  f"{accs.min():.1%}–{accs.max():.1%} accurate on test.")
    table = Table(title="digits / specialists pool, test split")
    for column in ("combiner", "acc.", "NLL", "oracle", "gap closed", "members/input",
                   "fit s"):
        table.add_column(column, justify="left" if column == "combiner" else "right")
    for name, r in records.items():
        table.add_row(name, f"{r['accuracy']:.3f}", f"{r['log_loss']:.3f}",
                      f"{r['oracle_accuracy']:.3f}", f"{r['gap_closed']:.2f}",
                      f"{r['members_per_input']:.1f}", f"{r['fit_seconds']:.1f}")
    console.print(table)
    console.print("gap closed = (accuracy - best single) / (oracle - best single), best single "
                  "being the member most accurate on test (the 'best member' row picks it on the "
                  "selection split); the selector runs only the members it picks per input.")
    console.print(f"done in {time.perf_counter() - start:.0f} s")
