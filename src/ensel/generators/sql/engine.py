"""Run SQL on a real database engine (read-only, bounded time and memory) and compare results.

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

import contextlib
import itertools
import queue
import re
import subprocess
import sys
import threading
import time
import weakref
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from ensel import _validation as V
from ensel.generators.sql import _worker

__all__ = [
    "Engine",
    "ExecutionResult",
    "SQLiteEngine",
    "has_order_by",
    "read_only_uri",
    "results_match",
]

#: Column permutations tried at most when matching two results (beyond it: no match).
MAX_PERMUTATIONS = 10_000

#: VM steps between two deadline checks inside the worker (the kill is the hard limit).
PROGRESS_STEPS = 100
#: Seconds a new worker process may take to start and open its database.
WORKER_START_TIMEOUT = 30.0

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


def read_only_uri(path: str | Path) -> str:
    """The URI that opens a SQLite file read-only without creating any file beside it.

    ``immutable=1`` when no ``-wal`` file is present: SQLite then takes no locks and creates
    no ``-wal`` / ``-shm`` files even for a database in WAL mode. A database with a ``-wal``
    file (a writer is using it, or one crashed) holds changes only that file has: it is opened
    ``mode=ro`` so those changes are read.

    Examples
    --------
    >>> read_only_uri("/data/pets.sqlite")
    'file:///data/pets.sqlite?mode=ro&immutable=1'
    """
    path = Path(path).resolve()
    wal = path.with_name(path.name + "-wal")
    return path.as_uri() + ("?mode=ro" if wal.exists() else "?mode=ro&immutable=1")


def _pump(stream: Any, replies: queue.SimpleQueue) -> None:
    """Move the worker's replies into ``replies``; None when it stops."""
    while True:
        try:
            message = _worker.read_message(stream)
        except Exception:  # noqa: BLE001 - a broken pipe or a torn message: the worker is gone
            message = None
        replies.put(message)
        if message is None:
            return


def _stop(proc: subprocess.Popen, kill: bool = False) -> None:
    """End a worker process: close its input, then kill it if ``kill`` or it does not exit."""
    if kill:
        proc.kill()
    with contextlib.suppress(OSError):
        proc.stdin.close()
    try:
        proc.wait(timeout=0.5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class SQLiteEngine:
    """A SQLite database opened read-only, with hard limits on time, memory and result size.

    Queries run in a worker process of their own (one per engine, started on the first
    query, stdlib only), so every limit holds for any query: one that SQLite cannot
    interrupt -- a single huge ``printf``, a pathological ``GLOB`` -- is stopped by killing
    the worker, which is restarted for the next query.

    Parameters
    ----------
    path : str or Path
        The ``.sqlite`` file, opened with ``read_only_uri`` (no ``-wal`` / ``-shm`` files are
        created), ``PRAGMA query_only`` and an authorizer that allows only reading (SELECT,
        reads, functions, recursive CTEs), so no candidate can change the database or attach
        another one.
    timeout : float, default=5.0
        Seconds a query may run: finite and > 0. A query past it returns
        ``error="timeout: ..."`` -- ended by a progress handler at ``timeout``, or, for a step
        that never yields, by killing the worker at ``1.25 * timeout + 0.05`` s.
    max_rows : int, default=10000
        Rows kept per result; a longer result is cut there and marked ``truncated``.
    max_value_bytes : int, default=10_000_000
        Largest string or blob a query may build (``SQLITE_LIMIT_LENGTH``; Python >= 3.11),
        and longest SQL text: ``randomblob(10**9)`` fails at once with
        ``"string or blob too big"``.
    max_result_bytes : int, default=64_000_000
        Bytes a result may take in memory (values plus Python overhead, counted row by row);
        a larger result is an error ``"too large: ..."``, not a truncated result.
    max_memory : int, default=256_000_000
        Bytes SQLite may allocate in the worker (``PRAGMA hard_heap_limit``; on Linux the
        worker's address space is capped at this plus ``max_result_bytes`` too). A query
        that needs more returns ``error="out of memory: ..."``.
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
                 max_value_bytes: int = 10_000_000, max_result_bytes: int = 64_000_000,
                 max_memory: int = 256_000_000, cache: bool = True) -> None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"SQLite database file not found: {str(path)!r}.")
        owner = "SQLiteEngine"
        self.timeout = V.check_seconds(timeout, "timeout", owner)
        self.max_rows = V.check_int_param(max_rows, "max_rows", owner, low=1)
        self.max_value_bytes = V.check_int_param(max_value_bytes, "max_value_bytes", owner,
                                                 low=1000, high=2**31 - 1)
        self.max_result_bytes = V.check_int_param(max_result_bytes, "max_result_bytes", owner,
                                                  low=1000)
        self.max_memory = V.check_int_param(max_memory, "max_memory", owner, low=1_000_000)
        self.path = path
        self.name = path.stem
        self.cache = cache
        self._results: dict[str, ExecutionResult] = {}
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._replies: queue.SimpleQueue = queue.SimpleQueue()

    # ------------------------------------------------------------------ the worker
    def _start(self) -> str | None:
        """Start the worker and open the database in it; the error text if that failed."""
        proc = subprocess.Popen([sys.executable, "-I", "-S", _worker.__file__],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        self._proc, self._replies = proc, queue.SimpleQueue()
        weakref.finalize(self, _stop, proc)
        threading.Thread(target=_pump, args=(proc.stdout, self._replies), daemon=True).start()
        config = {"uri": read_only_uri(self.path), "max_value_bytes": self.max_value_bytes,
                  "max_memory": self.max_memory, "headroom": self.max_result_bytes,
                  "progress_steps": PROGRESS_STEPS}
        try:
            _worker.write_message(proc.stdin, config)
            reply = self._replies.get(timeout=WORKER_START_TIMEOUT)
        except (OSError, queue.Empty):
            reply = None
        if reply is not None and reply[0] == "ready":
            return None
        self.close()
        return f"cannot open the database: {reply[1] if reply else 'the worker did not start'}"

    def close(self, *, kill: bool = False) -> None:
        """Stop the worker process (a new one starts on the next query)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            _stop(proc, kill=kill)

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
            raise TypeError(
                f"SQLiteEngine.execute expects the query as str, got {type(sql).__name__}.")
        if self.cache and sql in self._results:
            return self._results[sql]
        with self._lock:
            result = self._run(sql)
        if self.cache:
            self._results[sql] = result
        return result

    def _run(self, sql: str) -> ExecutionResult:
        if self._proc is None:
            error = self._start()
            if error is not None:
                return ExecutionResult(rows=(), columns=(), error=error)
        start = time.perf_counter()
        try:
            _worker.write_message(self._proc.stdin,
                                  (sql, self.timeout, self.max_rows, self.max_result_bytes))
            reply = self._replies.get(timeout=1.25 * self.timeout + 0.05)
        except queue.Empty:
            reply = f"timeout: query ran longer than {self.timeout:g} s"
        except OSError:
            reply = None
        seconds = time.perf_counter() - start
        if not isinstance(reply, tuple):
            code = self._proc.poll()
            self.close(kill=True)
            error = reply if isinstance(reply, str) else (
                f"the query stopped the SQLite worker (exit code {code}); it probably ran out "
                f"of memory")
            return ExecutionResult(rows=(), columns=(), error=error, seconds=seconds)
        error, columns, rows, truncated = reply
        return ExecutionResult(rows=rows, columns=columns, error=error, truncated=truncated,
                               seconds=seconds)
