"""e2e-CEL against its peers with the benchmark protocol (docs/benchmark.md) (issue 3's benchmark).

For every dataset x pool x seed: split 50/25/25, fit the pool on base-train, fit every combiner
on the selection split only, and score on test. Peers run in the same process and run:
ensel's own baselines and DESlib's KNORA-E and META-DES (when installed) on the same pool.

    python benchmarks/bench_selector.py                     # digits, pendigits, letter; 3 seeds
    python benchmarks/bench_selector.py --datasets digits --seeds 1 --max-rows 400   # smoke

Prints one row per dataset x pool x method (means over seeds) and the issue's targets.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

VARIANTS: dict[str, dict[str, Any]] = {
    "e2e-CEL": {},                                   # the library default
    "e2e-CEL mean": {"aggregation": "mean"},         # the paper's average of the k selected
    "e2e-CEL stacked": {"aggregation": "stacked"},
    "e2e-CEL k=auto": {"k": "auto"},
    "e2e-CEL both": {"features": "both"},            # sees all predictions: runs every member
    "e2e-CEL perturbed": {"method": "perturbed", "aggregation": "mean"},
}


def selector_configs(names: Sequence[str] = ("e2e-CEL",)) -> dict[str, dict[str, Any]]:
    """The e2e-CEL variants measured (see `VARIANTS`)."""
    return {name: VARIANTS[name] for name in names}


def load_or_make(dataset: str, pool: str, seed: int, cache: Path | None,
                 max_rows: int | None) -> tuple[Any, Any]:
    """Selection and test tables, kept in ``cache`` (`ensel.protocol.cached_tables`)."""
    from ensel.protocol import cached_tables

    return cached_tables(dataset, pool, seed, cache, max_rows)


def run_deslib(name: str, sel: Any, test: Any) -> dict[str, float]:
    """DESlib's method on the same pool: members answer from the saved predictions."""
    from ensel import metrics
    from ensel._sklearn_compat import patch_deslib, table_members

    patch_deslib()
    from deslib.des import KNORAE, METADES

    cls = {"DESlib KNORA-E": KNORAE, "DESlib META-DES": METADES}[name]
    pool = table_members(sel, test)
    model = cls(pool_classifiers=pool, k=7, random_state=0)
    start = time.perf_counter()
    model.fit(sel.X, sel.y_labels)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    proba = model.predict_proba(test.X)
    predict_s = time.perf_counter() - start
    y = np.asarray(test.y)
    best = max(metrics.accuracy_score(y, test.P[:, m]) for m in range(test.n_members))
    oracle = metrics.oracle_accuracy(test.P, y)
    accuracy = metrics.accuracy_score(y, proba)
    return {"accuracy": accuracy, "log_loss": metrics.log_loss(y, proba),
            "gap_closed": metrics.gap_closed(accuracy, best, oracle),
            "oracle_accuracy": oracle, "best_single": best,
            "members_per_input": float(test.n_members), "fit_seconds": fit_s,
            "predict_seconds": predict_s}


