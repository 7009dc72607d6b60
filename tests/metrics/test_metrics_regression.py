"""mean_squared_error and r2_score."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sklearn.metrics as skm

from ensel.metrics import mean_squared_error, r2_score


def test_hand_cases():
    assert mean_squared_error([1.0, 2.0, 3.0], [1.0, 2.0, 5.0]) == pytest.approx(4 / 3)
    # SS_res = 1, SS_tot = 2
    assert r2_score([1.0, 2.0, 3.0], [1.0, 2.0, 4.0]) == pytest.approx(0.5)
    assert r2_score([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == 1.0


def test_multioutput_parity_with_sklearn():
    rng = np.random.default_rng(0)
    y, pred = rng.normal(size=(30, 3)), rng.normal(size=(30, 3))
    assert mean_squared_error(y, pred) == pytest.approx(skm.mean_squared_error(y, pred))
    assert r2_score(y, pred) == pytest.approx(skm.r2_score(y, pred))


def test_r2_edge_cases_follow_sklearn():
    assert r2_score([2.0, 2.0], [2.0, 2.0]) == 1.0
    assert r2_score([2.0, 2.0], [2.0, 3.0]) == 0.0
    assert math.isnan(r2_score([2.0], [2.0]))


@pytest.mark.parametrize("fn", [mean_squared_error, r2_score])
@pytest.mark.parametrize(("y", "pred", "match"), [
    ([1.0, 2.0], [[1.0], [2.0]], (r"pred has shape \(2, 1\) but y has shape \(2,\); they must "
                                 r"match exactly")),
    (np.zeros((2, 1, 1)), np.zeros((2, 1, 1)), (r"y must be \[N\] or \[N, D\] targets; got "
                                               r"shape \(2, 1, 1\)")),
    ([], [], r"y is empty: it must hold at least one target"),
    ([1.0, np.nan], [1.0, 2.0], r"y has NaN at index 1"),
    ([1.0, 2.0], [1.0, np.inf], r"pred has inf at index 1"),
    ([1.0, 2.0], ["a", "b"], r"pred must be a numeric array; got dtype <U1"),
])
def test_bad_inputs(fn, y, pred, match):
    with pytest.raises(ValueError, match=match):
        fn(y, pred)
