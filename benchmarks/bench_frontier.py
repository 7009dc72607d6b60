"""The accuracy-cost frontier: budgeted combiners against every peer, in the same run (issue 11).

Protocol (docs/benchmark.md, via `ensel.protocol.make_tables`): 50/25/25 split, members fitted on
base-train, every combiner fitted on the selection table only and scored on the test table;
seeds 0-2; datasets digits, pendigits, letter x pools specialists, natural. Peers: best single,
average, stacking, GES, KNORA-E, META-DES, the fixed-k DifferentiableSelector (k=3); ensel's
budgeted combiners at every ``--budgets``: `Cascade` (fitted once per table, then
recalibrated per budget with ``at_budget``, which equals a fresh fit) and
``DifferentiableSelector(budget=b)`` when its signature has a ``budget`` parameter (skipped
otherwise, and said so). Cost = members run per input (every member for combiners whose
selection needs all predictions, e.g. META-DES, stacking), weighted by the table's costs
(unit here), as a fraction of running the whole pool.

Prints, per dataset x pool (means over seeds): accuracy, NLL, cost fraction and fit seconds
of every method; then per budgeted method the frontier summaries: cost to reach stacking
(smallest budget within 0.1 pt of stacking's accuracy, `ensel.metrics.cost_to_reach`), the
area under the accuracy-budget curve (`ensel.metrics.accuracy_cost_auc`, normalised: mean
accuracy over the budgets) and the largest |test cost - budget|.

Run::

    ENSEL_DATASETS=/work/shared/datasets python benchmarks/bench_frontier.py --cache /work/tables
    python benchmarks/bench_frontier.py --datasets digits --pools natural --seeds 0 \
        --max-rows 300 --budgets 0.3 1.0 --no-selector                       # smoke
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

BUDGETS = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
PEERS = ("best single", "average", "stacking", "GES", "KNORA-E", "META-DES")
TOLERANCE = 0.001                       # "within 0.1 pt of stacking's accuracy"


def load_or_make(dataset: str, pool: str, seed: int, cache: Path | None,
                 max_rows: int | None) -> tuple[Any, Any]:
    """Selection and test tables, kept in ``cache`` (`ensel.protocol.cached_tables`)."""
    from ensel.protocol import cached_tables

    return cached_tables(dataset, pool, seed, cache, max_rows)


def selector_takes_budget() -> bool:
    """Whether ``DifferentiableSelector`` accepts a ``budget`` parameter."""
    from ensel.combine.learned import DifferentiableSelector

    return "budget" in inspect.signature(DifferentiableSelector).parameters


def score(est: Any, test: Any, fit_s: float) -> dict[str, float]:
    """Accuracy, NLL and cost fraction of a fitted combiner on ``test``."""
    from ensel import metrics

    proba = est.predict_proba(test)
    y = np.asarray(test.y)
    selection = np.asarray(est.select(test))
    run = selection != 0
    if getattr(est, "selection_needs_predictions_", True):
        run = np.ones_like(run)
    return {"accuracy": metrics.accuracy_score(y, proba), "log_loss": metrics.log_loss(y, proba),
            "cost_fraction": metrics.cost_fraction(run, costs=test.costs), "fit_s": fit_s}


def _fixed(seed: int, k: int) -> dict[str, Callable[[], Any]]:
    from ensel.combine import KNORAE, METADES, Average, BestSingle, GreedySelection, Stacking
    from ensel.combine.learned import DifferentiableSelector

    makers: dict[str, Callable[[], Any]] = {
        "best single": BestSingle, "average": Average, "stacking": Stacking,
        "GES": GreedySelection, "KNORA-E": KNORAE, "META-DES": METADES}
    if k:
        makers[f"selector k={k}"] = lambda: DifferentiableSelector(k=k, random_state=seed)
    return makers


def _fit(make: Callable[[], Any], sel: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = make().fit(sel)
    return est, time.perf_counter() - start


def run_cell(sel: Any, test: Any, seed: int, budgets: Sequence[float], *, k: int,
             selector_budget: bool) -> dict[str, dict[str, float]]:
    """Test scores of every peer and of every budgeted method at every budget, one seed."""
    from ensel.combine import Cascade

    out: dict[str, dict[str, float]] = {}
    for name, make in _fixed(seed, k).items():
        est, fit_s = _fit(make, sel)
        out[name] = score(est, test, fit_s)
    cascade, fit_s = _fit(lambda: Cascade(budget=budgets[0], random_state=seed), sel)
    for b in budgets:
        start = time.perf_counter()
        est = cascade.at_budget(b)
        out[f"Cascade b={b:g}"] = score(est, test, fit_s + time.perf_counter() - start)
        out[f"Cascade b={b:g}"]["validation_cost"] = est.validation_cost_fraction_
    if selector_budget:
        from ensel.combine.learned import DifferentiableSelector

        for b in budgets:
            est, fit_s = _fit(lambda b=b: DifferentiableSelector(budget=b, random_state=seed),
                              sel)
            out[f"selector b={b:g}"] = score(est, test, fit_s)
    return out


def mean(runs: list, name: str, key: str) -> float:
    return float(np.mean([r[name][key] for r in runs if name in r]))


def print_cell(dataset: str, pool: str, runs: list) -> None:
    """One markdown table of every method, means over seeds."""
    print(f"\n### {dataset} / {pool} ({len(runs)} seeds)\n")
    print("| method | accuracy | NLL | cost fraction | fit s | Δ acc vs stacking (pt) |")
    print("|---|---|---|---|---|---|")
    stacking = mean(runs, "stacking", "accuracy")
    for name in runs[0]:
        acc = mean(runs, name, "accuracy")
        print(f"| {name} | {acc:.4f} | {mean(runs, name, 'log_loss'):.4f} | "
              f"{mean(runs, name, 'cost_fraction'):.3f} | {mean(runs, name, 'fit_s'):.2f} | "
              f"{100 * (acc - stacking):+.2f} |")


def frontier(runs: list, method: str, budgets: Sequence[float]) -> dict[str, float]:
    """Cost to reach stacking, normalised AUC and the worst |test cost - budget| of ``method``."""
    from ensel.metrics import accuracy_cost_auc, cost_to_reach

    names = [f"{method} b={b:g}" for b in budgets]
    if names[0] not in runs[0]:
        return {}
    acc = [mean(runs, n, "accuracy") for n in names]
    spent = [mean(runs, n, "cost_fraction") for n in names]
    return {"cost_to_stacking": cost_to_reach(budgets, acc, mean(runs, "stacking", "accuracy"),
                                              tolerance=TOLERANCE),
            "auc": accuracy_cost_auc(budgets, acc),
            "max_cost_gap": float(np.max(np.abs(np.subtract(spent, budgets))))}


def print_frontier(results: dict[tuple[str, str], list], budgets: Sequence[float]) -> None:
    print("\n### Frontier summaries (means over seeds)\n")
    print("| dataset / pool | method | cost to reach stacking | AUC (mean acc over budgets) | "
          "max abs(test cost - budget) |")
    print("|---|---|---|---|---|")
    for (dataset, pool), runs in results.items():
        for method in ("Cascade", "selector"):
            summary = frontier(runs, method, budgets)
            if summary:
                reach = summary["cost_to_stacking"]
                print(f"| {dataset} / {pool} | {method} | "
                      f"{'not reached' if np.isnan(reach) else f'{reach:g}'} | "
                      f"{summary['auc']:.4f} | {summary['max_cost_gap']:.3f} |")


def run(datasets: Sequence[str], pools: Sequence[str], seeds: Sequence[int],
        budgets: Sequence[float], *, cache: Path | None, max_rows: int | None, k: int,
        selector_budget: bool, out: Path | None) -> dict[tuple[str, str], list]:
    results: dict[tuple[str, str], list] = defaultdict(list)
    for dataset in datasets:
        for pool in pools:
            for seed in seeds:
                start = time.perf_counter()
                sel, test = load_or_make(dataset, pool, seed, cache, max_rows)
                results[dataset, pool].append(run_cell(sel, test, seed, budgets, k=k,
                                                       selector_budget=selector_budget))
                print(f"# done {dataset}/{pool}/seed {seed} in {time.perf_counter() - start:.0f}"
                      f" s", file=sys.stderr, flush=True)
                if out is not None:
                    tmp = out.with_name(f".{out.name}.tmp")
                    tmp.write_text(json.dumps({f"{d}/{p}": r for (d, p), r in results.items()}))
                    tmp.replace(out)
            print_cell(dataset, pool, results[dataset, pool])
            sys.stdout.flush()
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run and print; returns an exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["digits", "pendigits", "letter"])
    parser.add_argument("--pools", nargs="+", default=["specialists", "natural"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--budgets", nargs="+", type=float, default=list(BUDGETS))
    parser.add_argument("--k", type=int, default=3, help="fixed k of the selector peer")
    parser.add_argument("--no-selector", action="store_true",
                        help="skip every DifferentiableSelector (fixed k and budgeted)")
    parser.add_argument("--no-budget-selector", action="store_true",
                        help="skip DifferentiableSelector(budget=b) (keep the fixed-k peer)")
    parser.add_argument("--cache", type=Path, default=None, help="folder of cached tables")
    parser.add_argument("--max-rows", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None, help="write the raw results (JSON)")
    args = parser.parse_args(argv)
    budgets = sorted(set(args.budgets))
    if not all(0 < b <= 1 for b in budgets):
        parser.error("--budgets must lie in (0, 1]")
    import torch

    torch.set_num_threads(1)
    skip = args.no_selector or args.no_budget_selector
    selector_budget = not skip and selector_takes_budget()
    if not skip and not selector_budget:
        print("# DifferentiableSelector has no 'budget' parameter: its budgeted rows are "
              "skipped")
    print(f"# frontier: datasets {args.datasets}, pools {args.pools}, seeds {args.seeds}, "
          f"budgets {budgets}, torch {torch.__version__} (1 thread)")
    results = run(args.datasets, args.pools, args.seeds, budgets, cache=args.cache,
                  max_rows=args.max_rows, k=0 if args.no_selector else args.k,
                  selector_budget=selector_budget, out=args.out)
    print_frontier(results, budgets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
