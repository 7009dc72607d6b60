"""Routing LLMs by outcome and cost on real RouterBench data (issue 12).

For each task (ARC-challenge, MBPP; the shipped train/test splits, 11 LLMs) the routers are
fitted on train and swept over the willingness-to-pay knob on test; every figure is on test.
Columns: AIQ (RouterBench: mean of the non-decreasing convex hull of the cost-quality points
over the single models' cost range), the share of the zero-router -> oracle AIQ gap closed,
the hull's quality at the best single model's cost, and the cost to match the best single
model (as a fraction of that model's cost). A missing outcome (ARC has 62 test cells) counts
as wrong (``missing="zero"``), for every router and for the single models alike. Features:
`ensel.text.PromptFeatures` (fitted on the train prompts). Random routers run seeds 0..S-1.
The evaluation is `ensel.combine.routing.evaluate_routers` (the one `ensel route evaluate`
runs): the best single and the cheapest model are chosen on train, one point each.

``ensel selector`` is `ensel.DifferentiableSelector` with its defaults on the outcome table
(trained for expected quality, no budget), its curve the choices ``argmax score - price *
cost`` over the routers' ``cost_weight`` grid from that one fit (`DifferentiableSelector.route`),
scored like the routers. The budget section fits it with ``max_cost`` = half the best single
model's train cost (best chosen on train) and reports the test quality and cost it reaches.

``ensel answer cascade`` is `ensel.combine.routing.AnswerCascade` (the tables carry each
model's normalised answer, `ensel.datasets.response_answer`): a committee of cheaper models,
and one dearer model called only when the committee disagrees; its curve is its training
front's plans over the same grid, its cost every call made. The budget section also fits it
with the selector's ``max_cost``.

``--scale N`` times features, fit and select of every router on N distinct two-question
prompts made from the shipped rows (`scale_table` says how), in wall and CPU seconds.

    python benchmarks/bench_routing.py                        # both tasks, seeds 0-2
    python benchmarks/bench_routing.py --scale 10000 --tasks  # only the 10,000-prompt timing
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
ROUTERS = ("best single", "cheapest", "zero router", "oracle", "knn", "predictive",
           "ensel learned", "ensel selector", "ensel answer cascade")
SELECTOR_SHARE = 0.5
"""The budgeted selector's ``max_cost``: this share of the best single model's train cost."""


def load(task: str, max_rows: int | None) -> tuple[Any, Any]:
    """Train and test outcome tables with prompt features in X."""
    from ensel.combine.routing import add_prompt_features
    from ensel.datasets import load_routerbench

    parts = [load_routerbench(task, split) for split in ("train", "test")]
    if max_rows is not None:
        parts = [(t[:max_rows], p[:max_rows]) for t, p in parts]
    return add_prompt_features(*parts)


def run_task(task: str, seeds: Sequence[int], max_rows: int | None, epochs: int | None
             ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One record per router and seed (the learned router over every seed), and the test's
    single models, from `ensel.combine.routing.evaluate_routers`."""
    from ensel.combine.routing import default_routers, evaluate_routers

    train, test = load(task, max_rows)
    records, singles = [], {}
    for i, seed in enumerate(seeds):
        routers = default_routers(random_state=seed, max_epochs=epochs)
        if i:                           # only the learned router depends on the seed
            routers = {"ensel learned": routers["ensel learned"]}
        evaluation = evaluate_routers(routers, train, test, missing="zero")
        singles = evaluation["single_models"]
        records.append({"task": task, "router": "ensel selector", "member": None, "seed": seed,
                        **selector_scores(train, test, seed, epochs, singles)})
        for name, r in evaluation["results"].items():
            if i and name != "ensel learned":
                continue
            member = r["members_run"][0] if r["kind"] == "single" else None
            records.append({"task": task, "router": name, "member": member, "seed": seed,
                            "seconds": r["fit_seconds"] + r["curve_seconds"],
                            **{k: r[k] for k in ("aiq", "quality_at_best_cost",
                                                 "cost_to_match_best")}})
    return records, singles


def _selector(seed: int, epochs: int | None, **budget: float) -> Any:
    from ensel import DifferentiableSelector

    return DifferentiableSelector(random_state=seed, **budget,
                                  **({} if epochs is None else {"max_epochs": epochs}))


def selector_scores(train: Any, test: Any, seed: int, epochs: int | None,
                    singles: dict[str, Any]) -> dict[str, float]:
    """The selector's AIQ etc. on test: one fit, its price swept over the routers' grid."""
    from ensel._training import threads
    from ensel.combine.routing import DEFAULT_COST_WEIGHTS
    from ensel.metrics import routing_quality, routing_scores

    start = time.perf_counter()
    with threads(1):                     # as the learned router: one torch thread
        selector = _selector(seed, epochs).fit(train)
        choices = [selector.route(test, price=float(p)) for p in DEFAULT_COST_WEIGHTS]
    Q, C = np.asarray(test.P, dtype=np.float64), test.cost_matrix()
    quality, cost = np.array([routing_quality(Q, c, costs=C, missing="zero")
                              for c in choices]).T
    single = np.array([[v["cost"], v["quality"]] for v in singles.values()])
    scores = routing_scores(cost, quality, single_costs=single[:, 0],
                            single_qualities=single[:, 1])
    return {"seconds": time.perf_counter() - start,
            **{k: scores[k] for k in ("aiq", "quality_at_best_cost", "cost_to_match_best")}}


