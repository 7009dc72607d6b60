"""The by-database split and the budgeted cascade on it (real Spider questions)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ensel.datasets import dataset_path
from ensel.generators.sql import (
    SQLCascade,
    SQLiteDatabases,
    by_database_folds,
    evaluate_by_database,
    execute_questions,
    load_questions,
    split_halves,
)


@pytest.fixture(scope="module")
def spider() -> list:
    data = Path(dataset_path("spider_dev_public"))
    dbs = SQLiteDatabases(data / "database")
    try:
        return execute_questions(load_questions(data / "questions.jsonl"), dbs)
    finally:
        dbs.close()


def test_split_halves_by_hand() -> None:
    assert split_halves({"w": 120, "d": 82, "s": 78, "n": 56, "p": 42}) == (
        ["w", "n"], ["d", "s", "p"])                          # 176 vs 202 questions
    assert split_halves({"b": 5, "a": 5}) == (["a"], ["b"])  # equal counts: by name
    with pytest.raises(ValueError, match=r"needs at least 2 databases; got \['x'\]"):
        split_halves({"x": 3})


def test_folds_cover_every_question_once(spider) -> None:
    halves, rows = by_database_folds(spider)
    assert sorted(np.concatenate(rows).tolist()) == list(range(len(spider))) == list(range(485))
    assert {spider[i].question.db_id for i in rows[0]} == set(halves[1])
    assert [len(r) for r in rows] == [247, 238]


@pytest.mark.parametrize("budget", [1 / 6, 1 / 4, 1 / 3, 1 / 2])
def test_calls_within_the_budget_on_the_calibration_questions(spider, budget) -> None:
    halves, rows = by_database_folds(spider)
    for held in rows:
        train = [eq for i, eq in enumerate(spider) if i not in set(held.tolist())]
        cascade = SQLCascade(budget=budget).fit(train)
        assert cascade.budget_met_
        assert cascade.validation_cost_fraction_ <= budget
        assert cascade.cost_fraction(cascade.calls(train)) == pytest.approx(
            cascade.validation_cost_fraction_)


def test_accuracy_floor_on_the_by_database_split(spider) -> None:
    res = evaluate_by_database(spider, budgets=(1 / 3,))
    name = "cascade (budget 0.333)"
    assert res["halves"] == [["world_1", "network_1", "orchestra", "museum_visit",
                              "real_estate_properties"],
                             ["dog_kennels", "student_transcripts_tracking", "pets_1",
                              "course_teach", "voter_1"]]
    assert res["accuracy"]["consensus"] == pytest.approx(415 / 485)      # 85.6%
    assert res["accuracy"][name] >= 0.845                                # measured 84.7%
    assert res["cost_fraction"][name] <= 1 / 3                           # measured 0.225
    assert all(f <= 1 / 3 for f in res["calibration_cost_fraction"][name])
    table = evaluate_by_database(spider, budgets=(1 / 3,), cascade_params={"order": "table"})
    assert table["accuracy"][name] >= res["accuracy"]["consensus"] - 1e-12   # measured 85.6%
    assert table["cost_fraction"][name] <= 0.25                          # measured 0.239
    assert table["cost_fraction"]["SuperSQL"] == pytest.approx(1 / 12)


def test_evaluate_by_database_needs_gold(spider) -> None:
    from dataclasses import replace

    no_gold = [replace(spider[0], correct=None)] + spider[1:3]
    with pytest.raises(ValueError, match="evaluate_selection needs gold SQL"):
        evaluate_by_database(no_gold)
