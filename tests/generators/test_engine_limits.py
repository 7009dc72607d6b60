"""SQL execution bounded in time, memory and result size; paths confined (issue 14, items 3-5)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ensel.generators.sql import SQLiteDatabases, SQLiteEngine, load_questions, m_schema
from ensel.generators.sql.engine import read_only_uri

from .conftest import make_pets_db

BIG_PRINTF = "length(upper(printf('%.*c', 2000000000, 'x')))"   # ~30 s in one SQLite step


# ---------------------------------------------------------------------- time
def test_one_uninterruptible_step_is_stopped_within_the_limit(pets_db: Path) -> None:
    """Issue 14, item 3: few-but-expensive steps bypassed the progress handler."""
    with SQLiteEngine(pets_db, timeout=0.5) as db:
        db.execute("SELECT 1")                # the worker is started on the first query
        start = time.perf_counter()
        result = db.execute("SELECT " + ", ".join([BIG_PRINTF] * 100))
        elapsed = time.perf_counter() - start
        assert result.timed_out, result.error
        assert result.error == "timeout: query ran longer than 0.5 s"
        assert result.seconds < elapsed < 2 * 0.5
        assert db.execute("SELECT count(*) FROM pet").rows == ((5,),)   # a new worker


def test_runaway_loop_is_ended_by_the_worker_itself(pets_db: Path) -> None:
    sql = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT max(i) FROM n"
    with SQLiteEngine(pets_db, timeout=0.3) as db:
        db.execute("SELECT 1")
        proc = db._proc
        result = db.execute(sql)
        assert result.timed_out and 0.3 <= result.seconds < 0.6
        assert db._proc is proc and proc.poll() is None      # ended politely, not killed


@pytest.mark.parametrize("timeout", [float("inf"), float("nan"), 0, -1.0, True, "1", None])
def test_timeout_must_be_finite_and_positive(pets_db: Path, timeout: object) -> None:
    """Issue 14, item 4: timeout=inf was accepted and a recursive CTE never ended."""
    with pytest.raises(ValueError, match=r"'timeout' parameter of SQLiteEngine must be a finite "
                                         r"number of seconds > 0\. Got"):
        SQLiteEngine(pets_db, timeout=timeout)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"'timeout' parameter of SQLiteDatabases must be a "
                                         r"finite number of seconds > 0"):
        SQLiteDatabases(pets_db.parent, timeout=timeout)  # type: ignore[arg-type]


def test_cli_rejects_infinite_timeout(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from ensel.cli import main

    make_pets_db(tmp_path / "db" / "pets" / "pets.sqlite")
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"db_id": "pets", "question": "?", "gold": "SELECT 1",
                                     "candidates": {"a": "SELECT 1"}}) + "\n")
    code = main(["sql", "evaluate", "--questions", str(questions), "--databases",
                 str(tmp_path / "db"), "--timeout", "inf"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().count("\n") == 0 and "finite number of seconds > 0. Got inf" in err


# ---------------------------------------------------------------------- memory and size
def test_huge_blob_fails_at_once(pets_db: Path) -> None:
    with SQLiteEngine(pets_db, timeout=1.0, max_value_bytes=1_000_000) as db:
        for sql in ("SELECT randomblob(50000000)", "SELECT randomblob(1000000000)",
                    "SELECT zeroblob(50000000)", "SELECT length(printf('%.*c', 5000000, 'x'))"
                    " IS NULL OR length(hex(randomblob(600000))) > 0"):
            start = time.perf_counter()
            result = db.execute(sql)
            assert time.perf_counter() - start < 0.5, sql
            assert result.error == ("string or blob too big (values are limited to 1000000 "
                                    "bytes)"), (sql, result.error)


def test_result_bytes_are_capped(pets_db: Path) -> None:
    sql = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 200) "
           "SELECT i, randomblob(100000) FROM n")
    with SQLiteEngine(pets_db, max_result_bytes=5_000_000, max_rows=1000) as db:
        result = db.execute(sql)
        assert result.error == "too large: the result exceeds 5000000 bytes"
    with SQLiteEngine(pets_db, max_result_bytes=50_000_000) as db:
        assert db.execute(sql).n_rows == 200


def test_sqlite_memory_is_capped(pets_db: Path) -> None:
    sql = ("SELECT count(*) FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
           "LIMIT 100000) SELECT i, randomblob(2000) AS b FROM n ORDER BY b)")
    with SQLiteEngine(pets_db, timeout=20.0, max_memory=20_000_000) as db:
        result = db.execute(sql)
        assert result.error == "out of memory: the query needed more than 20000000 bytes"
        assert db.execute("SELECT count(*) FROM owner").rows == ((3,),)


def test_a_dead_worker_is_an_error_result_then_restarted(pets_db: Path) -> None:
    with SQLiteEngine(pets_db, cache=False) as db:
        assert db.execute("SELECT 1").rows == ((1,),)
        db._proc.kill()
        db._proc.wait()
        result = db.execute("SELECT 1")
        assert not result.ok and "stopped the SQLite worker" in result.error
        assert db.execute("SELECT 2").rows == ((2,),)


def test_an_unreadable_database_is_an_error_result(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"not a database, just bytes" * 100)
    with SQLiteEngine(bad) as db:
        result = db.execute("SELECT count(*) FROM sqlite_master")
    assert not result.ok and "not a database" in result.error


@pytest.mark.parametrize("name, value", [("max_value_bytes", 10), ("max_result_bytes", 0),
                                         ("max_memory", 1000), ("max_rows", True)])
def test_limit_parameters(pets_db: Path, name: str, value: int) -> None:
    with pytest.raises(ValueError, match=rf"'{name}' parameter of SQLiteEngine must be an int"):
        SQLiteEngine(pets_db, **{name: value})


RUNAWAYS = {
    "randomblob": "SELECT randomblob(1000000000)",
    "printf": "SELECT " + ", ".join(["length(upper(printf('%.*c', 50000000, 'x')))"] * 100),
    "sort": ("SELECT count(*) FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
             "FROM n LIMIT 2000000) SELECT i, randomblob(5000) AS b FROM n ORDER BY b)"),
    "rows": ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
             "SELECT i, hex(randomblob(2000000)) FROM n"),
    "cte": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT max(i) FROM n",
}


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_runaways_end_within_twice_the_limit_and_512_mb(pets_db: Path) -> None:
    """Each issue-14 runaway in a fresh process: wall time < 2 x timeout, peak RSS < 512 MB."""
    script = textwrap.dedent(f"""
        import json, resource, sys, time
        from ensel.generators.sql.engine import SQLiteEngine
        out = {{}}
        for name, sql in json.loads(sys.argv[1]).items():
            with SQLiteEngine({str(pets_db)!r}, timeout=1.0) as db:
                start = time.perf_counter()
                result = db.execute(sql)
                out[name] = [time.perf_counter() - start, result.error]
        # VmHWM, not ru_maxrss: a process started by fork + exec inherits its parent's peak
        # in ru_maxrss (here: the whole pytest process)
        with open("/proc/self/status") as f:
            me = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
        kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss   # an upper bound
        out["rss_mb"] = [me / 1024, kids / 1024]
        print(json.dumps(out))
    """)
    proc = subprocess.run([sys.executable, "-c", script, json.dumps(RUNAWAYS)],
                          capture_output=True, text=True, timeout=120, check=True)
    out = json.loads(proc.stdout)
    rss_self, rss_worker = out.pop("rss_mb")
    for name, (seconds, error) in out.items():
        assert error is not None, name
        assert seconds < 2.0, (name, seconds, error)
    assert rss_self < 512 and rss_worker < 512, (rss_self, rss_worker)


# ---------------------------------------------------------------------- paths
@pytest.mark.parametrize("db_id", ["../secret", "..", ".", "", "/etc/passwd", "a/b", "a\\b",
                                   "c:x", "pets\0", 7])
def test_db_id_must_be_a_plain_name(tmp_path: Path, db_id: object) -> None:
    """Issue 14, item 5: '../secret' or an absolute path read any .sqlite file on disk."""
    make_pets_db(tmp_path / "secret.sqlite")
    root = tmp_path / "databases"
    make_pets_db(root / "pets" / "pets.sqlite")
    dbs = SQLiteDatabases(root)
    with pytest.raises(ValueError, match=r"is not a database name: it must be one folder or file"):
        dbs[db_id]  # type: ignore[index]
    assert dbs["pets"].execute("SELECT count(*) FROM pet").rows == ((5,),)
    dbs.close()


def test_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    secret = make_pets_db(tmp_path / "elsewhere" / "secret.sqlite")
    root = tmp_path / "databases"
    make_pets_db(root / "pets" / "pets.sqlite")
    (root / "leak").mkdir()
    os.symlink(secret, root / "leak" / "leak.sqlite")
    os.symlink(root / "pets" / "pets.sqlite", root / "alias.sqlite")      # inside: fine
    dbs = SQLiteDatabases(root)
    with pytest.raises(ValueError, match=r"Database 'leak': .* outside the databases folder"):
        dbs["leak"]
    assert dbs["alias"].execute("SELECT count(*) FROM owner").rows == ((3,),)
    dbs.close()


# ---------------------------------------------------------------------- no files created
def test_reading_a_wal_database_creates_no_files(tmp_path: Path) -> None:
    path = make_pets_db(tmp_path / "wal.sqlite")
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode = WAL").fetchone() == ("wal",)
    con.close()
    before = sorted(p.name for p in tmp_path.iterdir())
    with SQLiteEngine(path) as db:
        assert db.execute("SELECT count(*) FROM pet").rows == ((5,),)
    assert "Pet" in m_schema(path) or "pet" in m_schema(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == before == ["wal.sqlite"]
    assert read_only_uri(path).endswith("?mode=ro&immutable=1")


def test_a_live_wal_file_is_read(tmp_path: Path) -> None:
    path = make_pets_db(tmp_path / "live.sqlite")
    writer = sqlite3.connect(path)
    writer.execute("PRAGMA journal_mode = WAL")
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("INSERT INTO owner VALUES (4, 'Dee', 50)")
    writer.commit()                        # the new row is only in live.sqlite-wal
    assert read_only_uri(path).endswith("?mode=ro")
    with SQLiteEngine(path) as db:
        assert db.execute("SELECT count(*) FROM owner").rows == ((4,),)
    writer.close()


# ---------------------------------------------------------------------- questions files
@pytest.mark.parametrize("content, match", [
    (b'{"db_id": "a", "question": "q", "candidates": {}}\n\xff\xfe\n',
     r"q.jsonl:2: not valid UTF-8 \(byte 0 of the line\)"),
    (b'[1, 2]\n', r"q.jsonl:1: expected a JSON object .*; got list"),
    (b'\n\n5\n', r"q.jsonl:3: expected a JSON object .*; got int"),
])
def test_questions_file_errors_name_the_line(tmp_path: Path, content: bytes, match: str) -> None:
    (tmp_path / "q.jsonl").write_bytes(content)
    with pytest.raises(ValueError, match=match):
        load_questions(tmp_path / "q.jsonl")
