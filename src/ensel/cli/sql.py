"""``ensel sql``: evaluate candidate selection for text-to-SQL, train the learned selector.

Only typer is imported here; the SQL engine, sqlglot and torch load inside the commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

sql_app = typer.Typer(
    name="sql",
    help="Text-to-SQL candidate selection: execution accuracy of each system, consensus, the "
         "learned selector and the oracle; training the selector.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

QuestionsOpt = Annotated[Path, typer.Option(
    "--questions", help="JSON lines: {id, db_id, question, gold, candidates: {system: sql}}.")]
DatabasesOpt = Annotated[Path, typer.Option(
    "--databases", help="Folder with <db_id>/<db_id>.sqlite (or <db_id>.sqlite).")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="Seconds allowed per query.")]
MaxRowsOpt = Annotated[int, typer.Option("--max-rows", help="Rows kept per result.")]
OrderOpt = Annotated[str, typer.Option(
    "--order", help="Call order of the budgeted cascade: complementary (each next system the "
                    "one most often right where those before are wrong, on the training "
                    "questions), accuracy_per_cost, or table (the file's order).")]
CostsOpt = Annotated[Path | None, typer.Option(
    "--costs", help="JSON object {system: relative cost of one call} (default: 1 each).")]


def _budget(values: list[str] | None) -> list[float]:
    """``--budget`` values as floats: decimals or fractions (``0.25``, ``1/3``) in (0, 1]."""
    from fractions import Fraction

    out = []
    for text in values or []:
        try:
            b = float(Fraction(text.strip()))
        except (ValueError, ZeroDivisionError):
            b = float("nan")
        if not 0.0 < b <= 1.0:
            raise typer.BadParameter(f"must be a fraction of the generator calls in (0, 1], "
                                     f"e.g. 0.25 or 1/3. Got {text!r} instead.")
        out.append(b)
    return out


BudgetOpt = Annotated[list[str] | None, typer.Option(
    "--budget", callback=_budget, help="Mean generator calls per question as a fraction of "
                                       "calling every system (0.25 or 1/4); repeatable.")]
OneBudgetOpt = Annotated[str | None, typer.Option(
    "--budget", callback=lambda v: None if v is None else _budget([v])[0],
    help="The budgeted cascade: mean generator calls per question as a fraction of calling "
         "every system (0.25 or 1/4).")]


def _costs(path: Path | None) -> dict[str, float] | None:
    if path is None:
        return None
    if not path.is_file():
        raise FileNotFoundError(f"--costs file not found: {str(path)!r}.")
    try:
        costs = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"--costs {path}: not valid JSON ({exc}).") from None
    if not isinstance(costs, dict):
        raise ValueError(f"--costs {path} must hold a JSON object {{system: cost}}; got "  # noqa: TRY004
                         f"{type(costs).__name__}.")
    return costs


def _load_model(path: Path) -> Any:
    """The selector saved in ``path``: a learned SQLSelector or a budgeted SQLCascade."""
    from ensel.generators.sql.cascade import CONFIG, FORMAT

    try:
        is_cascade = json.loads((path / CONFIG).read_text(encoding="utf-8")).get(
            "format") == FORMAT
    except (OSError, ValueError, AttributeError):
        is_cascade = False                  # the selector's load words the error
    if is_cascade:
        from ensel.generators.sql import SQLCascade

        return SQLCascade.load(path)
    from ensel.generators.sql import SQLSelector

    return SQLSelector.load(path)


def _execute(questions: Path, databases: Path, timeout: float, max_rows: int,
             systems: list[str] | None = None) -> list:
    from ensel.generators.sql import SQLiteDatabases, execute_questions, load_questions

    qs = load_questions(questions)
    if systems is not None:
        unknown = sorted({s for q in qs for s in q.candidates} - set(systems))
        if unknown:
            raise ValueError(f"{questions} has candidates from system(s) the selector was not "
                             f"trained on: {', '.join(unknown)}. Known: {', '.join(systems)}.")
    dbs = SQLiteDatabases(databases, timeout=timeout, max_rows=max_rows)
    try:
        return execute_questions(qs, dbs, systems=systems, progress=True)
    finally:
        dbs.close()


@sql_app.command()
def evaluate(
    questions: QuestionsOpt,
    databases: DatabasesOpt,
    selector: Annotated[Path | None, typer.Option(
        "--selector", help="A selector or cascade saved by 'ensel sql train'.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Write {n_questions, accuracy: {method: a}} as JSON here.")] = None,
    split_by_database: Annotated[bool, typer.Option(
        "--split-by-database", help="Fit on half of the databases, evaluate on the other "
                                    "half, then swap: every question once, on an unseen "
                                    "database.")] = False,
    budget: BudgetOpt = None,
    order: OrderOpt = "complementary",
    costs: CostsOpt = None,
    train_selector: Annotated[bool, typer.Option(
        "--train-selector", help="With --split-by-database: also the learned selector, "
                                 "trained on each half.")] = False,
    timeout: TimeoutOpt = 5.0,
    max_rows: MaxRowsOpt = 10_000,
) -> None:
    """Execution accuracy per method: oracle, consensus, selector (with --selector), systems.

    With --split-by-database and --budget B (repeatable), also the budgeted cascade at each B:
    fitted on one half of the databases, evaluated on the other, with its generator calls;
    with --train-selector, the learned selector trained the same way.
    """
    from ensel.generators.sql import evaluate_by_database, evaluate_selection

    if split_by_database and selector is not None:
        raise ValueError("--selector evaluates a model fitted elsewhere; --split-by-database "
                         "fits on half of these databases. Give one of them.")
    if train_selector and not split_by_database:
        raise ValueError("--train-selector needs --split-by-database (the selector is trained "
                         "on one half of the databases and evaluated on the other).")
    if budget and not split_by_database:
        raise ValueError("--budget needs --split-by-database (the cascade is fitted on one "
                         "half of the databases and evaluated on the other); to evaluate a "
                         "cascade saved by 'ensel sql train --budget', pass it as --selector.")
    cascade_params = {"order": order, "costs": _costs(costs)}
    model = _load_model(selector) if selector is not None else None
    executed = _execute(questions, databases, timeout, max_rows,
                        systems=model.systems_ if model is not None else None)
    if split_by_database:
        result = evaluate_by_database(executed, budgets=budget or (),
                                      cascade_params=cascade_params,
                                      selector_params={} if train_selector else None)
    else:
        result = evaluate_selection(executed, selector=model)
        if hasattr(model, "cost_fraction"):         # a cascade: its generator calls
            result["cost_fraction"] = {"selector": model.cost_fraction(model.calls(executed))}
    _print_accuracy(result)
    if out is not None:
        from ensel import _io

        _io.write_json(out, result)
        typer.echo(f"wrote {out}")


def _print_accuracy(result: dict) -> None:
    """The accuracy table (with the share of generator calls when known)."""
    from rich.console import Console
    from rich.table import Table

    n = result["n_questions"]
    cost = result.get("cost_fraction")
    if "halves" in result:
        for label, half in zip("AB", result["halves"], strict=True):
            typer.echo(f"half {label}: {', '.join(half)}")
        typer.echo("fitted on one half, evaluated on the other, then swapped")
    table = Table(title=f"Execution accuracy on {n} questions")
    table.add_column("method")
    table.add_column("accuracy", justify="right")
    table.add_column("correct", justify="right")
    if cost is not None:
        table.add_column("calls", justify="right")
    for name, acc in result["accuracy"].items():
        cells = [name, f"{100 * acc:.1f}%", f"{round(acc * n)}/{n}"]
        if cost is not None:
            cells.append(f"{100 * cost[name]:.1f}%" if name in cost else "")
        table.add_row(*cells)
    Console().print(table)
    for name, fractions in result.get("calibration_cost_fraction", {}).items():
        thresholds = ", ".join(t if isinstance(t, str) else f"{t:g}"
                               for t in result["threshold"][name])
        typer.echo(f"{name}: vote margin threshold {thresholds} (fitted on A, on B); calls on "
                   f"the fitting questions {', '.join(f'{100 * f:.1f}%' for f in fractions)}")


def _check_output(output: Path) -> None:
    """Refuse, before any work, an output folder the save would refuse."""
    if output.exists() and not output.is_dir():
        raise ValueError(f"--output {output} is a file; give a folder (new, empty, or holding "
                         f"a selector saved by 'ensel sql train').")
    if output.is_dir() and any(output.iterdir()) and not (output / "config.json").is_file():
        raise ValueError(f"--output {output} is a non-empty folder without a saved selector "
                         f"(config.json); refusing to replace it. Give a new or empty folder.")


@sql_app.command()
def train(
    questions: QuestionsOpt,
    databases: DatabasesOpt,
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Folder to save the selector in (config.json + "
                               "model.safetensors).")],
    method: Annotated[str, typer.Option(
        "--method", help="Relaxed selection in training: softmax, sparse, entropic, "
                         "perturbed, straight_through.")] = "softmax",
    cv: Annotated[int, typer.Option(
        "--cv", help="Folds by database for choosing the penalty.")] = 5,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    budget: OneBudgetOpt = None,
    order: OrderOpt = "complementary",
    costs: CostsOpt = None,
    timeout: TimeoutOpt = 5.0,
    max_rows: MaxRowsOpt = 10_000,
) -> None:
    """Train the learned selector on questions with gold SQL (penalty chosen by database CV),
    or with --budget the budgeted cascade (call order and vote-margin threshold).

    The model is saved crash-consistently: an existing model in OUTPUT is replaced whole, or
    left as it was if the save is interrupted.
    """
    from ensel.generators.sql import SQLSelector

    _check_output(output)
    cost_map = _costs(costs)
    executed = _execute(questions, databases, timeout, max_rows)
    if budget is not None:
        _train_cascade(executed, output, float(budget), order, cost_map)
        return
    solver = "adam" if method == "perturbed" else "lbfgs"
    model = SQLSelector(method=method, cv=cv, solver=solver, random_state=seed).fit(executed)
    model.save(output)
    dbs = sorted({eq.question.db_id for eq in executed})
    cv_text = ", ".join(f"{a:g}: {v:.3f}" for a, v in model.cv_results_.items())
    typer.echo(f"trained on {len(executed)} questions from {len(dbs)} databases; "
               f"alpha = {model.alpha_:g}" + (f" (CV error {cv_text})" if cv_text else ""))
    typer.echo(f"saved {output}")


def _train_cascade(executed: list, output: Path, budget: float, order: str,
                   costs: dict[str, float] | None) -> None:
    from ensel.generators.sql import SQLCascade

    model = SQLCascade(budget=budget, order=order, costs=costs).fit(executed)
    model.save(output)
    names = ", ".join(model.systems_[j] for j in model.order_)
    typer.echo(f"fitted a cascade on {len(executed)} questions: call order {names}; stop at a "
               f"vote margin of {model.threshold_:g}; calls on these questions "
               f"{100 * model.validation_cost_fraction_:.1f}% of all (budget "
               f"{100 * budget:.1f}%)")
    typer.echo(f"saved {output}")


@sql_app.command()
def select(
    questions: QuestionsOpt,
    databases: DatabasesOpt,
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="JSON lines to write: {id, db_id, sql, system, votes, method}.")],
    selector: Annotated[Path | None, typer.Option(
        "--selector", help="A selector or cascade saved by 'ensel sql train' (default: "
                           "consensus).")] = None,
    budget: OneBudgetOpt = None,
    timeout: TimeoutOpt = 5.0,
    max_rows: MaxRowsOpt = 10_000,
) -> None:
    """Choose one SQL per question for new questions, without gold: execute every candidate,
    then take the largest group of candidates with the same result (consensus) or the
    learned selector's choice. Any ``gold`` in the file is ignored (never executed).

    With a cascade (saved by 'ensel sql train --budget'), only the candidates of the systems
    it calls are executed, and each line also lists them (``called``); --budget B
    recalibrates the cascade's threshold to budget B on its training questions.

    One line per question, in the file's order; ``sql`` is null when no system proposed a
    candidate. The file is written atomically.
    """
    from dataclasses import replace

    from ensel import _io
    from ensel.generators.sql import SQLiteDatabases, load_questions

    model = _load_model(selector) if selector is not None else None
    if budget is not None:
        if not hasattr(model, "at_budget"):
            raise ValueError("--budget needs --selector MODEL, a cascade saved by 'ensel sql "
                             "train --budget' (a budget is calibrated on training questions).")
        model = model.at_budget(float(budget))
    qs = [replace(q, gold=None) for q in load_questions(questions)]
    dbs = SQLiteDatabases(databases, timeout=timeout, max_rows=max_rows)
    try:
        if hasattr(model, "run_sequential"):
            method, lines = "cascade", _cascade_lines(qs, dbs, model, questions)
        else:
            method, lines = _select_lines(qs, dbs, model)
    finally:
        dbs.close()
    _io.write_text(output, "\n".join(lines) + "\n")
    typer.echo(f"chose SQL for {len(lines)} questions by {method}; wrote {output}")


def _select_lines(qs: list, dbs: Any, model: Any) -> tuple[str, list[str]]:
    """Every candidate executed; consensus or the learned selector's pick per question."""
    from ensel.generators.sql import execute_questions, method_picks

    systems = model.systems_ if model is not None else None
    executed = execute_questions(qs, dbs, systems=systems, progress=True)
    method = "selector" if model is not None else "consensus"
    picks = method_picks(executed, selector=model)[method]
    lines = []
    for eq, j in zip(executed, picks, strict=True):
        label = int(eq.groups.labels[j]) if eq.groups.n_groups else -1
        votes = int(eq.groups.sizes[label]) if label >= 0 else 0
        lines.append(json.dumps({"id": eq.question.id, "db_id": eq.question.db_id,
                                 "sql": eq.sql(int(j)), "system": eq.systems[int(j)],
                                 "votes": votes, "method": method}))
    return method, lines


