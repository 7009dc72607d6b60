"""cost_per_input, weighted cost_fraction, cost_to_reach and accuracy_cost_auc on hand cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ensel.metrics import accuracy_cost_auc, cost_fraction, cost_per_input, cost_to_reach


def test_cost_per_input_member_and_input_costs():
    mask = [[1, 0, 1], [0, 1, 0], [1, 1, 1]]
    assert cost_per_input(mask).tolist() == [2.0, 1.0, 3.0]
    assert cost_per_input(mask, [1.0, 2.0, 5.0]).tolist() == [6.0, 2.0, 8.0]
    per_input = [[1, 1, 1], [10, 20, 30], [0, 0, 4]]
    assert cost_per_input(mask, per_input).tolist() == [2.0, 20.0, 4.0]
    assert cost_per_input([[0.5, 1e-9, 0.0]], [1.0, 7.0, 3.0], threshold=1e-6).tolist() == [1.0]


def test_cost_fraction_is_ratio_of_means():
    mask = [[1, 0, 1], [0, 1, 0], [1, 1, 1]]
    assert cost_fraction(mask) == pytest.approx(6 / 9)
    assert cost_fraction(mask, costs=[1.0, 2.0, 5.0]) == pytest.approx(16 / 24)
    per_input = [[1, 1, 1], [10, 20, 30], [0, 0, 4]]
    assert cost_fraction(mask, costs=per_input) == pytest.approx(26 / 67)
    assert cost_fraction(np.ones((2, 3)), costs=[0.0, 1.0, 2.0]) == 1.0


@pytest.mark.parametrize(("costs", "match"), [
    ([1.0, -1.0, 1.0], r"cost_fraction: member 'm1': cost -1\.0 must be >= 0"),
    ([1.0, 1.0], r"cost_fraction: 'costs' must have shape \(3,\)"),
    ([0.0, 0.0, 0.0], r"cost_fraction: 'costs' are all zero"),
])
def test_cost_fraction_bad_costs(costs, match):
    with pytest.raises(ValueError, match=match):
        cost_fraction([[1, 0, 1]], costs=costs)


def test_cost_to_reach_hand_cases():
    budgets, acc = [0.1, 0.2, 0.3, 0.5, 1.0], [0.90, 0.95, 0.9585, 0.97, 0.96]
    assert cost_to_reach(budgets, acc, 0.9592) == 0.3          # 0.9585 >= 0.9592 - 0.001
    assert cost_to_reach(budgets, acc, 0.9592, tolerance=0.0) == 0.5
    assert math.isnan(cost_to_reach(budgets, acc, 0.99))
    assert cost_to_reach([1.0, 0.2], [0.5, 0.5], 0.5) == 0.2    # order does not matter


def test_accuracy_cost_auc_hand_cases():
    assert accuracy_cost_auc([0.0, 0.5, 1.0], [0.6, 0.8, 0.9]) == pytest.approx(0.775)
    assert accuracy_cost_auc([1.0, 0.0, 0.5], [0.9, 0.6, 0.8]) == pytest.approx(0.775)
    assert accuracy_cost_auc([0.1, 1.0], [0.5, 0.5]) == pytest.approx(0.5)
    assert accuracy_cost_auc([0.3], [0.7]) == 0.7
    assert accuracy_cost_auc([0.3, 0.3], [0.6, 0.8]) == pytest.approx(0.7)


@pytest.mark.parametrize("fn", [accuracy_cost_auc, lambda c, s: cost_to_reach(c, s, 0.5)])
def test_curve_errors(fn):
    with pytest.raises(ValueError, match=r"needs 1-D costs and scores of the same length"):
        fn([0.1, 0.2], [0.5])
    with pytest.raises(ValueError, match=r"scores has NaN at index 1"):
        fn([0.1, 0.2], [0.5, float("nan")])


def test_cost_to_reach_bad_tolerance():
    with pytest.raises(ValueError, match=r"'tolerance' argument of cost_to_reach must be >= 0"):
        cost_to_reach([0.1], [0.5], 0.5, tolerance=-1.0)
    with pytest.raises(ValueError, match=r"'target' argument of cost_to_reach must be a finite"):
        cost_to_reach([0.1], [0.5], float("nan"))


def test_exit_threshold_by_hand_and_its_errors():
    from ensel.metrics.cost import exit_stages, exit_threshold

    conf = np.array([[0.9, 1.0], [0.5, 1.0], [0.7, 1.0]])
    spent = np.array([[1.0, 2.0]] * 3)
    assert exit_threshold(conf, spent, 1.0) == (0.5, True)          # every row after one
    assert exit_threshold(conf, spent, 1.34) == (0.7, True)         # one row runs on
    assert exit_threshold(conf, spent, 2.0) == (np.inf, True)       # the whole run fits
    assert exit_threshold(conf, spent, 0.5) == (-np.inf, False)     # nothing fits
    np.testing.assert_array_equal(exit_stages(conf, 0.7), [0, 1, 0])
    with pytest.raises(ValueError, match=r"exit_threshold needs conf of shape \[N, S\]"):
        exit_threshold(conf[0], spent[0], 1.0)
    with pytest.raises(ValueError, match=r"conf and spent of the same shape"):
        exit_threshold(conf, spent[:2], 1.0)
    with pytest.raises(ValueError, match=r"exit_threshold: conf has NaN \(first in row 1\)"):
        exit_threshold(np.where(conf == 0.5, np.nan, conf), spent, 1.0)
    with pytest.raises(ValueError, match=r"'target' argument of exit_threshold must be a finite"):
        exit_threshold(conf, spent, float("nan"))
    with pytest.raises(ValueError, match=r"exit_stages needs a number .* as threshold"):
        exit_stages(conf, None)