def budget_lines(task: str, seeds: Sequence[int], max_rows: int | None,
                 epochs: int | None) -> list[str]:
    """The selector fitted with ``max_cost`` = `SELECTOR_SHARE` of the best single model's
    train cost: its test quality and cost beside that model's, per seed."""
    from ensel._training import threads
    from ensel.combine.routing import AnswerCascade, _member_means
    from ensel.metrics import routing_quality

    train, test = load(task, max_rows)
    train_cost = train.cost_matrix().mean(axis=0)
    best = int(np.lexsort((train_cost, -_member_means(np.asarray(train.P))))[0])
    Q, C = np.asarray(test.P, dtype=np.float64), test.cost_matrix()
    best_q, best_c = routing_quality(Q, np.full(test.n_samples, best), costs=C, missing="zero")
    rows = []
    for seed in seeds:
        with threads(1):
            selector = _selector(seed, epochs, max_cost=SELECTOR_SHARE * float(train_cost[best]))
            selector.fit(train)
            q, c = routing_quality(Q, selector.route(test), costs=C, missing="zero")
        rows.append((q, c / best_c, selector.validation_cost_ * float(
            train.cost_matrix().sum(1).mean()) / float(train_cost[best])))
    q, c, v = np.array(rows).T
    cascade = AnswerCascade(max_cost=SELECTOR_SHARE * float(train_cost[best])).fit(train)
    choice, calls = cascade._decide(test, None, None)
    cq = routing_quality(Q, choice, missing="zero")[0]
    committee, fallback = cascade.plan()
    plan = " + ".join(test.members[m] for m in committee) or "none"
    return [f"- {task}: max_cost = {SELECTOR_SHARE:g} x {test.members[best]}'s train cost; "
            f"that model on test: quality {best_q:.3f}. Selector on test (seeds "
            f"{seeds[0]}-{seeds[-1]}): quality {q.mean():.3f} ± {q.std():.3f} at "
            f"{c.mean():.2f} ± {c.std():.2f} of its test cost (calibrated on the validation part: "
            f"about {v.mean():.2f} of its train cost). Answer cascade (committee {plan}, "
            f"else {test.members[fallback]}): quality {cq:.3f} at "
            f"{float((calls * C).sum(axis=1).mean()) / best_c:.2f} of its test cost."]


def summarise(records: list[dict[str, Any]], singles_by_task: dict[str, Any]) -> str:
    lines = []
    for task in dict.fromkeys(r["task"] for r in records):
        rows = [r for r in records if r["task"] == task]
        by = {n: [r for r in rows if r["router"] == n] for n in ROUTERS}
        zero, oracle = by["zero router"][0]["aiq"], by["oracle"][0]["aiq"]
        best = max(singles_by_task[task].items(), key=lambda kv: kv[1]["quality"])
        lines += [f"## {task} (test; best single {best[0]}: quality {best[1]['quality']:.3f} "
                  f"at ${1000 * best[1]['cost']:.2f} per 1000 prompts)", "",
                  "| router | AIQ | gap closed | quality at best's cost | cost to match best "
                  "| seconds |", "|---|---|---|---|---|---|"]
        for name, rs in by.items():
            aiq = np.array([r["aiq"] for r in rs])
            spread = f" ± {aiq.std():.4f}" if len(rs) > 1 else ""
            gap = (aiq.mean() - zero) / (oracle - zero) if oracle > zero else float("nan")
            q = np.mean([r["quality_at_best_cost"] for r in rs])
            c = np.mean([r["cost_to_match_best"] for r in rs])
            secs = np.mean([r["seconds"] for r in rs])
            label = f"{name} ({rs[0]['member']})" if rs[0].get("member") else name
            lines.append(f"| {label} | {aiq.mean():.4f}{spread} | {100 * gap:+.1f}% | {q:.3f} | "
                         f"{c:.2f} | {secs:.1f} |")
        lines.append("")
    return "\n".join(lines)


