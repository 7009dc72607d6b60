"""The process that runs SQL for `ensel.generators.sql.SQLiteEngine` (stdlib only).

Started as a script (``python -I -S _worker.py``; ensel imports it only for its two message
functions): it opens one database read-only and answers queries sent on stdin, one at a
time. Running the queries in a process of their own is what makes the time and memory limits
hold for *any* query: a single SQLite step (``printf('%.*c', 2000000000, 'x')``, a
pathological ``GLOB``) cannot be interrupted from inside, but the process running it can be
killed. Inside the process the
limits are also enforced cooperatively, so that ordinary runaways come back as results:

- a progress handler every ``progress_steps`` VM steps ends a query past its deadline;
- ``SQLITE_LIMIT_LENGTH`` bounds every string and blob (``randomblob(10**9)`` fails at once);
- ``PRAGMA hard_heap_limit`` bounds SQLite's memory and ``RLIMIT_AS`` (Linux) the process's;
- rows are fetched one at a time and the result's bytes are counted against a cap;
- temporary tables and sorts stay in (bounded) memory, never in files.

Messages are length-prefixed `marshal` dumps of plain tuples (ints, floats, str, bytes, None)
between ensel and this script only, never written to disk.
"""

import marshal
import sqlite3
import struct
import sys
import time

_ALLOWED = frozenset({
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    getattr(sqlite3, "SQLITE_RECURSIVE", 33),
})
_LIMIT_LENGTH = getattr(sqlite3, "SQLITE_LIMIT_LENGTH", 0)
_LIMIT_SQL_LENGTH = getattr(sqlite3, "SQLITE_LIMIT_SQL_LENGTH", 1)


def read_message(stream):
    """One message, or None at end of input."""
    head = stream.read(8)
    if len(head) < 8:
        return None
    (n,) = struct.unpack("<Q", head)
    return marshal.loads(stream.read(n))


def write_message(stream, obj):
    data = marshal.dumps(obj)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def _limit_address_space(max_memory):
    """Cap the process's virtual memory at what it uses now plus ``max_memory`` (Linux)."""
    try:
        import resource

        with open("/proc/self/status") as f:
            used = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
        limit = used + max_memory
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, OSError, ValueError, StopIteration):
        pass                       # not Linux: SQLite's own heap limit still holds


def _authorize(action, *args):
    return sqlite3.SQLITE_OK if action in _ALLOWED else sqlite3.SQLITE_DENY


class _Runner:
    def __init__(self, config):
        self.config = config
        self.deadline = float("inf")
        con = sqlite3.connect(config["uri"], uri=True, isolation_level=None)
        con.text_factory = lambda b: b.decode("utf-8", errors="replace")
        con.execute("PRAGMA query_only = 1")
        con.execute("PRAGMA temp_store = MEMORY")
        con.execute(f"PRAGMA hard_heap_limit = {int(config['max_memory'])}")
        if hasattr(con, "setlimit"):       # Python >= 3.11
            con.setlimit(_LIMIT_LENGTH, int(config["max_value_bytes"]))
            con.setlimit(_LIMIT_SQL_LENGTH, int(config["max_value_bytes"]))
        con.set_authorizer(_authorize)
        con.set_progress_handler(self._progress, int(config["progress_steps"]))
        self.con = con

    def _progress(self):
        return 1 if time.perf_counter() > self.deadline else 0

    def _fetch(self, cursor, max_rows, max_bytes):
        rows, size = [], 0
        while len(rows) <= max_rows:
            row = cursor.fetchone()
            if row is None:
                break
            size += 56 + 8 * len(row) + sum(
                32 + len(v) if isinstance(v, (str, bytes)) else 32 for v in row)
            if size > max_bytes:
                return rows, f"too large: the result exceeds {max_bytes} bytes"
            rows.append(row)
        return rows, None

    def run(self, sql, timeout, max_rows, max_bytes):
        """``(error, columns, rows, truncated)`` for one query."""
        start = time.perf_counter()
        self.deadline = start + timeout
        cursor = None
        try:
            cursor = self.con.execute(sql)
            columns = tuple(d[0] for d in cursor.description or ())
            rows, error = self._fetch(cursor, max_rows, max_bytes)
        except MemoryError:
            return (f"out of memory: the query needed more than {self.config['max_memory']} "
                    f"bytes", (), (), False)
        except Exception as exc:  # noqa: BLE001 - every failure is a result
            message = str(exc) or type(exc).__name__
            if isinstance(exc, sqlite3.OperationalError) and "interrupted" in message \
                    and time.perf_counter() - start >= timeout:
                message = f"timeout: query ran longer than {timeout:g} s"
            elif "too big" in message:
                message += f" (values are limited to {self.config['max_value_bytes']} bytes)"
            return (message, (), (), False)
        finally:
            self.deadline = float("inf")
            if cursor is not None:
                cursor.close()
        if error is not None:
            return (error, (), (), False)
        truncated = len(rows) > max_rows
        return (None, columns, tuple(rows[:max_rows]), truncated)


def main():
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    config = read_message(stdin)
    if config is None:
        return
    _limit_address_space(int(config["max_memory"]) + int(config["headroom"]))
    try:
        runner = _Runner(config)
    except Exception as exc:  # noqa: BLE001 - reported to ensel, which raises
        write_message(stdout, ("error", str(exc) or type(exc).__name__))
        return
    write_message(stdout, ("ready", ""))
    while True:
        request = read_message(stdin)
        if request is None:
            return
        try:
            reply = runner.run(*request)
            write_message(stdout, reply)
        except MemoryError:
            write_message(stdout, (f"out of memory: the query needed more than "
                                   f"{config['max_memory']} bytes", (), (), False))


if __name__ == "__main__":
    main()
