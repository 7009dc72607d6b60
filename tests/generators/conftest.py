"""Small SQLite databases built per test, and questions on them."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

PETS_SQL = """
CREATE TABLE owner (id INTEGER PRIMARY KEY, name TEXT, age INTEGER);
CREATE TABLE pet (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER REFERENCES owner(id),
    kind TEXT,
    weight REAL
);
INSERT INTO owner VALUES (1, 'Ann', 30), (2, 'Bob', 25), (3, 'Cid', 41);
INSERT INTO pet VALUES (1, 1, 'cat', 4.5), (2, 1, 'dog', 12.0), (3, 2, 'dog', 20.0),
                       (4, 3, 'cat', 3.0), (5, 3, 'cat', 3.5);
"""


def make_pets_db(path: Path) -> Path:
    """Two tables (owner 3 rows, pet 5 rows) with a primary and a foreign key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.executescript(PETS_SQL)
    con.commit()
    con.close()
    return path


@pytest.fixture
def pets_db(tmp_path: Path) -> Path:
    return make_pets_db(tmp_path / "pets.sqlite")


# Questions on the pets database: (question, gold, {system: sql}).
# Systems in order of strength: "a" is right on all, "b" and "c" make typical mistakes.
QUESTIONS = [
    ("How many pets are there?", "SELECT count(*) FROM pet",
     {"a": "SELECT count(*) FROM pet", "b": "SELECT count(id) FROM pet",
      "c": "SELECT count(*) FROM owner"}),
    ("What kinds of pets are there?", "SELECT DISTINCT kind FROM pet",
     {"a": "SELECT DISTINCT kind FROM pet", "b": "SELECT kind FROM pet",
      "c": "SELECT kind FROM pet"}),
    ("Names of owners sorted by age.", "SELECT name FROM owner ORDER BY age",
     {"a": "SELECT name FROM owner ORDER BY age", "b": "SELECT name FROM owner",
      "c": "SELECT name FROM owner ORDER BY age DESC"}),
    ("Name and age of the oldest owner.", "SELECT name, age FROM owner ORDER BY age DESC LIMIT 1",
     {"a": "SELECT name, age FROM owner ORDER BY age DESC LIMIT 1",
      "b": "SELECT age, name FROM owner WHERE age = (SELECT max(age) FROM owner)",
      "c": "SELECT nme FROM owner"}),
    ("Total weight of dogs.", "SELECT sum(weight) FROM pet WHERE kind = 'dog'",
     {"a": "SELECT sum(weight) FROM pet WHERE kind = 'dog'",
      "b": "SELECT sum(weight) FROM pet WHERE kind = 'Dog'",
      "c": "SELECT sum(weight) FROM pet WHERE kind = 'dog'"}),
    ("Owners with a cat.", ("SELECT DISTINCT o.name FROM owner o JOIN pet p ON o.id = p.owner_id "
                            "WHERE p.kind = 'cat'"),
     {"a": "SELECT DISTINCT o.name FROM owner o JOIN pet p ON o.id = p.owner_id "
           "WHERE p.kind = 'cat'",
      "b": "SELECT o.name FROM owner o JOIN pet p ON o.id = p.owner_id WHERE p.kind = 'cat'",
      "c": "SELECT o.name FROM owner o JOIN pet p ON o.id = p.owner_id WHERE p.kind = 'cat'"}),
]


def write_questions(path: Path, db_ids: list[str]) -> Path:
    """A questions.jsonl with every question of QUESTIONS on each database of ``db_ids``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        n = 0
        for db_id in db_ids:
            for question, gold, cands in QUESTIONS:
                fh.write(json.dumps({"id": n, "db_id": db_id, "question": question,
                                     "gold": gold, "candidates": cands}) + "\n")
                n += 1
    return path


@pytest.fixture
def sql_workspace(tmp_path: Path) -> tuple[Path, Path]:
    """(questions.jsonl, databases folder) with three copies of the pets database."""
    dbs = ["pets_a", "pets_b", "pets_c"]
    for db in dbs:
        make_pets_db(tmp_path / "database" / db / f"{db}.sqlite")
    return write_questions(tmp_path / "questions.jsonl", dbs), tmp_path / "database"
