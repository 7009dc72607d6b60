"""Text-to-SQL candidate selection on Spider dev (public half): systems, consensus, selector.

Protocol: the 10 databases are split into two halves balanced by question count (largest
database first, each to the half with fewer questions). The selector is trained on one half
(its penalty chosen by cross-validation across that half's databases) and evaluated on the
other, then the halves swap, so every question is evaluated exactly once, on a database the
selector never saw. The table gives execution accuracy on all questions for every system,
consensus (largest result group, ties to the earliest system in file order), the
accuracy-weighted consensus (weights = the training half's system accuracies), the learned
selector with each training relaxation, and the oracle (any system right), plus each
method's gain over consensus in questions and the share of the consensus -> oracle gap it
closes. Below it, the budgeted cascade (`ensel.generators.sql.SQLCascade`) at each of
``--budgets`` (fractions of the 12 generator calls), on the same split: the default
(complementary order, ties to the more accurate system), the accuracy order and the file's
order (the last two with ties to the earliest system called, as before): accuracy, the share
of the calls made on the evaluation half and on the fitting half, the vote margin, and what
the next margin would cost on the fitting half (the step the budget falls between).

Run::

    python benchmarks/bench_sql.py                        # full: about a minute on 2 cores
    python benchmarks/bench_sql.py --limit 8 --variants softmax   # smoke
    python benchmarks/bench_sql.py --variants softmax --budgets 1/6,1/4,1/3,1/2
    python benchmarks/bench_sql.py --nested               # inner CV only (no evaluation half)
    python benchmarks/bench_sql.py --splits --budgets 1/3 # cascades on every 5/5 split (~5 min)

``--nested`` never reads the evaluation halves: inside each training half it leaves one
database out at a time, fits every variant (with its own CV by database) on the others and
counts the held-out database's questions it gets right, against consensus; likewise every
cascade at each of ``--budgets``, with the calls it made. That is the number the defaults
were chosen by.

``--splits`` checks the cascades beyond the one split: for every split of the databases into
two halves (126 for 10 databases) each cascade is fitted on either half and evaluated on the
other; it prints the mean number of questions right minus consensus's (with its standard
error), the mean share of the calls and the share of splits whose calls exceed the budget. It
reads every database's labels, so it is a robustness check, not how a default is chosen.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ensel.generators.sql.split import split_halves  # the one by-database split (library)

__all__ = ["main", "split_halves"]

#: budgets of the cascade rows (fractions of the 12 generator calls) and the cascades compared:
#: label -> SQLCascade keyword arguments ("" is the default)
BUDGETS = "1/6,1/4,1/3,1/2"
CASCADES: dict[str, dict[str, Any]] = {
    "": {},
    "accuracy order": {"order": "accuracy_per_cost", "ties": "order"},
    "table order": {"order": "table", "ties": "order"},
}

# selector variants: name -> SQLSelector keyword arguments
VARIANTS: dict[str, dict[str, Any]] = {
    "softmax": {},
    "sparse": {"method": "sparse", "method_options": {"epsilon": 1.0}},
    "entropic": {"method": "entropic", "method_options": {"epsilon": 1.0}},
    "mlp16": {"hidden_layer_sizes": (16,)},
    # gated consensus: keep the consensus group unless the scorer prefers another one by a
    # margin; alpha, margin and vote gap chosen together by CV over the training databases
    "gated": {"margins": (0.0, 0.5, 1.0, 2.0)},
}


def load_executed(data: Path, limit: int | None) -> list[Any]:
    """The questions of ``data`` (at most ``limit`` per database), executed on its databases."""
    from ensel.generators.sql import SQLiteDatabases, execute_questions, load_questions

    questions = load_questions(data / "questions.jsonl")
    if limit is not None:
        kept: dict[str, int] = {}
        questions = [q for q in questions
                     if kept.setdefault(q.db_id, 0) < limit and not kept.__setitem__(
                         q.db_id, kept[q.db_id] + 1)]
    dbs = SQLiteDatabases(data / "database")
    executed = execute_questions(questions, dbs)
    dbs.close()
    return executed


def run(data: Path, *, variants: Sequence[str], limit: int | None, seed: int,
        budgets: Sequence[float] = ()) -> dict[str, Any]:
    from ensel.generators.sql import SQLSelector, system_accuracies

    start = time.perf_counter()
    executed = load_executed(data, limit)
    exec_seconds = time.perf_counter() - start
    n_queries = sum(len(eq.results) + 1 for eq in executed)
    systems = executed[0].systems
    counts: dict[str, int] = {}
    for eq in executed:
        counts[eq.question.db_id] = counts.get(eq.question.db_id, 0) + 1
    halves = split_halves(counts)

    n = len(executed)
    correct = np.stack([eq.correct & eq.present for eq in executed])        # [N, K]
    rows = np.arange(n)
    picks: dict[str, np.ndarray] = {
        "consensus": np.array([eq.groups.consensus() for eq in executed]),
        "weighted consensus": np.zeros(n, dtype=np.int64),
    }
    for v in variants:
        picks[f"selector ({v})"] = np.zeros(n, dtype=np.int64)
    fold_of = np.zeros(n, dtype=np.int64)
    chosen: dict[str, list[float]] = {v: [] for v in variants}
    inner_cv: dict[str, list[tuple[float, float]]] = {v: [] for v in variants}
    train_seconds: dict[str, float] = {v: 0.0 for v in variants}
    gates: dict[str, list[tuple[Any, float]]] = {v: [] for v in variants}
    for fold, (train_dbs, test_dbs) in enumerate([(halves[0], halves[1]),
                                                  (halves[1], halves[0])]):
        tr = [i for i, eq in enumerate(executed) if eq.question.db_id in train_dbs]
        te = [i for i, eq in enumerate(executed) if eq.question.db_id in test_dbs]
        fold_of[te] = fold
        train = [executed[i] for i in tr]
        test = [executed[i] for i in te]
        acc = system_accuracies(train)
        weights = np.array([acc[s] for s in systems])
        picks["weighted consensus"][te] = [eq.groups.consensus(weights=weights) for eq in test]
        for v in variants:
            kwargs = dict(VARIANTS[v])
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                model = SQLSelector(random_state=seed, **kwargs).fit(train)
            train_seconds[v] += time.perf_counter() - t0
            chosen[v].append(model.alpha_)
            gates[v].append((model.vote_gap_, model.margin_))
            consensus_error = 1.0 - float(np.mean([eq.correct[eq.groups.consensus()]
                                                   for eq in train]))
            cv_error = min(model.cv_results_.values()) if model.cv_results_ else float("nan")
            inner_cv[v].append((cv_error, consensus_error))
            picks[f"selector ({v})"][te] = model.select(test)

    accuracy: dict[str, float] = {s: float(correct[:, j].mean()) for j, s in enumerate(systems)}
    for name, p in picks.items():
        accuracy[name] = float(correct[rows, p].mean())
    accuracy["oracle"] = float(correct.any(axis=1).mean())
    cascades = [cascade_row(executed, correct, halves, b, label)
                for label in CASCADES for b in budgets]
    return {"n": n, "systems": systems, "halves": halves, "accuracy": accuracy,
            "cascades": cascades,
            "picks": picks, "correct": correct, "fold_of": fold_of, "chosen_alpha": chosen,
            "inner_cv": inner_cv, "gates": gates,
            "train_seconds": train_seconds, "exec_seconds": exec_seconds,
            "n_queries": n_queries}


def cascade_row(executed: list, correct: np.ndarray, halves: tuple[list[str], list[str]],
                budget: float, label: str) -> dict[str, Any]:
    """One cascade of `CASCADES` at one budget: fitted on each half, evaluated on the other."""
    from ensel.generators.sql import SQLCascade
    from ensel.metrics.cost import exit_stages

    ok = np.zeros(len(executed), dtype=bool)
    calls = np.zeros(len(executed))
    fit_fraction, thresholds, next_fraction = [], [], []
    for train_dbs in halves:
        train = [eq for eq in executed if eq.question.db_id in train_dbs]
        te = np.array([i for i, eq in enumerate(executed) if eq.question.db_id not in train_dbs])
        model = SQLCascade(budget=budget, **CASCADES[label]).fit(train)
        test = [executed[i] for i in te]
        picks, called = model.run_sequential(len(test), lambda j, rows, t=test: [
            t[q].results[j] for q in rows])
        ok[te] = correct[te, picks]
        calls[te] = called.sum(axis=1)
        fit_fraction.append(model.validation_cost_fraction_)
        thresholds.append(model.threshold_)
        # the next margin up, on the fitting half: what the budget would have had to allow
        up = exit_stages(model.validation_margins_, model.threshold_ + 1)
        spent = np.cumsum(model.costs_[model.order_])[up]
        next_fraction.append(float(spent.mean() / model.costs_.sum()))
    return {"budget": budget, "label": label, "ok": ok,
            "calls": float(calls.mean() / correct.shape[1]), "fit_calls": fit_fraction,
            "thresholds": thresholds, "next_calls": next_fraction}


def cascade_report(res: dict[str, Any]) -> list[str]:
    """The budgeted rows: accuracy, generator calls on the evaluation and the fitting half."""
    from fractions import Fraction

    if not res["cascades"]:
        return []
    n, consensus = res["n"], res["accuracy"]["consensus"]
    cons_ok = res["correct"][np.arange(n), res["picks"]["consensus"]]
    lines = ["", ("budgeted generator selection (SQLCascade): call the systems one at a time "
                  "in an order chosen on the"),
             ("training half, stop once the leading result group leads by >= the vote margin "
              "calibrated there to the budget;"),
             ("consensus of the systems called. Default: complementary order, ties to the more "
              "accurate system;"),
             ("accuracy / table order: ties to the earliest called. 'calls': share of the 12 "
              "generator calls"), "",
             f"{'method':<42}{'accuracy':>9}{'correct':>10}{'vs cons':>9}{'+/-':>8}"
             f"{'calls':>8}{'fit A/B':>12}{'margin':>8}{'next A/B':>12}"]
    for row in res["cascades"]:
        b = Fraction(row["budget"]).limit_denominator(12)
        name = f"cascade ({row['label'] + ', ' if row['label'] else ''}budget {b})"
        ok = row["ok"]
        a = float(ok.mean())
        fit = "/".join(f"{100 * f:.1f}" for f in row["fit_calls"])
        up = "/".join(f"{100 * f:.1f}" for f in row["next_calls"])
        margin = "/".join(f"{t:g}" for t in row["thresholds"])
        pm = f"{int((ok & ~cons_ok).sum())}/{int((cons_ok & ~ok).sum())}"
        lines.append(f"{name:<42}{100 * a:>8.1f}%{int(ok.sum()):>6}/{n:<3}"
                     f"{100 * (a - consensus):>+8.1f}{pm:>8}{100 * row['calls']:>7.1f}%"
                     f"{fit:>12}{margin:>8}{up:>12}")
    lines.append(f"target: consensus of all 12 ({100 * consensus:.1f}%) at <= 1/3 of the calls; "
                 f"'fit A/B': calls on the fitting half (<= the budget);")
    lines.append("'next A/B': calls on the fitting half at the next vote margin up (the budget "
                 "falls between the two)")
    return lines


def report(res: dict[str, Any]) -> str:
    acc, n = res["accuracy"], res["n"]
    systems = res["systems"]
    best_single = max(acc[s] for s in systems)
    consensus, oracle = acc["consensus"], acc["oracle"]
    correct, rows = res["correct"], np.arange(n)
    cons_ok = correct[rows, res["picks"]["consensus"]]
    lines = [
        (f"Spider dev (public half): {n} questions, {len(systems)} systems; "
         f"{res['n_queries']} queries executed in {res['exec_seconds']:.1f} s"),
        f"half A: {', '.join(res['halves'][0])}",
        f"half B: {', '.join(res['halves'][1])}",
        ("train on one half, evaluate on the other, then swap (every question evaluated once, "
         "unseen database)"),
        "",
        f"{'method':<34}{'accuracy':>9}{'correct':>10}{'vs cons':>9}{'+/-':>8}{'gap closed':>12}",
    ]

    def row(name: str, label: str | None = None) -> None:
        a = acc[name]
        extra = ""
        if name in res["picks"] and name != "consensus":
            ok = correct[rows, res["picks"][name]]
            extra = f"{int((ok & ~cons_ok).sum())}/{int((cons_ok & ~ok).sum())}"
        gap = (a - consensus) / (oracle - consensus) if oracle > consensus else float("nan")
        lines.append(f"{label or name:<34}{100 * a:>8.1f}%{round(a * n):>6}/{n:<3}"
                     f"{100 * (a - consensus):>+8.1f}{extra:>8}{100 * gap:>11.0f}%")

    for s in systems:
        row(s, f"  {s}")
    row("consensus")
    row("weighted consensus")
    for name in res["picks"]:
        if name.startswith("selector"):
            row(name)
    row("oracle")
    lines += [
        "",
        (f"best single system {100 * best_single:.1f}%, consensus {100 * consensus:.1f}%, "
         f"oracle {100 * oracle:.1f}%; target for the selector: > both, and gap closed >= 33% "
         f"(>= {100 * (consensus + (oracle - consensus) / 3):.1f}%)"),
        "'+/-': questions the method gets right and consensus wrong / the reverse",
    ]
    for v, alphas in res["chosen_alpha"].items():
        inner = "; ".join(f"trained on half {'AB'[f]}: CV error {100 * e:.1f}% vs consensus "
                          f"{100 * c:.1f}%" for f, (e, c) in enumerate(res["inner_cv"][v]))
        gate = ""
        if any(np.isfinite(m) or m > 0 for _, m in res["gates"][v]):
            gate = " gate (vote gap, margin) by CV = " + ", ".join(
                "never override" if np.isposinf(m) else f"({'any' if g is None else g}, {m:g})"
                for g, m in res["gates"][v]) + ";"
        lines.append(f"selector ({v}): alpha by CV = {', '.join(f'{a:g}' for a in alphas)};"
                     f"{gate} {inner}; training {res['train_seconds'][v]:.1f} s")
    lines += cascade_report(res)
    return "\n".join(lines)


def nested(data: Path, *, variants: Sequence[str], limit: int | None, seed: int,
           budgets: Sequence[float] = ()) -> str:
    """Nested CV inside each training half; the other half's labels are never read."""
    from ensel.generators.sql import SQLSelector

    executed = load_executed(data, limit)
    counts: dict[str, int] = {}
    for eq in executed:
        counts[eq.question.db_id] = counts.get(eq.question.db_id, 0) + 1
    halves = split_halves(counts)
    lines = [("nested CV inside each training half (leave one database out; each fit runs its "
              "own CV by database on the rest); questions right, and vs consensus"),
             f"{'variant':<22}" + "".join(f"{'half ' + h:>16}" for h in "AB") + f"{'both':>14}"]
    right: dict[str, list[int]] = {"consensus": []}
    for half in halves:
        train = [eq for eq in executed if eq.question.db_id in half]
        right["consensus"].append(sum(bool(eq.correct[eq.groups.consensus()]) for eq in train))
        for v in variants:
            ok = 0
            for held in sorted(half):
                fit_on = [eq for eq in train if eq.question.db_id != held]
                test = [eq for eq in train if eq.question.db_id == held]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    model = SQLSelector(random_state=seed, **VARIANTS[v]).fit(fit_on)
                ok += sum(bool(eq.correct[j]) for eq, j in zip(test, model.select(test),
                                                                  strict=True))
            right.setdefault(v, []).append(ok)
    sizes = [sum(counts[d] for d in h) for h in halves]
    for name, oks in right.items():
        cells = "".join(f"{ok:>7}/{n:<3}{ok - c:>+5} " for ok, n, c in
                        zip(oks, sizes, right["consensus"], strict=True))
        lines.append(f"{name:<22}{cells}{sum(oks) - sum(right['consensus']):>+10}")
    lines += nested_cascades(executed, halves, right["consensus"], budgets)
    return "\n".join(lines)


