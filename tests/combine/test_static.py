"""Static combiners: exact small cases, optimality, parity with scikit-learn, parameters."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from ensel import PredictionTable
from ensel.combine import (
    Average,
    BestSingle,
    GreedySelection,
    Oracle,
    Stacking,
    Vote,
    WeightedAverage,
    rules,
)

from .conftest import synthetic_arrays


def _table(seed=0, n=120, m=4, c=3):
    P, y, X = synthetic_arrays(n=n, m=m, c=c, seed=seed)
    return PredictionTable.from_arrays(P, y=y, X=X)


# ---------------------------------------------------------------- BestSingle, Vote, Average
def test_best_single_picks_most_accurate_first_on_ties():
    P = np.array([[[0.9, 0.1], [0.4, 0.6], [0.8, 0.2]],
                  [[0.3, 0.7], [0.2, 0.8], [0.1, 0.9]]])
    table = PredictionTable.from_arrays(P, y=[0, 1], members=["a", "b", "c"])
    best = BestSingle().fit(table)
    assert best.best_ == 0                    # a and c both 2/2: the first wins
    np.testing.assert_array_equal(best.select(table), [[1, 0, 0], [1, 0, 0]])
    assert BestSingle(metric="log_loss").fit(table).best_ == 2     # c is more confident


def test_best_single_regression_uses_squared_error():
    P = np.array([[1.0, 3.0], [2.0, 2.5]])
    table = PredictionTable.from_arrays(P, y=[1.1, 2.4])
    assert BestSingle().fit(table).best_ == 0


def test_vote_ties_go_to_the_first_class():
    # one vote each for "z" (column 0) and "a" (column 1): "z" wins because it comes first
    P = np.array([[[0.2, 0.8], [0.6, 0.4]], [[0.3, 0.7], [0.1, 0.9]]])
    table = PredictionTable.from_arrays(P, classes=["z", "a"])
    vote = Vote().fit(table)
    np.testing.assert_array_equal(vote.predict(table), ["z", "a"])
    np.testing.assert_allclose(vote.predict_proba(table), [[0.5, 0.5], [0.0, 1.0]])


def test_vote_counts_ignore_confidence():
    # two lukewarm members outvote one confident member
    P = np.array([[[0.51, 0.49], [0.51, 0.49], [0.01, 0.99]]])
    table = PredictionTable.from_arrays(P)
    assert Vote().fit(table).predict(table).tolist() == [0]
    assert Average().fit(table).predict(table).tolist() == [1]


def test_average_matches_the_mean():
    table = _table()
    est = Average().fit(table)
    np.testing.assert_allclose(est.predict_proba(table), table.P.mean(axis=1))
    np.testing.assert_allclose(est.select(table), np.full((120, 4), 0.25))


# ---------------------------------------------------------------- WeightedAverage
def _simplex_grid(m, step):
    ticks = np.arange(0, 1 + 1e-9, step)
    for w in itertools.product(ticks, repeat=m - 1):
        if sum(w) <= 1 + 1e-9:
            yield np.array([*w, max(0.0, 1 - sum(w))])


def test_weighted_average_is_at_least_as_good_as_a_grid():
    table = _table(m=3)
    est = WeightedAverage().fit(table)
    Q = rules.proba_of_label(table.P, table.y)
    grid = min(-np.mean(np.log(Q @ w)) for w in _simplex_grid(3, 0.02))
    assert est.loss_ <= grid + 1e-6
    assert np.isclose(est.weights_.sum(), 1.0) and (est.weights_ >= 0).all()
    np.testing.assert_allclose(est.predict_proba(table), rules.average(table.P, est.weights_))


def test_weighted_average_drops_a_useless_member():
    P, y, _ = synthetic_arrays(m=3)
    P[:, 2] = 1 / 3                                  # an uninformative member
    est = WeightedAverage().fit(PredictionTable.from_arrays(P, y=y))
    assert est.weights_[2] < 1e-6


def test_weighted_average_regression_beats_a_grid():
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    P = y[:, None] + rng.normal(scale=[0.3, 0.6, 1.2], size=(200, 3))
    est = WeightedAverage().fit(PredictionTable.from_arrays(P, y=y))
    grid = min(np.mean((P @ w - y) ** 2) for w in _simplex_grid(3, 0.02))
    assert est.loss_ <= grid + 1e-8
    assert est.weights_[0] > est.weights_[1] > est.weights_[2]


# ---------------------------------------------------------------- GreedySelection
def _reference_greedy(P, y, n_iterations, n_init):
    """A plain-loop transcription of Caruana et al. (2004) with log-loss."""
    m = P.shape[1]

    def loss(members):
        proba = P[:, members].mean(axis=1)
        return -np.mean(np.log(np.clip(proba[np.arange(len(y)), y], 1e-15, None)))

    singles = [loss([j]) for j in range(m)]
    chosen = list(np.argsort(singles, kind="stable")[:n_init])
    history = [(loss(chosen), list(chosen))] if chosen else []
    for _ in range(n_iterations):
        scores = [loss(chosen + [j]) for j in range(m)]
        chosen.append(int(np.argmin(scores)))
        history.append((min(scores), list(chosen)))
    best = min(range(len(history)), key=lambda i: history[i][0])
    return np.bincount(history[best][1], minlength=m)


@pytest.mark.parametrize("seed, n_iterations, n_init", [(0, 20, 3), (1, 15, 0), (2, 10, 1)])
def test_greedy_matches_a_plain_loop(seed, n_iterations, n_init):
    table = _table(seed=seed, m=5)
    est = GreedySelection(n_iterations, n_init=n_init).fit(table)
    expected = _reference_greedy(table.P, table.y, n_iterations, n_init)
    np.testing.assert_array_equal(est.counts_, expected)
    np.testing.assert_allclose(est.weights_, expected / expected.sum())


def test_greedy_keeps_one_perfect_member():
    P = np.full((4, 3, 2), 0.5)
    y = np.array([0, 1, 0, 1])
    P[:, 0] = np.eye(2)[y] * 0.98 + 0.01
    est = GreedySelection(n_init=0).fit(PredictionTable.from_arrays(P, y=y))
    np.testing.assert_array_equal(est.weights_, [1.0, 0.0, 0.0])


@pytest.mark.parametrize("metric", ["accuracy", "log_loss"])
def test_greedy_bagging_is_seeded(metric):
    table = _table(m=6)
    a = GreedySelection(n_bags=5, metric=metric, random_state=3).fit(table)
    b = GreedySelection(n_bags=5, metric=metric, random_state=3).fit(table)
    np.testing.assert_array_equal(a.weights_, b.weights_)
    assert np.isclose(a.weights_.sum(), 1.0)


def test_greedy_regression_prefers_the_precise_member():
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    P = y[:, None] + rng.normal(scale=[0.1, 1.0, 2.0], size=(200, 3))
    est = GreedySelection().fit(PredictionTable.from_arrays(P, y=y))
    assert est.weights_[0] > 0.8


# ---------------------------------------------------------------- Stacking vs scikit-learn
@pytest.mark.parametrize("dataset", ["digits", "breast_cancer"])
def test_stacking_matches_sklearn_stacking_classifier(dataset):
    """Prefit-equivalent: frozen members, so scikit-learn stacks the same predictions."""
    from sklearn.ensemble import StackingClassifier
    from sklearn.frozen import FrozenEstimator
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.tree import DecisionTreeClassifier

    from ensel.datasets import load_dataset
    from ensel.protocol import split_protocol

    X, y = load_dataset(dataset)
    split = split_protocol(X, y, random_state=0)
    members = [("nb", GaussianNB()), ("tree", DecisionTreeClassifier(max_depth=4, random_state=0)),
               ("lr", LogisticRegression(C=0.05, max_iter=500))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _, est in members:
            est.fit(split.X_base, split.y_base)
    final = LogisticRegression(max_iter=2000)
    sk = StackingClassifier([(n, FrozenEstimator(e)) for n, e in members],
                            final_estimator=final, stack_method="predict_proba")
    sk.fit(split.X_sel, split.y_sel)
    sel = PredictionTable.from_estimators(members, split.X_sel, split.y_sel)
    test = PredictionTable.from_estimators(members, split.X_test, split.y_test)
    ours = Stacking(final_estimator=final).fit(sel)
    np.testing.assert_allclose(ours.predict_proba(test), sk.predict_proba(split.X_test),
                               atol=1e-6)
    np.testing.assert_array_equal(ours.predict(test), sk.predict(split.X_test))


def test_stacking_regression_uses_ridge():
    rng = np.random.default_rng(0)
    y = rng.normal(size=150)
    P = np.stack([2 * y + 1, y + rng.normal(scale=1.0, size=150)], axis=1)
    est = Stacking().fit(PredictionTable.from_arrays(P, y=y))
    assert type(est.final_estimator_).__name__ == "RidgeCV"
    np.testing.assert_allclose(est.predict(PredictionTable.from_arrays(P, y=y)), y, atol=1e-2)


def test_stacking_keeps_columns_for_classes_missing_from_the_selection_data():
    P, y, _ = synthetic_arrays(c=3)
    keep = y != 2
    sel = PredictionTable.from_arrays(P[keep], y=y[keep], classes=[0, 1, 2])
    proba = Stacking().fit(sel).predict_proba(sel)
    assert proba.shape == (keep.sum(), 3)
    assert (proba[:, 2] == 0).all()


# ---------------------------------------------------------------- Oracle
def test_oracle_accuracy_is_the_share_some_member_gets_right():
    table = _table()
    est = Oracle().fit(table)
    accuracy = np.mean(est.predict(table) == table.y)
    assert accuracy == pytest.approx(table.correct().any(axis=1).mean())
    np.testing.assert_array_equal(est.select(table)[table.correct().any(axis=1)],
                                  table.correct()[table.correct().any(axis=1)])


# ---------------------------------------------------------------- parameters
@pytest.mark.parametrize("est, message", [
    (BestSingle(metric="squared_error"), (r"The 'metric' parameter of BestSingle must be one of "
                                         r"\(None, 'accuracy', 'log_loss'\). Got "
                                         r"'squared_error' instead.")),
    (WeightedAverage(tol=0), (r"The 'tol' parameter of WeightedAverage must be a float in "
                             r"\(0, 1\]. Got 0 instead.")),
    (WeightedAverage(max_iter=0), (r"The 'max_iter' parameter of WeightedAverage must be an "
                                  r"int >= 1. Got 0 instead.")),
    (GreedySelection(-1), (r"The 'n_iterations' parameter of GreedySelection must be an int "
                          r">= 0. Got -1 instead.")),
    (GreedySelection(0, n_init=0), (r"GreedySelection needs n_iterations \+ n_init >= 1")),
    (GreedySelection(n_init=1.5), (r"The 'n_init' parameter of GreedySelection must be an int")),
    (GreedySelection(metric="mse"), (r"The 'metric' parameter of GreedySelection must be one of")),
    (GreedySelection(n_bags=-2), (r"The 'n_bags' parameter of GreedySelection must be an int")),
    (GreedySelection(n_bags=2, bag_fraction=0.0), (r"The 'bag_fraction' parameter of "
                                                  r"GreedySelection must be a float in \(0, 1\]")),
    (Stacking(final_estimator=object()), (r"The 'final_estimator' parameter of Stacking must "
                                         r"have predict_proba for a classification table. Got "
                                         r"object instead.")),
])
def test_bad_parameters(est, message):
    with pytest.raises(ValueError, match=message):
        est.fit(_table())


def test_greedy_metric_must_fit_the_task():
    rng = np.random.default_rng(0)
    table = PredictionTable.from_arrays(rng.normal(size=(20, 3)), y=rng.normal(size=20))
    with pytest.raises(ValueError, match=r"must be one of \(None, 'squared_error'\). Got "
                                         r"'accuracy' instead."):
        GreedySelection(metric="accuracy").fit(table)
