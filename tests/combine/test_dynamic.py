"""Dynamic selection: a hand-computed fixture with exact masks, parameters, DESlib semantics."""

from __future__ import annotations

import numpy as np
import pytest

from ensel import PredictionTable
from ensel.combine import KNORAE, KNORAU, LCA, METADES, OLA
from ensel.combine import competence as comp

# ---------------------------------------------------------------- the hand fixture
# Seven selection rows on a line (x = 0..5 and 8), two classes, three members.
#   row:      r0 r1 r2 r3 r4 r5 r6
#   label:     0  0  1  1  0  1  0
#   m0 says:   0  0  1  0  0  0  1   -> right on r0 r1 r2    r4
#   m1 says:   1  0  1  1  1  1  1   -> right on    r1 r2 r3    r5
#   m2 says:   0  1  0  1  0  1  1   -> right on r0       r3 r4 r5
# Nobody is right on r6. Five test rows, n_neighbors=3 (nearest first, no distance ties):
#   q0 x=0.1 -> [r0 r1 r2]   q1 x=2.4 -> [r2 r3 r1]   q2 x=4.6 -> [r5 r4 r3]
#   q3 x=3.4 -> [r3 r4 r2]   q4 x=7.9 -> [r6 r5 r4]
# The members' predictions on the test rows:
#   m0: 0 1 0 0 1    m1: 1 1 1 1 0    m2: 0 0 1 1 1
SEL_X = np.array([0, 1, 2, 3, 4, 5, 8], dtype=float)[:, None]
SEL_Y = np.array([0, 0, 1, 1, 0, 1, 0])
SEL_SAYS = np.array([[0, 0, 1, 0, 0, 0, 1], [1, 0, 1, 1, 1, 1, 1], [0, 1, 0, 1, 0, 1, 1]]).T
TEST_X = np.array([0.1, 2.4, 4.6, 3.4, 7.9])[:, None]
TEST_Y = np.array([0, 1, 1, 1, 0])
TEST_SAYS = np.array([[0, 1, 0, 0, 1], [1, 1, 1, 1, 0], [0, 0, 1, 1, 1]]).T
CONFIDENCE = np.array([0.8, 0.7, 0.9])          # each member's probability of what it says

EXPECTED_REGIONS = [[0, 1, 2], [2, 3, 1], [5, 4, 3], [3, 4, 2], [6, 5, 4]]
# OLA: accuracies q0 (1, 2/3, 1/3); q1 (2/3, 1, 1/3); q2 (1/3, 2/3, 1); q3 all 2/3 -> first;
#      q4 (1/3, 1/3, 2/3)
EXPECTED_OLA = np.eye(3)[[0, 1, 2, 0, 2]]
# LCA (accuracy on the neighbours of the class the member predicts):
#   q0 (1, 1, .5) -> m0 (tie, first); q1 (.5, 1, 0) -> m1; q2 (1, 1, 1) -> m0; q3 (1, 1, .5) -> m0;
#   q4 (0, 0, 1) -> m2
EXPECTED_LCA = np.eye(3)[[0, 1, 0, 0, 2]]
# KNORA-E (correct prefix lengths): q0 (3,0,1); q1 (1,3,0); q2 (0,1,3); q3 (0,1,2); q4 (0,0,0)
EXPECTED_KNORAE = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [1, 1, 1]], float)
# KNORA-U (correct counts)
EXPECTED_KNORAU = np.array([[3, 2, 1], [2, 3, 1], [1, 2, 3], [2, 2, 2], [1, 1, 2]], float)
EXPECTED_PREDICTIONS = {
    "OLA": [0, 1, 1, 0, 1],
    "LCA": [0, 1, 0, 0, 1],
    "KNORAE": [0, 1, 1, 1, 1],            # q4: all three vote 1, 0, 1
    "KNORAU": [0, 1, 1, 1, 1],            # q0: class 0 gets 3 + 1 votes, class 1 gets 2
}


def _proba(says):
    n, m = says.shape
    P = np.empty((n, m, 2))
    conf = np.broadcast_to(CONFIDENCE, (n, m))
    P[:, :, 1] = np.where(says == 1, conf, 1 - conf)
    P[:, :, 0] = 1 - P[:, :, 1]
    return P


