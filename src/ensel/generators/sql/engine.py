"""Run SQL on a real database engine (read-only, time limit, row cap) and compare results.

The engine sits behind one small interface, :class:`Engine` (``execute(sql) ->
ExecutionResult``), so that another backend (PostgreSQL, DuckDB) only has to provide that.
Failures are results, never exceptions: a query that does not parse, names an unknown column,
tries to write or runs out of time comes back as an :class:`ExecutionResult` whose ``error``
says why.

Result comparison follows the Spider test-suite evaluation (Zhong et al., 2020): two results
match when they hold the same multiset of rows (the same sequence of rows when the reference
query orders its output), up to a permutation of the columns.
"""

from __future__ import annotations

import itertools
import re
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

__all__ = [
    "Engine",
    "ExecutionResult",
    "SQLiteEngine",
    "has_order_by",
    "results_match",
]

#: Column permutations tried at most when matching two results (beyond it: no match).
MAX_PERMUTATIONS = 10_000

# SQLite authorizer action codes a read-only query needs; every other action is denied.
_ALLOWED_ACTIONS = frozenset({
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    getattr(sqlite3, "SQLITE_RECURSIVE", 33),
})

_E = TypeVar("_E", bound="SQLiteEngine")

_ORDER_BY = re.compile(r"\border\s+by\b", re.IGNORECASE)


def has_order_by(sql: str) -> bool:
    """Whether ``sql`` contains ORDER BY anywhere (the test-suite rule for ordered comparison).

    Examples
    --------
    >>> has_order_by("SELECT name FROM t ORDER BY age"), has_order_by("SELECT name FROM t")
    (True, False)
    """
    return bool(_ORDER_BY.search(sql))


