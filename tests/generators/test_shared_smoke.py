"""Smoke run on a few real Spider questions (the public half ships with the package)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ensel.datasets import dataset_path
from ensel.generators.sql import (
    SQLiteDatabases,
    evaluate_selection,
    execute_questions,
    load_questions,
    m_schema,
)


@pytest.fixture(scope="module")
def spider() -> Path:
    return dataset_path("spider_dev_public")


def test_a_few_spider_questions(spider: Path) -> None:
    qs = load_questions(spider / "questions.jsonl")
    assert len(qs) == 485
    pets = [q for q in qs if q.db_id == "pets_1"][:12]
    dbs = SQLiteDatabases(spider / "database")
    executed = execute_questions(pets, dbs)
    assert all(eq.gold_result.ok for eq in executed)
    result = evaluate_selection(executed)
    acc = result["accuracy"]
    assert result["n_questions"] == 12 and len(acc) == 2 + 12
    assert acc["oracle"] >= acc["consensus"] >= 0.5
    assert max(acc[s] for s in executed[0].systems) <= acc["oracle"]
    text = m_schema(dbs.path("pets_1"))
    assert text.startswith("【DB_ID】 pets_1") and "# Table: Pets" in text
    dbs.close()

