"""DifferentiableSelector under a budget: calibration, cost account, escalation, errors, save."""

import numpy as np
import pytest
import torch

from ensel import DifferentiableSelector, PredictionTable
from ensel.combine._selection import cost_share, gate_threshold, hard_gates, member_costs

FAST = dict(max_epochs=80, n_iter_no_change=15, hidden_layer_sizes=(32,))


def escalation_table(n, seed, costs=(1.0, 3.0)):
    """A cheap member right on the easy inputs (x0 <= 0.5, 75%) and wrong on the hard ones;
    an expensive member right everywhere. The best policy at mean cost 1.5 (of 4): the cheap
    one alone on easy inputs, the expensive one alone on hard inputs."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    y = (X[:, 1] > 0).astype(int)
    hard = X[:, 0] > 0.5
    right, wrong = np.eye(2)[y] * 0.9 + 0.05, np.eye(2)[1 - y] * 0.9 + 0.05
    cheap = np.where(hard[:, None], wrong, right)
    return PredictionTable.from_arrays(np.stack([cheap, right], 1), y=y, X=X,
                                      costs=list(costs)), hard


def specialists_table(n, seed, n_members=6):
    """Member j is right on region j of x0 and uniform-ish elsewhere (many members to gate)."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 3))
    y = rng.integers(0, 3, n)
    region = np.minimum(((X[:, 0] + 1) / 2 * n_members).astype(int), n_members - 1)
    P = rng.dirichlet(np.ones(3), size=(n, n_members))
    for j in range(n_members):
        P[region == j, j] = np.eye(3)[y[region == j]] * 0.8 + 0.2 / 3
    X[:, 1] = y + rng.normal(0, 1.5, n)         # a weak hint of the label
    return PredictionTable.from_arrays(P, y=y, X=X)


# ---------------------------------------------------------------------- the threshold
def test_gate_threshold_meets_the_budget_exactly_on_a_hand_case():
    scores = np.array([[3.0, 2.0, 0.0], [1.0, 5.0, 4.0]])
    ones = np.ones((2, 3))

    def mask(budget, costs=ones):
        t = gate_threshold(scores, costs, budget)
        return t, hard_gates(torch.tensor(scores), t, costs=torch.tensor(costs)).numpy()

    # tops (3.0 and 5.0) always run: 2 of 6; next come 4.0, then 2.0
    assert mask(2 / 6)[0] > 4.0
    np.testing.assert_array_equal(mask(2 / 6)[1], [[1, 0, 0], [0, 1, 0]])
    np.testing.assert_array_equal(mask(3 / 6)[1], [[1, 0, 0], [0, 1, 1]])
    np.testing.assert_array_equal(mask(4 / 6)[1], [[1, 1, 0], [0, 1, 1]])
    assert mask(1.0)[0] == -np.inf
    # prices: member 3 of row 2 costs 4, so at 4/9 of the pool the cheap 2.0 entry fits and
    # the 4.0 one (s / c = 1) does not
    costs = np.array([[1.0, 1.0, 1.0], [1.0, 1.0, 4.0]])
    t, m = mask(4 / 9, costs)
    np.testing.assert_array_equal(m, [[1, 1, 0], [0, 1, 0]])
    assert cost_share(m, costs) <= 4 / 9


def test_a_budget_below_the_top_members_keeps_the_cheapest():
    scores = torch.tensor([[1.0, 5.0], [2.0, 3.0]])
    costs = np.array([[1.0, 3.0], [1.0, 3.0]])
    t = gate_threshold(scores.numpy(), costs, 2 / 8)       # only the cheap member fits
    m = hard_gates(scores, t, costs=torch.tensor(costs)).numpy()
    np.testing.assert_array_equal(m, [[1, 0], [1, 0]])
    assert gate_threshold(scores.numpy(), costs, 0.1) == np.inf     # not even that
    np.testing.assert_array_equal(hard_gates(scores, np.inf, costs=torch.tensor(costs)),
                                  [[1, 0], [1, 0]])


@pytest.mark.parametrize("budget", [0.2, 0.35, 0.5, 0.8])
def test_budget_met_on_the_validation_part_and_close_on_test(budget):
    train, test = specialists_table(900, 0), specialists_table(900, 1)
    sel = DifferentiableSelector(budget=budget, policy="gates", random_state=0,
                                 **FAST).fit(train)
    # calibrated on the validation part: at most the budget, within one row's members of it
    assert budget - 0.03 <= sel.validation_cost_ <= budget + 1e-9
    mask = sel.select(test)
    assert abs(cost_share(mask, np.ones_like(mask)) - budget) <= 0.05
    assert set(np.unique(mask)) <= {0.0, 1.0} and mask.sum(1).min() >= 1


