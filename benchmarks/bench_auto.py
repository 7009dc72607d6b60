"""QO-ES, QDO-ES and AutoCombiner against GES, stacking and the best single member (issue 17).

Protocol (docs/benchmark.md): 50/25/25 split, members fitted on base-train, every combiner fitted on
the selection table only, scored on the test table; seeds 0-2. In the same run, every
candidate of `AutoCombiner` (its defaults) is also fitted on the whole selection table and
scored on test, which gives the combiner one would have picked *in hindsight* on test.
AutoCombiner runs twice: choosing by cross-validated log-loss (its default) and by accuracy.

Prints, per dataset x pool, means over seeds: test accuracy, NLL, fit seconds, and the
difference to GES in the same run; then the issue's targets.

Run::

    ENSEL_DATASETS=/work/shared/datasets python benchmarks/bench_auto.py --cache /work/tables
    python benchmarks/bench_auto.py --datasets digits --pools specialists --seeds 0 \
        --max-rows 300                                                       # smoke
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

PEERS = ("best-single", "greedy", "stacking", "qo-es", "qdo-es")
LABELS = {"best-single": "best single", "greedy": "GES", "stacking": "stacking",
          "qo-es": "QO-ES", "qdo-es": "QDO-ES", "auto": "AutoCombiner",
          "auto-accuracy": "AutoCombiner (metric=accuracy)", "auto-budget": "AutoCombiner (budget)"}


def load_or_make(dataset: str, pool: str, seed: int, cache: Path | None,
                 max_rows: int | None) -> tuple[Any, Any]:
    """Selection and test tables, kept in ``cache`` (`ensel.protocol.cached_tables`)."""
    from ensel.protocol import cached_tables

    return cached_tables(dataset, pool, seed, cache, max_rows)


def _score(est: Any, test: Any, fit_s: float) -> dict[str, float]:
    from ensel.combine.rules import log_loss

    proba = est.predict_proba(test)
    y = np.asarray(test.y)
    return {"accuracy": float(np.mean(np.argmax(proba, axis=1) == y)),
            "log_loss": log_loss(proba, y), "fit_s": fit_s}


def run_cell(sel: Any, test: Any, *, cv: int,
             budget: float | None = None) -> dict[str, dict[str, Any]]:
    """Test scores of every default candidate and of AutoCombiner (both metrics, and under
    ``budget`` when given) on one seed."""
    from ensel.combine import AutoCombiner, get_combiner
    from ensel.combine.auto import DEFAULT_CANDIDATES, cost_fraction_of

    out: dict[str, dict[str, Any]] = {}
    for name, params in DEFAULT_CANDIDATES:
        est = get_combiner(name)(**params)
        start = time.perf_counter()
        est.fit(sel)
        out[name] = _score(est, test, time.perf_counter() - start)
    for key, metric in (("auto", None), ("auto-accuracy", "accuracy")):
        start = time.perf_counter()
        auto = AutoCombiner(cv=cv, metric=metric).fit(sel)
        out[key] = _score(auto, test, time.perf_counter() - start) | {
            "chosen": auto.best_, "cv_results": auto.cv_results_}
    if budget is not None:
        start = time.perf_counter()
        auto = AutoCombiner(cv=cv, budget=budget).fit(sel)
        out["auto-budget"] = _score(auto, test, time.perf_counter() - start) | {
            "chosen": auto.best_, "cost_fraction": cost_fraction_of(auto, test)}
    return out


def run(datasets: Sequence[str], pools: Sequence[str], seeds: Sequence[int], *,
        cache: Path | None, max_rows: int | None, cv: int,
        budget: float | None = None) -> dict[tuple[str, str], list]:
    """Per dataset x pool, one ``run_cell`` result per seed."""
    results: dict[tuple[str, str], list] = defaultdict(list)
    for dataset in datasets:
        for pool in pools:
            for seed in seeds:
                sel, test = load_or_make(dataset, pool, seed, cache, max_rows)
                results[dataset, pool].append(run_cell(sel, test, cv=cv, budget=budget))
                print(f"# done {dataset}/{pool}/seed {seed}: auto chose "
                      f"{results[dataset, pool][-1]['auto']['chosen']}", file=sys.stderr,
                      flush=True)
    return results


def _mean(runs: list, name: str, key: str) -> float:
    return float(np.mean([r[name][key] for r in runs]))


def print_cell(dataset: str, pool: str, runs: list) -> None:
    """One markdown table: the peers and AutoCombiner, and the hindsight-best candidate."""
    candidates = [n for n in runs[0] if not n.startswith("auto")]
    hindsight = max(candidates, key=lambda n: _mean(runs, n, "accuracy"))
    print(f"\n### {dataset} / {pool} ({len(runs)} seeds)\n")
    print("| method | accuracy | NLL | fit s | Δ acc vs GES (pt) | Δ NLL vs GES |")
    print("|---|---|---|---|---|---|")
    ges_acc, ges_nll = _mean(runs, "greedy", "accuracy"), _mean(runs, "greedy", "log_loss")
    autos = [k for k in ("auto", "auto-accuracy", "auto-budget") if k in runs[0]]
    rows = [*PEERS, *autos]
    if hindsight not in rows:
        rows.append(hindsight)
    for name in rows:
        acc, nll = _mean(runs, name, "accuracy"), _mean(runs, name, "log_loss")
        label = LABELS.get(name, name)
        if name == "auto-budget":
            label += f" (test cost {_mean(runs, name, 'cost_fraction'):.3f})"
        if name == hindsight:
            label += " (hindsight best)"
        print(f"| {label} | {acc:.4f} | {nll:.4f} | {_mean(runs, name, 'fit_s'):.2f} | "
              f"{100 * (acc - ges_acc):+.2f} | {nll - ges_nll:+.4f} |")
    for key in autos:
        chosen = [r[key]["chosen"] for r in runs]
        print(f"\n{LABELS[key]} chose: {', '.join(chosen)}")


def print_targets(results: dict[tuple[str, str], list]) -> None:
    """The issue's targets, cell by cell."""
    print("\n### Targets\n")
    print("| cell | QDO-ES−GES NLL | QO-ES−GES acc (pt) | QDO-ES−GES acc (pt) | "
          "auto − hindsight (pt) | auto(acc) − hindsight (pt) |")
    print("|---|---|---|---|---|---|")
    nll_gaps = []
    for (dataset, pool), runs in results.items():
        candidates = [n for n in runs[0] if not n.startswith("auto")]
        best = max(_mean(runs, n, "accuracy") for n in candidates)
        ges = _mean(runs, "greedy", "accuracy")
        nll_gaps.append(_mean(runs, "qdo-es", "log_loss") - _mean(runs, "greedy", "log_loss"))
        print(f"| {dataset} / {pool} | {nll_gaps[-1]:+.4f} | "
              f"{100 * (_mean(runs, 'qo-es', 'accuracy') - ges):+.2f} | "
              f"{100 * (_mean(runs, 'qdo-es', 'accuracy') - ges):+.2f} | "
              f"{100 * (_mean(runs, 'auto', 'accuracy') - best):+.2f} | "
              f"{100 * (_mean(runs, 'auto-accuracy', 'accuracy') - best):+.2f} |")
    print(f"\nQDO-ES − GES NLL, mean over cells: {np.mean(nll_gaps):+.4f} "
          f"(target <= 0)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="digits,pendigits,letter")
    parser.add_argument("--pools", default="specialists,natural")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--max-rows", type=int, default=None)
    parser.add_argument("--cv", type=int, default=5)
    parser.add_argument("--budget", type=float, default=None,
                        help="also run AutoCombiner(budget=...) (a fraction of the pool's cost)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="folder of saved tables (<dataset>-<pool>-<seed>-<rows>/sel, test)")
    parser.add_argument("--json", type=Path, default=None,
                        help="also write every per-seed record (with AutoCombiner's cv_results_)")
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        results = run(args.datasets.split(","), args.pools.split(","),
                      [int(s) for s in args.seeds.split(",")], cache=args.cache,
                      max_rows=args.max_rows, cv=args.cv, budget=args.budget)
    for (dataset, pool), runs in results.items():
        print_cell(dataset, pool, runs)
    print_targets(results)
    if args.json is not None:
        tmp = args.json.with_name(f".{args.json.name}.tmp")
        tmp.write_text(json.dumps({f"{d}/{p}": runs for (d, p), runs in results.items()},
                                  indent=1))
        tmp.replace(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
