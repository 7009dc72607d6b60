"""Questions with candidate SQL, the databases they run on, and their executed form."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ensel import _validation as V
from ensel.generators.candidates import Groups, group_candidates
from ensel.generators.sql.engine import (
    Engine,
    ExecutionResult,
    SQLiteEngine,
    has_order_by,
    results_match,
)

__all__ = [
    "ExecutedQuestion",
    "SQLQuestion",
    "SQLiteDatabases",
    "execute_questions",
    "load_questions",
]

#: The result recorded for a system that proposed nothing for a question.
MISSING = ExecutionResult(rows=(), columns=(), error="no candidate")


@dataclass(frozen=True)
class SQLQuestion:
    """One question on one database, with the SQL each system proposed.

    Parameters
    ----------
    id : int or str
    db_id : str
        Name of the database (``<databases>/<db_id>/<db_id>.sqlite``).
    question : str
        The natural-language question.
    candidates : dict of str to str
        System name -> proposed SQL.
    gold : str or None
        The reference SQL, when known (needed for accuracy and for training).
    """

    id: int | str
    db_id: str
    question: str
    candidates: dict[str, str]
    gold: str | None = None


def load_questions(path: str | Path) -> list[SQLQuestion]:
    """Read a questions file: JSON lines ``{"id", "db_id", "question", "gold", "candidates"}``.

    Parameters
    ----------
    path : str or Path
        The ``.jsonl`` file (format of ``spider_dev_public/questions.jsonl``); ``gold`` may be
        missing or null.

    Returns
    -------
    list of SQLQuestion

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        Naming the line when a record is not UTF-8, not JSON, not an object or lacks a field.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Questions file not found: {str(path)!r}.")
    out = []
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: not valid UTF-8 (byte {exc.start} of the "
                                 f"line).") from None
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({exc.msg}).") from None
            if not isinstance(rec, dict):
                raise ValueError(f"{path}:{lineno}: expected a JSON object "
                                 f"{{\"db_id\", \"question\", \"candidates\", ...}}; got "
                                 f"{type(rec).__name__}.")
            missing = [k for k in ("db_id", "question", "candidates") if k not in rec]
            if missing:
                raise ValueError(f"{path}:{lineno}: missing field(s) {', '.join(missing)}.")
            cands = rec["candidates"]
            if not isinstance(cands, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in cands.items()):
                raise ValueError(f"{path}:{lineno}: 'candidates' must map system names to SQL "
                                 f"strings.")
            out.append(SQLQuestion(id=rec.get("id", lineno - 1), db_id=str(rec["db_id"]),
                                   question=str(rec["question"]), candidates=dict(cands),
                                   gold=rec.get("gold")))
    if not out:
        raise ValueError(f"{path}: no questions in the file.")
    return out


class SQLiteDatabases:
    """The SQLite databases of a folder, one read-only :class:`SQLiteEngine` per ``db_id``.

    Parameters
    ----------
    root : str or Path
        Holds ``<db_id>/<db_id>.sqlite`` (Spider layout) or ``<db_id>.sqlite``.
    timeout, max_rows, **limits
        Passed to every :class:`SQLiteEngine` (``timeout`` must be finite and > 0; checked
        here, before any database is opened).

    A ``db_id`` names a database directly under ``root``: one path component, no ``..``, no
    separator, not absolute; the file it names must resolve inside ``root`` (a symbolic link
    pointing outside is refused), so a questions file cannot make ensel read another file.

    Examples
    --------
    >>> dbs = SQLiteDatabases("path/to/database")        # doctest: +SKIP
    >>> dbs["pets_1"].execute("SELECT count(*) FROM pets").rows   # doctest: +SKIP
    ((10,),)
    """

    def __init__(self, root: str | Path, *, timeout: float = 5.0, max_rows: int = 10_000,
                 **limits: int) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"Databases folder not found: {str(self.root)!r}.")
        self.timeout = V.check_seconds(timeout, "timeout", "SQLiteDatabases")
        self.max_rows = max_rows
        self.limits = limits
        self._engines: dict[str, SQLiteEngine] = {}

    def path(self, db_id: str) -> Path:
        """The file of database ``db_id``, checked to lie inside ``root``."""
        _check_db_id(db_id)
        root = self.root.resolve()
        for p in (self.root / db_id / f"{db_id}.sqlite", self.root / f"{db_id}.sqlite"):
            if p.is_file():
                if not p.resolve().is_relative_to(root):
                    raise ValueError(
                        f"Database {db_id!r}: {p} resolves to {p.resolve()}, outside the "
                        f"databases folder {str(root)!r}; links out of it are not followed."
                    )
                return p
        raise FileNotFoundError(
            f"No SQLite file for database {db_id!r} under {str(self.root)!r} (looked for "
            f"{db_id}/{db_id}.sqlite and {db_id}.sqlite)."
        )

    def __getitem__(self, db_id: str) -> SQLiteEngine:
        if db_id not in self._engines:
            self._engines[db_id] = SQLiteEngine(self.path(db_id), timeout=self.timeout,
                                                max_rows=self.max_rows, **self.limits)
        return self._engines[db_id]

    def close(self) -> None:
        """Close every open connection."""
        for engine in self._engines.values():
            engine.close()


