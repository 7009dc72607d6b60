"""ensel.selective: the risk guarantee holds empirically; the vote test; wrappers and errors."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from scipy.stats import binomtest

import ensel.selective as selective_module
from ensel import PredictionTable
from ensel.combine import Average, Stacking
from ensel.metrics import coverage_score, inconsistency_error, selective_error
from ensel.selective import (
    SelectivePredictor,
    SelectiveVote,
    risk_upper_bound,
    select_threshold,
    vote_test,
)


def test_docstring_examples_run():
    result = doctest.testmod(selective_module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


# ---------------------------------------------------------------------------- the bound
def test_risk_upper_bound_hand_cases():
    assert risk_upper_bound(0, 100, 0.05) == pytest.approx(1 - 0.05 ** (1 / 100))
    assert risk_upper_bound(3, 3, 0.1) == 1.0
    assert risk_upper_bound(0, 0, 0.1) == 1.0
    from scipy.stats import binom

    b = risk_upper_bound(5, 200, 0.1)
    assert binom.cdf(5, 200, b) == pytest.approx(0.1)        # B*: P(Bin(n, b) <= e) = delta


def test_select_threshold_hand_case():
    # 120 right rows scored high, then 10 wrong rows scored low
    score = np.r_[np.linspace(1.0, 0.5, 120), np.linspace(0.4, 0.1, 10)]
    correct = np.r_[np.ones(120, bool), np.zeros(10, bool)]
    out = select_threshold(score, correct, target_risk=0.05, delta=0.1)
    n_tests = int(np.ceil(np.log2(131)))
    assert out["n_tests"] == n_tests
    assert out["risk"] == 0.0                      # the first wrong row would cost too much
    assert out["bound"] <= 0.05
    # the smallest number of error-free rows certified at delta / n_tests: (1-a)^n <= d/n_tests
    need = int(np.ceil(np.log(0.1 / n_tests) / np.log(0.95)))
    assert out["coverage"] * 130 >= need
    assert out["threshold"] == pytest.approx(score[int(out["coverage"] * 130) - 1])


def test_select_threshold_abstains_everywhere_when_nothing_is_certified():
    out = select_threshold(np.linspace(1, 0, 20), np.ones(20, bool), target_risk=0.01,
                           delta=0.1)
    assert out["threshold"] == np.inf and out["coverage"] == 0.0


def test_select_threshold_accepts_tied_rows_together():
    score = np.r_[np.ones(300), np.full(300, 0.5)]
    correct = np.r_[np.ones(300, bool), np.arange(300) % 2 == 0]
    out = select_threshold(score, correct, target_risk=0.05, delta=0.1)
    assert out["coverage"] == 0.5 and out["threshold"] == 1.0


def _synthetic(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Scores U(0, 1); P(error | s) = 0.3 (1 - s)^3, so the risk of s >= t is 0.075 (1 - t)^3."""
    score = rng.uniform(size=n)
    return score, rng.uniform(size=n) >= 0.3 * (1 - score) ** 3


def _true_risk(threshold: float) -> float:
    return 0.075 * (1 - threshold) ** 3 if np.isfinite(threshold) else 0.0


def test_guarantee_holds_over_random_calibration_draws():
    rng = np.random.default_rng(0)
    alpha, delta, trials = 0.05, 0.1, 400
    violations, coverages, naive_violations = 0, [], 0
    for _ in range(trials):
        score, correct = _synthetic(2000, rng)
        out = select_threshold(score, correct, target_risk=alpha, delta=delta)
        violations += _true_risk(out["threshold"]) > alpha
        coverages.append(1 - out["threshold"] if np.isfinite(out["threshold"]) else 0.0)
        # the same search without the bound: the largest coverage with empirical risk <= alpha
        order = np.argsort(-score)
        risk = np.cumsum(~correct[order]) / np.arange(1, 2001)
        t_naive = score[order][np.flatnonzero(risk <= alpha).max()]
        naive_violations += _true_risk(t_naive) > alpha
    assert violations / trials <= delta + 0.02
    assert naive_violations / trials > 0.3          # the check can see a violation
    # the ideal is (2/3)^(1/3) = 0.874; the bound's width (about 0.01 at N = 2000) costs some
    assert np.mean(coverages) > 0.7
    assert min(coverages) > 0.55                     # never trivially abstaining