def hand_tables():
    members = ["m0", "m1", "m2"]
    sel = PredictionTable.from_arrays(_proba(SEL_SAYS), y=SEL_Y, X=SEL_X, members=members)
    test = PredictionTable.from_arrays(_proba(TEST_SAYS), y=TEST_Y, X=TEST_X, members=members)
    return sel, test


def test_hand_fixture_regions():
    sel, test = hand_tables()
    np.testing.assert_array_equal(OLA(n_neighbors=3).fit(sel).regions(test), EXPECTED_REGIONS)


@pytest.mark.parametrize("cls, expected", [
    (OLA, EXPECTED_OLA), (LCA, EXPECTED_LCA), (KNORAE, EXPECTED_KNORAE),
    (KNORAU, EXPECTED_KNORAU)])
def test_hand_fixture_exact_selection(cls, expected):
    sel, test = hand_tables()
    np.testing.assert_array_equal(cls(n_neighbors=3).fit(sel).select(test), expected)


@pytest.mark.parametrize("cls", [OLA, LCA, KNORAE, KNORAU])
def test_hand_fixture_exact_predictions(cls):
    sel, test = hand_tables()
    pred = cls(n_neighbors=3).fit(sel).predict(test)
    np.testing.assert_array_equal(pred, EXPECTED_PREDICTIONS[cls.__name__])


def test_dcs_predict_proba_is_the_selected_members():
    sel, test = hand_tables()
    proba = OLA(n_neighbors=3).fit(sel).predict_proba(test)
    np.testing.assert_allclose(proba, test.P[np.arange(5), [0, 1, 2, 0, 2]])


def test_knorae_vote_frequencies_and_soft_rule():
    sel, test = hand_tables()
    vote = KNORAE(n_neighbors=3).fit(sel).predict_proba(test)
    np.testing.assert_allclose(vote[4], [1 / 3, 2 / 3])              # q4: all members vote
    np.testing.assert_allclose(vote[0], [1.0, 0.0])
    soft = KNORAE(n_neighbors=3, rule="average").fit(sel).predict_proba(test)
    np.testing.assert_allclose(soft[4], test.P[4].mean(axis=0))


def test_knorau_weights_votes_by_counts():
    sel, test = hand_tables()
    proba = KNORAU(n_neighbors=3).fit(sel).predict_proba(test)
    np.testing.assert_allclose(proba[0], [4 / 6, 2 / 6])
    soft = KNORAU(n_neighbors=3, rule="average").fit(sel).predict_proba(test)
    w = EXPECTED_KNORAU[0] / EXPECTED_KNORAU[0].sum()
    np.testing.assert_allclose(soft[0], w @ test.P[0])


def test_knorau_without_correct_neighbours_uses_every_member():
    # every member wrong on every selection row: all counts zero -> plain vote of all members
    sel, test = hand_tables()
    wrong_everywhere = PredictionTable.from_arrays(
        _proba(np.repeat(1 - SEL_Y[:, None], 3, axis=1)), y=SEL_Y, X=SEL_X, members=sel.members)
    assert not wrong_everywhere.correct().any()
    est = KNORAU(n_neighbors=3).fit(wrong_everywhere)
    np.testing.assert_array_equal(est.select(test), np.ones((5, 3)))
    np.testing.assert_allclose(est.predict_proba(test), KNORAE(n_neighbors=3).fit(
        wrong_everywhere).predict_proba(test))


def test_meta_des_selects_by_threshold_and_falls_back_to_all():
    sel, test = hand_tables()
    est = METADES(n_neighbors=2, n_profile_neighbors=2).fit(sel)
    competence = est.competence(test)
    assert competence.shape == (5, 3)
    assert ((competence >= 0) & (competence <= 1)).all()
    mask = est.select(test)
    expected = comp.threshold_mask(competence, 0.5)
    np.testing.assert_array_equal(mask, expected)
    everyone = METADES(n_neighbors=2, n_profile_neighbors=2, selection_threshold=0.999).fit(sel)
    assert (everyone.select(test).sum(axis=1) >= 1).all()


