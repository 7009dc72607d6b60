"""Prediction-table building throughput: the local engine against Ray, at growing N.

A pool of five scikit-learn classifiers (logistic regression, Gaussian NB, a decision tree, a
random forest of 30 trees, an MLP with 64 units), fitted on 2,000 synthetic rows, predicts N
new rows; `ensel.scale.collect_predictions` writes the memory-mapped table to disk with each
engine in turn, in the same run, and the table prints rows per second for both and the ratio
Ray / local (> 1: Ray is faster). "identical" checks that both tables are equal to the bit.

The Ray engine pays a fixed cost on every call (Ray Data planning, one actor per member
started and loading its model), so it only wins when N x (cost per row) outweighs it and the
cluster has more cores than this process can use. Without ``--address`` a local cluster is
started with ``--num-cpus`` logical CPUs (default: all of this machine's).

Run::

    python benchmarks/bench_scale.py                            # 10k, 50k, 200k rows
    python benchmarks/bench_scale.py --sizes 1000000 --address auto   # on a running cluster
    python benchmarks/bench_scale.py --sizes 300,600 --members 2      # smoke
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

MEMBERS = ("logreg", "nb", "tree", "forest", "mlp")


def make_pool(n_members: int, n_features: int, n_classes: int, seed: int) -> list[tuple[str, Any]]:
    """The first ``n_members`` of five scikit-learn classifiers, fitted on 2,000 rows."""
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neural_network import MLPClassifier
    from sklearn.tree import DecisionTreeClassifier

    X, y = make_classification(n_samples=2000, n_features=n_features, n_informative=10,
                               n_classes=n_classes, random_state=seed)
    models = {
        "logreg": LogisticRegression(max_iter=500),
        "nb": GaussianNB(),
        "tree": DecisionTreeClassifier(max_depth=12, random_state=seed),
        "forest": RandomForestClassifier(n_estimators=30, random_state=seed),
        "mlp": MLPClassifier((64,), max_iter=200, random_state=seed),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [(name, models[name].fit(X, y)) for name in MEMBERS[:n_members]]


def _timed_collect(pool: list, X: np.ndarray, engine: str, out: Path,
                   batch_size: int) -> tuple[Any, float]:
    from ensel.scale import collect_predictions

    start = time.perf_counter()
    table = collect_predictions(pool, X, engine=engine, batch_size=batch_size, out=out,
                                task="classification")
    return table, time.perf_counter() - start


def run(sizes: Sequence[int], *, n_members: int, n_features: int, n_classes: int,
        batch_size: int, seed: int, workdir: Path) -> list[dict[str, Any]]:
    """One record per N: seconds and rows per second of each engine, ratio, identical."""
    pool = make_pool(n_members, n_features, n_classes, seed)
    rng = np.random.default_rng(seed)
    rows = []
    for n in sizes:
        X = rng.normal(size=(n, n_features))
        local, local_s = _timed_collect(pool, X, "local", workdir / f"local-{n}", batch_size)
        remote, ray_s = _timed_collect(pool, X, "ray", workdir / f"ray-{n}", batch_size)
        identical = bool(np.array_equal(np.asarray(local.P), np.asarray(remote.P)))
        # rows per extra second over the previous N: Ray's rate once its start-up is paid
        marginal = None
        if rows and n > rows[-1]["rows"] and ray_s > rows[-1]["ray_s"]:
            marginal = (n - rows[-1]["rows"]) / (ray_s - rows[-1]["ray_s"])
        rows.append({"rows": n, "local_s": local_s, "local_rps": n / local_s,
                     "ray_s": ray_s, "ray_rps": n / ray_s, "ray_marginal_rps": marginal,
                     "ratio": local_s / ray_s, "identical": identical})
        del local, remote
        shutil.rmtree(workdir / f"local-{n}", ignore_errors=True)
        shutil.rmtree(workdir / f"ray-{n}", ignore_errors=True)
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """A markdown table of `run`'s records."""
    lines = [("| rows | local s | local rows/s | Ray s | Ray rows/s | Ray marginal rows/s "
             "| Ray / local | identical |"),
             "|---:|---:|---:|---:|---:|---:|---:|:---:|"]
    for r in rows:
        marginal = "" if r["ray_marginal_rps"] is None else f"{r['ray_marginal_rps']:,.0f}"
        lines.append(f"| {r['rows']:,} | {r['local_s']:.2f} | {r['local_rps']:,.0f} | "
                     f"{r['ray_s']:.2f} | {r['ray_rps']:,.0f} | {marginal} | {r['ratio']:.2f} | "
                     f"{'yes' if r['identical'] else 'NO'} |")
    return "\n".join(lines)


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--sizes must be comma-separated ints; got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"--sizes must be positive ints; got {text!r}")
    return sizes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=_sizes, default=[10_000, 50_000, 200_000],
                        help="comma-separated numbers of rows (default 10000,50000,200000)")
    parser.add_argument("--members", type=int, default=5, choices=range(1, len(MEMBERS) + 1),
                        metavar="M", help="pool size, 1..5 (default 5)")
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--address", default=None,
                        help="Ray cluster to join (e.g. 'auto'); default: start a local one")
    parser.add_argument("--num-cpus", type=int, default=None,
                        help="logical CPUs of the local cluster (default: all)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the tables are written (default: a temporary directory)")
    args = parser.parse_args(argv)

    from ensel.scale import require_ray

    ray = require_ray("benchmarks/bench_scale.py")
    started = not ray.is_initialized()
    if started:
        if args.address:
            ray.init(address=args.address, log_to_driver=False)
        else:
            ray.init(address="local", num_cpus=args.num_cpus, include_dashboard=False,
                     log_to_driver=False)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ensel-bench-scale-"))
    try:
        cpus = int(ray.cluster_resources().get("CPU", 0))
        nodes = len([n for n in ray.nodes() if n.get("Alive")])
        print(f"## Table building: local vs Ray ({args.members} sklearn members, "
              f"{args.features} features, {args.classes} classes, batch {args.batch_size})")
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; Ray {ray.__version__}: "
              f"{nodes} node(s), {cpus} CPUs; load average before: "
              f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}")
        print()
        rows = run(args.sizes, n_members=args.members, n_features=args.features,
                   n_classes=args.classes, batch_size=args.batch_size, seed=args.seed,
                   workdir=workdir)
        print(format_table(rows))
        print()
        print("Ray / local = local seconds / Ray seconds (> 1: Ray is faster). Both write the "
              "same memory-mapped table to disk; Ray's time includes starting one actor per "
              "member on every call. Ray marginal rows/s = extra rows / extra seconds over the "
              "previous N: Ray's throughput once that start-up is paid.")
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
        if started:
            ray.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
