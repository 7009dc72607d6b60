"""members_per_input and cost_fraction."""

from __future__ import annotations

import numpy as np
import pytest

from ensel.metrics import cost_fraction, members_per_input


def test_hand_cases():
    mask = [[1, 0, 1, 0], [1, 1, 1, 0], [0, 0, 0, 1]]          # 2, 3, 1 -> mean 2
    assert members_per_input(mask) == 2.0
    assert cost_fraction(mask) == 0.5
    weights = [[0.5, 0.25, 0.25, 0.0], [1.0, 0.0, 0.0, 0.0]]  # 3, 1
    assert members_per_input(weights) == 2.0
    assert members_per_input(np.array(mask, dtype=bool)) == 2.0


def test_full_ensemble_costs_one():
    assert cost_fraction(np.full((5, 7), 1 / 7)) == 1.0
    assert members_per_input(np.ones((5, 7))) == 7.0


def test_threshold_ignores_tiny_relaxed_weights():
    soft = [[0.5, 0.5, 1e-9, 0.0], [1.0, 1e-7, 0.0, 0.0]]
    assert members_per_input(soft) == 2.5
    assert members_per_input(soft, threshold=1e-6) == 1.5
    assert cost_fraction(soft, threshold=1e-6) == pytest.approx(1.5 / 4)


@pytest.mark.parametrize("fn", [members_per_input, cost_fraction])
@pytest.mark.parametrize(("selection", "match"), [
    ([1, 0, 1], (r"selection must be 2-D \[N, M\] \(a 0/1 mask or weights per input and "
                r"member\); got shape \(3,\)")),
    (np.zeros((0, 3)), (r"selection must have at least one row and one member; got shape "
                       r"\(0, 3\)")),
    ([[1, np.nan], [0, 1]], r"selection has NaN at index \(0, 1\)"),
    ([["a", "b"]], r"selection must be a numeric array; got dtype <U1"),
])
def test_bad_selection(fn, selection, match):
    with pytest.raises(ValueError, match=match):
        fn(selection)


@pytest.mark.parametrize("fn", [members_per_input, cost_fraction])
@pytest.mark.parametrize("threshold", [-0.1, float("nan"), "0", True])
def test_bad_threshold(fn, threshold):
    with pytest.raises(ValueError, match=rf"The 'threshold' parameter of {fn.__name__} must be "
                                         r"a finite float >= 0\. Got .* instead\."):
        fn([[1, 0]], threshold=threshold)
