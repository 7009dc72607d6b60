"""Questions files, database folders, executing questions, evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ensel.generators.sql import (
    SQLiteDatabases,
    SQLiteEngine,
    evaluate_selection,
    execute_questions,
    load_questions,
)

from .conftest import QUESTIONS, make_pets_db


def test_load_and_execute(sql_workspace: tuple[Path, Path]) -> None:
    questions, databases = sql_workspace
    qs = load_questions(questions)
    assert len(qs) == 3 * len(QUESTIONS) and qs[0].db_id == "pets_a"
    executed = execute_questions(qs, SQLiteDatabases(databases))
    assert executed[0].systems == ["a", "b", "c"]
    first = executed[0]                       # count(*) / count(id) / count on owner
    assert first.correct.tolist() == [True, True, False]
    assert first.groups.labels.tolist() == [0, 0, 1]
    assert not first.ordered
    sorted_q = executed[2]                    # gold orders: unordered candidate "b" is wrong
    assert sorted_q.ordered and sorted_q.correct.tolist() == [True, False, False]
    oldest = executed[3]                      # column order differs, "c" fails
    assert oldest.correct.tolist() == [True, True, False] and oldest.groups.failed[2]
    assert oldest.sql(2) == "SELECT nme FROM owner"


def test_evaluate_selection(sql_workspace: tuple[Path, Path]) -> None:
    questions, databases = sql_workspace
    executed = execute_questions(load_questions(questions), SQLiteDatabases(databases))
    result = evaluate_selection(executed)
    assert result["n_questions"] == 18
    acc = result["accuracy"]
    assert list(acc) == ["oracle", "consensus", "a", "b", "c"]
    assert acc["oracle"] == 1.0 and acc["a"] == 1.0
    # consensus per question: a, b|c (wrong), a (1-1-1 tie), a, a, b|c (wrong)
    assert acc["consensus"] == pytest.approx(4 / 6)
    assert acc["b"] == pytest.approx(2 / 6) and acc["c"] == pytest.approx(1 / 6)


def test_missing_candidates_and_explicit_systems(tmp_path: Path) -> None:
    make_pets_db(tmp_path / "db" / "p.sqlite")
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({"db_id": "p", "question": "n?", "gold": "SELECT 1",
                                "candidates": {"b": "SELECT 1"}}) + "\n")
    executed = execute_questions(load_questions(path), SQLiteDatabases(tmp_path / "db"),
                                 systems=["a", "b"])
    eq = executed[0]
    assert eq.present.tolist() == [False, True]
    assert eq.results[0].error == "no candidate" and eq.sql(0) is None
    assert eq.correct.tolist() == [False, True]
    assert eq.groups.consensus() == 1


def test_questions_without_gold(tmp_path: Path) -> None:
    make_pets_db(tmp_path / "p.sqlite")
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({"db_id": "p", "question": "n?",
                                "candidates": {"a": "SELECT 1", "b": "SELECT 2"}}) + "\n\n")
    executed = execute_questions(load_questions(path), SQLiteDatabases(tmp_path))
    assert executed[0].correct is None and executed[0].gold_result is None
    with pytest.raises(ValueError, match="evaluate_selection needs gold SQL; question 0 has none"):
        evaluate_selection(executed)
    with pytest.raises(ValueError, match="needs at least one executed question"):
        evaluate_selection([])


def test_execute_with_a_callable(pets_db: Path, tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({"db_id": "anything", "question": "q", "gold": None,
                                "candidates": {"a": "SELECT count(*) FROM pet"}}) + "\n")
    engine = SQLiteEngine(pets_db)
    executed = execute_questions(load_questions(path), lambda db_id: engine)
    assert executed[0].results[0].rows == ((5,),)


@pytest.mark.parametrize("content, message", [
    ("{not json\n", r"q.jsonl:1: not valid JSON"),
    ('{"db_id": "p", "question": "x"}\n', r"q.jsonl:1: missing field\(s\) candidates"),
    ('{"db_id": "p", "question": "x", "candidates": {"a": 1}}\n',
     r"'candidates' must map system names to SQL strings"),
    ("\n", r"q.jsonl: no questions in the file"),
])
def test_load_questions_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_questions(path)


def test_path_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="Questions file not found"):
        load_questions(tmp_path / "nope.jsonl")
    with pytest.raises(FileNotFoundError, match="Databases folder not found"):
        SQLiteDatabases(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match=r"No SQLite file for database 'x'.*x/x.sqlite"):
        SQLiteDatabases(tmp_path)["x"]


def test_execute_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs at least one question"):
        execute_questions([], SQLiteDatabases(tmp_path))
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({"db_id": "p", "question": "x", "candidates": {}}) + "\n")
    with pytest.raises(ValueError, match="No candidate systems"):
        execute_questions(load_questions(path), SQLiteDatabases(tmp_path))


def test_same_query_runs_once(sql_workspace: tuple[Path, Path]) -> None:
    questions, databases = sql_workspace
    dbs = SQLiteDatabases(databases)
    executed = execute_questions(load_questions(questions), dbs)
    eq = executed[1]                            # "b" and "c" propose the same SQL
    assert eq.results[1] is eq.results[2]
    assert np.array_equal(eq.groups.labels, [0, 1, 1])
    dbs.close()
