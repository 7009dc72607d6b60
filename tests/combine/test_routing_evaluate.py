"""evaluate_routers, default_routers, add_prompt_features and routing_curve's shares."""

from __future__ import annotations

import numpy as np
import pytest

from ensel import PredictionTable
from ensel.combine.routing import (
    MeanRouter,
    OracleRouter,
    add_prompt_features,
    default_routers,
    evaluate_routers,
    routing_curve,
)

# four inputs; "cheap" (cost 1) is right on inputs 0 and 2, "dear" (cost 4) on 0, 1 and 3
Q = np.array([[1.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])


def table(quality=Q, members=("cheap", "dear")):
    return PredictionTable.from_outcomes(quality, costs=[1.0, 4.0], members=list(members))


def test_peers_and_an_oracle_by_hand():
    out = evaluate_routers({"oracle": OracleRouter()}, table(), table(), budgets=[0.5])
    res = out["results"]
    assert list(res) == ["best single", "cheapest", "zero router", "oracle"]
    assert out["best_single"] == "dear" and out["single_models"]["cheap"] == {
        "cost": 1.0, "quality": 0.5}
    assert res["best single"]["members_run"] == ["dear"] and res["cheapest"]["cost"] == [1.0]
    # the oracle at weight 0: cheap on 0 and 2, dear on 1 and 3: quality 1 at cost 2.5
    assert res["oracle"]["quality"][0] == 1.0 and res["oracle"]["cost"][0] == 2.5
    # ... and all-cheap (1, .5) when paying is dear; the hull reaches dear's .75 at cost 1.75
    assert res["oracle"]["cost_to_match_best"] == pytest.approx(1.75 / 4)
    # the zero router: segment (1, .5)-(4, .75); at the budget 0.5 x 4 = 2: 0.5 + 0.25 / 3
    zero = res["zero router"]
    assert zero["quality_at_budgets"] == pytest.approx([0.5 + 0.25 / 3])
    assert zero["aiq"] == pytest.approx(0.625) and zero["cost_to_match_best"] == 1.0
    # two members: APGR / CPT; random mixing recovers the gap linearly
    assert zero["apgr"] == pytest.approx(0.5) and zero["cpt"] == pytest.approx(0.5)
    # the oracle sends half the inputs to dear at PGR (1 - .5) / (.75 - .5) = 2
    assert res["oracle"]["shares"][0] == [0.5, 0.5]
    assert res["oracle"]["apgr"] == pytest.approx(0.5 * 2 / 2 + 0.5 * (2 + 1) / 2)
    assert res["oracle"]["fit_seconds"] >= 0 and "cost_weight" in res["oracle"]


def test_best_single_and_cheapest_are_chosen_on_train():
    train = table(Q[:, ::-1].copy())                    # on train "cheap" is the better one
    res = evaluate_routers({}, train, table())["results"]
    assert res["best single"]["members_run"] == ["cheap"]
    assert res["best single"]["quality"] == [0.5]       # ... measured on test
    assert evaluate_routers({}, train, table())["best_single"] == "dear"


def test_three_members_have_no_apgr():
    Q3 = np.column_stack([Q, [1.0, 1.0, 1.0, 0.0]])
    t = PredictionTable.from_outcomes(Q3, costs=[1.0, 4.0, 2.0])
    res = evaluate_routers({"mean": MeanRouter()}, t, t)["results"]
    assert "apgr" not in res["mean"] and len(res["mean"]["shares"][0]) == 3


def test_missing_outcomes_follow_the_policy():
    holes = Q.copy()
    holes[1, 0] = np.nan
    with pytest.raises(ValueError, match="row 1 is sent to member 0, whose outcome is not"):
        evaluate_routers({}, table(), table(holes), missing="raise")
    out = evaluate_routers({}, table(), table(holes), missing="ignore")
    assert out["single_models"]["cheap"]["quality"] == pytest.approx(2 / 3)


def test_members_must_match():
    with pytest.raises(ValueError, match="evaluate_routers: train and test must have the same "
                                         "members in the same order"):
        evaluate_routers({}, table(), table(members=("dear", "cheap")))


def test_routing_curve_reports_the_shares():
    t = table()
    curve = routing_curve(OracleRouter().fit(t), t, cost_weights=[0.0, 1e6])
    assert curve["shares"].tolist() == [[0.5, 0.5], [1.0, 0.0]]


def test_default_routers_and_prompt_features():
    routers = default_routers(random_state=3, max_epochs=7)
    assert list(routers) == ["oracle", "knn", "predictive", "ensel learned"]
    learned = routers["ensel learned"]
    assert (learned.random_state, learned.max_epochs) == (3, 7)
    assert default_routers()["ensel learned"].max_epochs == 300
    train, test = add_prompt_features((table(), ["a", "bb", "ccc", "dddd"]),
                                      (table(), ["e", "f", "g", "hh"]),
                                      features=lambda ps: [[len(p), 1.0] for p in ps])
    assert train.X.tolist()[3] == [4.0, 1.0] and test.X.shape == (4, 2)
    assert np.array_equal(test.P, Q) and test.members == ["cheap", "dear"]
    default, = add_prompt_features((table(), ["add two numbers", "sort a list", "reverse it",
                                              "is it prime"]))
    assert default.X.dtype == np.float32 and default.X.shape[0] == 4


def test_learned_router_runs_on_n_threads_and_restores_torch():
    import torch

    from ensel.combine.routing import LearnedRouter

    rng = np.random.default_rng(0)
    t = PredictionTable.from_outcomes((rng.random((40, 2)) < 0.5).astype(float),
                                      costs=[1.0, 2.0], X=rng.normal(size=(40, 3)))
    seen = []
    original = torch.set_num_threads

    def spy(n):
        seen.append(n)
        original(n)

    before = torch.get_num_threads()
    torch.set_num_threads = spy
    try:
        router = LearnedRouter(max_epochs=2).fit(t)
        router.predict(t)
    finally:
        torch.set_num_threads = original
    assert seen[::2] == [1, 1] and seen[1::2] == [before, before]     # set, then restored
    assert torch.get_num_threads() == before
    for bad in (0, 1.5):
        with pytest.raises(ValueError, match="'n_threads' parameter of LearnedRouter"):
            LearnedRouter(n_threads=bad).fit(t)
