"""The paper's own regime: CNN members on MNIST images, a CNN selection network (issue 16).

Protocol (docs/benchmark.md, `ensel.images`): MNIST 5k as ``[N, 1, 28, 28]``, split 50/25/25
(stratified); the specialists pool (10 small CNNs on class-biased subsets) and the natural
pool (8 CNNs of three widths and several seeds, logistic regression and a random forest on
the flattened pixels), trained through `ensel._training` and cached on disk by content hash
(``--cache``). The tables' costs are each member's measured seconds per row. Every combiner
is fitted on the selection table and scored on the test table; the peers that need tabular
inputs (KNORA-E, META-DES) see the flattened pixels; the selectors see the images through a
`~ensel.nets.ConvNet` selection network (the members' architecture). Reported per pool
(means over seeds): accuracy, NLL, ECE, gap closed = (method - best single) / (oracle - best
single), cost fraction (members run per input weighted by their measured cost, over the
whole pool), fit seconds; then the budgeted methods' cost to reach stacking (smallest budget
within 0.1 pt of stacking's accuracy).

Run::

    python benchmarks/bench_images.py --seeds 0,1,2                 # the issue's numbers
    python benchmarks/bench_images.py --max-rows 400 --seeds 0 --member-epochs 1 \\
        --selector-epochs 2 --budgets 0.5                            # smoke
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

POOLS = ("specialists", "natural")
SELECTION_CHANNELS = (8, 16)


def score(est: Any, test: Any, fit_s: float) -> dict[str, float]:
    """Accuracy, NLL, ECE and cost fraction of a fitted combiner on ``test``."""
    from ensel import metrics

    proba = est.predict_proba(test)
    y = np.asarray(test.y)
    run = np.asarray(est.select(test)) != 0
    if getattr(est, "selection_needs_predictions_", True):
        run = np.ones_like(run)
    return {"accuracy": metrics.accuracy_score(y, proba), "log_loss": metrics.log_loss(y, proba),
            "ece": metrics.expected_calibration_error(y, proba),
            "cost_fraction": metrics.cost_fraction(run, costs=test.costs), "fit_s": fit_s,
            "members": float(run.sum(1).mean())}


def _fit(make: Callable[[], Any], table: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = make().fit(table)
    return est, time.perf_counter() - start


def selector(seed: int, epochs: int, channels: Sequence[int] = SELECTION_CHANNELS,
             **kwargs: Any) -> Any:
    """The e2e-CEL selector with a CNN selection network on the images
    (`ensel.images.selector_params`, as in ``ensel benchmark --suite images``)."""
    from ensel.combine.learned import DifferentiableSelector
    from ensel.images import selector_params

    return DifferentiableSelector(**selector_params(max_epochs=epochs, channels=channels),
                                  random_state=seed, **kwargs)


def run_cell(sel: Any, test: Any, seed: int, *, k: int, budgets: Sequence[float],
             selector_epochs: int, channels: Sequence[int] = SELECTION_CHANNELS
             ) -> dict[str, dict[str, float]]:
    """Test scores of every peer, the selectors and the cascade on one pool × seed."""
    from ensel.combine import (
        KNORAE,
        METADES,
        Average,
        BestSingle,
        Cascade,
        GreedySelection,
        Stacking,
    )
    from ensel.images import flat_table

    out: dict[str, dict[str, float]] = {}
    fsel, ftest = flat_table(sel), flat_table(test)
    peers = {"best single": BestSingle, "average": Average, "stacking": Stacking,
             "GES": GreedySelection, "KNORA-E": KNORAE, "META-DES": METADES}
    for name, make in peers.items():
        est, fit_s = _fit(make, fsel)
        out[name] = score(est, ftest, fit_s)
    est, fit_s = _fit(lambda: selector(seed, selector_epochs, channels, k=k), sel)
    out[f"selector CNN k={k}"] = score(est, test, fit_s)
    with warnings.catch_warnings():     # one copy per budget, as fitted alone (fit_budgets)
        warnings.simplefilter("ignore")
        fitted = selector(seed, selector_epochs, channels).fit_budgets(sel, budgets)
    for b, est in zip(budgets, fitted, strict=True):
        out[f"selector CNN b={b:g}"] = score(est, test, est.fit_seconds_)
    cascade, fit_s = _fit(lambda: Cascade(budget=budgets[0], random_state=seed), fsel)
    for b in budgets:
        start = time.perf_counter()
        est = cascade.at_budget(b)
        out[f"Cascade b={b:g}"] = score(est, ftest, fit_s + time.perf_counter() - start)
    return out


def oracle_and_best(test: Any) -> tuple[float, float]:
    """Oracle accuracy and the best single member's accuracy on the test table."""
    from ensel.metrics import oracle_accuracy

    correct = test.correct()
    return oracle_accuracy(test.P, test.y), float(correct.mean(0).max())


def mean(runs: list, name: str, key: str) -> float:
    return float(np.mean([r["scores"][name][key] for r in runs]))