def test_meta_des_custom_meta_classifier():
    from sklearn.linear_model import LogisticRegression

    sel, test = hand_tables()
    est = METADES(n_neighbors=2, n_profile_neighbors=2,
                  meta_classifier=LogisticRegression()).fit(sel)
    assert type(est.meta_classifier_).__name__ == "LogisticRegression"
    assert est.select(test).shape == (5, 3)


# ---------------------------------------------------------------- parameters
@pytest.mark.parametrize("cls", [OLA, LCA, KNORAE, KNORAU, METADES])
@pytest.mark.parametrize("bad", [0, 99, 2.5, True, "7"])
def test_bad_n_neighbors(cls, bad):
    sel, _ = hand_tables()
    with pytest.raises(ValueError, match=rf"The 'n_neighbors' parameter of {cls.__name__} "
                                         r"must be an int in \[1, \d\]. Got"):
        cls(n_neighbors=bad).fit(sel)


@pytest.mark.parametrize("cls", [KNORAE, KNORAU, METADES])
def test_bad_rule(cls):
    sel, _ = hand_tables()
    with pytest.raises(ValueError, match=rf"The 'rule' parameter of {cls.__name__} must be one "
                                         r"of \('vote', 'average'\). Got 'soft' instead."):
        cls(n_neighbors=2, rule="soft").fit(sel)


@pytest.mark.parametrize("param, value, message", [
    ("n_profile_neighbors", 0, r"'n_profile_neighbors' parameter of METADES must be an int"),
    ("n_profile_neighbors", 7, (r"'n_profile_neighbors' parameter of METADES must be an int in "
                               r"\[1, 6\]")),
    ("consensus_threshold", 0.4, (r"'consensus_threshold' parameter of METADES must be a float "
                                 r"in \[0.5, 1\]")),
    ("selection_threshold", 1.0, (r"'selection_threshold' parameter of METADES must be a float "
                                 r"in \[0, 1\)")),
    ("meta_classifier", object(), (r"'meta_classifier' parameter of METADES must have "
                                  r"predict_proba. Got object")),
])
def test_meta_des_bad_parameters(param, value, message):
    sel, _ = hand_tables()
    with pytest.raises(ValueError, match=message):
        METADES(n_neighbors=2, **{param: value}).fit(sel)


def test_meta_des_needs_a_row_beyond_the_neighbours():
    sel, _ = hand_tables()
    with pytest.raises(ValueError, match=r"'n_neighbors' parameter of METADES must be an int in "
                                         r"\[1, 6\]. Got 7"):
        METADES(n_neighbors=7).fit(sel)


def test_regions_before_fit():
    from sklearn.exceptions import NotFittedError

    _, test = hand_tables()
    with pytest.raises(NotFittedError, match="not fitted"):
        KNORAE().regions(test)


@pytest.mark.parametrize("cls, params", [
    (OLA, {}), (LCA, {}), (KNORAE, {"rule": "vote"}), (KNORAE, {"rule": "average"}),
    (KNORAU, {"rule": "vote"}), (KNORAU, {"rule": "average"}), (METADES, {"rule": "vote"})])
def test_agreement_shortcut_equals_the_full_computation(cls, params):
    from ensel.combine.base import Combiner

    from .conftest import synthetic_arrays

    P, y, X = synthetic_arrays(n=160, m=4, seed=3)
    rng = np.random.default_rng(0)
    agree = rng.random(160) < 0.5            # half the rows: every member says the same class
    shared = 0.5 * rng.dirichlet(np.ones(3), size=agree.sum()) + 0.5 * np.eye(3)[y[agree]]
    P[agree] = shared[:, None, :]
    table = PredictionTable.from_arrays(P, y=y, X=X)
    sel, test = table[:100], table[100:]
    est = cls(n_neighbors=5, **params).fit(sel)
    full = Combiner.predict_proba(est, test)
    np.testing.assert_allclose(est.predict_proba(test), full)
    np.testing.assert_array_equal(est.predict(test), est.classes_[np.argmax(full, axis=1)])
