"""accuracy, log loss, Brier, ECE and the reliability curve: hand cases, extremes, parity."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn.metrics as skm

from ensel.metrics import (
    accuracy_score,
    brier_score_loss,
    expected_calibration_error,
    log_loss,
    reliability_curve,
)

# three rows, two classes: confidences 0.9 (right), 0.55 (wrong), 0.7 (right)
Y3 = [0, 1, 1]
P3 = [[0.9, 0.1], [0.55, 0.45], [0.3, 0.7]]


def _random(n=60, c=4, seed=0):
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.ones(c), size=n)
    return rng.integers(0, c, size=n), proba


# ------------------------------------------------------------------ accuracy
def test_accuracy_hand_case_proba_and_labels():
    proba = [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.4, 0.3], [0.2, 0.5, 0.3]]
    assert accuracy_score([0, 1, 2, 1], proba) == 0.75
    assert accuracy_score([0, 1, 2, 1], [0, 1, 1, 1]) == 0.75


def test_accuracy_ties_go_to_lowest_class():
    assert accuracy_score([0, 1], [[0.5, 0.5], [0.5, 0.5]]) == 0.5


def test_accuracy_accepts_integral_float_labels():
    assert accuracy_score(np.array([0.0, 1.0]), [[0.9, 0.1], [0.2, 0.8]]) == 1.0


def test_accuracy_parity_with_sklearn():
    y, proba = _random()
    assert accuracy_score(y, proba) == pytest.approx(skm.accuracy_score(y, proba.argmax(1)))


def test_accuracy_errors():
    with pytest.raises(ValueError, match=r"proba_or_labels must be 2-D \[N, C\] probabilities "
                                         r"or 1-D \[N\] labels; got shape \(1, 1, 2\)"):
        accuracy_score([0], [[[0.5, 0.5]]])
    with pytest.raises(ValueError, match=r"proba_or_labels has 3 rows but y has 2"):
        accuracy_score([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match=r"proba_or_labels must hold class indices >= 0; "
                                         r"got -1 in row 1"):
        accuracy_score([0, 1], [0, -1])
    with pytest.raises(ValueError, match=r"y has the label 2 in row 1, outside the class "
                                         r"indices \[0, 2\) of proba_or_labels \(2 classes\)"):
        accuracy_score([0, 2], [[0.9, 0.1], [0.2, 0.8]])


# ------------------------------------------------------------------ log loss
def test_log_loss_hand_case():
    got = log_loss([0, 1], [[0.5, 0.5], [0.2, 0.8]])
    assert got == pytest.approx((np.log(2) + np.log(1.25)) / 2, abs=1e-15)
    assert got == pytest.approx(0.458145365937, abs=1e-12)


def test_log_loss_perfect_is_zero():
    assert log_loss([0, 2, 1], np.eye(3)[[0, 2, 1]]) == pytest.approx(0.0, abs=1e-15)


def test_log_loss_eps_clips_confident_mistake():
    assert log_loss([1], [[1.0, 0.0]]) == pytest.approx(-np.log(1e-12))
    assert log_loss([1], [[1.0, 0.0]], eps=1e-3) == pytest.approx(-np.log(1e-3))
    assert log_loss([1], [[1.0, 0.0]], eps=0.0) == np.inf


def test_log_loss_parity_with_sklearn():
    y, proba = _random(seed=1)
    assert log_loss(y, proba) == pytest.approx(skm.log_loss(y, proba, labels=range(4)), rel=1e-12)


@pytest.mark.parametrize("eps", [-1e-3, 1.0, True, "small", None])
def test_log_loss_bad_eps(eps):
    with pytest.raises(ValueError, match=r"The 'eps' parameter of log_loss must be a float in "
                                         r"\[0, 1\)\. Got .* instead\."):
        log_loss([0], [[1.0, 0.0]], eps=eps)


# ------------------------------------------------------------------ Brier
def test_brier_hand_cases():
    # row 0: 0.5^2 + 0.5^2 = 0.5; row 1: 0.2^2 + 0.2^2 = 0.08
    assert brier_score_loss([0, 1], [[0.5, 0.5], [0.2, 0.8]]) == pytest.approx(0.29)
    # 0.2^2 + 0.3^2 + (0.5 - 1)^2 = 0.38
    assert brier_score_loss([2], [[0.2, 0.3, 0.5]]) == pytest.approx(0.38)


def test_brier_extremes():
    assert brier_score_loss([0, 1], [[1.0, 0.0], [0.0, 1.0]]) == 0.0
    assert brier_score_loss([0, 1], [[0.0, 1.0], [1.0, 0.0]]) == 2.0


def test_brier_binary_is_twice_sklearn_binary():
    rng = np.random.default_rng(2)
    p1 = rng.uniform(size=40)
    y = rng.integers(0, 2, size=40)
    ours = brier_score_loss(y, np.column_stack([1 - p1, p1]))
    assert ours == pytest.approx(2 * skm.brier_score_loss(y, p1), rel=1e-12)


def test_brier_multiclass_parity_with_sklearn_unscaled():
    y, proba = _random(seed=3)
    theirs = skm.brier_score_loss(y, proba, labels=range(4), scale_by_half=False)
    assert brier_score_loss(y, proba) == pytest.approx(theirs, rel=1e-12)


# ------------------------------------------------------------------ ECE / reliability
def test_ece_hand_case_uniform_bins():
    # 2 bins: every confidence in (0.5, 1]: acc 2/3, mean conf (0.9+0.55+0.7)/3
    assert expected_calibration_error(Y3, P3, n_bins=2) == pytest.approx(
        abs(2 / 3 - 2.15 / 3), abs=1e-12)
    # 5 bins: (0.4,0.6] {0.55 wrong}, (0.6,0.8] {0.7 right}, (0.8,1] {0.9 right}
    assert expected_calibration_error(Y3, P3, n_bins=5) == pytest.approx(
        (0.55 + 0.3 + 0.1) / 3, abs=1e-12)


def test_ece_hand_case_quantile_differs_from_uniform():
    proba = [[0.6, 0.4], [0.3, 0.7], [0.8, 0.2], [0.1, 0.9]]   # conf .6 .7 .8 .9
    y = [0, 0, 0, 1]                                            # right, wrong, right, right
    # uniform, 2 bins: one bin, acc 0.75 = mean conf 0.75
    assert expected_calibration_error(y, proba, n_bins=2) == pytest.approx(0.0, abs=1e-12)
    # quantile, 2 bins: {.6 r, .7 w} gap |0.5 - 0.65|; {.8 r, .9 r} gap |1 - 0.85|
    assert expected_calibration_error(y, proba, n_bins=2, strategy="quantile") == \
        pytest.approx(0.15, abs=1e-12)


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_ece_perfect_predictions_is_zero(strategy):
    proba = np.eye(3)[[0, 1, 2, 2, 1]]
    assert expected_calibration_error([0, 1, 2, 2, 1], proba, strategy=strategy) == 0.0


def test_ece_always_wrong_and_sure_is_one():
    assert expected_calibration_error([1, 0], [[1.0, 0.0], [0.0, 1.0]]) == 1.0


def test_reliability_curve_hand_case():
    curve = reliability_curve(Y3, P3, n_bins=5)
    assert sorted(curve) == ["accuracy", "confidence", "counts", "edges"]
    np.testing.assert_array_equal(curve["counts"], [0, 0, 1, 1, 1])
    np.testing.assert_allclose(curve["edges"], [0, 0.2, 0.4, 0.6, 0.8, 1.0])
    np.testing.assert_allclose(curve["confidence"], [np.nan, np.nan, 0.55, 0.7, 0.9])
    np.testing.assert_allclose(curve["accuracy"], [np.nan, np.nan, 0.0, 1.0, 1.0])
    assert curve["counts"].dtype == np.int64


def test_reliability_bins_are_right_closed():
    # confidence exactly 0.5 lands in the first of two bins, (0, 0.5]
    curve = reliability_curve([0, 0], [[0.5, 0.5], [0.75, 0.25]], n_bins=2)
    np.testing.assert_array_equal(curve["counts"], [1, 1])


def test_reliability_quantile_keeps_ties_together():
    proba = [[0.8, 0.2]] * 3 + [[0.1, 0.9]]
    curve = reliability_curve([0, 0, 1, 1], proba, n_bins=2, strategy="quantile")
    np.testing.assert_array_equal(curve["counts"], [3, 1])
    np.testing.assert_allclose(curve["accuracy"], [2 / 3, 1.0])


def test_ece_accepts_float32_and_lists():
    proba = np.asarray(P3, dtype=np.float32)
    assert expected_calibration_error(Y3, proba, n_bins=5) == pytest.approx(0.95 / 3, abs=1e-6)


@pytest.mark.parametrize("fn", [expected_calibration_error, reliability_curve])
@pytest.mark.parametrize("n_bins", [0, -3, 2.5, True, "15"])
def test_bad_n_bins(fn, n_bins):
    with pytest.raises(ValueError, match=rf"The 'n_bins' parameter of {fn.__name__} must be "
                                         r"an int >= 1\. Got .* instead\."):
        fn(Y3, P3, n_bins=n_bins)


@pytest.mark.parametrize("fn", [expected_calibration_error, reliability_curve])
def test_bad_strategy(fn):
    with pytest.raises(ValueError, match=rf"The 'strategy' parameter of {fn.__name__} must be "
                                         r"one of \('uniform', 'quantile'\)\. Got 'equal' "):
        fn(Y3, P3, strategy="equal")