def print_pool(pool: str, runs: list) -> None:
    """One markdown table of every method, means (and spread of accuracy) over seeds."""
    oracle = float(np.mean([r["oracle"] for r in runs]))
    best = mean(runs, "best single", "accuracy")
    stacking = mean(runs, "stacking", "accuracy")
    members = runs[0]["info"]
    print(f"\n### mnist_5k images / {pool} ({len(runs)} seeds; oracle {oracle:.4f}; "
          f"members {members['n_members']}, single accuracies {members['single_range']})\n")
    print("| method | accuracy | ± (seeds) | NLL | ECE | gap closed | cost fraction | members "
          "| fit s | Δ vs stacking (pt) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in runs[0]["scores"]:
        accs = [r["scores"][name]["accuracy"] for r in runs]
        acc = float(np.mean(accs))
        gap = (acc - best) / (oracle - best) if oracle > best else float("nan")
        print(f"| {name} | {acc:.4f} | {np.std(accs):.4f} | {mean(runs, name, 'log_loss'):.4f} | "
              f"{mean(runs, name, 'ece'):.4f} | {gap:.3f} | "
              f"{mean(runs, name, 'cost_fraction'):.3f} | {mean(runs, name, 'members'):.2f} | "
              f"{mean(runs, name, 'fit_s'):.1f} | {100 * (acc - stacking):+.2f} |")


def print_frontier(pool: str, runs: list, budgets: Sequence[float]) -> None:
    """Cost (measured, as a fraction of the pool) at which each budgeted method first comes
    within 0.1 pt of stacking's accuracy."""
    stacking = mean(runs, "stacking", "accuracy")
    for method in ("selector CNN", "Cascade"):
        names = [f"{method} b={b:g}" for b in budgets]
        hits = [(mean(runs, n, "cost_fraction"), n) for n in names
                if mean(runs, n, "accuracy") >= stacking - 1e-3]
        reach = f"{min(hits)[0]:.3f} ({min(hits)[1]})" if hits else "not reached"
        print(f"- {pool} / {method}: cost to reach stacking ({stacking:.4f}) = {reach}")


def run(args: argparse.Namespace) -> dict[str, list]:
    """Every pool × seed: tables (members trained or read from the cache), then the methods."""
    from ensel.images import CNNRecipe, make_image_tables

    recipe = CNNRecipe(max_epochs=args.member_epochs)
    results: dict[str, list] = {}
    for pool in args.pools:
        for seed in args.seeds:
            start, cpu = time.perf_counter(), time.process_time()
            sel, test, info = make_image_tables(pool, seed=seed, cache=args.cache,
                                                max_rows=args.max_rows, recipe=recipe)
            tables_s = time.perf_counter() - start
            oracle, best = oracle_and_best(test)
            singles = test.correct().mean(0)
            scores = run_cell(sel, test, seed, k=args.k, budgets=args.budgets[pool],
                              selector_epochs=args.selector_epochs,
                              channels=args.selection_channels)
            cached = sum(info["cached"].values())
            print(f"[{pool} seed {seed}] tables {tables_s:.1f} s ({cached}/{len(info['cached'])}"
                  f" members from the cache), methods "
                  f"{time.perf_counter() - start - tables_s:.1f} s; CPU "
                  f"{time.process_time() - cpu:.1f} s", file=sys.stderr, flush=True)
            results.setdefault(pool, []).append({
                "seed": seed, "oracle": oracle, "best": best, "scores": scores,
                "tables_s": tables_s,
                "info": {"n_members": test.n_members, "cached": cached,
                         "single_range": f"{singles.min():.3f}-{singles.max():.3f}",
                         "seconds_to_train": info["seconds_to_train"]}})
    return results


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pools", nargs="+", choices=POOLS, default=list(POOLS))
    p.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[0])
    p.add_argument("--cache", type=Path, default=None,
                   help="member cache folder (default $ENSEL_CACHE or ~/.cache/ensel)")
    p.add_argument("--max-rows", type=int, default=None, help="subsample MNIST (smoke)")
    p.add_argument("--k", type=int, default=3)
    p.add_argument("--budgets", type=float, nargs="+", default=None,
                   help="budgets of the budgeted methods (default: specialists 0.3; natural "
                        "0.2 0.3 0.4)")
    p.add_argument("--member-epochs", type=int, default=12)
    p.add_argument("--selector-epochs", type=int, default=30)
    p.add_argument("--selection-channels", type=int, nargs="+", default=list(SELECTION_CHANNELS),
                   help="conv channels of the selectors' ConvNet (default: the members')")
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads (BLAS and OpenMP run on one)")
    p.add_argument("--out", type=Path, default=None, help="write the raw records as JSON")
    args = p.parse_args(argv)
    given = args.budgets
    args.budgets = {"specialists": given or [0.3], "natural": given or [0.2, 0.3, 0.4]}
    return args


def main(argv: Sequence[str] | None = None) -> int:
    import torch

    from ensel.benchmark.runner import one_thread

    args = parse(argv)
    start, cpu = time.perf_counter(), time.process_time()
    with one_thread():               # BLAS and OpenMP on one thread, as ensel benchmark
        torch.set_num_threads(args.threads)
        results = run(args)
    total, cpu = time.perf_counter() - start, time.process_time() - cpu
    for pool, runs in results.items():
        print_pool(pool, runs)
        print()
        print_frontier(pool, runs, args.budgets[pool])
    tables = sum(r["tables_s"] for runs in results.values() for r in runs)
    print(f"\nwall time {total:.0f} s (tables, members included: {tables:.0f} s); CPU time "
          f"{cpu:.0f} s (this process); torch threads {args.threads}")
    if args.out is not None:
        from ensel import _io

        _io.write_json(args.out, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