def test_select_is_exactly_the_members_combined():
    train = specialists_table(600, 0)
    sel = DifferentiableSelector(budget=0.4, aggregation="mean", policy="gates",
                                 random_state=0, **FAST).fit(train)
    mask = sel.select(train)
    expected = (mask[:, :, None] * np.asarray(train.P)).sum(1) / mask.sum(1, keepdims=True)
    proba = sel.predict_proba(train)
    # the calibration's temperature keeps the argmax; members outside the mask change nothing
    np.testing.assert_array_equal(proba.argmax(1), expected.argmax(1))
    P = np.asarray(train.P).copy()
    P[mask == 0] = np.roll(P[mask == 0], 1, axis=-1)
    changed = PredictionTable.from_arrays(P, y=train.y, X=train.X)
    np.testing.assert_allclose(sel.predict_proba(changed), proba, atol=1e-6)
    np.testing.assert_array_equal(sel.select(changed), mask)


def test_escalates_only_on_the_hard_inputs():
    train, _ = escalation_table(1500, 0)
    test, hard = escalation_table(1000, 1)
    expected = (0.75 * 1 + 0.25 * 3) / 4                      # 0.375 of the pool's cost
    sel = DifferentiableSelector(budget=expected, policy="gates", random_state=0,
                                 **{**FAST, "max_epochs": 150}).fit(train)
    mask = sel.select(test)
    assert (sel.predict(test) == test.y).mean() >= 0.98
    assert abs(cost_share(mask, member_costs(test)) - expected) <= 0.03
    assert mask[hard, 1].mean() >= 0.95                       # the expensive one on hard rows
    assert mask[~hard, 1].mean() <= 0.05                      # and almost never on easy ones


def test_max_cost_is_the_budget_in_the_tables_units():
    train, _ = escalation_table(600, 0)
    sel = DifferentiableSelector(max_cost=2.0, random_state=0, **FAST).fit(train)
    assert sel.budget_ == pytest.approx(0.5)                  # 2 of the pool's 4 per input
    assert sel.validation_cost_ <= 0.5 + 1e-9
    sel = DifferentiableSelector(max_cost=10.0, random_state=0, **FAST).fit(train)
    assert sel.budget_ == 1.0 and sel.threshold_ == -np.inf
    np.testing.assert_array_equal(sel.select(train), 1.0)


def test_budget_none_keeps_the_fixed_k():
    train = specialists_table(300, 0)
    sel = DifferentiableSelector(k=2, random_state=0, max_epochs=5).fit(train)
    assert sel.k_ == 2 and sel.budget_ is None and sel.threshold_ is None
    np.testing.assert_array_equal(sel.select(train).sum(1), 2)


@pytest.mark.parametrize("params, match", [
    ({"budget": 0.0}, r"'budget' parameter of DifferentiableSelector must be a float in \(0, 1\]"),
    ({"budget": 1.5}, r"'budget' parameter .* in \(0, 1\]. Got 1.5"),
    ({"budget": "half"}, r"'budget' parameter .* Got 'half'"),
    ({"max_cost": -1.0}, r"'max_cost' parameter .* float in \(0, inf\]. Got -1.0"),
    ({"budget": 0.5, "max_cost": 2.0}, r"takes one of 'budget' .* and 'max_cost' .* not both"),
    ({"budget": 0.5, "k": 3}, r"'k' must be None with budget or max_cost. Got k=3"),
    ({"budget": 0.5, "method": "perturbed"}, r"'method' parameter must be 'sparse' or "
                                              r"'entropic' there. Got 'perturbed'"),
])
def test_parameter_errors(params, match):
    train = specialists_table(100, 0)
    with pytest.raises(ValueError, match=match):
        DifferentiableSelector(**params).fit(train)


def test_save_load_keeps_the_budget_state(tmp_path):
    train = specialists_table(600, 0)
    sel = DifferentiableSelector(budget=0.4, random_state=0, **FAST).fit(train)
    sel.save(tmp_path / "sel")
    back = DifferentiableSelector.load(tmp_path / "sel")
    assert back.threshold_ == sel.threshold_ and back.budget_ == sel.budget_
    assert back.validation_cost_ == sel.validation_cost_ and back.k_ == sel.k_
    assert back.policy_ == sel.policy_
    np.testing.assert_array_equal(back.select(train), sel.select(train))
    np.testing.assert_allclose(back.predict_proba(train), sel.predict_proba(train), atol=1e-7)
    everything = DifferentiableSelector(budget=1.0, random_state=0, **FAST).fit(train)
    everything.save(tmp_path / "all")                       # an infinite threshold round-trips
    assert DifferentiableSelector.load(tmp_path / "all").threshold_ == -np.inf


def test_load_refuses_a_budgeted_config_without_its_threshold(tmp_path):
    from safetensors.torch import load_file, save_file

    train = specialists_table(300, 0)
    DifferentiableSelector(budget=0.4, max_epochs=3).fit(train).save(tmp_path / "sel")
    weights = tmp_path / "sel" / "model.safetensors"
    tensors = load_file(str(weights))
    del tensors["threshold"]
    save_file(tensors, str(weights))
    with pytest.raises(ValueError, match=r"model.safetensors has no 'threshold' for the "
                                         r"budgeted selector"):
        DifferentiableSelector.load(tmp_path / "sel")
