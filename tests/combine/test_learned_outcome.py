"""DifferentiableSelector on outcome tables: routing for expected quality minus the cost's
Lagrange term (issue 12)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ensel import DifferentiableSelector, PredictionTable
from ensel.combine._selection import _OutcomeObjective, price_for, priced_choice, set_quality

FAST = dict(hidden_layer_sizes=(32,), max_epochs=60, learning_rate=1e-2)


def _specialists(n: int = 400, seed: int = 0, nan: float = 0.0) -> tuple[PredictionTable,
                                                                         np.ndarray]:
    """The cheap member (cost 1) is right exactly where ``X[:, 0] < 0``, the dear one (cost
    10) everywhere; routed perfectly the mean cost is 5.5 and every answer right."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    easy = X[:, 0] < 0
    Q = np.stack([easy, np.ones(n, dtype=bool)], axis=1).astype(float)
    if nan:
        Q[rng.random(Q.shape) < nan] = np.nan
    return PredictionTable.from_outcomes(Q, costs=[1.0, 10.0], X=X), easy


@pytest.fixture(scope="module")
def routed() -> DifferentiableSelector:
    return DifferentiableSelector(max_cost=5.5, **FAST).fit(_specialists()[0])


# ---------------------------------------------------------------- the pure pieces
def test_set_quality_is_the_best_chosen_for_a_hard_set():
    q = torch.tensor([[0.0, 1.0, 0.5], [0.2, 0.3, 0.9]])
    z = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    assert set_quality(z, q).tolist() == pytest.approx([1.0, 0.3])


def test_set_quality_of_a_relaxed_set_takes_members_independently():
    q = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    z = torch.tensor([[0.5, 0.5], [0.5, 0.5]])
    # both right: 1 - P(neither chosen) = 0.75; one right: its inclusion 0.5
    assert set_quality(z, q).tolist() == pytest.approx([0.75, 0.5])


def test_priced_choice_trades_quality_for_cost():
    scores = torch.tensor([[0.6, 0.9], [0.95, 1.0]])
    costs = torch.tensor([0.1, 1.0])
    assert priced_choice(scores, costs, 0.0).tolist() == [[0, 1], [0, 1]]
    # at price 0.2: 0.6 - 0.02 > 0.9 - 0.2 is False; 0.95 - 0.02 > 1.0 - 0.2 is True
    assert priced_choice(scores, costs, 0.2).tolist() == [[0, 1], [1, 0]]
    assert priced_choice(scores, costs, 0.0, k=2).tolist() == [[1, 1], [1, 1]]


def test_price_for_finds_the_smallest_price_within_the_target():
    assert price_for(lambda lam: 3.0, 5.0) == 0.0
    lam = price_for(lambda lam: 10.0 / (1.0 + lam), 2.0)       # 4 exactly
    assert lam == pytest.approx(4.0, rel=1e-6) and 10.0 / (1 + lam) <= 2.0 * (1 + 1e-9)
    assert price_for(lambda lam: 1.0, 0.5) == 2.0 ** 60        # never fits: the top price


@pytest.mark.parametrize("k", [1, 2])
def test_missing_outcomes_do_not_reach_the_loss(k):
    torch.manual_seed(0)
    F = torch.randn(6, 2)
    seen = torch.tensor([[1, 0, 1], [1, 1, 1], [0, 1, 1], [1, 1, 0], [1, 1, 1], [0, 0, 1]],
                        dtype=torch.float32)
    Q0 = torch.rand(6, 3) * seen
    Q1 = Q0 + (1 - seen) * 0.7                 # other values where nothing is observed
    net = torch.nn.Linear(2, 3)
    losses = []
    for Q in (Q0, Q1):
        objective = _OutcomeObjective(F, Q, seen, costs=torch.tensor([0.1, 0.5, 1.0]),
                                      target=0.4, k=k, method="sparse", method_options={},
                                      epsilon=0.1 if k == 1 else 0.0, member_dropout=0.0,
                                      outcome_weight=1.0)
        rows = np.arange(6)
        loss = objective.loss(lambda x: (net(x), None), rows, None, torch.Generator())
        losses.append(float(loss.detach()))
    assert losses[0] == pytest.approx(losses[1], abs=1e-7)


# ---------------------------------------------------------------- fitted
def test_routes_the_hard_inputs_to_the_dear_member_within_the_budget(routed):
    table, easy = _specialists(seed=1)                       # fresh inputs
    chosen = routed.predict(table)
    assert (chosen == np.where(easy, "m0", "m1")).mean() > 0.9
    selection = routed.select(table)
    assert selection.shape == (400, 2) and (selection.sum(1) == 1).all()
    cost = (selection * table.cost_matrix()).sum(1).mean()
    assert 4.5 < cost < 6.5                                   # the budget, 5.5
    assert routed.budget_ == pytest.approx(5.5 / 11) and routed.price_ > 0
    assert routed.validation_cost_ <= routed.budget_ * (1 + 1e-9)
    assert list(routed.route(table)) == list(selection.argmax(1))


