"""AnswerCascade: plans scored by hand, the choice and the calls, run_sequential, errors."""

from __future__ import annotations

import numpy as np
import pytest

from ensel import PredictionTable
from ensel.combine.routing import AnswerCascade, OracleRouter, evaluate_routers, routing_curve

# members a, b (cost 1 each) and c (cost 10); a and b agree on rows 0, 2, 3 (and are right
# there), disagree on row 1 where only c is right; on row 4 a and b agree on a wrong answer
Q = np.array([[1, 1, 1], [0, 0, 1], [1, 1, 1], [1, 1, 1], [0, 0, 1]], dtype=float)
ANSWERS = [["x", "x", "x"], ["y", "z", "z"], ["w", "w", "w"], ["x", "x", "x"],
           ["v", "v", "u"]]


def table(answers=ANSWERS, quality=Q):
    return PredictionTable.from_outcomes(quality, costs=[1.0, 1.0, 10.0],
                                         members=["a", "b", "c"], answers=answers)


def test_plans_on_the_front_by_hand():
    cascade = AnswerCascade().fit(table())
    # a alone: 0.6 at 1; a+b, else c: 0.8 at 2 + 10/5; c alone: 1.0 at 10
    assert cascade.plans_ == [((), 0), ((0, 1), 2), ((), 2)]
    np.testing.assert_allclose(cascade.plan_quality_, [0.6, 0.8, 1.0])
    np.testing.assert_allclose(cascade.plan_cost_, [1.0, 4.0, 10.0])


def test_max_cost_and_cost_weight_choose_the_plan():
    t = table()
    assert AnswerCascade(max_cost=5).fit(t).plan() == ((0, 1), 2)
    assert AnswerCascade(max_cost=3.9).fit(t).plan() == ((), 0)
    assert AnswerCascade(max_cost=0.5).fit(t).plan() == ((), 0)      # none within: cheapest
    cascade = AnswerCascade().fit(t)                                 # cost_weight 0: best
    assert cascade.plan() == ((), 2)
    # value q - w * cost / 10: the committee plan wins for w in (1/3, 2/3)
    assert cascade.plan(cost_weight=0.2) == ((), 2)
    assert cascade.plan(cost_weight=0.5) == ((0, 1), 2)
    assert cascade.plan(cost_weight=1.0) == ((), 0)


def test_choice_calls_and_predict():
    t = table()
    cascade = AnswerCascade(max_cost=5).fit(t)
    assert cascade.route(t).tolist() == [0, 2, 0, 0, 0]
    assert cascade.predict(t).tolist() == ["a", "c", "a", "a", "a"]
    calls = cascade.select(t)
    assert calls.tolist() == [[1, 1, 0], [1, 1, 1], [1, 1, 0], [1, 1, 0], [1, 1, 0]]
    curve = routing_curve(cascade, t, cost_weights=[0.0, 0.5, 1.0])
    # cost counts every member called, not only the one whose answer is used
    assert curve["cost"].tolist() == [10.0, 4.0, 1.0]
    assert curve["quality"].tolist() == [1.0, 0.8, 0.6]
    assert curve["shares"][1].tolist() == [1.0, 1.0, 0.2]


def test_a_missing_answer_is_no_agreement():
    answers = [row[:] for row in ANSWERS]
    answers[0] = [None, None, "x"]
    cascade = AnswerCascade(max_cost=6).fit(table(answers))     # the committee: cost 2 + 4
    assert cascade.plan() == ((0, 1), 2)
    assert cascade.select(table(answers))[0].tolist() == [1, 1, 1]


def test_run_sequential_calls_the_fallback_only_where_the_committee_disagrees():
    t = table()
    cascade = AnswerCascade(max_cost=5).fit(t)
    log: list[tuple[int, list[int]]] = []

    def fetch(member, rows):
        log.append((member, rows.tolist()))
        return [ANSWERS[r][member] for r in rows]

    choice, calls = cascade.run_sequential(5, fetch)
    assert log == [(0, [0, 1, 2, 3, 4]), (1, [0, 1, 2, 3, 4]), (2, [1])]
    assert choice.tolist() == cascade.route(t).tolist()
    assert calls.tolist() == cascade.select(t).astype(int).tolist()
    with pytest.raises(ValueError, match=r"fetch\(0, rows\) returned 1 answers for 5 rows"):
        cascade.run_sequential(5, lambda m, rows: ["x"])


def test_evaluate_routers_adds_the_cascade_when_answers_are_there():
    out = evaluate_routers({"oracle": OracleRouter()}, table(), table())
    res = out["results"]["ensel answer cascade"]
    assert res["kind"] == "router" and min(res["cost"]) == 1.0 and max(res["quality"]) == 1.0
    plain = PredictionTable.from_outcomes(Q, costs=[1.0, 1.0, 10.0])
    assert "ensel answer cascade" not in evaluate_routers({}, plain, plain)["results"]


def test_errors():
    plain = PredictionTable.from_outcomes(Q, costs=[1.0, 1.0, 10.0], members=["a", "b", "c"])
    with pytest.raises(ValueError, match="AnswerCascade needs the members' answers"):
        AnswerCascade().fit(plain)
    cascade = AnswerCascade().fit(table())
    with pytest.raises(ValueError, match="AnswerCascade needs the members' answers"):
        cascade.predict(plain)
    with pytest.raises(ValueError, match="'max_committee' parameter of AnswerCascade"):
        AnswerCascade(max_committee=1).fit(table())
    with pytest.raises(ValueError, match="'max_candidates' parameter of AnswerCascade"):
        AnswerCascade(max_candidates=0).fit(table())
    with pytest.raises(ValueError, match="'max_cost' parameter of AnswerCascade"):
        AnswerCascade(max_cost=0.0).fit(table())
    with pytest.raises(ValueError, match="'cost_weight' argument of AnswerCascade.plan must "
                                         "be >= 0"):
        cascade.plan(cost_weight=-1.0)
    router = OracleRouter().fit(table())
    with pytest.raises(ValueError, match="'cost_weight' argument of OracleRouter.route must"):
        router.route(table(), cost_weight=-0.5)
    with pytest.raises(ValueError, match="cost_weight"):
        cascade.plan(cost_weight=float("nan"))


def test_arc_challenge_beats_the_zero_router():
    """On the shipped ARC-challenge split (no randomness): AIQ above the zero router's."""
    from ensel.datasets import load_routerbench

    train, test = (load_routerbench("arc_challenge", s)[0] for s in ("train", "test"))
    res = evaluate_routers({}, train, test)["results"]
    zero, cascade = res["zero router"]["aiq"], res["ensel answer cascade"]["aiq"]
    assert cascade > zero + 0.008 and cascade == pytest.approx(0.9267, abs=5e-4)