# ---------------------------------------------------------------------------- the wrapper
def _pool(n: int, seed: int, n_members: int = 3) -> PredictionTable:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    sure = rng.uniform(0.4, 1.0, size=(n, n_members))
    right = rng.uniform(size=(n, n_members)) < sure
    wrong = (y[:, None] + rng.integers(1, 3, size=(n, n_members))) % 3
    vote = np.where(right, y[:, None], wrong)
    P = np.eye(3)[vote] * sure[..., None] + (1 - sure[..., None]) / 3
    P /= P.sum(axis=2, keepdims=True)
    return PredictionTable.from_arrays(P, y=np.array(["a", "b", "c"])[y], classes=["a", "b", "c"])


@pytest.fixture(scope="module")
def pool() -> PredictionTable:
    return _pool(6000, 0)


@pytest.mark.parametrize("score", ["confidence", "margin", "agreement"])
def test_selective_predictor_on_tables(pool, score):
    model = Average().fit(pool[:2000])
    sp = SelectivePredictor(model, target_risk=0.1, delta=0.1, score=score).fit(pool[2000:4000])
    assert sp.bound_ <= 0.1 and sp.risk_ <= sp.bound_
    assert 0.1 < sp.coverage_ < 1.0
    test = pool[4000:]
    y_pred = sp.predict(test)
    assert isinstance(y_pred, np.ma.MaskedArray)
    np.testing.assert_array_equal(y_pred.mask, sp.abstain(test))
    np.testing.assert_array_equal(y_pred.mask, sp.selection_score(test) < sp.threshold_)
    assert selective_error(test.y_labels, y_pred) <= 0.1
    assert abs(coverage_score(y_pred) - sp.coverage_) < 0.05
    np.testing.assert_allclose(sp.predict_proba(test), model.predict_proba(test))
    assert set(y_pred.compressed().tolist()) <= {"a", "b", "c"}


def test_agreement_counts_only_selected_members(pool):
    from ensel.combine import BestSingle

    model = BestSingle().fit(pool[:2000])
    sp = SelectivePredictor(model, target_risk=0.45, score="agreement").fit(pool[2000:4000])
    assert set(np.unique(sp.selection_score(pool[4000:])).tolist()) == {1.0}
    assert sp.coverage_ == 1.0                       # one member always agrees with itself


def test_selective_predictor_wraps_a_selective_ensemble():
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.tree import DecisionTreeClassifier

    from ensel import SelectiveEnsemble

    X, y = load_digits(return_X_y=True)
    rows = np.random.default_rng(0).permutation(len(y))
    X, y = X[rows], y[rows]
    model = SelectiveEnsemble([("lr", LogisticRegression(max_iter=300)), ("nb", GaussianNB()),
                               ("tree", DecisionTreeClassifier(random_state=0))],
                              Stacking()).fit(X[:900], y[:900])
    for score in ("confidence", "agreement"):
        sp = SelectivePredictor(model, target_risk=0.05, delta=0.1, score=score)
        sp.fit(X[900:1350], y[900:1350])
        y_pred = sp.predict(X[1350:])
        assert sp.bound_ <= 0.05 and sp.coverage_ > 0.3
        # 447 test rows: the population risk is <= 0.05 (w.p. 0.9); allow sampling noise
        assert selective_error(y[1350:], y_pred) <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / 447)
        assert selective_error(y[1350:], y_pred) < 1 - model.score(X[1350:], y[1350:])
        assert np.array_equal(sp.classes_, model.classes_)


def test_warns_when_abstaining_everywhere(pool):
    model = Average().fit(pool[:2000])
    with pytest.warns(UserWarning, match=r"no threshold certifies selective risk <= 0\.001"):
        sp = SelectivePredictor(model, target_risk=0.001).fit(pool[2000:2100])
    assert sp.coverage_ == 0.0 and sp.predict(pool[4000:]).mask.all()