def held_out(fit_on: list[Any], test: list[Any], budget: float, params: dict[str, Any]
             ) -> tuple[int, int]:
    """An `SQLCascade` fitted on ``fit_on``, run on ``test``: (questions right, calls made)."""
    from ensel.generators.sql import SQLCascade

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = SQLCascade(budget=budget, **params).fit(fit_on)
    picks, called = model.run_sequential(len(test), lambda j, rows: [test[q].results[j]
                                                                      for q in rows])
    return (sum(bool(eq.correct[p]) for eq, p in zip(test, picks, strict=True)),
            int(called.sum()))


def nested_cascades(executed: list, halves: tuple[list[str], list[str]],
                    consensus_right: list[int], budgets: Sequence[float]) -> list[str]:
    """The cascades of `CASCADES` in the same nested CV: questions right and calls per half."""
    from fractions import Fraction

    if not budgets:
        return []
    lines = ["", ("cascades in the same nested CV: questions right vs consensus, and share of "
                  "the 12 calls, per half"),
             f"{'cascade':<42}" + "".join(f"{'half ' + h:>22}" for h in "AB") + f"{'both':>8}"]
    for label, params in CASCADES.items():
        for budget in budgets:
            cells, total = "", 0
            for half, cons in zip(halves, consensus_right, strict=True):
                train = [eq for eq in executed if eq.question.db_id in half]
                ok = calls = 0
                for held in sorted(half):
                    fit_on = [eq for eq in train if eq.question.db_id != held]
                    test = [eq for eq in train if eq.question.db_id == held]
                    right, n = held_out(fit_on, test, budget, params)
                    ok, calls = ok + right, calls + n
                share = calls / (len(train) * len(executed[0].systems))
                cells += f"{ok:>7}/{len(train):<3}{ok - cons:>+5}{100 * share:>6.1f}% "
                total += ok - cons
            b = Fraction(budget).limit_denominator(12)
            name = f"cascade ({label + ', ' if label else ''}budget {b})"
            lines.append(f"{name:<42}{cells}{total:>+7}")
    return lines