def scale_table(n_rows: int, *, seed: int = 0) -> tuple[Any, list[str]]:
    """An outcome table of ``n_rows`` distinct two-question prompts built from real rows.

    The shipped ARC-challenge and MBPP prompts (train and test, 1,909 distinct ones; the same
    11 models) are drawn in ordered pairs ``(a, b)``, ``a != b``, no pair twice, and joined
    as ``prompt_a + "\\n\\n" + prompt_b``: one prompt asking both questions (the ARC
    few-shot template stays inside such a prompt; a mixed table has no template common to
    all prompts). A model's quality on it is the mean of its two source outcomes (the share
    of the two questions answered right; NaN when either is missing), its cost the sum of
    the two calls' costs. Prompts are distinct, and the outcomes are the source rows', so the
    signal a router can learn (and where early stopping stops) is that of the real data.
    """
    from ensel import PredictionTable
    from ensel.datasets import load_routerbench

    parts = [load_routerbench(t, s) for t in TASKS for s in ("train", "test")]
    prompts = [p for _, ps in parts for p in ps]
    first = sorted({p: i for i, p in reversed(list(enumerate(prompts)))}.values())
    Q = np.concatenate([t.P for t, _ in parts])[first]
    C = np.concatenate([t.cost_matrix() for t, _ in parts])[first]
    prompts = [prompts[i] for i in first]
    n = len(prompts)
    if not 1 <= n_rows <= n * (n - 1):
        raise ValueError(f"--scale must be in [1, {n * (n - 1)}]; got {n_rows}.")
    rng = np.random.default_rng(seed)
    codes = np.empty(0, dtype=np.int64)
    while len(codes) < n_rows:
        a, b = rng.integers(n, size=(2, 2 * n_rows))
        new = np.concatenate([codes, (a * n + b)[a != b]])
        _, keep = np.unique(new, return_index=True)
        codes = new[np.sort(keep)]                      # first draws first, each pair once
    a, b = np.divmod(codes[:n_rows], n)
    text = [f"{prompts[i]}\n\n{prompts[j]}" for i, j in zip(a, b, strict=True)]
    table = PredictionTable.from_outcomes((Q[a] + Q[b]) / 2, costs=C[a] + C[b],
                                          members=parts[0][0].members)
    return table, text


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = _clock()
    return wall - start[0], cpu - start[1]


def scale_lines(n_rows: int, epochs: int | None) -> str:
    """Features, fit and select of every router on `scale_table` (wall and CPU seconds)."""
    import os

    from ensel import PredictionTable
    from ensel.combine.routing import MeanRouter, default_routers
    from ensel.text import PromptFeatures

    table, prompts = scale_table(n_rows)
    assert len(set(prompts)) == n_rows
    start = _clock()
    X = PromptFeatures().fit_transform(prompts)
    features = _since(start)
    big = PredictionTable.from_outcomes(table.P, costs=table.costs, X=X, members=table.members)
    routers = {"zero router": MeanRouter(), **default_routers(max_epochs=epochs)}
    routers.pop("oracle")
    lines = [f"## scale: {n_rows} distinct prompts x {table.n_members} models (mean "
             f"{np.mean([len(p) for p in prompts]):.0f} characters; load average "
             f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)", "",
             f"features (PromptFeatures, shared): {features[0]:.1f} s wall, {features[1]:.1f} s "
             f"CPU", "", "| router | fit s | select s | end to end s (wall) | CPU s | note |",
             "|---|---|---|---|---|---|"]
    for name, router in routers.items():
        start = _clock()
        router.fit(big)
        fit = _since(start)
        start = _clock()
        router.select(big)
        sel = _since(start)
        note = ""
        if hasattr(router, "n_epochs_"):
            stopped = router.n_epochs_ + router.n_iter_no_change < router.max_epochs
            note = (f"best epoch {router.n_epochs_} of {router.max_epochs}; "
                    f"{'stopped early' if stopped else 'ran to max_epochs'}")
        lines.append(f"| {name} | {fit[0]:.1f} | {sel[0]:.2f} | {features[0] + fit[0] + sel[0]:.1f}"
                     f" | {features[1] + fit[1] + sel[1]:.1f} | {note} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", nargs="*", default=list(TASKS), choices=TASKS,
                        help="tasks to evaluate (none: only the --scale timing)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..S-1")
    parser.add_argument("--max-rows", type=int, default=None, help="first rows only (smoke)")
    parser.add_argument("--epochs", type=int, default=None, help="learned router max epochs")
    parser.add_argument("--scale", type=int, default=0, metavar="N",
                        help="time features, fit and select on N distinct prompts (0: skip)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    from ensel import _io

    records, singles = [], {}
    for task in args.tasks:
        task_records, singles[task] = run_task(task, list(range(args.seeds)), args.max_rows,
                                               args.epochs)
        records += task_records
    if records:
        print(summarise(records, singles))
        print("## budgeted selector (DifferentiableSelector(max_cost=...))\n")
        for task in args.tasks:
            print("\n".join(budget_lines(task, list(range(args.seeds)), args.max_rows,
                                         args.epochs)))
        print()
    if args.scale:
        print(scale_lines(args.scale, args.epochs))
    if args.json is not None:
        _io.write_text(args.json, json.dumps(records, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