def test_selective_predictor_errors(pool):
    from sklearn.linear_model import LogisticRegression

    fitted = Average().fit(pool[:100])
    with pytest.raises(ValueError, match=r"The 'model' parameter of SelectivePredictor must be "
                                         r"fitted: Average is not"):
        SelectivePredictor(Average()).fit(pool)
    with pytest.raises(ValueError, match=r"must be a fitted ensel combiner or a fitted "
                                         r"classifier with predict_proba\. Got str instead"):
        SelectivePredictor("model").fit(pool)
    with pytest.raises(ValueError, match=r"The 'score' parameter of SelectivePredictor must be "
                                         r"one of \('confidence', 'margin', 'agreement'\)"):
        SelectivePredictor(fitted, score="entropy").fit(pool)
    with pytest.raises(ValueError, match=r"The 'target_risk' parameter of select_threshold "
                                         r"must be a float in \(0, 1\)\. Got 0 instead"):
        SelectivePredictor(fitted, target_risk=0).fit(pool)
    with pytest.raises(ValueError, match=r"takes the labels from the table; got y as well"):
        SelectivePredictor(fitted).fit(pool, pool.y)
    with pytest.raises(ValueError, match=r"SelectivePredictor\.fit needs labels: the table has "
                                         r"y=None"):
        SelectivePredictor(fitted).fit(PredictionTable.from_arrays(pool.P))
    X = np.random.default_rng(0).normal(size=(40, 2))
    lr = LogisticRegression().fit(X, X[:, 0] > 0)
    with pytest.raises(ValueError, match=r"SelectivePredictor\.fit needs the labels y"):
        SelectivePredictor(lr).fit(X)
    with pytest.raises(ValueError, match=r"score='agreement' of SelectivePredictor needs the "
                                         r"members' votes"):
        SelectivePredictor(lr, score="agreement").fit(X, X[:, 0] > 0)
    regression = PredictionTable.from_arrays(np.ones((5, 2)), y=np.ones(5))
    with pytest.raises(ValueError, match=r"needs a classification model; got a regression one"):
        SelectivePredictor(Average().fit(regression)).fit(regression)


def test_select_threshold_input_errors():
    with pytest.raises(ValueError, match=r"correct of select_threshold must be a bool array"):
        select_threshold([0.1, 0.2], [1, 0], target_risk=0.1, delta=0.1)
    with pytest.raises(ValueError, match=r"correct of select_threshold must have the shape of "
                                         r"score \(2,\); got \(3,\)"):
        select_threshold([0.1, 0.2], [True] * 3, target_risk=0.1, delta=0.1)
    with pytest.raises(ValueError, match=r"score of select_threshold must be 1-D \[N\] with "
                                         r"N >= 1; got shape \(0,\)"):
        select_threshold([], [], target_risk=0.1, delta=0.1)
    with pytest.raises(ValueError, match=r"score has NaN at index 0"):
        select_threshold([np.nan], [True], target_risk=0.1, delta=0.1)
    with pytest.raises(ValueError, match=r"The 'delta' parameter of select_threshold must be a "
                                         r"float in \(0, 1\)\. Got 1\.0 instead"):
        select_threshold([0.1], [True], target_risk=0.1, delta=1.0)


# ---------------------------------------------------------------------------- the vote test
@pytest.mark.parametrize("n_members", [5, 10, 20])
def test_vote_test_p_values_match_scipy(n_members):
    votes = np.array([[0] * a + [1] * (n_members - a) for a in range(n_members + 1)])
    out = vote_test(np.eye(2)[votes], alpha=0.05)
    for row, a in enumerate(range(n_members + 1)):
        top = max(a, n_members - a)
        assert out["p_value"][row] == pytest.approx(binomtest(top, n_members, 0.5).pvalue)
        assert out["top"][row] == top and out["second"][row] == n_members - top


def test_vote_test_three_classes_ignores_the_rest():
    votes = np.array([[0] * 9 + [1] * 1 + [2] * 10])          # 10 vs 9: not settled
    out = vote_test(np.eye(3)[votes], alpha=0.05)
    assert out["label"].tolist() == [2] and out["abstain"].tolist() == [True]
    assert out["p_value"][0] == pytest.approx(binomtest(10, 19, 0.5).pvalue)
    tie = vote_test(np.eye(3)[np.array([[0, 0, 1, 1, 2]])], alpha=0.5)
    assert tie["p_value"][0] == 1.0 and tie["abstain"][0]


