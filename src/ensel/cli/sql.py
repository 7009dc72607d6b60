"""``ensel sql``: evaluate candidate selection for text-to-SQL, train the learned selector.

Only typer is imported here; the SQL engine, sqlglot and torch load inside the commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

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
        "--selector", help="A selector saved by 'ensel sql train'.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Write {n_questions, accuracy: {method: a}} as JSON here.")] = None,
    timeout: TimeoutOpt = 5.0,
    max_rows: MaxRowsOpt = 10_000,
) -> None:
    """Execution accuracy per method: oracle, consensus, selector (with --selector), systems."""
    from rich.console import Console
    from rich.table import Table

    from ensel.generators.sql import evaluate_selection

    model = None
    if selector is not None:
        from ensel.generators.sql import SQLSelector

        model = SQLSelector.load(selector)
    executed = _execute(questions, databases, timeout, max_rows,
                        systems=model.systems_ if model is not None else None)
    result = evaluate_selection(executed, selector=model)
    n = result["n_questions"]
    table = Table(title=f"Execution accuracy on {n} questions")
    table.add_column("method")
    table.add_column("accuracy", justify="right")
    table.add_column("correct", justify="right")
    for name, acc in result["accuracy"].items():
        table.add_row(name, f"{100 * acc:.1f}%", f"{round(acc * n)}/{n}")
    Console().print(table)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        typer.echo(f"wrote {out}")


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
    timeout: TimeoutOpt = 5.0,
    max_rows: MaxRowsOpt = 10_000,
) -> None:
    """Train the learned selector on questions with gold SQL (penalty chosen by database CV).

    The selector is saved crash-consistently: an existing selector in OUTPUT is replaced
    whole, or left as it was if the save is interrupted.
    """
    from ensel.generators.sql import SQLSelector

    _check_output(output)
    executed = _execute(questions, databases, timeout, max_rows)
    solver = "adam" if method == "perturbed" else "lbfgs"
    model = SQLSelector(method=method, cv=cv, solver=solver, random_state=seed).fit(executed)
    model.save(output)
    dbs = sorted({eq.question.db_id for eq in executed})
    cv_text = ", ".join(f"{a:g}: {v:.3f}" for a, v in model.cv_results_.items())
    typer.echo(f"trained on {len(executed)} questions from {len(dbs)} databases; "
               f"alpha = {model.alpha_:g}" + (f" (CV error {cv_text})" if cv_text else ""))
    typer.echo(f"saved {output}")


@sql_app.command()
def select(
    questions: QuestionsOpt,
    databases: DatabasesOpt,
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="JSON lines to write: {id, db_id, sql, system, votes, method}.")],
    selector: Annotated[Path | None, typer.Option(
        "--selector", help="A selector saved by 'ensel sql train' (default: consensus).")] = None,
    timeout: TimeoutOpt = 5.0,
    max_rows: MaxRowsOpt = 10_000,
) -> None:
    """Choose one SQL per question for new questions, without gold: execute every candidate,
    then take the largest group of candidates with the same result (consensus) or the
    learned selector's choice. Any ``gold`` in the file is ignored (never executed).

    One line per question, in the file's order; ``sql`` is null when no system proposed a
    candidate. The file is written atomically.
    """
    from dataclasses import replace

    from ensel import _io
    from ensel.generators.sql import (
        SQLiteDatabases,
        execute_questions,
        load_questions,
        method_picks,
    )

    model = None
    if selector is not None:
        from ensel.generators.sql import SQLSelector

        model = SQLSelector.load(selector)
    qs = [replace(q, gold=None) for q in load_questions(questions)]
    systems = model.systems_ if model is not None else None
    dbs = SQLiteDatabases(databases, timeout=timeout, max_rows=max_rows)
    try:
        executed = execute_questions(qs, dbs, systems=systems, progress=True)
    finally:
        dbs.close()
    method = "selector" if model is not None else "consensus"
    picks = method_picks(executed, selector=model)[method]
    lines = []
    for eq, j in zip(executed, picks, strict=True):
        label = int(eq.groups.labels[j]) if eq.groups.n_groups else -1
        votes = int(eq.groups.sizes[label]) if label >= 0 else 0
        lines.append(json.dumps({"id": eq.question.id, "db_id": eq.question.db_id,
                                 "sql": eq.sql(int(j)), "system": eq.systems[int(j)],
                                 "votes": votes, "method": method}))
    _io.write_text(output, "\n".join(lines) + "\n")
    typer.echo(f"chose SQL for {len(lines)} questions by {method}; wrote {output}")
