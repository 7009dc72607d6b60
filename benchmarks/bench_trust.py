"""Trust: abstention with a guarantee, consistent predictions, distillation (issue 13).

Four parts, on the benchmark protocol of docs/benchmark.md (50/25/25 split, pools fitted on
base-train, combiners on the selection split, everything scored on test):

- ``coverage``: for stacking, the best single member and e2e-CEL, the area under the
  risk-coverage curve (AURC, E-AURC) and the coverage at risk 5 % and 2 %: empirical on the
  test rows, and certified by `SelectivePredictor` (δ = 0.1) calibrated on one half of the test
  rows and measured on the other half.
- ``guarantee``: on one dataset x pool (letter / natural), 100 random calibration/test halves
  of the test rows at α = 0.02, δ = 0.1: the share of splits whose test selective risk exceeds
  α (must be <= 10 %), and the coverage.
- ``consistency``: two independent ensembles of M MLPs (different seeds, same data) on digits
  and letter; `SelectiveVote` at α in {0.05, 0.01} against plain plurality voting: the share of
  test rows where the two ensembles' answers contradict each other, and abstention.
- ``distill``: on letter / natural, one student (the default MLP; 100 extra trees) distilled
  from stacking on the base-train and selection rows (no labels); accuracy, NLL and predict
  time against the best single member and stacking (which runs all ten members).

    python benchmarks/bench_trust.py                  # everything: seeds 0-2 (about an hour)
    python benchmarks/bench_trust.py --parts consistency --seeds 1
    python benchmarks/bench_trust.py --datasets digits --pools natural --seeds 1 \\
        --max-rows 400 --splits 5 --members 5 --selector-epochs 3     # smoke
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

PARTS = ("coverage", "guarantee", "consistency", "distill")
METHODS = ("stacking", "best single", "e2e-cel")
RISKS = (0.05, 0.02)


def load_or_make(dataset: str, pool: str, seed: int, cache: Path | None,
                 max_rows: int | None) -> tuple[Any, Any]:
    """Selection and test tables, kept in ``cache`` (`ensel.protocol.cached_tables`)."""
    from ensel.protocol import cached_tables

    return cached_tables(dataset, pool, seed, cache, max_rows)


def fit_combiners(sel: Any, seed: int, epochs: int | None,
                  methods: Sequence[str] = METHODS) -> dict[str, Any]:
    """Stacking, the best single member and e2e-CEL (those in ``methods``), fitted on ``sel``."""
    from ensel.combine import BestSingle, Stacking

    def selector() -> Any:
        from ensel.combine.learned import DifferentiableSelector

        options = {} if epochs is None else {"max_epochs": epochs}
        return DifferentiableSelector(random_state=seed, **options)

    makers = {"stacking": Stacking, "best single": BestSingle, "e2e-cel": selector}
    return {name: makers[name]().fit(sel) for name in methods}


def coverage_rows(models: dict[str, Any], test: Any, seed: int) -> list[dict[str, Any]]:
    """AURC and coverage at each risk of `RISKS`: empirical and certified (halves of test)."""
    from ensel.metrics import (
        aurc_loss,
        coverage_at_risk_score,
        coverage_score,
        excess_aurc_loss,
        selective_error,
    )
    from ensel.selective import SelectivePredictor

    rows = np.random.default_rng(seed).permutation(test.n_samples)
    cal, held = test[np.sort(rows[: len(rows) // 2])], test[np.sort(rows[len(rows) // 2:])]
    out = []
    for name, model in models.items():
        proba = model.predict_proba(test)
        record = {"method": name, "accuracy": float(np.mean(proba.argmax(1) == test.y)),
                  "aurc": aurc_loss(test.y, proba), "eaurc": excess_aurc_loss(test.y, proba)}
        for risk in RISKS:
            record[f"cov@{risk:g}"] = coverage_at_risk_score(test.y, proba, risk=risk)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                sp = SelectivePredictor(model, target_risk=risk, delta=0.1).fit(cal)
            answer = sp.predict(held)
            record[f"cert@{risk:g}"] = coverage_score(answer)
            record[f"risk@{risk:g}"] = selective_error(held.y_labels, answer)
        out.append(record)
    return out


def guarantee_rows(models: dict[str, Any], test: Any, seed: int, n_splits: int, *,
                   alpha: float = 0.02, delta: float = 0.1) -> list[dict[str, Any]]:
    """``n_splits`` random calibration/test halves: selective risk and coverage per split."""
    from ensel.metrics import coverage_score, selective_error
    from ensel.selective import SelectivePredictor

    rng = np.random.default_rng(1000 + seed)
    out = []
    for split in range(n_splits):
        rows = rng.permutation(test.n_samples)
        cal, held = test[np.sort(rows[: len(rows) // 2])], test[np.sort(rows[len(rows) // 2:])]
        for name, model in models.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                sp = SelectivePredictor(model, target_risk=alpha, delta=delta).fit(cal)
            answer = sp.predict(held)
            out.append({"method": name, "split": split, "seed": seed,
                        "risk": selective_error(held.y_labels, answer),
                        "coverage": coverage_score(answer), "alpha": alpha})
    return out


def mlp_ensembles(dataset: str, seed: int, n_members: int,
                  max_rows: int | None) -> tuple[list[Any], list[Any], Any, np.ndarray]:
    """Two independent ensembles of ``n_members`` MLPs (seeds differ) on one base-train split.

    Members are the natural pool's MLP, ``MLPClassifier((64,), max_iter=300)``: the same data,
    a different seed (initialisation and batch order) for each.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    from ensel.datasets import load_dataset
    from ensel.protocol import split_protocol

    X, y = load_dataset(dataset)
    if max_rows is not None and max_rows < len(y):
        from sklearn.model_selection import train_test_split

        X, _, y, _ = train_test_split(X, y, train_size=max_rows, stratify=y, random_state=seed)
    split = split_protocol(X, y, random_state=seed)
    ensembles = []
    for offset in (0, 10_000):
        members = []
        for i in range(n_members):
            model = MLPClassifier((64,), max_iter=300, random_state=seed * 100_000 + offset + i)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                members.append((f"mlp{i}", model.fit(split.X_base, split.y_base)))
        ensembles.append(members)
    return ensembles[0], ensembles[1], split.X_test, split.y_test