def _check_db_id(db_id: Any) -> None:
    """A database name: one plain path component (no separators, ``..``, drive or NUL)."""
    ok = isinstance(db_id, str) and db_id not in ("", ".", "..") and not any(
        c in db_id for c in ("/", "\\", "\0", ":")) and not Path(db_id).is_absolute()
    if not ok:
        raise ValueError(
            f"db_id {db_id!r} is not a database name: it must be one folder or file name "
            f"directly under the databases folder (no '/', '\\', ':', '..' or absolute paths)."
        )


@dataclass(frozen=True)
class ExecutedQuestion:
    """A question whose candidates (and gold) ran on its database.

    Attributes
    ----------
    question : SQLQuestion
    systems : list of str, length K
        Candidate order (shared by every question of a run).
    results : list of ExecutionResult, length K
        One per system; a system without a candidate gets an error result ``"no candidate"``.
    present : ndarray of shape (K,), bool
        Which systems proposed a candidate.
    groups : Groups
        Candidates grouped by matching results (order-insensitive), failed ones apart.
    gold_result : ExecutionResult or None
    ordered : bool
        The gold query has ORDER BY, so correctness compares row order.
    correct : ndarray of shape (K,), bool, or None
        Whether each candidate's result matches the gold result (None without gold).
    """

    question: SQLQuestion
    systems: list[str]
    results: list[ExecutionResult]
    present: np.ndarray
    groups: Groups
    gold_result: ExecutionResult | None
    ordered: bool
    correct: np.ndarray | None

    def sql(self, j: int) -> str | None:
        """The SQL of candidate ``j`` (None when its system proposed nothing)."""
        return self.question.candidates.get(self.systems[j])


def group_results(results: Sequence[ExecutionResult], *, ordered: bool = False) -> Groups:
    """Group execution results: same group iff :func:`results_match`; errors stay apart.

    Examples
    --------
    >>> r = lambda *rows: ExecutionResult(rows=tuple(rows), columns=())
    >>> err = ExecutionResult((), (), error="no such column: x")
    >>> group_results([r((1,)), err, r((1,)), r((2,))]).labels.tolist()
    [0, -1, 0, 1]
    """
    return group_candidates([r.key(ordered=ordered) for r in results], items=list(results),
                            equal=lambda a, b: results_match(a, b, ordered=ordered))


def execute_questions(
    questions: Iterable[SQLQuestion],
    databases: SQLiteDatabases | Callable[[str], Engine],
    *,
    systems: Sequence[str] | None = None,
    progress: bool = False,
) -> list[ExecutedQuestion]:
    """Run every candidate (and the gold query) of every question on its database.

    Parameters
    ----------
    questions : iterable of SQLQuestion
    databases : SQLiteDatabases or callable db_id -> Engine
    systems : sequence of str, optional
        Candidate order; default: the systems of the first question, in file order, followed
        by systems first seen later. Put the strongest first: consensus ties go to the
        earliest candidate.
    progress : bool, default=False
        Show a progress bar (rich) on stderr.

    Returns
    -------
    list of ExecutedQuestion
        Each engine caches results per query text, so repeated SQL runs once.
    """
    questions = list(questions)
    if not questions:
        raise ValueError("execute_questions needs at least one question.")
    if systems is None:
        seen: dict[str, None] = {}
        for q in questions:
            seen.update(dict.fromkeys(q.candidates))
        systems = list(seen)
    systems = list(systems)
    if not systems:
        raise ValueError("No candidate systems: every question has an empty 'candidates'.")
    get = databases.__getitem__ if isinstance(databases, SQLiteDatabases) else databases
    iterator: Iterable[SQLQuestion] = questions
    if progress:
        from rich.progress import track

        iterator = track(questions, description="executing", transient=True)
    out = []
    for q in iterator:
        engine = get(q.db_id)
        present = np.array([s in q.candidates for s in systems])
        results = [engine.execute(q.candidates[s]) if s in q.candidates else MISSING
                   for s in systems]
        groups = group_results(results)
        gold_result, correct, ordered = None, None, False
        if q.gold is not None:
            gold_result = engine.execute(q.gold)
            ordered = has_order_by(q.gold)
            correct = np.array([results_match(gold_result, r, ordered=ordered) for r in results])
        out.append(ExecutedQuestion(question=q, systems=systems, results=results,
                                    present=present, groups=groups, gold_result=gold_result,
                                    ordered=ordered, correct=correct))
    return out
