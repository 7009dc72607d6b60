"""SQLite execution: read-only, time limit, row cap, errors as results, result comparison."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from ensel.generators.sql.engine import (
    Engine,
    ExecutionResult,
    SQLiteEngine,
    has_order_by,
    results_match,
)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def R(*rows: tuple, truncated: bool = False) -> ExecutionResult:
    return ExecutionResult(rows=tuple(rows), columns=(), truncated=truncated)


ERR = ExecutionResult(rows=(), columns=(), error="no such column: x")


# ---------------------------------------------------------------------------- read-only
@pytest.mark.parametrize("sql", [
    "UPDATE pet SET weight = 0",
    "DELETE FROM pet",
    "INSERT INTO owner VALUES (9, 'Eve', 50)",
    "DROP TABLE pet",
    "CREATE TABLE x (a INT)",
    "ATTACH DATABASE ':memory:' AS other",
    "PRAGMA query_only = 0",
])
def test_writes_are_refused_and_the_database_is_unchanged(pets_db: Path, sql: str) -> None:
    before = _digest(pets_db)
    with SQLiteEngine(pets_db) as db:
        result = db.execute(sql)
        assert not result.ok and result.error
        assert db.execute("SELECT count(*) FROM pet").rows == ((5,),)
    assert _digest(pets_db) == before
    con = sqlite3.connect(pets_db)
    assert con.execute("SELECT sum(weight) FROM pet").fetchone() == (43.0,)
    con.close()


def test_update_cannot_change_the_database_even_if_run_twice(pets_db: Path) -> None:
    db = SQLiteEngine(pets_db, cache=False)
    assert not db.execute("UPDATE pet SET kind = 'fish'").ok
    assert not db.execute("UPDATE pet SET kind = 'fish'").ok
    assert db.execute("SELECT count(*) FROM pet WHERE kind = 'fish'").rows == ((0,),)
    db.close()


# ---------------------------------------------------------------------------- time and rows
def test_runaway_recursive_cte_times_out(pets_db: Path) -> None:
    sql = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
           "SELECT count(*) FROM n")
    with SQLiteEngine(pets_db, timeout=0.2) as db:
        result = db.execute(sql)
        assert result.timed_out and result.error.startswith("timeout")
        assert str(result) == "error: timeout: query ran longer than 0.2 s"
        assert result.seconds < 2.0
        assert db.execute("SELECT count(*) FROM owner").rows == ((3,),)  # still usable


def test_row_cap_truncates(pets_db: Path) -> None:
    sql = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 50) "
           "SELECT i FROM n")
    with SQLiteEngine(pets_db, max_rows=10) as db:
        result = db.execute(sql)
        assert result.ok and result.truncated and result.n_rows == 10
        assert str(result) == "10+ rows x 1 columns"
        full = db.execute("SELECT id FROM pet")
        assert not full.truncated and full.n_rows == 5


# ---------------------------------------------------------------------------- errors are results
@pytest.mark.parametrize("sql, message", [
    ("SELECT nme FROM owner", "no such column: nme"),
    ("SELECT * FROM owners", "no such table: owners"),
    ("SELEC name FROM owner", "syntax error"),
    ("SELECT 1; SELECT 2", "one statement"),
    ("", None),
])
def test_errors_are_results(pets_db: Path, sql: str, message: str | None) -> None:
    with SQLiteEngine(pets_db) as db:
        result = db.execute(sql)
    if message is None:          # an empty statement runs and returns nothing
        assert result.ok and result.rows == ()
    else:
        assert not result.ok and message in result.error
        assert str(result).startswith("error: ")
        assert result.key() is None


def test_results_are_cached_per_query_text(pets_db: Path) -> None:
    with SQLiteEngine(pets_db) as db:
        first = db.execute("SELECT name FROM owner")
        assert db.execute("SELECT name FROM owner") is first
    with SQLiteEngine(pets_db, cache=False) as db:
        assert db.execute("SELECT 1") is not db.execute("SELECT 1")


def test_columns_and_types(pets_db: Path) -> None:
    with SQLiteEngine(pets_db) as db:
        result = db.execute("SELECT name AS n, age FROM owner WHERE id = 1")
    assert result.columns == ("n", "age") and result.rows == (("Ann", 30),)
    assert isinstance(db, Engine) and "pets.sqlite" in repr(db)


def test_engine_errors(pets_db: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="SQLite database file not found"):
        SQLiteEngine(tmp_path / "missing.sqlite")
    with pytest.raises(ValueError, match="'timeout' parameter of SQLiteEngine must be a finite"):
        SQLiteEngine(pets_db, timeout=0)
    with pytest.raises(ValueError, match="'max_rows' parameter of SQLiteEngine must be an int"):
        SQLiteEngine(pets_db, max_rows=0)
    with pytest.raises(TypeError, match="expects the query as str, got int"):
        SQLiteEngine(pets_db).execute(3)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- comparison
def test_order_matters_only_when_asked() -> None:
    a, b = R((1,), (2,), (3,)), R((3,), (1,), (2,))
    assert results_match(a, b)
    assert not results_match(a, b, ordered=True)
    assert results_match(a, R((1,), (2,), (3,)), ordered=True)


def test_column_order_is_ignored() -> None:
    a = R((1, "x", 2.5), (2, "y", 3.5))
    b = R(("x", 2.5, 1), ("y", 3.5, 2))
    assert results_match(a, b) and results_match(b, a)
    assert results_match(a, R(("y", 3.5, 2), ("x", 2.5, 1)))
    # the same permutation must work for every row
    assert not results_match(R((1, 2), (3, 4)), R((1, 2), (4, 3)))
    # ordered: rows in order after permuting columns
    assert results_match(R((1, "a"), (2, "b")), R(("a", 1), ("b", 2)), ordered=True)
    assert not results_match(R((1, "a"), (2, "b")), R(("b", 2), ("a", 1)), ordered=True)


def test_columns_with_equal_value_sets() -> None:
    # both columns hold {1, 2}: only the swap aligns the rows
    assert results_match(R((1, 2), (2, 1), (1, 1)), R((2, 1), (1, 2), (1, 1)))
    assert not results_match(R((1, 2), (1, 2)), R((2, 1), (1, 2)))


def test_duplicates_count_as_a_multiset() -> None:
    assert not results_match(R((1,), (1,), (2,)), R((1,), (2,), (2,)))
    assert not results_match(R((1,), (1,)), R((1,),))
    assert results_match(R((1,), (2,), (1,)), R((1,), (1,), (2,)))


def test_shapes_empty_errors_and_truncation() -> None:
    assert results_match(R(), R())                      # empty matches empty
    assert not results_match(R(), R((1,)))
    assert not results_match(R((1, 2)), R((1,)))        # column count differs
    assert not results_match(ERR, ERR)                  # errors never match
    assert not results_match(ERR, R())
    assert not results_match(R((1,), truncated=True), R((1,)))
    assert results_match(R((1,), truncated=True), R((1,), truncated=True))
    assert results_match(R((1, None)), R((None, 1.0)))  # 1 == 1.0, NULLs compare equal
    assert not results_match(R(("1",)), R((1,)))        # text is not a number


@pytest.mark.parametrize("ordered", [False, True])
def test_matching_results_share_a_key(ordered: bool) -> None:
    pairs = [(R((1, "a"), (2, "b")), R(("a", 1), ("b", 2))),
             (R((1,), (2,)), R((1.0,), (2.0,))),
             (R(), R())]
    for a, b in pairs:
        assert results_match(a, b, ordered=ordered)
        assert a.key(ordered=ordered) == b.key(ordered=ordered)


def test_has_order_by() -> None:
    assert has_order_by("select a from t order  by a")
    assert has_order_by("SELECT a FROM t WHERE b = (SELECT max(b) FROM t ORDER BY b LIMIT 1)")
    assert not has_order_by("SELECT border, byline FROM t")
