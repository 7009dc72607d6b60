"""Measured member costs on the natural pool: wall seconds per 1000 predictions (issue 11).

Protocol (docs/benchmark.md, via `ensel.protocol.make_tables`): 50/25/25 split, the natural
pool's ten members fitted on base-train. Every combiner is wrapped as
``SelectiveEnsemble(members, combiner, costs="measured")`` around those prefit members and
fitted on the selection part (each member is timed there: ``costs_``, seconds per row), then
``predict`` is timed on the test part, wall clock, best of ``--repeats`` runs, in seconds per
1000 predictions. Combiners: `Stacking` (every member runs: the reference), `Cascade(budget=b)`
and ``DifferentiableSelector(budget=b)`` at every ``--budgets`` and at *the budget matching
stacking*: the smallest budget on ``--grid`` whose accuracy (mean over seeds) is within 0.1 pt
of stacking's (the grid is scanned upwards and stops there). Reported per method and budget,
means over seeds: accuracy, the measured cost fraction (`ensel.metrics.cost_fraction` of the
members run, weighted by the model's measured ``costs_``), the member seconds so accounted, the
wall seconds and the speed-up against stacking (stacking's wall time / the method's, per seed:
each model's predict calls alternate with those of the seed's stacking ensemble, best of the
repeats for each, so both see the same machine load). torch and the BLAS run one thread each
(the machine has 2 shared cores).

The matching budget is chosen on the test part (as `ensel.metrics.cost_to_reach` in
bench_frontier.py), so that row is optimistic by construction.

Run::

    python benchmarks/bench_measured_cost.py                                    # full
    python benchmarks/bench_measured_cost.py --datasets digits --seeds 0        # smoke
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

BUDGETS = (0.1, 0.2, 0.3, 0.5)
GRID = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
METHODS = ("Cascade", "selector")
TOLERANCE = 0.001                       # "within 0.1 pt of stacking's accuracy"


def natural_parts(dataset: str, seed: int, max_rows: int | None) -> dict[str, Any]:
    """The natural pool's fitted members and the selection and test inputs and labels."""
    from ensel.protocol import make_tables

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sel, test, members = make_tables(dataset, "natural", seed=seed, max_rows=max_rows)
    return {"members": members, "seed": seed, "X_sel": sel.X, "y_sel": sel.y_labels,
            "X_test": test.X, "y_test": test.y_labels}


def make_combiner(method: str, budget: float, seed: int) -> Any:
    """``Stacking()``, ``Cascade(budget=b)`` or ``DifferentiableSelector(budget=b)``."""
    from ensel.combine import Cascade, Stacking

    if method == "stacking":
        return Stacking()
    if method == "Cascade":
        return Cascade(budget=budget, random_state=seed)
    from ensel.combine.learned import DifferentiableSelector

    return DifferentiableSelector(budget=budget, random_state=seed)


def time_predict(models: Sequence[Any], X: np.ndarray, repeats: int
                 ) -> tuple[list[float], np.ndarray]:
    """Best wall seconds per 1000 predictions of each model, calls interleaved so that every
    model sees the same machine load; and the first model's labels."""
    best = [np.inf] * len(models)
    for _ in range(repeats):
        for i, model in enumerate(models):
            start = time.perf_counter()
            out = model.predict(X)
            best[i] = min(best[i], time.perf_counter() - start)
            if i == 0:
                labels = out
    return [1000 * b / len(X) for b in best], labels


def measure(part: dict[str, Any], method: str, budget: float, repeats: int) -> dict[str, Any]:
    """Fit one SelectiveEnsemble with measured costs on the selection part; time it on test
    against the part's fitted stacking ensemble (``part["stacking"]``, when there is one)."""
    from ensel import SelectiveEnsemble
    from ensel.metrics import cost_fraction

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = SelectiveEnsemble(part["members"], make_combiner(method, budget, part["seed"]),
                                  costs="measured").fit(part["X_sel"], part["y_sel"])
    fit_s = time.perf_counter() - start
    reference = part.get("stacking")
    walls, labels = time_predict([model] + ([] if reference is None else [reference]),
                                 part["X_test"], repeats)
    account = dict(model.last_cost_)           # of this model's last predict
    run = np.asarray(model.select(part["X_test"])) != 0
    if getattr(model.combiner_, "selection_needs_predictions_", True):
        run = np.ones_like(run)             # every member ran to make the selection
    if method == "stacking":
        part["stacking"] = model            # the reference every later model is timed beside
    return {"accuracy": float(np.mean(labels == part["y_test"])),
            "cost_fraction": cost_fraction(run, costs=model.costs_),
            "account_cost_fraction": account["cost_fraction"],
            "member_s_per_1000": 1000 * account["cost_per_input"], "wall_s_per_1000": walls[0],
            "stacking_wall_s_per_1000": walls[-1], "fit_s": fit_s,
            "costs": model.costs_.tolist()}


def average(rows: list[dict[str, Any]], key: str) -> float:
    return float(np.mean([r[key] for r in rows]))


def speedup(rows: list[dict[str, Any]]) -> float:
    """Mean over seeds of stacking's wall time over the method's (timed side by side)."""
    return float(np.mean([r["stacking_wall_s_per_1000"] / r["wall_s_per_1000"] for r in rows]))


