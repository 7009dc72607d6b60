"""SQLCascade: call order, tie rule, vote-margin stop, budget calibration, the cost account,
saving."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from ensel.generators.sql import (
    ExecutedQuestion,
    ExecutionResult,
    SQLCascade,
    SQLQuestion,
    group_results,
    vote_margin,
)

SYSTEMS = ["a", "b", "c"]
# values each system returns per question, and the gold value; margins after each call (order
# a, b, c) in the comments: q0 [1, 2, 3], q1 [1, 2, 1], q2 [1, 0, 1], q3 [1, 0, 0]
TRAIN = [((1, 1, 1), 1), ((1, 1, 2), 1), ((1, 2, 1), 1), ((1, 2, 3), 1)]


def result(value: int | None) -> ExecutionResult:
    if value is None:
        return ExecutionResult((), (), error="no such column: x")
    return ExecutionResult(rows=((value,),), columns=("x",))


def question(i: int, values: tuple[int | None, ...], gold: int | None,
             systems: list[str] = SYSTEMS) -> ExecutedQuestion:
    results = [result(v) for v in values]
    correct = None if gold is None else np.array([v == gold for v in values])
    q = SQLQuestion(id=i, db_id=f"db{i % 2}", question="?",
                    candidates={s: f"SELECT {v}" for s, v in zip(systems, values, strict=True)},
                    gold=None if gold is None else f"SELECT {gold}")
    return ExecutedQuestion(question=q, systems=list(systems), results=results,
                            present=np.ones(len(values), dtype=bool),
                            groups=group_results(results),
                            gold_result=None if gold is None else result(gold), ordered=False,
                            correct=correct)


@pytest.fixture
def train() -> list[ExecutedQuestion]:
    return [question(i, v, g) for i, (v, g) in enumerate(TRAIN)]


class FakeSource:
    """Candidates of every system, handed out on request; counts each (system, question)."""

    def __init__(self, values: list[tuple[int | None, ...]]) -> None:
        self.values = values
        self.requests: list[tuple[int, list[int]]] = []

    def __call__(self, j: int, rows: np.ndarray) -> list[ExecutionResult]:
        self.requests.append((j, rows.tolist()))
        return [result(self.values[q][j]) for q in rows]

    @property
    def n_calls(self) -> int:
        return sum(len(rows) for _, rows in self.requests)


def test_vote_margin_by_hand() -> None:
    assert vote_margin([result(1)]) == (1, 0)
    assert vote_margin([result(1), result(2)]) == (0, 0)
    assert vote_margin([result(2), result(1), result(1)]) == (1, 1)
    assert vote_margin([result(None), result(None)]) == (0, 0)
    assert vote_margin([result(None), result(3), result(3), result(3)]) == (3, 1)


def test_vote_margin_tie_priority_by_hand() -> None:
    ran = [result(None), result(2), result(1)]
    assert vote_margin(ran) == (0, 1)                        # the earliest group
    assert vote_margin(ran, priority=[0, 2, 1]) == (0, 2)     # the group of the stronger system
    assert vote_margin(ran + [result(2)], priority=[0, 3, 1, 2]) == (1, 1)   # no tie: size wins
    # the pick is the earliest member of the winning group, whichever member has the priority
    assert vote_margin([result(5), result(6), result(6), result(5)], [3, 2, 1, 0]) == (0, 0)
    with pytest.raises(ValueError, match=r"'priority' must have one entry per result \(3\)"):
        vote_margin(ran, priority=[0, 1])


# a is right on q0-q4; b is right only where a is (and repeats a's error on q5); c is the one
# right on q5. Accuracies 5/6, 4/6, 3/6: the accuracy order is a, b, c, the complementary one
# a, c, b (c is right where the consensus of a is wrong; b never is).
COMPLEMENT = [((1, 1, 1), 1), ((1, 1, 1), 1), ((1, 1, 1), 1), ((1, 1, 7), 1), ((1, 8, 6), 1),
              ((9, 9, 1), 1)]


@pytest.fixture
def complement() -> list[ExecutedQuestion]:
    return [question(i, v, g) for i, (v, g) in enumerate(COMPLEMENT)]


def test_complementary_order_calls_the_complementary_system_second(complement) -> None:
    assert SQLCascade(order="accuracy_per_cost").fit(complement).order_.tolist() == [0, 1, 2]
    cascade = SQLCascade(budget=1.0).fit(complement)         # the default order
    assert cascade.order_.tolist() == [0, 2, 1]
    assert cascade.priority_.tolist() == [0, 1, 2]           # ties by accuracy: a, b, c
    # per unit of cost: c's one question for cost 2 still beats b's none
    costs = {"a": 1.0, "b": 1.0, "c": 2.0}
    assert SQLCascade(budget=1.0, costs=costs).fit(complement).order_.tolist() == [0, 2, 1]
    # b is the best per cost (4/6 vs 5/18 and 3/18) and wrong on q4 and q5; a and c are each
    # right on one of them at the same cost, so the tie goes by accuracy per cost: a, then c
    cheap = SQLCascade(budget=1.0, costs={"a": 3.0, "b": 1.0, "c": 3.0}).fit(complement)
    assert cheap.order_.tolist() == [1, 0, 2]


def test_complementary_exact_calls(complement) -> None:
    cascade = SQLCascade(budget=0.85).fit(complement)
    assert cascade.order_.tolist() == [0, 2, 1] and cascade.threshold_ == 2.0
    # margins in the order a, c, b: [1, 2, 3] x3, [1, 0, 1], [1, 0, 0], [1, 0, 1]
    assert cascade.validation_cost_fraction_ == pytest.approx((2 + 2 + 2 + 3 + 3 + 3) / 18)
    new = [(4, 4, 4), (4, 4, 5), (9, 9, 1), (None, 2, 3)]    # values of a, b, c per question
    source = FakeSource(new)
    picks, calls = cascade.run_sequential(len(new), source)
    # a, then c for everyone; b only where a and c disagree (q0 stops: a and c agree)
    assert source.requests == [(0, [0, 1, 2, 3]), (2, [0, 1, 2, 3]), (1, [1, 2, 3])]
    assert calls.tolist() == [[1, 0, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]]
    # q1: a and b outvote c; q2: a and b agree on 9; q3: b's 2 vs c's 3 tie, b is more accurate
    assert picks.tolist() == [0, 0, 0, 1]
    by_order = SQLCascade(budget=0.85, ties="order").fit(complement)
    assert by_order.order_.tolist() == [0, 2, 1]
    assert by_order.run_sequential(len(new), FakeSource(new))[0].tolist() == [0, 0, 0, 2]


@pytest.mark.parametrize("order, ties, priority", [
    ("complementary", "accuracy", [0, 1, 2]),      # a, b, c by accuracy
    ("complementary", "order", [0, 2, 1]),         # called a, c, b
    ("accuracy_per_cost", "accuracy", [0, 1, 2]),  # the call order is the accuracy order
    ("accuracy_per_cost", "order", [0, 1, 2]),
])
def test_tie_priority(complement, order, ties, priority) -> None:
    cascade = SQLCascade(budget=1.0, order=order, ties=ties).fit(complement)
    assert cascade.priority_.tolist() == priority


@pytest.mark.parametrize("budget, threshold, fraction", [
    (1.0, np.inf, 1.0),          # every call
    (0.9, 2.0, 2.5 / 3),         # q0, q1 stop after two calls, q2, q3 run all three
    (0.5, 1.0, 1 / 3),           # every question stops after the first call
    (1 / 3, 1.0, 1 / 3),         # exactly on the budget
])
def test_threshold_is_the_largest_within_the_budget(train, budget, threshold, fraction) -> None:
    cascade = SQLCascade(budget=budget).fit(train)
    assert cascade.order_.tolist() == [0, 1, 2]           # accuracies 1, 0.5, 0.5
    assert cascade.threshold_ == threshold
    assert cascade.validation_cost_fraction_ == pytest.approx(fraction)
    assert cascade.validation_cost_fraction_ <= budget + 1e-12
    assert cascade.budget_met_
    assert cascade.validation_margins_.tolist() == [[1, 2, 3], [1, 2, 1], [1, 0, 1], [1, 0, 0]]
    calls = cascade.calls(train)
    assert cascade.cost_fraction(calls) == pytest.approx(fraction)   # same questions, same cost


def test_exact_calls_with_a_fake_candidate_source(train) -> None:
    cascade = SQLCascade(budget=0.9).fit(train)             # threshold 2
    new = [(7, 7, 9), (7, 8, 9), (5, 6, 6), (None, 4, 4), (None, None, None)]
    source = FakeSource(new)
    picks, calls = cascade.run_sequential(len(new), source)
    assert source.requests == [(0, [0, 1, 2, 3, 4]), (1, [0, 1, 2, 3, 4]), (2, [1, 2, 3, 4])]
    assert source.n_calls == 14 == calls.sum()
    assert calls.tolist() == [[1, 1, 0], [1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]]
    # q0: a and b agree; q1: no majority, the earliest; q2 and q3: b and c outvote a
    assert picks.tolist() == [0, 0, 1, 1, 0]
    assert cascade.cost_fraction(calls) == pytest.approx(14 / 15)


def test_select_reads_only_the_candidates_it_calls(train) -> None:
    cascade = SQLCascade(budget=0.9).fit(train)
    test = [question(10, (3, 3, 4), 4), question(11, (3, 4, 4), 4)]
    assert cascade.select(test).tolist() == [0, 1]          # q10 stops before c's right answer
    assert cascade.calls(test).tolist() == [[1, 1, 0], [1, 1, 1]]


def test_costs_order_and_max_cost(train) -> None:
    costs = {"a": 1.0, "b": 2.0, "c": 3.0}
    cascade = SQLCascade(None, max_cost=4.5, costs=costs).fit(train)
    assert cascade.order_.tolist() == [0, 1, 2] and cascade.threshold_ == 2.0
    assert cascade.validation_cost_ == pytest.approx(4.5)  # (3 + 3 + 6 + 6) / 4
    assert cascade.validation_cost_fraction_ == pytest.approx(0.75)
    assert SQLCascade(None, max_cost=4.4, costs=costs).fit(train).threshold_ == 1.0
    flipped = SQLCascade(budget=0.5, costs={"a": 4.0, "b": 1.0, "c": 1.0},
                         order="accuracy_per_cost").fit(train)
    assert flipped.order_.tolist() == [1, 2, 0]             # accuracy per cost 0.25, 0.5, 0.5
    table = SQLCascade(budget=1.0, costs={"a": 4.0, "b": 1.0, "c": 1.0}, order="table")
    assert table.fit(train).order_.tolist() == [0, 1, 2]


def test_budget_below_one_call_warns_and_stops_after_the_first(train) -> None:
    with pytest.warns(UserWarning, match="even one call per question costs 1 .* above the "
                                         "budget 0.6"):
        cascade = SQLCascade(budget=0.2).fit(train)
    assert cascade.threshold_ == -np.inf and not cascade.budget_met_
    assert cascade.calls(train).sum(axis=1).tolist() == [1, 1, 1, 1]


def test_at_budget_equals_a_refit(train) -> None:
    cascade = SQLCascade(budget=1.0).fit(train)
    for b in (0.9, 0.5, 1 / 3):
        moved, refit = cascade.at_budget(b), SQLCascade(budget=b).fit(train)
        assert moved.threshold_ == refit.threshold_
        assert moved.validation_cost_fraction_ == refit.validation_cost_fraction_
    assert cascade.threshold_ == np.inf                        # the original is unchanged


def test_save_and_load_round_trip(train, tmp_path: Path) -> None:
    cascade = SQLCascade(budget=0.9, costs={"a": 1.0, "b": 1.0, "c": 2.0}).fit(train)
    cascade.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json"]
    loaded = SQLCascade.load(tmp_path / "m")
    assert loaded.get_params() == cascade.get_params()
    assert loaded.threshold_ == cascade.threshold_ and loaded.order_.tolist() == [0, 1, 2]
    assert loaded.calls(train).tolist() == cascade.calls(train).tolist()
    assert loaded.at_budget(1.0).threshold_ == np.inf
    SQLCascade(budget=1.0).fit(train).save(tmp_path / "m")   # replaced whole
    assert SQLCascade.load(tmp_path / "m").threshold_ == np.inf
    assert json.loads((tmp_path / "m" / "config.json").read_text())["threshold"] == "inf"


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.update(format="ensel.Other"), "is not a ensel.generators.SQLCascade header"),
    (lambda c: c.update(version=7), "has format version 7"),
    (lambda c: c.update(threshold=3.0), "the saved threshold 3.0 is not the one"),
    (lambda c: c.update(order=[0, 0, 1]), "'order' and 'calibration_margins' must cover"),
    (lambda c: c["params"].update(order="random"), "The 'order' parameter of SQLCascade"),
    (lambda c: c["params"].update(ties="random"), "The 'ties' parameter of SQLCascade"),
    (lambda c: c.update(costs=[1.0, 1.0, 9.0]), "the saved 'costs'"),
])
def test_load_refuses_a_damaged_file(train, tmp_path: Path, edit, message) -> None:
    SQLCascade(budget=0.9).fit(train).save(tmp_path / "m")
    path = tmp_path / "m" / "config.json"
    config = json.loads(path.read_text())
    edit(config)
    path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match=message):
        SQLCascade.load(tmp_path / "m")


def test_load_a_version_1_file_keeps_its_ties_by_call_order(complement, tmp_path: Path) -> None:
    old = SQLCascade(budget=0.85, ties="order").fit(complement)
    old.save(tmp_path / "m")
    path = tmp_path / "m" / "config.json"
    config = json.loads(path.read_text())
    assert config["version"] == 2 and config["params"]["ties"] == "order"
    config["version"] = 1                                      # written before 'ties' existed
    del config["params"]["ties"]
    path.write_text(json.dumps(config))
    loaded = SQLCascade.load(tmp_path / "m")
    assert loaded.ties == "order" and loaded.priority_.tolist() == [0, 2, 1]
    new = [(None, 2, 3)]
    assert loaded.run_sequential(1, FakeSource(new))[0].tolist() == [2]   # c, called first


def test_load_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="expected a ensel.generators.SQLCascade"):
        SQLCascade.load(tmp_path / "nothing")


@pytest.mark.parametrize("kwargs, message", [
    ({"budget": 0.0}, r"The 'budget' parameter of SQLCascade must be a float in \(0, 1\]"),
    ({"budget": 1.5}, r"The 'budget' parameter of SQLCascade must be a float in \(0, 1\]"),
    ({"budget": 0.5, "max_cost": 2.0}, "needs exactly one of 'budget' and 'max_cost'"),
    ({"budget": None}, "needs exactly one of 'budget' and 'max_cost'"),
    ({"budget": None, "max_cost": -1.0}, "The 'max_cost' parameter of SQLCascade"),
    ({"order": "random"}, "The 'order' parameter of SQLCascade must be one of"),
    ({"ties": "random"}, "The 'ties' parameter of SQLCascade must be one of"),
    ({"costs": [1, 2, 3]}, "The 'costs' parameter of SQLCascade must be a mapping"),
    ({"costs": {"a": 1.0, "b": 1.0}}, r"has no cost for the system\(s\) c"),
    ({"costs": {"a": 1.0, "b": 0.0, "c": 1.0}}, r"The \"costs\['b'\]\" parameter"),
])
def test_parameter_errors(train, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        SQLCascade(**kwargs).fit(train)


def test_usage_errors(train) -> None:
    with pytest.raises(NotFittedError, match="SQLCascade is not fitted yet"):
        SQLCascade().select(train)
    with pytest.raises(ValueError, match="question 0 has no gold SQL"):
        SQLCascade().fit([question(0, (1, 1, 1), None)])
    cascade = SQLCascade(budget=0.9).fit(train)
    other = [question(0, (1, 1, 1), 1, systems=["a", "c", "b"])]
    with pytest.raises(ValueError, match="but the cascade was fitted on"):
        cascade.calls(other)
    with pytest.raises(ValueError, match=r"returned 1 results for 2 rows"):
        cascade.run_sequential(2, lambda j, rows: [result(1)])
    with pytest.raises(ValueError, match=r"'calls' must have shape \(n_questions, 3\)"):
        cascade.cost_fraction(np.ones((2, 4)))
    with pytest.raises(ValueError, match="needs exactly one of 'budget' and 'max_cost'"):
        cascade.at_budget(0.5, max_cost=1.0)
    assert cascade.run_sequential(0, FakeSource([]))[1].shape == (0, 3)