def _cascade_lines(qs: list, dbs: Any, model: Any, path: Path) -> list[str]:
    """Only the candidates the cascade calls are executed; its pick and calls per question."""
    from ensel.generators.sql import group_results
    from ensel.generators.sql.data import MISSING

    unknown = sorted({s for q in qs for s in q.candidates} - set(model.systems_))
    if unknown:
        raise ValueError(f"{path} has candidates from system(s) the cascade was not fitted "
                         f"on: {', '.join(unknown)}. Known: {', '.join(model.systems_)}.")
    ran: dict[tuple[int, int], Any] = {}

    def fetch(j: int, rows: Any) -> list:
        name = model.systems_[j]
        for q in rows:
            sql = qs[q].candidates.get(name)
            ran[q, j] = MISSING if sql is None else dbs[qs[q].db_id].execute(sql)
        return [ran[q, j] for q in rows]

    picks, calls = model.run_sequential(len(qs), fetch)
    lines = []
    for q, (question, j) in enumerate(zip(qs, picks, strict=True)):
        called = [int(k) for k in model.order_ if calls[q, k]]
        groups = group_results([ran[q, k] for k in called])
        label = int(groups.labels[called.index(int(j))])
        lines.append(json.dumps({
            "id": question.id, "db_id": question.db_id,
            "sql": question.candidates.get(model.systems_[int(j)]),
            "system": model.systems_[int(j)],
            "votes": int(groups.sizes[label]) if label >= 0 else 0, "method": "cascade",
            "called": [model.systems_[k] for k in called]}))
    return lines
