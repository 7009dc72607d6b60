"""Routing LLMs by outcome and cost on real RouterBench data (issue 12).

For each task (ARC-challenge, MBPP; the shipped train/test splits, 11 LLMs) the routers are
fitted on train and swept over the willingness-to-pay knob on test; every figure is on test.
Columns: AIQ (RouterBench: mean of the non-decreasing convex hull of the cost-quality points
over the single models' cost range), the share of the zero-router -> oracle AIQ gap closed,
the hull's quality at the best single model's cost, and the cost to match the best single
model (as a fraction of that model's cost). A missing outcome (ARC has 62 test cells) counts
as wrong (``missing="zero"``), for every router and for the single models alike. Features:
`ensel.text.PromptFeatures` (fitted on the train prompts). Random routers run seeds 0..S-1.

    python benchmarks/bench_routing.py                        # both tasks, seeds 0-2
    python benchmarks/bench_routing.py --scale-rows 10000     # + the 10,000-prompt timing
    python benchmarks/bench_routing.py --tasks mbpp --seeds 1 --max-rows 60 --epochs 3  # smoke
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

TASKS = ("arc_challenge", "mbpp")
ROUTERS = ("oracle", "zero router", "knn", "predictive", "ensel learned")


def load(task: str, max_rows: int | None) -> tuple[Any, Any]:
    """Train and test outcome tables with prompt features in X."""
    from ensel import PredictionTable
    from ensel.datasets import load_routerbench
    from ensel.text import PromptFeatures, featurize

    parts = [load_routerbench(task, split) for split in ("train", "test")]
    if max_rows is not None:
        parts = [(t[:max_rows], p[:max_rows]) for t, p in parts]
    (train, p_train), (test, p_test) = parts
    X_train, X_test = featurize(PromptFeatures(), p_train, p_test)
    return tuple(PredictionTable.from_outcomes(t.P, costs=t.costs, X=X, members=t.members)
                 for t, X in ((train, X_train), (test, X_test)))


def make_router(name: str, seed: int, epochs: int | None) -> Any:
    from ensel.combine.routing import (
        KNNRouter,
        LearnedRouter,
        MeanRouter,
        OracleRouter,
        PredictiveRouter,
    )

    if name == "ensel learned":
        return LearnedRouter(random_state=seed, **({} if epochs is None
                                                   else {"max_epochs": epochs}))
    return {"oracle": OracleRouter, "zero router": MeanRouter, "knn": KNNRouter,
            "predictive": PredictiveRouter}[name]()


def single_models(test: Any) -> dict[str, tuple[float, float]]:
    """Each model alone on test: (mean cost, quality with missing counted as wrong)."""
    Q = np.nan_to_num(np.asarray(test.P, dtype=np.float64), nan=0.0)
    C = test.cost_matrix()
    return {m: (float(C[:, j].mean()), float(Q[:, j].mean())) for j, m in enumerate(test.members)}


def score(curve: dict[str, np.ndarray], singles: dict[str, tuple[float, float]]
          ) -> dict[str, float]:
    from ensel.metrics import aiq_score, cost_to_match, quality_at_cost, zero_router_hull

    costs = np.array([c for c, _ in singles.values()])
    quals = np.array([q for _, q in singles.values()])
    best = int(np.argmax(quals))
    x, q = curve["cost"], curve["quality"]
    if "zero" in curve:                 # the zero router is the single models' hull itself
        x, q = zero_router_hull(costs, quals)
    return {"aiq": aiq_score(x, q, cost_range=(costs.min(), costs.max())),
            "q_at_best_cost": quality_at_cost(x, q, float(costs[best])),
            "cost_to_match_best": cost_to_match(x, q, float(quals[best])) / costs[best]}


def run_task(task: str, seeds: Sequence[int], max_rows: int | None, epochs: int | None
             ) -> list[dict[str, Any]]:
    from ensel.combine.routing import routing_curve

    train, test = load(task, max_rows)
    singles = single_models(test)
    records = []
    for name in ROUTERS:
        for seed in (seeds if name == "ensel learned" else seeds[:1]):
            start = time.perf_counter()
            router = make_router(name, seed, epochs).fit(train)
            curve = routing_curve(router, test, missing="zero")
            if name == "zero router":
                curve["zero"] = np.ones(1)
            records.append({"task": task, "router": name, "seed": seed,
                            "seconds": time.perf_counter() - start, **score(curve, singles)})
    return records


def summarise(records: list[dict[str, Any]], singles_by_task: dict[str, Any]) -> str:
    lines = []
    for task in dict.fromkeys(r["task"] for r in records):
        rows = [r for r in records if r["task"] == task]
        by = {n: [r for r in rows if r["router"] == n] for n in ROUTERS}
        zero, oracle = by["zero router"][0]["aiq"], by["oracle"][0]["aiq"]
        best = max(singles_by_task[task].items(), key=lambda kv: kv[1][1])
        lines += [f"## {task} (test; best single {best[0]}: quality {best[1][1]:.3f} at "
                  f"${1000 * best[1][0]:.2f} per 1000 prompts)", "",
                  "| router | AIQ | gap closed | quality at best's cost | cost to match best "
                  "| seconds |", "|---|---|---|---|---|---|"]
        for name, rs in by.items():
            aiq = np.array([r["aiq"] for r in rs])
            spread = f" ± {aiq.std():.4f}" if len(rs) > 1 else ""
            gap = (aiq.mean() - zero) / (oracle - zero) if oracle > zero else float("nan")
            q = np.mean([r["q_at_best_cost"] for r in rs])
            c = np.mean([r["cost_to_match_best"] for r in rs])
            secs = np.mean([r["seconds"] for r in rs])
            lines.append(f"| {name} | {aiq.mean():.4f}{spread} | {100 * gap:+.1f}% | {q:.3f} | "
                         f"{c:.2f} | {secs:.1f} |")
        lines.append("")
    return "\n".join(lines)


def scale_line(n_rows: int, epochs: int | None) -> str:
    """Features, fit and select of the learned router on ``n_rows`` prompts (tiled ARC)."""
    from ensel import PredictionTable
    from ensel.combine.routing import LearnedRouter
    from ensel.datasets import load_routerbench
    from ensel.text import PromptFeatures

    table, prompts = load_routerbench("arc_challenge", "train")
    idx = np.arange(n_rows) % table.n_samples
    start = time.perf_counter()
    X = PromptFeatures().fit_transform([prompts[i] for i in idx])
    big = PredictionTable.from_outcomes(table.P[idx], costs=table.costs[idx], X=X,
                                        members=table.members)
    router = LearnedRouter(**({} if epochs is None else {"max_epochs": epochs})).fit(big)
    router.select(big)
    return (f"scale: {n_rows} prompts x {table.n_members} models, features + fit + select in "
            f"{time.perf_counter() - start:.1f} s ({router.n_epochs_} epochs)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..S-1")
    parser.add_argument("--max-rows", type=int, default=None, help="first rows only (smoke)")
    parser.add_argument("--epochs", type=int, default=None, help="learned router max epochs")
    parser.add_argument("--scale-rows", type=int, default=0, help="time N prompts (0: skip)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    records, singles = [], {}
    for task in args.tasks:
        records += run_task(task, list(range(args.seeds)), args.max_rows, args.epochs)
        singles[task] = single_models(load_test_only(task, args.max_rows))
    print(summarise(records, singles))
    if args.scale_rows:
        print(scale_line(args.scale_rows, args.epochs))
    if args.json is not None:
        args.json.write_text(json.dumps(records, indent=1) + "\n", encoding="utf-8")
    return 0


def load_test_only(task: str, max_rows: int | None) -> Any:
    from ensel.datasets import load_routerbench

    test, _ = load_routerbench(task, "test")
    return test if max_rows is None else test[:max_rows]


if __name__ == "__main__":
    sys.exit(main())