def _norm(value: Any) -> Any:
    """A value that is equal and hashes equal for ``1`` and ``1.0`` (as Python compares them)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _unordered_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    values = [_norm(v) for v in row]
    return tuple(sorted(values, key=lambda v: (type(v).__name__, str(v))))


@dataclass(frozen=True, eq=False)
class ExecutionResult:
    """What one query returned, or why it failed.

    Parameters
    ----------
    rows : tuple of tuple
        The rows, at most the engine's row cap; empty when the query failed.
    columns : tuple of str
        Column names as the engine reports them (ignored by comparison).
    error : str or None
        ``None`` when the query ran; otherwise the engine's message, e.g.
        ``"no such column: nme"`` or ``"timeout: query ran longer than 2 s"``.
    truncated : bool
        True when the query produced more rows than the cap and ``rows`` holds the first ones.
    seconds : float
        Wall-clock time spent.

    Examples
    --------
    >>> a = ExecutionResult(rows=((1, "x"),), columns=("n", "s"))
    >>> b = ExecutionResult(rows=(("x", 1),), columns=("s", "n"))
    >>> a.ok, results_match(a, b), str(ExecutionResult((), (), error="no such table: t"))
    (True, True, 'error: no such table: t')
    """

    rows: tuple[tuple[Any, ...], ...]
    columns: tuple[str, ...]
    error: str | None = None
    truncated: bool = False
    seconds: float = 0.0
    _keys: dict[bool, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """True when the query ran (an empty result is still ``ok``)."""
        return self.error is None

    @property
    def timed_out(self) -> bool:
        """True when the query was stopped by the time limit."""
        return self.error is not None and self.error.startswith("timeout")

    @property
    def n_rows(self) -> int:
        return len(self.rows)

    @property
    def n_columns(self) -> int:
        return len(self.columns) if self.columns else (len(self.rows[0]) if self.rows else 0)

    def key(self, *, ordered: bool = False) -> Any:
        """A hashable summary equal for any two results that :func:`results_match`.

        Results with different keys never match; results with equal keys nearly always do
        (the key forgets which value sits in which column). ``None`` for a failed query.
        """
        if self.error is not None:
            return None
        if ordered not in self._keys:
            if not self.rows:
                k: Any = ("empty", self.truncated)
            else:
                unordered = [_unordered_row(r) for r in self.rows]
                body = tuple(unordered) if ordered else frozenset(Counter(unordered).items())
                k = (len(self.rows[0]), len(self.rows), self.truncated, body)
            self._keys[ordered] = k
        return self._keys[ordered]

    def __str__(self) -> str:
        if self.error is not None:
            return f"error: {self.error}"
        more = "+" if self.truncated else ""
        return f"{self.n_rows}{more} rows x {self.n_columns} columns"


def results_match(a: ExecutionResult, b: ExecutionResult, *, ordered: bool = False) -> bool:
    """Whether two results are the same denotation, as the Spider test-suite evaluation says.

    Parameters
    ----------
    a, b : ExecutionResult
        Usually the reference (gold) result first; the relation is symmetric.
    ordered : bool, default=False
        Compare row sequences instead of row multisets (use ``has_order_by(gold_sql)``).

    Returns
    -------
    bool
        False when either query failed. Two empty results match whatever their columns. A
        truncated result only matches another truncated one (on the rows kept). Otherwise the
        rows must be equal as multisets (or sequences) after some permutation of ``b``'s
        columns; the permutations tried are those pairing columns with equal value sets (at
        most ``MAX_PERMUTATIONS``), so the check stays cheap.

    Examples
    --------
    >>> r = lambda *rows: ExecutionResult(rows=tuple(rows), columns=())
    >>> results_match(r((1, "a"), (2, "b")), r(("b", 2), ("a", 1)))
    True
    >>> results_match(r((1,), (2,)), r((2,), (1,)), ordered=True)
    False
    >>> results_match(r((1,), (1,)), r((1,),))   # multisets: duplicates count
    False
    """
    if not (a.ok and b.ok) or a.truncated != b.truncated:
        return False
    if not a.rows and not b.rows:
        return True
    if a.key(ordered=ordered) != b.key(ordered=ordered):
        return False
    n_cols = len(a.rows[0])
    if n_cols == 1:
        return True  # equal keys with one column are equal multisets / sequences
    cols_a = [{_norm(r[i]) for r in a.rows} for i in range(n_cols)]
    cols_b = [{_norm(r[j]) for r in b.rows} for j in range(n_cols)]
    choices = [[j for j in range(n_cols) if cols_b[j] == cols_a[i]] for i in range(n_cols)]
    target: Any = list(a.rows) if ordered else Counter(a.rows)
    for n_tried, perm in enumerate(itertools.product(*choices)):
        if n_tried >= MAX_PERMUTATIONS:
            break
        if len(set(perm)) != n_cols:
            continue
        permuted = [tuple(row[j] for j in perm) for row in b.rows]
        if (permuted if ordered else Counter(permuted)) == target:
            return True
    return False


@runtime_checkable
class Engine(Protocol):
    """The interface a database backend provides: run one query, return its result."""

    name: str

    def execute(self, sql: str) -> ExecutionResult:
        """Run ``sql`` read-only; failures come back as a result with ``error`` set."""
        ...


class SQLiteEngine:
    """A SQLite database opened read-only, with a per-query time limit and a row cap.

    Parameters
    ----------
    path : str or Path
        The ``.sqlite`` file. Opened with the URI ``file:...?mode=ro``, ``PRAGMA query_only``
        and an authorizer that allows only reading (SELECT, reads, functions, recursive CTEs),
        so no candidate can change the database or attach another one.
    timeout : float, default=5.0
        Seconds a query may run (checked by a progress handler every 1000 VM steps); a query
        that runs longer returns ``error="timeout: ..."``.
    max_rows : int, default=10000
        Rows kept per result; a longer result is cut there and marked ``truncated``.
    cache : bool, default=True
        Remember results per query text for the life of the engine.

    Examples
    --------
    >>> import sqlite3, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "toy.sqlite")
    >>> con = sqlite3.connect(path); con.execute("CREATE TABLE t (a INT)"); con.commit()
    ... # doctest: +ELLIPSIS
    <sqlite3.Cursor object at ...>
    >>> con.close()
    >>> with SQLiteEngine(path, timeout=1.0) as db:
    ...     print(db.execute("SELECT count(*) FROM t"), "|", db.execute("DELETE FROM t"))
    1 rows x 1 columns | error: not authorized
    """

    def __init__(self, path: str | Path, *, timeout: float = 5.0, max_rows: int = 10_000,
                 cache: bool = True) -> None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"SQLite database file not found: {str(path)!r}.")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ValueError(
                f"The 'timeout' parameter of SQLiteEngine must be a positive number of seconds. "
                f"Got {timeout!r} instead."
            )
        if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
            raise ValueError(
                f"The 'max_rows' parameter of SQLiteEngine must be an int >= 1. "
                f"Got {max_rows!r} instead."
            )
        self.path = path
        self.name = path.stem
        self.timeout = float(timeout)
        self.max_rows = max_rows
        self.cache = cache
        self._results: dict[str, ExecutionResult] = {}
        self._con: sqlite3.Connection | None = None
        self._deadline = float("inf")

    # ------------------------------------------------------------------ connection
    def _connect(self) -> sqlite3.Connection:
        if self._con is None:
            uri = self.path.resolve().as_uri() + "?mode=ro"
            con = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            con.text_factory = lambda b: b.decode("utf-8", errors="replace")
            con.execute("PRAGMA query_only = 1")
            con.set_authorizer(self._authorize)
            con.set_progress_handler(self._progress, 1000)
            self._con = con
        return self._con

    @staticmethod
    def _authorize(action: int, *args: Any) -> int:
        return sqlite3.SQLITE_OK if action in _ALLOWED_ACTIONS else sqlite3.SQLITE_DENY

    def _progress(self) -> int:
        return 1 if time.perf_counter() > self._deadline else 0

    def close(self) -> None:
        """Close the connection (the engine reconnects on the next query)."""
        if self._con is not None:
            self._con.close()
            self._con = None

    def __enter__(self: _E) -> _E:  # noqa: PYI019 - typing.Self needs Python 3.11
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLiteEngine({str(self.path)!r}, timeout={self.timeout}, max_rows={self.max_rows})"

    # ------------------------------------------------------------------ queries
    def execute(self, sql: str) -> ExecutionResult:
        """Run one query and return its result (cached per query text when ``cache``).

        Parameters
        ----------
        sql : str
            One SQL statement; a trailing ``;`` is fine, a second statement is an error result.

        Returns
        -------
        ExecutionResult
            Rows (at most ``max_rows``) or the error; never raises for a bad query.
        """
        if not isinstance(sql, str):
            raise TypeError(f"SQLiteEngine.execute expects the query as str, got {type(sql).__name__}.")
        if self.cache and sql in self._results:
            return self._results[sql]
        result = self._run(sql)
        if self.cache:
            self._results[sql] = result
        return result

    def _run(self, sql: str) -> ExecutionResult:
        con = self._connect()
        start = time.perf_counter()
        self._deadline = start + self.timeout
        cursor = None
        try:
            cursor = con.execute(sql)
            rows = cursor.fetchmany(self.max_rows + 1)
            columns = tuple(d[0] for d in cursor.description or ())
        except Exception as exc:  # noqa: BLE001 - errors are results: sqlite3.Error, ValueError (NUL), ...
            seconds = time.perf_counter() - start
            message = str(exc) or type(exc).__name__
            if isinstance(exc, sqlite3.OperationalError) and "interrupted" in message \
                    and seconds >= self.timeout:
                message = f"timeout: query ran longer than {self.timeout:g} s"
            return ExecutionResult(rows=(), columns=(), error=message, seconds=seconds)
        finally:
            self._deadline = float("inf")
            if cursor is not None:
                cursor.close()
        truncated = len(rows) > self.max_rows
        return ExecutionResult(rows=tuple(rows[: self.max_rows]), columns=columns,
                               truncated=truncated, seconds=time.perf_counter() - start)
