"""Property tests (hypothesis) over random pools and predictions."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ensel.metrics import (
    brier_score_loss,
    expected_calibration_error,
    log_loss,
    pairwise_diversity,
    reliability_curve,
    uncertainty_decomposition,
    vendi_score,
)

SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def predictions(draw, pool: bool):
    n = draw(st.integers(1, 12))
    c = draw(st.integers(2, 4))
    shape = (n, draw(st.integers(1, 4)), c) if pool else (n, c)
    raw = draw(hnp.arrays(np.float64, shape, elements=st.floats(0.0, 1.0)))
    # sharp and degenerate rows included: zeros stay zeros unless the whole row is zero
    raw = np.where(raw.sum(-1, keepdims=True) == 0, 1.0, raw)
    proba = raw / raw.sum(-1, keepdims=True)
    y = draw(hnp.arrays(np.int64, n, elements=st.integers(0, c - 1)))
    return y, proba


@SETTINGS
@given(predictions(pool=False), st.integers(1, 20), st.sampled_from(["uniform", "quantile"]))
def test_ece_in_unit_interval_and_counts_add_up(data, n_bins, strategy):
    y, proba = data
    ece = expected_calibration_error(y, proba, n_bins=n_bins, strategy=strategy)
    assert 0.0 <= ece <= 1.0
    curve = reliability_curve(y, proba, n_bins=n_bins, strategy=strategy)
    assert curve["counts"].sum() == len(y)
    assert np.all(np.diff(curve["edges"]) >= 0)


@SETTINGS
@given(predictions(pool=False), st.randoms(use_true_random=False))
def test_ece_is_invariant_to_row_order(data, rnd):
    y, proba = data
    order = np.array(rnd.sample(range(len(y)), len(y)))
    for strategy in ("uniform", "quantile"):
        a = expected_calibration_error(y, proba, n_bins=5, strategy=strategy)
        b = expected_calibration_error(y[order], proba[order], n_bins=5, strategy=strategy)
        assert abs(a - b) < 1e-12


@SETTINGS
@given(predictions(pool=False))
def test_losses_in_range(data):
    y, proba = data
    assert log_loss(y, proba) >= 0.0
    assert 0.0 <= brier_score_loss(y, proba) <= 2.0 + 1e-12


@SETTINGS
@given(predictions(pool=True))
def test_uncertainty_epistemic_nonnegative_and_additive(data):
    _, P = data
    u = uncertainty_decomposition(P)
    log_c = np.log(P.shape[2])
    assert np.all(u["epistemic"] >= 0.0)
    assert np.all(u["aleatoric"] >= 0.0)
    assert np.all(u["total"] <= log_c + 1e-12)
    np.testing.assert_allclose(u["total"], u["aleatoric"] + u["epistemic"], atol=1e-12)


@SETTINGS
@given(predictions(pool=True))
def test_pairwise_ranges_and_symmetry(data):
    y, P = data
    div = pairwise_diversity(P, y)
    Q, kappa = div["q_statistic"], div["cohen_kappa"]
    assert np.all((Q[~np.isnan(Q)] >= -1.0) & (Q[~np.isnan(Q)] <= 1.0))
    assert np.all((kappa[~np.isnan(kappa)] >= -1.0 - 1e-12) & (kappa[~np.isnan(kappa)] <= 1.0))
    for name in ("disagreement", "double_fault"):
        assert np.all((div[name] >= 0.0) & (div[name] <= 1.0))
    assert np.all(np.diag(div["disagreement"]) == 0.0)
    for name, mat in div.items():
        np.testing.assert_array_equal(np.isnan(mat), np.isnan(mat.T), err_msg=name)
        np.testing.assert_allclose(mat, mat.T, err_msg=name)


@SETTINGS
@given(predictions(pool=True))
def test_vendi_between_one_and_m(data):
    _, P = data
    vs = vendi_score(P)
    assert 1.0 - 1e-9 <= vs <= P.shape[1] + 1e-9