def consistency_rows(dataset: str, seed: int, sizes: Sequence[int],
                     max_rows: int | None) -> list[dict[str, Any]]:
    """Inconsistency and abstention of two seeded ensembles for each M and α, and plain vote."""
    from ensel import PredictionTable
    from ensel.metrics import coverage_score, inconsistency_error, selective_error
    from ensel.selective import SelectiveVote

    first, second, X, y = mlp_ensembles(dataset, seed, max(sizes), max_rows)
    out = []
    for m in sizes:
        a = PredictionTable.from_estimators(first[:m], X, y)
        b = PredictionTable.from_estimators(second[:m], X, y)
        for alpha in (None, 0.05, 0.01):
            if alpha is None:                         # plain plurality voting: never abstains
                pa = np.ma.MaskedArray(_plurality(a), mask=np.zeros(len(y), bool))
                pb = np.ma.MaskedArray(_plurality(b), mask=np.zeros(len(y), bool))
            else:
                pa = SelectiveVote(alpha=alpha).fit(a).predict(a)
                pb = SelectiveVote(alpha=alpha).fit(b).predict(b)
            out.append({"dataset": dataset, "seed": seed, "M": m,
                        "alpha": "vote" if alpha is None else alpha,
                        "inconsistent": inconsistency_error(pa, pb),
                        "abstain": 1 - (coverage_score(pa) + coverage_score(pb)) / 2,
                        "risk": (selective_error(y, pa) + selective_error(y, pb)) / 2})
    return out


def _plurality(table: Any) -> np.ndarray:
    from ensel.selective import vote_test

    return table.classes[vote_test(table.P, alpha=0.5)["label"]]


def _seconds(fn: Any, repeats: int = 3) -> float:
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return float(best)


def distill_tables(dataset: str, seed: int, max_rows: int | None,
                   cache: Path | None) -> tuple[Any, Any, Any, list | None, np.ndarray]:
    """Selection, test and base-train tables of the natural pool, its members (None when the
    tables come from ``cache``) and the test inputs."""
    from ensel import PredictionTable
    from ensel.datasets import load_dataset
    from ensel.protocol import natural_pool, split_protocol

    where = None if cache is None else cache / f"{dataset}-natural-{seed}-{max_rows or 'all'}"
    if where is not None and (where / "base" / "table.json").is_file():
        sel, test, base = (PredictionTable.load(where / n, mmap=False)
                           for n in ("sel", "test", "base"))
        return sel, test, base, None, np.asarray(test.X)
    X, y = load_dataset(dataset)
    if max_rows is not None and max_rows < len(y):
        from sklearn.model_selection import train_test_split

        X, _, y, _ = train_test_split(X, y, train_size=max_rows, stratify=y, random_state=seed)
    s = split_protocol(X, y, random_state=seed)
    members = natural_pool(s.X_base, s.y_base, random_state=seed)
    tables = [PredictionTable.from_estimators(members, Xp, yp) for Xp, yp in
              ((s.X_sel, s.y_sel), (s.X_test, s.y_test), (s.X_base, s.y_base))]
    if where is not None:
        for name, table in zip(("sel", "test", "base"), tables, strict=True):
            if not (where / name).exists():
                table.save(where / name)
    return (*tables, members, s.X_test)


