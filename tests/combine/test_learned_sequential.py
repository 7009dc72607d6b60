"""DifferentiableSelector's sequential policy: it sees the predictions it has paid for."""

import numpy as np
import pytest
import torch

from ensel import DifferentiableSelector, PredictionTable
from ensel.combine._selection import (
    cost_share,
    exit_confidence,
    member_costs,
    prefix_mask,
    run_order,
    stage_outputs,
)

from .test_learned_budget import FAST, escalation_table, specialists_table


def unsure_table(n, seed):
    """X says nothing. A cheap member (cost 1) is right and sure on the easy 75% of the inputs
    and unsure (a coin flip at 0.55) on the hard ones; an expensive one (cost 3) is right
    everywhere. Only a policy that looks at the cheap member's prediction can escalate just
    the hard inputs: cheap first everywhere, the expensive one only where the cheap is unsure
    (mean cost 0.75 * 1 + 0.25 * 4 = 1.75 of 4)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    y = rng.integers(0, 2, n)
    hard = rng.random(n) < 0.25
    right = np.eye(2)[y] * 0.9 + 0.05
    flip = np.where(rng.random(n) < 0.5, y, 1 - y)
    unsure = np.eye(2)[flip] * 0.1 + 0.45
    cheap = np.where(hard[:, None], unsure, right)
    return PredictionTable.from_arrays(np.stack([cheap, right], 1), y=y, X=X,
                                      costs=[1.0, 3.0]), hard


def test_stage_outputs_and_prefix_mask_by_hand():
    P = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]])
    order = run_order(torch.tensor([[0.1, 0.9, 0.5]]))
    assert order.tolist() == [[1, 2, 0]]
    out = stage_outputs(P, order, None, None)             # the mean of each prefix
    np.testing.assert_allclose(out[0].numpy(), [[0, 1], [0.25, 0.75], [0.5, 0.5]])
    np.testing.assert_array_equal(prefix_mask(order, np.array([1])).numpy(), [[0, 1, 1]])


def test_escalates_on_the_unsure_inputs_only():
    train, _ = unsure_table(1500, 0)
    test, hard = unsure_table(1000, 1)
    expected = (0.75 * 1 + 0.25 * 4) / 4
    sel = DifferentiableSelector(budget=expected, policy="sequential", random_state=0,
                                 **FAST).fit(train)
    mask = sel.select(test)
    assert sel.policy_ == "sequential"
    assert (sel.predict(test) == test.y).mean() >= 0.98
    on_test = (1 + 3 * hard.mean()) / 4                       # the same policy on these rows
    assert on_test - 0.01 <= cost_share(mask, member_costs(test)) <= on_test + 0.04
    # escalates the unsure inputs; the budget left over runs the expensive one first on a few
    assert mask[hard, 1].mean() >= 0.95 and mask[~hard, 1].mean() <= 0.15
    gates = DifferentiableSelector(budget=expected, policy="gates", random_state=0,
                                   **FAST).fit(train)
    assert (gates.predict(test) == test.y).mean() < 0.95       # it cannot see who is unsure
    auto = DifferentiableSelector(budget=expected, random_state=0, **FAST).fit(train)
    assert auto.policy_ == "sequential"
    assert auto.validation_scores_[(auto.aggregation_, "sequential")] > max(
        v for (a, k), v in auto.validation_scores_.items() if k != "sequential")


def test_auto_keeps_the_gates_where_the_inputs_decide():
    # the cheap member is wrong *and sure* on the hard inputs: only X tells them apart, and
    # the sequential order is trained without the costs, so the gates must win on validation
    train, _ = escalation_table(1500, 0)
    test, hard = escalation_table(1000, 1)
    expected = (0.75 * 1 + 0.25 * 3) / 4
    sel = DifferentiableSelector(budget=expected, random_state=0,
                                 **{**FAST, "max_epochs": 150}).fit(train)
    assert sel.policy_ == "gates"
    mask = sel.select(test)
    assert (sel.predict(test) == test.y).mean() >= 0.98
    assert abs(cost_share(mask, member_costs(test)) - expected) <= 0.03
    assert mask[hard, 1].mean() >= 0.95 and mask[~hard, 1].mean() <= 0.05


@pytest.mark.parametrize("budget", [0.3, 0.5])
def test_budget_met_on_validation_and_close_on_test(budget):
    train, test = specialists_table(900, 0), specialists_table(900, 1)
    # the stacked head: a mean over more members is less confident than the specialist
    # alone, so with it no exit threshold spends between a third and all of the pool here
    sel = DifferentiableSelector(budget=budget, policy="sequential", aggregation="stacked",
                                 random_state=0, **FAST).fit(train)
    assert budget - 0.05 <= sel.validation_cost_ <= budget + 1e-9
    mask = sel.select(test)
    assert abs(mask.mean() - budget) <= 0.05
    assert set(np.unique(mask)) <= {0.0, 1.0} and mask.sum(1).min() >= 1


def test_run_sequential_equals_the_table_path_and_fetches_only_what_runs():
    train, test = specialists_table(900, 0), specialists_table(400, 1)
    sel = DifferentiableSelector(budget=0.3, policy="sequential", random_state=0,
                                 **FAST).fit(train)
    P = np.asarray(test.P)
    fetched = np.zeros(P.shape[:2], dtype=int)

    def fetch(j, rows):
        fetched[rows, j] += 1
        return P[rows, j]

    proba, selection = sel.run_sequential(test.n_samples, fetch, X=test.X)
    np.testing.assert_array_equal(selection, sel.select(test))
    np.testing.assert_array_equal(fetched, selection.astype(int))
    np.testing.assert_allclose(proba, sel.predict_proba(test), atol=1e-6)


def test_save_load_keeps_the_policy(tmp_path):
    train = specialists_table(600, 0)
    sel = DifferentiableSelector(budget=0.4, policy="sequential", random_state=0,
                                 **FAST).fit(train)
    back = DifferentiableSelector.load(sel.save(tmp_path / "sel"))
    assert back.policy_ == "sequential" and back.threshold_ == sel.threshold_
    np.testing.assert_array_equal(back.select(train), sel.select(train))
    np.testing.assert_allclose(back.predict_proba(train), sel.predict_proba(train), atol=1e-7)


@pytest.mark.parametrize("params, match", [
    ({"budget": 0.5, "policy": "greedy"}, r"'policy' parameter of DifferentiableSelector must "
                                          r"be .*'sequential'.*Got 'greedy'"),
    ({"k": 2, "policy": "sequential"}, r"pass budget or max_cost, or leave policy='auto'. "
                                       r"Got policy='sequential' without a budget"),
    ({"budget": 0.5, "policy": "sequential", "features": "first"},
     r"policy='sequential' .* needs a classification table and features other than 'first'"),
])
def test_policy_errors(params, match):
    with pytest.raises(ValueError, match=match):
        DifferentiableSelector(**params).fit(specialists_table(100, 0))


def test_run_sequential_checks_its_inputs():
    train = specialists_table(300, 0)
    sel = DifferentiableSelector(budget=0.5, policy="sequential", max_epochs=3).fit(train)
    fetch = lambda j, rows: np.asarray(train.P)[rows, j]  # noqa: E731
    with pytest.raises(ValueError, match=r"needs the inputs X of shape \(3, 3\); got None"):
        sel.run_sequential(3, fetch)
    with pytest.raises(ValueError, match=r"X of shape \(3, 3\); got \(3, 2\)"):
        sel.run_sequential(3, fetch, X=train.X[:3, :2])
    X = np.array(train.X[:3], dtype=float)
    X[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"X has NaN or infinite values \(first in row 1\)"):
        sel.run_sequential(3, fetch, X=X)


def test_run_sequential_refuses_the_gates():
    train = specialists_table(300, 0)
    sel = DifferentiableSelector(budget=0.5, policy="gates", max_epochs=3).fit(train)
    with pytest.raises(ValueError, match=r"run_sequential needs the sequential policy"):
        sel.run_sequential(3, lambda j, rows: None, X=train.X[:3])


def test_fixed_policy_is_the_top_k_within_the_budget():
    train, test = specialists_table(900, 0), specialists_table(300, 1)
    sel = DifferentiableSelector(budget=0.34, policy="fixed", random_state=0, **FAST).fit(train)
    assert sel.policy_ == "fixed" and sel.k_ == 2              # floor(0.34 * 6)
    np.testing.assert_array_equal(sel.select(test).sum(1), 2)
    assert sel.validation_cost_ == pytest.approx(2 / 6)
    fixed_k = DifferentiableSelector(k=2, random_state=0, **FAST).fit(train)
    np.testing.assert_array_equal(sel.select(test), fixed_k.select(test))


def test_auto_leaves_out_the_fixed_policy_when_it_does_not_apply():
    train, _ = escalation_table(300, 0)                        # costs 1 and 3
    sel = DifferentiableSelector(budget=0.5, max_epochs=3).fit(train)
    assert all(k == "sequential" or k is None for _, k in sel.validation_scores_)
    with pytest.raises(ValueError, match=r"policy='fixed' .* needs members of equal cost"):
        DifferentiableSelector(budget=0.5, policy="fixed", max_epochs=3).fit(train)
    with pytest.raises(ValueError, match=r"a budget of at least one member \(1/M = 0.167\)"):
        DifferentiableSelector(budget=0.1, policy="fixed").fit(specialists_table(100, 0))


def test_save_load_keeps_the_fixed_policy(tmp_path):
    train = specialists_table(600, 0)
    sel = DifferentiableSelector(budget=0.34, policy="fixed", random_state=0, **FAST).fit(train)
    back = DifferentiableSelector.load(sel.save(tmp_path / "sel"))
    assert back.policy_ == "fixed" and back.k_ == 2 and back.threshold_ is None
    assert back.budget_ == pytest.approx(0.34)
    np.testing.assert_array_equal(back.select(train), sel.select(train))
    np.testing.assert_allclose(back.predict_proba(train), sel.predict_proba(train), atol=1e-7)


@pytest.mark.parametrize("key, value, match", [
    ("policy_", "greedy", r"'policy_' must be one of \('gates', 'sequential', 'fixed', 'route'\)"),
    ("price_", -1.0, r"'price_' must be a finite number >= 0; got -1.0"),
    ("member_costs_", [1.0, 2.0], r"'member_costs_' must be 6 finite costs >= 0"),
])
def test_load_validates_the_policy_state(tmp_path, key, value, match):
    import json

    train = specialists_table(300, 0)
    DifferentiableSelector(budget=0.5, policy="sequential", max_epochs=3).fit(train).save(
        tmp_path / "sel")
    config_path = tmp_path / "sel" / "config.json"
    config = json.loads(config_path.read_text())
    config[key] = value
    config_path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match=match):
        DifferentiableSelector.load(tmp_path / "sel")


def test_exit_confidence_separates_rows_whose_top_probability_rounds_to_one():
    logits = torch.tensor([[40.0, 0.0, 0.0], [30.0, 0.0, 0.0], [1.0, 0.0, 0.0]],
                          dtype=torch.float64)
    proba = torch.softmax(logits, 1)
    assert proba[0, 0].float() == proba[1, 0].float() == 1.0      # tied in float32
    conf = exit_confidence(proba)
    assert conf[0] > conf[1] > conf[2]
    np.testing.assert_allclose(conf[2], -np.log(1 - proba[2, 0].item()))
