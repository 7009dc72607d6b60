"""WinRateRouter: RouteLLM's threshold on the predicted win rate of the strong member."""

import numpy as np
import pytest

from ensel import PredictionTable
from ensel.combine.routing import WinRateRouter, evaluate_routers, routing_curve


def two_member_table(n, seed):
    """The strong (dear) member is right everywhere; the weak (cheap) one only where x0 < 0.3,
    so the strong one wins exactly where x0 >= 0.3 (35% of the inputs)."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    weak = (X[:, 0] < 0.3).astype(float)
    return PredictionTable.from_outcomes(np.stack([weak, np.ones(n)], 1), costs=[1.0, 10.0],
                                         X=X), X[:, 0] >= 0.3


def test_routes_to_the_strong_member_only_where_it_wins():
    train, _ = two_member_table(800, 0)
    test, wins = two_member_table(400, 1)
    router = WinRateRouter(cost_weight=0.5).fit(train)          # threshold 0.5 * 9 / 10
    assert router.strong_ == 1
    chosen = router.route(test)
    assert (chosen[wins] == 1).mean() >= 0.95 and (chosen[~wins] == 0).mean() >= 0.95
    win = router.predict_quality(test)[:, 1]
    np.testing.assert_array_equal(chosen == 1, win >= 0.45)     # the threshold rule itself
    assert np.all(router.predict_quality(test)[:, 0] == 0)


def test_the_knob_sweeps_from_strong_everywhere_to_weak_everywhere():
    train, _ = two_member_table(400, 0)
    router = WinRateRouter().fit(train)
    assert (router.route(train, cost_weight=0.0) == 1).mean() > 0.9     # ties: any win > 0
    assert (router.route(train, cost_weight=100.0) == 0).all()
    curve = routing_curve(router, train, cost_weights=[0.0, 0.5, 100.0])
    assert curve["cost"][0] > curve["cost"][1] > curve["cost"][2]


def test_evaluate_routers_adds_it_for_two_members():
    train, _ = two_member_table(300, 0)
    test, _ = two_member_table(200, 1)
    out = evaluate_routers({}, train, test)
    entry = out["results"]["win rate (RouteLLM)"]
    assert entry["kind"] == "router" and entry["apgr"] > 0.8
    assert entry["apgr"] > out["results"]["zero router"]["apgr"] + 0.2


def test_needs_two_members():
    t = PredictionTable.from_outcomes(np.ones((4, 3)), costs=[1, 2, 3], X=np.zeros((4, 1)))
    with pytest.raises(ValueError, match=r"routes between two members .* the table has 3"):
        WinRateRouter().fit(t)
