"""Routers on outcome tables: hand-computed choices, the cost knob, curves, errors."""

from __future__ import annotations

import numpy as np
import pytest

from ensel import PredictionTable
from ensel.combine.routing import (
    KNNRouter,
    LearnedRouter,
    MeanRouter,
    OracleRouter,
    PredictiveRouter,
    routing_curve,
)

# three inputs, members cheap (1) / dear (4); the cheap one fails on input 1
Q = np.array([[1.0, 1.0], [0.0, 1.0], [1.0, np.nan]])
X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1]])


def table(**kw):
    return PredictionTable.from_outcomes(Q, costs=[1.0, 4.0], X=X, members=["cheap", "dear"],
                                         **kw)


def test_oracle_takes_the_cheapest_right_member():
    t = table()
    router = OracleRouter().fit(t)
    assert router.predict(t).tolist() == ["cheap", "dear", "cheap"]
    np.testing.assert_array_equal(router.select(t), [[1, 0], [0, 1], [1, 0]])


def test_mean_router_and_cost_weight():
    t = table()
    # means: cheap 2/3, dear 1 (NaN ignored); scale 4 -> value = q - w * c / 4
    assert MeanRouter().fit(t).predict(t).tolist() == ["dear"] * 3
    # w = 0.5: cheap 2/3 - 0.125 = 0.54 > dear 1 - 0.5 = 0.5
    assert MeanRouter(cost_weight=0.5).fit(t).predict(t).tolist() == ["cheap"] * 3
    np.testing.assert_allclose(MeanRouter().fit(t).mean_quality_, [2 / 3, 1.0])


def test_knn_router_ignores_missing_neighbours():
    t = table()
    q = KNNRouter(n_neighbors=2).fit(t).predict_quality(t)
    # input 2's neighbours are rows 2 and 0: cheap (1 + 1) / 2; dear only row 0 is seen
    np.testing.assert_allclose(q[2], [1.0, 1.0])
    np.testing.assert_allclose(q[1], [0.5, 1.0])        # rows 1 and 2 (cosine)


def test_predictive_router_constant_member():
    t = table()
    router = PredictiveRouter().fit(t)
    assert router.estimators_[1] == 1.0                  # dear: always right where seen
    q = router.predict_quality(t)
    assert q.shape == (3, 2) and np.all(q[:, 1] == 1.0)


def test_learned_router_learns_a_split():
    rng = np.random.default_rng(0)
    Xs = rng.normal(size=(300, 2))
    Qs = np.stack([Xs[:, 0] > 0, np.ones(300, bool)], axis=1).astype(float)
    t = PredictionTable.from_outcomes(Qs, costs=[1.0, 10.0], X=Xs)
    router = LearnedRouter(max_epochs=150, random_state=0).fit(t)
    chosen = router.route(t, cost_weight=0.5)
    # cheap where it is right, dear elsewhere
    assert ((chosen == 0) == (Xs[:, 0] > 0)).mean() > 0.9
    again = LearnedRouter(max_epochs=150, random_state=0).fit(t).predict_quality(t)
    np.testing.assert_allclose(again, router.predict_quality(t))


def test_routing_curve_sweeps_the_knob():
    t = table()
    curve = routing_curve(OracleRouter().fit(t), t, cost_weights=[0.0, 10.0])
    assert curve["cost"].tolist() == [2.0, 1.0]
    assert curve["quality"].tolist() == pytest.approx([1.0, 2 / 3])
    with pytest.raises(ValueError, match="whose outcome is not observed"):
        routing_curve(MeanRouter().fit(t), t, cost_weights=[0.0], missing="raise")


def test_errors():
    t = table()
    with pytest.raises(ValueError, match="'cost_weight' parameter of MeanRouter must be >= 0"):
        MeanRouter(cost_weight=-1).fit(t)
    with pytest.raises(ValueError, match="'n_neighbors' parameter of KNNRouter"):
        KNNRouter(n_neighbors=5).fit(t)
    with pytest.raises(ValueError, match="KNNRouter needs inputs|X=None"):
        KNNRouter(n_neighbors=1).fit(PredictionTable.from_outcomes(Q, costs=None))
    classification = PredictionTable.from_arrays(np.full((2, 2, 2), 0.5), y=[0, 1])
    with pytest.raises(ValueError, match="MeanRouter supports outcome tables only"):
        MeanRouter().fit(classification)
    with pytest.raises(ValueError, match="'dropout' parameter of LearnedRouter"):
        LearnedRouter(dropout=2.0).fit(t)