def run_method(parts: list[dict[str, Any]], method: str, budgets: Sequence[float],
               grid: Sequence[float], target: float, repeats: int
               ) -> tuple[dict[float, list], float | None]:
    """Every ``budgets`` point, then the grid upwards until stacking's accuracy is matched."""
    points: dict[float, list] = {}

    def at(b: float) -> list:
        if b not in points:
            points[b] = [measure(part, method, b, repeats) for part in parts]
            print(f"# {method} b={b:g}: accuracy {average(points[b], 'accuracy'):.4f}",
                  file=sys.stderr, flush=True)
        return points[b]

    for b in budgets:
        at(b)
    for b in sorted(grid):
        if average(at(b), "accuracy") >= target - TOLERANCE - 1e-12:
            return points, b
    return points, None


def run_dataset(dataset: str, seeds: Sequence[int], args: argparse.Namespace
                ) -> dict[str, Any]:
    """Stacking and every budgeted method on one dataset's natural pool, all seeds."""
    start = time.perf_counter()
    parts = [natural_parts(dataset, seed, args.max_rows) for seed in seeds]
    print(f"# {dataset}: members fitted in {time.perf_counter() - start:.0f} s",
          file=sys.stderr, flush=True)
    stacking = [measure(part, "stacking", 1.0, args.repeats) for part in parts]
    out: dict[str, Any] = {"stacking": stacking, "members": [n for n, _ in parts[0]["members"]]}
    target = average(stacking, "accuracy")
    for method in args.methods:
        points, match = run_method(parts, method, args.budgets, args.grid, target,
                                   args.repeats)
        out[method] = {"points": {f"{b:g}": rows for b, rows in sorted(points.items())},
                       "match": match}
    return out


def print_dataset(dataset: str, result: dict[str, Any], n_seeds: int) -> None:
    """One markdown table: every method and budget against stacking, means over seeds."""
    stacking = result["stacking"]
    acc0 = average(stacking, "accuracy")
    print(f"\n### {dataset} / natural ({n_seeds} seeds; wall = best of the repeats)\n")
    print("| method | budget | accuracy | Δ acc vs stacking (pt) | measured cost fraction | "
          "member s / 1000 | wall s / 1000 | speed-up vs stacking |")
    print("|---|---|---|---|---|---|---|---|")
    rows = [("stacking", "—", stacking)]
    for method in METHODS:
        if method in result:
            match = result[method]["match"]
            for b, runs in result[method]["points"].items():
                mark = " (matches stacking)" if match is not None and float(b) == match else ""
                rows.append((method, f"{b}{mark}", runs))
    for method, b, runs in rows:
        acc = average(runs, "accuracy")
        print(f"| {method} | {b} | {acc:.4f} | {100 * (acc - acc0):+.2f} | "
              f"{average(runs, 'cost_fraction'):.3f} | {average(runs, 'member_s_per_1000'):.3f} | "
              f"{average(runs, 'wall_s_per_1000'):.3f} | {speedup(runs):.2f}× |")
    costs = np.mean([r["costs"] for r in stacking], axis=0) * 1e3
    print("\nMeasured member costs (ms per row, mean over seeds): "
          + ", ".join(f"{n} {c:.4f}" for n, c in zip(result["members"], costs, strict=True)))


def print_summary(results: dict[str, dict[str, Any]]) -> None:
    """Per dataset and method: the budget matching stacking and its speed-up."""
    print("\n### At the budget matching stacking's accuracy (within 0.1 pt; means over seeds)\n")
    print("| dataset | method | budget | accuracy (stacking) | measured cost fraction | "
          "wall s / 1000 (stacking) | speed-up vs stacking |")
    print("|---|---|---|---|---|---|---|")
    for dataset, result in results.items():
        stacking = result["stacking"]
        for method in METHODS:
            if method not in result:
                continue
            match = result[method]["match"]
            if match is None:
                print(f"| {dataset} | {method} | not reached on the grid | | | | |")
                continue
            runs = result[method]["points"][f"{match:g}"]
            print(f"| {dataset} | {method} | {match:g} | {average(runs, 'accuracy'):.4f} "
                  f"({average(stacking, 'accuracy'):.4f}) | "
                  f"{average(runs, 'cost_fraction'):.3f} | "
                  f"{average(runs, 'wall_s_per_1000'):.3f} "
                  f"({average(runs, 'stacking_wall_s_per_1000'):.3f}) | "
                  f"{speedup(runs):.2f}× |")


def write_json(out: Path, results: dict[str, Any]) -> None:
    """The raw results, written beside ``out`` and renamed into place."""
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(results))
    tmp.replace(out)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["digits", "pendigits", "letter"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--budgets", nargs="+", type=float, default=list(BUDGETS))
    parser.add_argument("--grid", nargs="+", type=float, default=list(GRID),
                        help="budgets scanned upwards for the one matching stacking")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--repeats", type=int, default=3, help="timed predict calls (best)")
    parser.add_argument("--max-rows", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None, help="write the raw results (JSON)")
    args = parser.parse_args(argv)
    if not all(0 < b <= 1 for b in [*args.budgets, *args.grid]):
        parser.error("--budgets and --grid must lie in (0, 1]")
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    args.budgets = sorted(set(args.budgets))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run and print; returns an exit code."""
    args = parse(argv)
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    print(f"# measured cost: datasets {args.datasets}, natural pool, seeds {args.seeds}, "
          f"budgets {args.budgets}, grid {sorted(args.grid)}, best of {args.repeats}, "
          f"torch {torch.__version__} (1 thread, BLAS 1 thread)")
    results: dict[str, Any] = {}
    with threadpool_limits(limits=1):
        for dataset in args.datasets:
            results[dataset] = run_dataset(dataset, args.seeds, args)
            print_dataset(dataset, results[dataset], len(args.seeds))
            sys.stdout.flush()
            if args.out is not None:
                write_json(args.out, results)
    print_summary(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