def make_student(name: str, seed: int) -> Any:
    """``"mlp"``: the library's default student; ``"extra-trees"``: 100 extremely randomised
    trees (the pool's best member has 30); ``"hgb"``: histogram gradient boosting."""
    from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier

    from ensel.distill import default_student

    if name == "mlp":
        return default_student(seed)
    if name == "extra-trees":
        return ExtraTreesClassifier(100, random_state=seed)
    return HistGradientBoostingClassifier(random_state=seed)


def distill_rows(dataset: str, seed: int, max_rows: int | None, cache: Path | None = None,
                 students: Sequence[str] = ("mlp",)) -> list[dict[str, Any]]:
    """Stacking, the best single member and students distilled from stacking.

    Each student learns from the base-train and selection rows (no labels). Predict times are
    on the test rows; stacking's includes running its members (NaN when the tables come from
    the cache, without the fitted members).
    """
    from ensel import PredictionTable
    from ensel.combine import BestSingle, Stacking
    from ensel.distill import distill
    from ensel.metrics import gap_closed, log_loss

    sel, test, base, members, X_test = distill_tables(dataset, seed, max_rows, cache)
    teacher, best = Stacking().fit(sel), BestSingle().fit(sel)
    transfer = PredictionTable.from_arrays(
        np.concatenate([base.P, sel.P]), X=np.concatenate([base.X, sel.X]),
        members=sel.members, classes=sel.classes)
    probas = {"stacking": teacher.predict_proba(test), "best single": best.predict_proba(test)}
    seconds = {"stacking": float("nan"), "best single": float("nan")}
    fit_seconds = {}
    for name in students:
        start = time.perf_counter()
        student = distill(teacher, transfer, student=make_student(name, seed))
        fit_seconds[f"student {name}"] = time.perf_counter() - start
        probas[f"student {name}"] = _aligned(student, X_test, sel.classes)
        seconds[f"student {name}"] = _seconds(lambda s=student: s.predict_proba(X_test))
    if members is not None:
        seconds["stacking"] = _seconds(lambda: teacher.predict_proba(
            PredictionTable.from_estimators(members, X_test)))
        seconds["best single"] = _seconds(lambda: members[best.best_][1].predict_proba(X_test))
    acc = {n: float(np.mean(p.argmax(1) == test.y)) for n, p in probas.items()}
    return [{"method": n, "seed": seed, "accuracy": acc[n], "nll": log_loss(test.y, p),
             "predict_ms": 1e3 * seconds[n],
             "agreement": float(np.mean(p.argmax(1) == probas["stacking"].argmax(1))),
             "gap_closed": gap_closed(acc[n], acc["best single"], acc["stacking"]),
             "fit_s": fit_seconds.get(n, float("nan"))}
            for n, p in probas.items()]


def _aligned(student: Any, X: np.ndarray, classes: np.ndarray) -> np.ndarray:
    proba = np.full((len(X), len(classes)), 1e-12)
    index = {c: i for i, c in enumerate(classes.tolist())}
    proba[:, [index[c] for c in student.classes_.tolist()]] = student.predict_proba(X)
    return proba / proba.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------------------- printing
def _mean_table(records: list[dict[str, Any]], keys: Sequence[str], columns: Sequence[str],
                fmt: str = "{:>11.4f}") -> list[str]:
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[tuple(r[k] for k in keys)].append(r)
    width = max([14, *(len(str(k)) for key in groups for k in key)])
    lines = ["  ".join(f"{k:<{width}}" for k in keys) + "".join(f"{c:>12}" for c in columns)
             + f"{'seeds':>7}"]
    for key, rows in groups.items():
        with warnings.catch_warnings():             # an all-NaN column prints nan
            warnings.simplefilter("ignore", RuntimeWarning)
            values = [np.nanmean([r[c] for r in rows]) for c in columns]
        lines.append("  ".join(f"{str(k):<{width}}" for k in key)
                     + "".join(" " + fmt.format(v) for v in values) + f"{len(rows):>7}")
    return lines