def splits(data: Path, *, limit: int | None, budgets: Sequence[float]) -> str:
    """Every cascade of `CASCADES` on every two-way split of the databases (both ways)."""
    import itertools
    from fractions import Fraction

    executed = load_executed(data, limit)
    names = sorted({eq.question.db_id for eq in executed})
    sides = [set(c) for c in itertools.combinations(names, len(names) // 2) if names[0] in c]
    consensus = sum(bool(eq.correct[eq.groups.consensus()]) for eq in executed)
    n_calls = len(executed) * len(executed[0].systems)
    lines = [(f"every split of the {len(names)} databases into two halves ({len(sides)} splits, "
              f"each fitted both ways): questions right minus consensus ({consensus}/"
              f"{len(executed)}), mean +- standard error; calls; splits over the budget"),
             f"{'cascade':<42}{'vs cons':>16}{'calls':>9}{'over':>7}"]
    for label, params in CASCADES.items():
        for budget in budgets:
            diff, share = [], []
            for side in sides:
                ok = calls = 0
                for fit_dbs in (side, set(names) - side):
                    fit_on = [eq for eq in executed if eq.question.db_id in fit_dbs]
                    test = [eq for eq in executed if eq.question.db_id not in fit_dbs]
                    right, n = held_out(fit_on, test, budget, params)
                    ok, calls = ok + right, calls + n
                diff.append(ok - consensus)
                share.append(calls / n_calls)
            d, f = np.array(diff, dtype=float), np.array(share)
            sem = d.std() / np.sqrt(len(d))
            b = Fraction(budget).limit_denominator(12)
            name = f"cascade ({label + ', ' if label else ''}budget {b})"
            lines.append(f"{name:<42}{d.mean():>+9.2f} +-{sem:>4.2f}{100 * f.mean():>8.1f}%"
                         f"{100 * (f > budget + 1e-9).mean():>6.0f}%")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None,
                        help="spider_dev_public folder (default: the copy shipped with ensel)")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated selector variants from {', '.join(VARIANTS)}")
    parser.add_argument("--limit", type=int, default=None,
                        help="keep at most this many questions per database (smoke runs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budgets", default=BUDGETS,
                        help="comma-separated budgets of the cascade rows, as fractions of the "
                             "12 generator calls ('' for none)")
    parser.add_argument("--nested", action="store_true",
                        help="only the nested CV inside the training halves (no evaluation)")
    parser.add_argument("--splits", action="store_true",
                        help="only the cascades on every two-way split of the databases")
    args = parser.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {unknown}; choose from {list(VARIANTS)}")
    if args.data is None:
        from ensel.datasets import dataset_path

        args.data = dataset_path("spider_dev_public")
    from fractions import Fraction

    budgets = [float(Fraction(b)) for b in args.budgets.split(",") if b.strip()]
    if args.nested:
        print(nested(args.data, variants=variants, limit=args.limit, seed=args.seed,
                     budgets=budgets))
        return 0
    if args.splits:
        print(splits(args.data, limit=args.limit, budgets=budgets))
        return 0
    res = run(args.data, variants=variants, limit=args.limit, seed=args.seed, budgets=budgets)
    print(report(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