def run(datasets: Sequence[str], pools: Sequence[str], seeds: Sequence[int], *,
        cache: Path | None, max_rows: int | None, deslib: bool,
        methods: Sequence[str] | None = None,
        variants: Sequence[str] = ("e2e-CEL",)) -> list[dict[str, Any]]:
    from ensel.combine import get_combiner
    from ensel.combine.learned import DifferentiableSelector
    from ensel.evaluation import evaluate_combiner

    baselines = {"best single": "best-single", "average": "average", "stacking": "stacking",
                 "KNORA-E": "knora-e", "META-DES": "meta-des"}
    records = []
    for dataset in datasets:
        for pool in pools:
            for seed in seeds:
                start = time.perf_counter()
                sel, test = load_or_make(dataset, pool, seed, cache, max_rows)
                print(f"# {dataset}/{pool}/seed {seed}: tables in "
                      f"{time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
                runs: dict[str, Any] = {}
                for label, name in baselines.items():
                    runs[label] = lambda name=name, sel=sel, test=test: evaluate_combiner(
                        get_combiner(name)(), sel, test)
                for label, params in selector_configs(variants).items():
                    runs[label] = lambda params=params, seed=seed, sel=sel, test=test: (
                        evaluate_combiner(DifferentiableSelector(random_state=seed, **params),
                                          sel, test))
                if deslib:
                    for label in ("DESlib KNORA-E", "DESlib META-DES"):
                        runs[label] = lambda label=label, sel=sel, test=test: run_deslib(
                            label, sel, test)
                for label, fn in runs.items():
                    if methods and label not in methods:
                        continue
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        record = fn()
                    record.update(dataset=dataset, pool=pool, seed=seed, method=label)
                    records.append(record)
                    print(f"  {label:18s} acc {record['accuracy']:.4f}  "
                          f"nll {record['log_loss']:.3f}  fit {record['fit_seconds']:.1f}s",
                          file=sys.stderr, flush=True)
    return records


def summarise(records: list[dict[str, Any]]) -> str:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        groups[(r["dataset"], r["pool"], r["method"])].append(r)
    lines = ["| dataset | pool | method | accuracy | NLL | gap closed | members/input | "
             "fit s | predict s | seeds |", "|---|---|---|---|---|---|---|---|---|---|"]
    for (dataset, pool, method), rs in groups.items():
        mean = {k: float(np.mean([r[k] for r in rs])) for k in
                ("accuracy", "log_loss", "gap_closed", "members_per_input", "fit_seconds",
                 "predict_seconds")}
        lines.append(f"| {dataset} | {pool} | {method} | {mean['accuracy']:.4f} | "
                     f"{mean['log_loss']:.3f} | {mean['gap_closed']:.3f} | "
                     f"{mean['members_per_input']:.1f} | {mean['fit_seconds']:.2f} | "
                     f"{mean['predict_seconds']:.3f} | {len(rs)} |")
    return "\n".join(lines)


def targets(records: list[dict[str, Any]]) -> str:
    """The issue's targets, checked on the measured means."""
    acc: dict[tuple, list[float]] = defaultdict(list)
    gap: dict[tuple, list[float]] = defaultdict(list)
    nll: dict[tuple, list[float]] = defaultdict(list)
    for r in records:
        key = (r["dataset"], r["pool"], r["method"])
        acc[key].append(r["accuracy"])
        gap[key].append(r["gap_closed"])
        nll[key].append(r["log_loss"])
    m = {k: float(np.mean(v)) for k, v in acc.items()}
    g = {k: float(np.mean(v)) for k, v in gap.items()}
    n = {k: float(np.mean(v)) for k, v in nll.items()}
    lines = []
    datasets = sorted({k[0] for k in m})
    for d in datasets:
        sp = (d, "specialists")
        if (*sp, "e2e-CEL") in m:
            peers = [p for p in ("stacking", "DESlib META-DES", "DESlib KNORA-E", "META-DES",
                                 "KNORA-E") if (*sp, p) in m]
            beats = all(m[(*sp, "e2e-CEL")] > m[(*sp, p)] for p in peers)
            lines.append(f"{d}/specialists: e2e-CEL {m[(*sp, 'e2e-CEL')]:.4f} beats "
                         f"{', '.join(peers)}: {beats}; NLL {n[(*sp, 'e2e-CEL')]:.3f} vs "
                         f"stacking {n.get((*sp, 'stacking'), float('nan')):.3f}")
        nat = (d, "natural")
        if (*nat, "e2e-CEL") in m and (*nat, "stacking") in m:
            diff = m[(*nat, "e2e-CEL")] - m[(*nat, "stacking")]
            lines.append(f"{d}/natural: e2e-CEL - stacking = {100 * diff:+.2f} points "
                         f"(target >= -0.20): {diff >= -0.002}")
    gaps = [g[(d, "specialists", "e2e-CEL")] for d in datasets
            if (d, "specialists", "e2e-CEL") in g]
    if gaps:
        lines.append(f"mean gap closed on specialists: {np.mean(gaps):.3f} (target >= 0.85)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["digits", "pendigits", "letter"])
    parser.add_argument("--pools", nargs="+", default=["specialists", "natural"])
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1")
    parser.add_argument("--max-rows", type=int, default=None, help="subsample (smoke runs)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="folder to keep prediction tables between runs")
    parser.add_argument("--methods", nargs="+", default=None, help="only these methods")
    parser.add_argument("--variants", nargs="+", default=["e2e-CEL"], choices=list(VARIANTS),
                        help="e2e-CEL configurations to run")
    parser.add_argument("--no-deslib", action="store_true", help="skip DESlib's methods")
    parser.add_argument("--json", type=Path, default=None, help="write all records here")
    args = parser.parse_args(argv)
    deslib = not args.no_deslib
    if deslib:
        try:
            import deslib  # noqa: F401
        except ImportError:
            print("DESlib not installed: its methods are skipped (pip install ensel[peers])",
                  file=sys.stderr)
            deslib = False
    import torch

    torch.set_num_threads(1)
    records = run(args.datasets, args.pools, list(range(args.seeds)), cache=args.cache,
                  max_rows=args.max_rows, deslib=deslib, methods=args.methods,
                  variants=args.variants)
    print(summarise(records))
    print()
    print(targets(records))
    if args.json:
        args.json.write_text(json.dumps(records, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