def report(results: dict[str, list[dict[str, Any]]]) -> str:
    """The tables of every part that ran, means over seeds."""
    out = []
    if results.get("coverage"):
        out += ["", "## coverage at risk (test; cert = SelectivePredictor, delta 0.1, "
                "calibrated on one half, measured on the other)"]
        out += _mean_table(results["coverage"], ("dataset", "pool", "method"),
                           ("accuracy", "aurc", "eaurc", "cov@0.05", "cert@0.05", "risk@0.05",
                            "cov@0.02", "cert@0.02", "risk@0.02"))
    if results.get("guarantee"):
        out += ["", "## guarantee: alpha 0.02, delta 0.1, random calibration/test halves"]
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in results["guarantee"]:
            groups[r["method"]].append(r)
        out.append(f"{'method':<14}{'splits':>8}{'violations':>12}{'mean risk':>11}"
                   f"{'coverage':>10}{'min cov':>9}")
        for name, rows in groups.items():
            risk = np.array([r["risk"] for r in rows])
            cov = np.array([r["coverage"] for r in rows])
            out.append(f"{name:<14}{len(rows):>8}{np.mean(risk > rows[0]['alpha']):>12.3f}"
                       f"{risk.mean():>11.4f}{cov.mean():>10.4f}{cov.min():>9.4f}")
    if results.get("consistency"):
        out += ["", "## consistency: two independent MLP ensembles (share of test rows)"]
        out += _mean_table(results["consistency"], ("dataset", "M", "alpha"),
                           ("inconsistent", "abstain", "risk"))
    if results.get("distill"):
        out += ["", "## distillation into one student (letter / natural unless --distill-datasets)"]
        out += _mean_table(results["distill"], ("dataset", "method"),
                           ("accuracy", "nll", "predict_ms", "agreement", "gap_closed", "fit_s"))
    return "\n".join(out)


def write_json(path: Path | None, results: dict[str, list[dict[str, Any]]]) -> None:
    """All records so far, written atomically (a temporary sibling renamed into place)."""
    if path is None:
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(results, indent=1, default=float))
    tmp.replace(path)


def run(args: argparse.Namespace) -> dict[str, list[dict[str, Any]]]:
    """Every requested part; returns the records per part (``--json`` is rewritten as they
    come, so an interrupted run keeps what it measured)."""
    results: dict[str, list[dict[str, Any]]] = defaultdict(list)
    guarantee_on = (args.guarantee_dataset, args.guarantee_pool)
    for seed in args.seeds:
        for dataset in args.datasets:
            for pool in args.pools:
                want_cov = "coverage" in args.parts
                want_guarantee = "guarantee" in args.parts and (dataset, pool) == guarantee_on
                if not (want_cov or want_guarantee):
                    continue
                sel, test = load_or_make(dataset, pool, seed, args.cache, args.max_rows)
                models = fit_combiners(sel, seed, args.selector_epochs, args.methods)
                tag = {"dataset": dataset, "pool": pool, "seed": seed}
                if want_cov:
                    results["coverage"] += [{**tag, **r} for r in coverage_rows(models, test, seed)]
                if want_guarantee:
                    results["guarantee"] += guarantee_rows(models, test, seed, args.splits)
                write_json(args.json, results)
                print(f"# {dataset}/{pool} seed {seed} done", file=sys.stderr, flush=True)
        if "consistency" in args.parts:
            for dataset in args.consistency_datasets:
                results["consistency"] += consistency_rows(dataset, seed, args.members,
                                                           args.max_rows)
                write_json(args.json, results)
        if "distill" in args.parts:
            for dataset in args.distill_datasets:
                results["distill"] += [{"dataset": dataset, **r}
                                       for r in distill_rows(dataset, seed, args.max_rows,
                                                             args.cache, args.students)]
                write_json(args.json, results)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    parser.add_argument("--datasets", nargs="+", default=["digits", "pendigits", "letter"])
    parser.add_argument("--pools", nargs="+", default=["specialists", "natural"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max-rows", type=int, default=None, help="subsample (smoke runs)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS,
                        help="combiners of the coverage and guarantee parts")
    parser.add_argument("--cache", type=Path, default=None,
                        help="folder of cached tables (DATASET-POOL-SEED-ROWS/{sel,test,base})")
    parser.add_argument("--splits", type=int, default=100, help="calibration/test splits")
    parser.add_argument("--guarantee-dataset", default="letter")
    parser.add_argument("--guarantee-pool", default="natural")
    parser.add_argument("--members", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--consistency-datasets", nargs="+", default=["digits", "letter"])
    parser.add_argument("--distill-datasets", nargs="+", default=["letter"])
    parser.add_argument("--students", nargs="+", default=["mlp", "extra-trees"],
                        choices=["mlp", "extra-trees", "hgb"])
    parser.add_argument("--selector-epochs", type=int, default=None,
                        help="max_epochs of e2e-CEL (default: the library's)")
    parser.add_argument("--json", type=Path, default=None, help="write all records here")
    parser.add_argument("--tables-from", type=Path, nargs="+", default=None,
                        help="print the tables of earlier --json files (merged) and stop")
    args = parser.parse_args(argv)
    if args.tables_from is not None:
        merged: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for path in args.tables_from:
            for part, records in json.loads(path.read_text()).items():
                merged[part] += records
        print(report(merged))
        return 0
    if args.splits < 1 or min(args.members) < 1:
        parser.error("--splits and --members must be >= 1")
    start = time.perf_counter()
    results = run(args)
    print(report(results))
    print(f"\n(wall {time.perf_counter() - start:.0f} s)")
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
