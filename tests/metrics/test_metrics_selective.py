"""Selective-prediction metrics: hand cases, ties, bounds, input errors, doctests."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import ensel.metrics.selective as selective_module
from ensel.metrics import (
    accuracy_score,
    aurc_loss,
    coverage_at_risk_score,
    coverage_score,
    excess_aurc_loss,
    inconsistency_error,
    risk_coverage_curve,
    selective_accuracy_score,
    selective_error,
)

# y, predicted labels, scores: rows sorted by score are right, right, wrong, (right, wrong tied)
Y = np.array([0, 1, 2, 0, 1])
PRED = np.array([0, 1, 0, 0, 2])
SCORE = np.array([0.9, 0.8, 0.7, 0.4, 0.4])


def test_docstring_examples_run():
    result = doctest.testmod(selective_module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


def test_risk_coverage_curve_hand_case():
    coverage, risk, thresholds = risk_coverage_curve(Y, PRED, SCORE)
    np.testing.assert_allclose(coverage, [0.2, 0.4, 0.6, 1.0])
    np.testing.assert_allclose(risk, [0.0, 0.0, 1 / 3, 2 / 5])
    np.testing.assert_allclose(thresholds, [0.9, 0.8, 0.7, 0.4])


def test_risk_coverage_curve_from_probabilities_uses_top_probability():
    proba = np.array([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]])
    coverage, risk, thresholds = risk_coverage_curve([0, 1, 1], proba)
    np.testing.assert_allclose(thresholds, [0.9, 0.7, 0.6])
    np.testing.assert_allclose(risk, [0.0, 0.0, 1 / 3])
    assert coverage[-1] == 1.0
    assert 1 - risk[-1] == pytest.approx(accuracy_score([0, 1, 1], proba))


def test_aurc_hand_case_with_a_tie():
    # cumulative expected errors 0, 0, 1, 1.5, 2 (the tied pair holds one error)
    expected = np.mean([0 / 1, 0 / 2, 1 / 3, 1.5 / 4, 2 / 5])
    assert aurc_loss(Y, PRED, SCORE) == pytest.approx(expected)
    optimal = np.mean([0, 0, 0, 1 / 4, 2 / 5])           # 3 right first, then the 2 wrong
    assert excess_aurc_loss(Y, PRED, SCORE) == pytest.approx(expected - optimal)


def test_tie_is_the_mean_of_both_orders():
    y, pred = [0, 0, 0], [0, 1, 0]
    tied = aurc_loss(y, pred, [0.5, 0.5, 0.1])
    first = aurc_loss(y, pred, [0.6, 0.5, 0.1])
    second = aurc_loss(y, pred, [0.5, 0.6, 0.1])
    assert tied == pytest.approx((first + second) / 2)
    assert first < tied < second


def test_perfect_and_worst_rankings():
    y = np.zeros(6, dtype=int)
    pred = np.array([0, 0, 0, 0, 1, 1])
    best = np.array([6, 5, 4, 3, 2, 1.0])
    assert excess_aurc_loss(y, pred, best) == 0.0
    assert excess_aurc_loss(y, pred, -best) > 0.4
    assert aurc_loss(y, np.zeros(6, dtype=int), best) == 0.0            # no error at all
    assert coverage_at_risk_score(y, pred, best, risk=0.0) == pytest.approx(4 / 6)
    assert coverage_at_risk_score(y, pred, -best, risk=0.0) == 0.0


def test_constant_score_gives_plain_risk():
    y = np.array([0, 1, 1, 0])
    pred = np.array([0, 1, 0, 0])
    assert aurc_loss(y, pred, np.ones(4)) == pytest.approx(0.25)      # every prefix: 1/4 risk
    assert selective_accuracy_score(y, pred, np.ones(4), coverage=0.5) == pytest.approx(0.75)


def test_coverage_at_risk_hand_case():
    assert coverage_at_risk_score(Y, PRED, SCORE, risk=0.0) == pytest.approx(0.4)
    assert coverage_at_risk_score(Y, PRED, SCORE, risk=0.34) == pytest.approx(0.6)
    assert coverage_at_risk_score(Y, PRED, SCORE, risk=0.4) == pytest.approx(1.0)


def test_selective_accuracy_hand_case():
    assert selective_accuracy_score(Y, PRED, SCORE, coverage=0.4) == 1.0
    assert selective_accuracy_score(Y, PRED, SCORE, coverage=0.6) == pytest.approx(2 / 3)
    assert selective_accuracy_score(Y, PRED, SCORE, coverage=0.8) == pytest.approx(2.5 / 4)
    assert selective_accuracy_score(Y, PRED, SCORE, coverage=1.0) == pytest.approx(0.6)
    assert selective_accuracy_score(Y, PRED, SCORE, coverage=0.01) == 1.0   # at least one row


def test_masked_predictions():
    y_pred = np.ma.MaskedArray([0, 1, 0, 0, 2], mask=[0, 0, 1, 0, 1])
    assert coverage_score(y_pred) == pytest.approx(0.6)
    assert selective_error(Y, y_pred) == 0.0
    assert selective_error(Y, PRED) == pytest.approx(0.4)              # a plain array answers all
    assert coverage_score(PRED) == 1.0
    everything = np.ma.MaskedArray([0, 1], mask=[True, True])
    assert selective_error([1, 0], everything) == 0.0
    assert coverage_score(everything) == 0.0
    assert selective_error(["a", "b"], np.ma.MaskedArray(["a", "c"], mask=[0, 0])) == 0.5


def test_inconsistency():
    a = np.ma.MaskedArray([0, 1, 2, 2, 1], mask=[0, 0, 1, 0, 0])
    b = np.ma.MaskedArray([0, 2, 1, 1, 0], mask=[0, 0, 0, 0, 1])
    assert inconsistency_error(a, b) == pytest.approx(2 / 5)            # rows 1 and 3
    assert inconsistency_error(a, a) == 0.0
    assert inconsistency_error([0, 1], [1, 0]) == 1.0


@pytest.mark.parametrize(("call", "match"), [
    (lambda: risk_coverage_curve([0, 1], [0, 1]),
     r"risk_coverage_curve needs 'score' when proba_or_labels holds labels \[N\]"),
    (lambda: aurc_loss([0, 1], [0, 1], [0.5]),
     r"score must be 1-D with one value per row \(2\); got shape \(1,\)"),
    (lambda: aurc_loss([0, 1], [0, 1], [0.5, np.nan]), r"score has NaN at index 1"),
    (lambda: aurc_loss([0, 1], np.zeros((2, 1, 1)), [0.5, 0.1]),
     r"proba_or_labels must be 2-D \[N, C\] probabilities or 1-D \[N\] labels; got shape"),
    (lambda: aurc_loss([0, 1, 1], [0, 1], [0.5, 0.1]), r"y has 3 rows but proba_or_labels has 2"),
    (lambda: coverage_at_risk_score([0], [0], [1.0], risk=1.5),
     r"The 'risk' parameter of coverage_at_risk_score must be a float in \[0, 1\]\. Got 1\.5"),
    (lambda: selective_accuracy_score([0], [0], [1.0], coverage=0),
     (r"The 'coverage' parameter of selective_accuracy_score must be a float in \(0, 1\]\. "
      r"Got 0 instead")),
    (lambda: selective_accuracy_score([0], [0], [1.0], coverage=True),
     r"must be a float in \(0, 1\]\. Got True instead"),
    (lambda: coverage_score(np.zeros((2, 2))),
     r"y_pred must be 1-D \[N\] labels with N >= 1; got shape \(2, 2\)"),
    (lambda: selective_error([0, 1, 2], [0, 1]), r"y has shape \(3,\) but y_pred has shape \(2,\)"),
    (lambda: inconsistency_error([0, 1], [0]),
     r"y_pred_a has shape \(2,\) but y_pred_b has shape \(1,\)"),
    (lambda: inconsistency_error([], [0]), r"y_pred_a must be 1-D \[N\] labels with N >= 1"),
])
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