@pytest.mark.parametrize("max_cost", [2.0, 4.0, 8.0])
def test_the_budget_is_met_on_the_validation_part(max_cost):
    table, _ = _specialists()
    sel = DifferentiableSelector(max_cost=max_cost, **FAST).fit(table)
    assert sel.validation_cost_ * 11 <= max_cost * (1 + 1e-9)
    assert sel.validation_cost_ * 11 > max_cost - 1.5         # and spends most of it


def test_without_a_budget_routes_by_expected_quality():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 2))
    easy = X[:, 0] < 0
    dear = rng.random(400) < 0.8                      # right 80% of the time, anywhere
    Q = np.stack([easy, dear], axis=1).astype(float)
    table = PredictionTable.from_outcomes(Q, costs=[1.0, 10.0], X=X)
    sel = DifferentiableSelector(**FAST).fit(table)
    assert sel.price_ == 0.0 and sel.budget_ is None
    assert (sel.predict(table) == np.where(easy, "m0", "m1")).mean() > 0.9


def test_missing_outcomes_are_ignored_in_training():
    table, easy = _specialists(nan=0.3)
    sel = DifferentiableSelector(max_cost=5.5, **FAST).fit(table)
    fresh, easy = _specialists(seed=1)
    assert (sel.predict(fresh) == np.where(easy, "m0", "m1")).mean() > 0.9


def test_k_members_per_input_under_a_budget():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 2))
    Q = np.stack([X[:, 0] < 0, X[:, 0] >= 0, np.ones(400, dtype=bool)], 1).astype(float)
    table = PredictionTable.from_outcomes(Q, costs=[1.0, 1.0, 10.0], X=X)
    sel = DifferentiableSelector(k=2, max_cost=4.0, **FAST).fit(table)
    selection = sel.select(table)
    assert (selection.sum(1) == 2).all()
    assert sel.validation_cost_ * 12 <= 4.0 * (1 + 1e-9)
    best = np.nanmax(np.where(selection > 0, Q, np.nan), axis=1)   # a picker downstream
    assert best.mean() > 0.9
    assert set(sel.predict(table)) <= {"m0", "m1", "m2"}
    with pytest.raises(ValueError, match=r"route sends each input to one member.*k_=2"):
        sel.route(table)


def test_save_and_load_route_the_same(tmp_path, routed):
    table, _ = _specialists(seed=2)
    loaded = DifferentiableSelector.load(routed.save(tmp_path / "router"))
    assert loaded.price_ == routed.price_ and loaded.task_ == "outcome"
    np.testing.assert_array_equal(loaded.select(table), routed.select(table))
    np.testing.assert_array_equal(loaded.predict(table), routed.predict(table))


def test_save_and_load_without_a_budget(tmp_path):
    table, _ = _specialists()
    sel = DifferentiableSelector(k=2, max_epochs=2).fit(table)
    loaded = DifferentiableSelector.load(sel.save(tmp_path / "k2"))
    np.testing.assert_array_equal(loaded.select(table), sel.select(table))


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("params, match", [
    ({"features": "predictions"}, r"sees only the inputs.*Got 'predictions'"),
    ({"k": "auto"}, r"k='auto' of DifferentiableSelector is not for outcome tables"),
    ({"aggregation": "stacked"}, r"combines no predictions.*aggregation='stacked'"),
    ({"policy": "gates", "budget": 0.5}, r"combines no predictions.*policy='gates'"),
    ({"k": 3}, r"'k' parameter"),
])
def test_outcome_parameters_are_checked(params, match):
    with pytest.raises(ValueError, match=match):
        DifferentiableSelector(**params).fit(_specialists(n=40)[0])


def test_outcome_table_needs_inputs():
    table = PredictionTable.from_outcomes([[1, 0], [0, 1]], costs=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"routes an outcome table from its inputs: the table "
                                         r"has X=None"):
        DifferentiableSelector().fit(table)


def test_predict_proba_and_route_refusals(routed):
    table, _ = _specialists(n=20)
    with pytest.raises(ValueError, match=r"predict_proba is defined for classification"):
        routed.predict_proba(table)
    with pytest.raises(ValueError, match=r"'price' parameter of DifferentiableSelector.route "
                                         r"must be >= 0\. Got -1\.0"):
        routed.route(table, price=-1.0)
    with pytest.raises(ValueError, match=r"'price' argument of DifferentiableSelector.route "
                                         r"must be a finite real number"):
        routed.route(table, price=float("nan"))


def test_route_needs_an_outcome_selector():
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(2), size=(30, 2))
    table = PredictionTable.from_arrays(P, y=rng.integers(0, 2, 30), X=rng.normal(size=(30, 2)))
    sel = DifferentiableSelector(k=1, max_epochs=1).fit(table)
    with pytest.raises(ValueError, match=r"task_='classification'"):
        sel.route(table)
