"""Every ensel combiner side by side, and DESlib's own implementations in the same run.

Protocol (docs/benchmark.md): 50/25/25 split, members fitted on base-train, every combiner fitted on
the selection table, scored on the test table. For each pool and seed this prints every
registered combiner's test accuracy, NLL (probabilities clipped at 1e-15, so hard votes get a
large finite loss), fit and predict seconds and members used per input; then DESlib 0.3.7's
KNORA-E, KNORA-U, META-DES, OLA and LCA fitted as DESlib expects (the fitted pool and
``fit(X_sel, y_sel)``), with the predict-time ratio DESlib / ensel twice:

- *members run*: DESlib's ``predict`` calls the members, as it must in normal use;
- *saved predictions*: DESlib gets members that look their answers up in the tables
  (`ensel._sklearn_compat.TableMember`), so both sides do selection work only.

ensel's predict time never includes member inference: it works on the saved predictions. The
members' inference time on the test split is printed per pool for reference.

Run::

    python benchmarks/bench_peers.py                      # letter, both pools, seed 0
    python benchmarks/bench_peers.py --seeds 0,1,2
    python benchmarks/bench_peers.py --dataset digits --max-rows 300   # smoke
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

PEERS = ("knora-e", "knora-u", "meta-des", "ola", "lca")


def _timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[Any, float]:
    """Result of ``fn()`` and its best wall time over ``repeat`` calls."""
    best, out = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return out, best


def _nll(proba: np.ndarray, y: np.ndarray) -> float:
    from ensel.combine.rules import log_loss

    return log_loss(np.asarray(proba, dtype=np.float64), np.asarray(y))


def _deslib_classes() -> dict[str, type]:
    from ensel._sklearn_compat import patch_deslib

    patch_deslib()
    from deslib.dcs import LCA, OLA
    from deslib.des import KNORAE, KNORAU, METADES

    return {"knora-e": KNORAE, "knora-u": KNORAU, "meta-des": METADES, "ola": OLA, "lca": LCA}


def run_one(dataset: str, pool: str, seed: int, *, max_rows: int | None,
            combiners: Sequence[str], deslib: bool, repeat: int) -> dict[str, Any]:
    """Scores of every combiner (and DESlib) on one dataset × pool × seed."""
    from ensel import PredictionTable
    from ensel._sklearn_compat import table_members
    from ensel.combine import COMBINERS
    from ensel.protocol import make_tables

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (sel, test, members), build_s = _timed(
            lambda: make_tables(dataset, pool, seed=seed, max_rows=max_rows))
    _, inference_s = _timed(lambda: PredictionTable.from_estimators(members, test.X))
    y_test = test.y
    rows: dict[str, dict[str, float]] = {}
    ensel_pred: dict[str, np.ndarray] = {}
    skipped: dict[str, str] = {}
    for name in combiners:
        try:
            cls = COMBINERS[name]
        except ImportError as exc:
            skipped[name] = str(exc).splitlines()[0]
            continue
        est = cls()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, fit_s = _timed(lambda est=est: est.fit(sel))
            pred, predict_s = _timed(lambda est=est: est.predict(test), repeat)
            proba = est.predict_proba(test)
            used = (est.select(test) > 0).sum(axis=1).mean()
        ensel_pred[name] = pred
        rows[name] = {"accuracy": float(np.mean(pred == test.y_labels)),
                      "nll": _nll(proba, y_test), "fit_s": fit_s, "predict_s": predict_s,
                      "members": float(used)}
    peers: dict[str, dict[str, float]] = {}
    if deslib:
        classes = _deslib_classes()
        pool_est = [est for _, est in members]
        saved = table_members(sel, test)
        for name in PEERS:
            if name not in ensel_pred:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                live = classes[name](pool_est)
                _, fit_s = _timed(lambda live=live: live.fit(sel.X, sel.y_labels))
                pred, live_s = _timed(lambda live=live: live.predict(test.X), repeat)
                proba = live.predict_proba(test.X)
                cached = classes[name](saved).fit(sel.X, sel.y_labels)
                cached_pred, cached_s = _timed(lambda cached=cached: cached.predict(test.X),
                                                repeat)
            peers[name] = {
                "accuracy": float(np.mean(pred == test.y_labels)),
                "nll": _nll(np.nan_to_num(proba, nan=1.0 / test.n_classes), y_test),
                "agree": float(np.mean(pred == ensel_pred[name])),
                "agree_saved": float(np.mean(cached_pred == ensel_pred[name])),
                "fit_s": fit_s, "predict_s": live_s, "predict_saved_s": cached_s}
    return {"rows": rows, "peers": peers, "skipped": skipped, "build_s": build_s,
            "inference_s": inference_s, "n_sel": sel.n_samples, "n_test": test.n_samples,
            "n_members": sel.n_members}


def _mean(results: list[dict[str, Any]], part: str) -> dict[str, dict[str, float]]:
    acc: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for res in results:
        for name, values in res[part].items():
            for key, value in values.items():
                acc[name][key].append(value)
    return {name: {k: float(np.mean(v)) for k, v in values.items()}
            for name, values in acc.items()}


def _fmt_s(seconds: float) -> str:
    return f"{seconds:.4f}" if seconds < 0.1 else f"{seconds:.3f}" if seconds < 10 else \
        f"{seconds:.1f}"


def report(dataset: str, pool: str, results: list[dict[str, Any]],
           write: Callable[[str], Any] = print) -> None:
    """Print the two markdown tables of one dataset × pool (means over seeds)."""
    first = results[0]
    rows, peers = _mean(results, "rows"), _mean(results, "peers")
    seeds = len(results)
    write(f"\n### {dataset} / {pool} — {first['n_members']} members, selection "
          f"{first['n_sel']} rows, test {first['n_test']} rows, mean of {seeds} seed(s)")
    write(f"members' inference on the test split (not part of any ensel time below): "
          f"{_fmt_s(np.mean([r['inference_s'] for r in results]))} s\n")
    write("| combiner | accuracy | NLL | fit s | predict s | members/input |")
    write("|---|---|---|---|---|---|")
    for name, r in rows.items():
        write(f"| {name} | {r['accuracy']:.4f} | {r['nll']:.3f} | {_fmt_s(r['fit_s'])} | "
              f"{_fmt_s(r['predict_s'])} | {r['members']:.2f} |")
    for name, why in first["skipped"].items():
        write(f"| {name} | skipped: {why} | | | | |")
    if not peers:
        return
    write("\n| method | ensel acc | DESlib acc | same label | ensel predict s | "
          "DESlib predict s (members run) | × | DESlib predict s (saved predictions) | × |")
    write("|---|---|---|---|---|---|---|---|---|")
    for name, p in peers.items():
        ours = rows[name]
        write(f"| {name} | {ours['accuracy']:.4f} | {p['accuracy']:.4f} | {p['agree']:.4f} | "
              f"{_fmt_s(ours['predict_s'])} | {_fmt_s(p['predict_s'])} | "
              f"{p['predict_s'] / ours['predict_s']:.1f} | {_fmt_s(p['predict_saved_s'])} | "
              f"{p['predict_saved_s'] / ours['predict_s']:.1f} |")


def _set_torch_threads(n: int) -> int | None:
    """Give the torch-based combiners the same thread budget; returns the previous number."""
    try:
        import torch
    except ImportError:
        return None
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    return before


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns a process exit code."""
    from ensel.combine import COMBINERS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="letter")
    parser.add_argument("--pools", default="natural,specialists",
                        help="comma-separated: natural, specialists")
    parser.add_argument("--seeds", default="0", help="comma-separated ints")
    parser.add_argument("--max-rows", type=int, default=None,
                        help="subsample the dataset first (stratified), for smoke runs")
    parser.add_argument("--combiners", default=",".join(COMBINERS),
                        help="comma-separated registry names")
    parser.add_argument("--repeat", type=int, default=3,
                        help="predict timings are the best of this many calls")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS/OpenMP (threadpoolctl) and torch threads for the whole run; "
                             "1 gives stable timings for both libraries; 0 leaves the defaults")
    parser.add_argument("--no-deslib", action="store_true", help="skip the DESlib runs")
    args = parser.parse_args(argv)

    combiners = [c for c in args.combiners.split(",") if c]
    unknown = [c for c in combiners if c not in COMBINERS]
    if unknown:
        parser.error(f"unknown combiner(s) {unknown}; choose from {sorted(COMBINERS)}")
    deslib = not args.no_deslib
    if deslib:
        try:
            _deslib_classes()
        except ImportError as exc:
            print(f"DESlib not available ({exc}); running ensel only.", file=sys.stderr)
            deslib = False
    seeds = [int(s) for s in args.seeds.split(",") if s]
    print(f"bench_peers: dataset={args.dataset} pools={args.pools} seeds={seeds} "
          f"max_rows={args.max_rows} repeat={args.repeat} threads={args.threads or 'default'}")
    limits = threadpool_limits(args.threads) if args.threads else contextlib.nullcontext()
    torch_threads = _set_torch_threads(args.threads) if args.threads else None
    try:
        with limits:
            for pool in [p for p in args.pools.split(",") if p]:
                results = [run_one(args.dataset, pool, seed, max_rows=args.max_rows,
                                   combiners=combiners, deslib=deslib, repeat=args.repeat)
                           for seed in seeds]
                report(args.dataset, pool, results)
                sys.stdout.flush()
    finally:
        if torch_threads is not None:
            _set_torch_threads(torch_threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
