"""Every input check of ensel.metrics raises a ValueError naming argument, rule, value, place."""

from __future__ import annotations

import numpy as np
import pytest

from ensel.metrics import (
    accuracy_score,
    brier_score_loss,
    cohen_kappa,
    disagreement,
    expected_calibration_error,
    log_loss,
    oracle_accuracy,
    uncertainty_decomposition,
    vendi_score,
)

GOOD = [[0.9, 0.1], [0.2, 0.8]]
POOL = np.array([[[0.9, 0.1], [0.6, 0.4]], [[0.2, 0.8], [0.5, 0.5]]])   # [2, 2, 2]

PROBA_FNS = [log_loss, brier_score_loss, expected_calibration_error]


@pytest.mark.parametrize("fn", PROBA_FNS)
@pytest.mark.parametrize(("y", "match"), [
    ([[0], [1]], r"y must be 1-D \[N\] class indices; got shape \(2, 1\)"),
    ([0, 1, 1], r"y has 3 rows but proba has 2"),
    ([0, 2], (r"y has the label 2 in row 1, outside the class indices \[0, 2\) of proba "
             r"\(2 classes\)")),
    ([-1, 0], r"y has the label -1 in row 0, outside the class indices \[0, 2\)"),
    ([0.0, 0.5], r"y must hold int class indices; got the non-integer value 0\.5 in row 1"),
    ([0.0, np.nan], r"y has NaN at index 1"),
    ([True, False], r"y must hold int class indices; got dtype bool"),
    (["a", "b"], r"y must be a numeric array; got dtype <U1"),
])
def test_bad_y(fn, y, match):
    with pytest.raises(ValueError, match=match):
        fn(y, GOOD)


def test_empty_y():
    with pytest.raises(ValueError, match=r"y is empty: it must hold at least one class index"):
        accuracy_score([], [])
    with pytest.raises(ValueError, match=r"proba must have at least one row and one class; "
                                         r"got shape \(0, 2\)"):
        log_loss([], np.zeros((0, 2)))


@pytest.mark.parametrize("fn", PROBA_FNS)
@pytest.mark.parametrize(("proba", "match"), [
    ([0.9, 0.2], (r"proba must be 2-D \[N, C\] class probabilities; got shape \(2,\)\. For a "
                 r"binary problem pass both columns")),
    ([[[0.9, 0.1]], [[0.2, 0.8]]], (r"proba must be 2-D \[N, C\] class probabilities; got "
                                   r"shape \(2, 1, 2\)\.$")),
    (np.zeros((2, 0)), r"proba must have at least one row and one class; got shape \(2, 0\)"),
    ([[0.9, 0.1], [np.nan, 0.8]], r"proba has NaN at index \(1, 0\)"),
    ([[0.9, 0.1], [np.inf, 0.8]], r"proba has inf at index \(1, 0\)"),
    ([[0.9, 0.1], [-0.2, 1.2]], (r"proba: probability -0\.2 in row 1, class index 0 is outside "
                                r"\[0, 1\]")),
    ([[0.9, 0.1], [0.2, 0.7]], (r"proba: probabilities in row 1 sum to 0\.9000, expected 1 "
                               r"\(tol 0\.0001\)")),
    ([["a", "b"], ["c", "d"]], r"proba must be a numeric array; got dtype <U1"),
    ([[1 + 0j, 0j], [0j, 1 + 0j]], r"proba must be real; got dtype complex128"),
])
def test_bad_proba(fn, proba, match):
    with pytest.raises(ValueError, match=match):
        fn([0, 1], proba)


def test_proba_within_tolerance_is_accepted_and_clipped():
    proba = [[1.00005, -0.00005], [0.2, 0.8]]
    assert brier_score_loss([0, 1], proba) == pytest.approx(0.04, abs=1e-6)
    assert expected_calibration_error([0, 1], proba) <= 1.0


POOL_FNS = [
    lambda P: oracle_accuracy(P, [0, 1]),
    lambda P: disagreement(P, [0, 1]),
    cohen_kappa,
    vendi_score,
    uncertainty_decomposition,
]


@pytest.mark.parametrize("fn", POOL_FNS)
@pytest.mark.parametrize(("P", "match"), [
    (np.full((2, 2), 0.5), (r"P must be 3-D \[N, M, C\] class probabilities of every member; "
                           r"got shape \(2, 2\)")),
    (np.full(2, 0.5), (r"P must have shape \[N, M, C\] \(classification\) or \[N, M\] / "
                      r"\[N, M, D\] \(regression\); got a 1-D array")),
    (np.zeros((2, 0, 2)), r"The pool is empty: P has shape \(2, 0, 2\), with 0 members"),
    (np.full((2, 2, 2), "a"), r"P must be a numeric array; got dtype <U1"),
    (np.where(np.arange(8).reshape(2, 2, 2) == 5, np.nan, 0.5),
     r"P has NaN at index \(1, 0, 1\)"),
    (np.array([[[0.9, 0.1], [0.6, 0.4]], [[0.2, 0.8], [1.5, -0.5]]]),
     r"P: probability 1\.5 of member 1 in row 1, class index 0 is outside \[0, 1\]"),
    (np.array([[[0.9, 0.1], [0.6, 0.4]], [[0.2, 0.8], [0.5, 0.4]]]),
     r"P: probabilities of member 1 in row 1 sum to 0\.9000, expected 1 \(tol 0\.0001\)"),
])
def test_bad_pool(fn, P, match):
    with pytest.raises(ValueError, match=match):
        fn(P)


@pytest.mark.parametrize("fn", [oracle_accuracy, disagreement])
def test_pool_label_errors(fn):
    with pytest.raises(ValueError, match=r"y has 3 rows but P has 2"):
        fn(POOL, [0, 1, 1])
    with pytest.raises(ValueError, match=r"y has the label 5 in row 0, outside the class "
                                         r"indices \[0, 2\) of P \(2 classes\)"):
        fn(POOL, [5, 1])