def test_five_members_never_answer_at_five_percent():
    out = vote_test(np.eye(2)[np.zeros((3, 5), dtype=int)], alpha=0.05)
    assert out["abstain"].all() and out["p_value"][0] == pytest.approx(2 ** -4)


def _seeded_ensemble(mode: np.ndarray, strength: np.ndarray, n_members: int, n_classes: int,
                     rng: np.random.Generator) -> PredictionTable:
    """Members from independent seeds: each votes for the row's mode with prob. strength."""
    n = len(mode)
    hit = rng.uniform(size=(n, n_members)) < strength[:, None]
    other = (mode[:, None] + rng.integers(1, n_classes, size=(n, n_members))) % n_classes
    votes = np.where(hit, mode[:, None], other)
    P = 0.8 * np.eye(n_classes)[votes] + 0.2 / n_classes
    return PredictionTable.from_arrays(P)


def test_two_seeded_selective_ensembles_are_consistent():
    rng = np.random.default_rng(0)
    n, n_classes = 3000, 10
    mode = rng.integers(0, n_classes, n)
    strength = rng.choice([0.97, 0.9, 0.6, 0.3], size=n, p=[0.6, 0.25, 0.1, 0.05])
    a = _seeded_ensemble(mode, strength, 20, n_classes, rng)
    b = _seeded_ensemble(mode, strength, 20, n_classes, rng)
    sa, sb = SelectiveVote(alpha=0.01).fit(a), SelectiveVote(alpha=0.01).fit(b)
    pred_a, pred_b = sa.predict(a), sb.predict(b)
    assert inconsistency_error(pred_a, pred_b) == 0.0
    assert 1 - coverage_score(pred_a) < 0.2                  # answers the settled 85 %+
    plain_a = np.ma.getdata(pred_a)
    plain_b = np.ma.getdata(pred_b)
    assert inconsistency_error(plain_a, plain_b) > 0.01      # plurality voting: 2 % of rows


def test_selective_vote_errors():
    table = _pool(20, 1)
    with pytest.raises(ValueError, match=r"The 'alpha' parameter of SelectiveVote must be a "
                                         r"float in \(0, 1\)\. Got 0 instead"):
        SelectiveVote(alpha=0).fit(table)
    with pytest.raises(TypeError, match=r"SelectiveVote\.fit expects a PredictionTable; got "
                                        r"ndarray"):
        SelectiveVote().fit(table.P)
    with pytest.raises(ValueError, match=r"SelectiveVote was fitted on members"):
        SelectiveVote().fit(table).predict(table.select_members([0, 1]))
    with pytest.raises(ValueError, match=r"P of vote_test must be 3-D \[N, M, C\] member "
                                         r"probabilities; got shape \(2, 2\)"):
        vote_test(np.ones((2, 2)), alpha=0.1)
    regression = PredictionTable.from_arrays(np.ones((5, 2)), y=np.ones(5))
    with pytest.raises(ValueError, match=r"SelectiveVote supports classification tables only; "
                                         r"got a regression table"):
        SelectiveVote().fit(regression)


# ---------------------------------------------------------------------------- MAPIE
def test_mapie_prediction_sets_around_a_selective_ensemble():
    mapie_classification = pytest.importorskip("mapie.classification")
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB

    from ensel import SelectiveEnsemble

    X, y = load_digits(return_X_y=True)
    rows = np.random.default_rng(0).permutation(len(y))
    X, y = X[rows] / 16.0, y[rows]
    ensemble = SelectiveEnsemble([("lr", LogisticRegression(max_iter=500)), ("nb", GaussianNB())],
                                 Stacking()).fit(X[:900], y[:900])
    mapie = mapie_classification.SplitConformalClassifier(ensemble, confidence_level=0.9,
                                                          prefit=True)
    mapie.conformalize(X[900:1350], y[900:1350])
    labels, sets = mapie.predict_set(X[1350:])
    assert sets.shape == (447, 10, 1)
    np.testing.assert_array_equal(labels, ensemble.predict(X[1350:]))
    covered = sets[np.arange(447), y[1350:], 0].mean()
    assert covered >= 0.86                          # 0.9 marginal; 0.904 measured on 447 rows
    assert sets.sum(axis=1).mean() < 2              # informative sets, not every class
