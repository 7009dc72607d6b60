"""SelectiveEnsemble runs exactly the members `select` names (counted), and accounts costs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier

from ensel import SelectiveEnsemble
from ensel.combine import KNORAE, METADES, BestSingle, Cascade
from ensel.combine.learned import DifferentiableSelector


class Counting(ClassifierMixin, BaseEstimator):
    """A prefit classifier that records the rows of every predict_proba call."""

    def __init__(self, inner=None, log=None, name=""):
        self.inner = inner
        self.log = log
        self.name = name

    def fit(self, X, y):
        self.inner.fit(X, y)
        self.classes_ = self.inner.classes_
        return self

    def predict_proba(self, X):
        self.log.append((self.name, np.asarray(X).copy()))
        return self.inner.predict_proba(X)


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(y))
    return X[idx[:100]], y[idx[:100]], X[idx[100:]], y[idx[100:]]


def pool(iris, log):
    X, y = iris[0][:50], iris[1][:50]
    inner = [LogisticRegression(max_iter=500), GaussianNB(), DecisionTreeClassifier(max_depth=2,
                                                                                   random_state=0)]
    return [(f"m{i}", Counting(est, log, f"m{i}").fit(X, y)) for i, est in enumerate(inner)]


def rows_run(log, X_test):
    """``[N, M]`` count of calls per input and member (rows matched by value)."""
    counts = np.zeros((len(X_test), 3), dtype=int)
    for name, X in log:
        j = int(name[1:])
        for row in X:
            counts[np.flatnonzero((X_test == row).all(1)), j] += 1
    return counts


@pytest.mark.parametrize("combiner", [BestSingle(), KNORAE(n_neighbors=5),
                                      Cascade(budget=0.5, validation_fraction=0.4),
                                      DifferentiableSelector(budget=0.5, max_epochs=20,
                                                             policy="gates"),
                                      DifferentiableSelector(budget=0.5, max_epochs=20,
                                                             policy="sequential")])
def test_predict_runs_exactly_the_selected_members(iris, combiner) -> None:
    log: list = []
    model = SelectiveEnsemble(pool(iris, log), combiner).fit(iris[0][50:], iris[1][50:])
    X_test = iris[2]
    log.clear()
    model.predict(X_test)
    counts = rows_run(log, X_test)
    selection = model.combiner_.select(model._table(model._member_outputs(model.members_, X_test),
                                                    X_test, None))
    np.testing.assert_array_equal(counts, (selection != 0).astype(int))
    assert model.last_cost_["member_evaluations"] == counts.sum()
    assert model.last_cost_["cost_fraction"] == pytest.approx(counts.sum() / counts.size)


def test_cascade_runs_members_in_order(iris) -> None:
    log: list = []
    model = SelectiveEnsemble(pool(iris, log), Cascade(budget=0.6, validation_fraction=0.4))
    model.fit(iris[0][50:], iris[1][50:])
    log.clear()
    model.predict(iris[2])
    order = [int(name[1:]) for name, _ in log]
    assert order == model.combiner_.order_[:len(order)].tolist()
    sizes = [len(X) for _, X in log]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] == len(iris[2])


def test_combiner_that_needs_predictions_runs_the_whole_pool(iris) -> None:
    log: list = []
    model = SelectiveEnsemble(pool(iris, log), METADES()).fit(iris[0][50:], iris[1][50:])
    log.clear()
    model.predict(iris[2])
    assert (rows_run(log, iris[2]) == 1).all()
    assert model.last_cost_["cost_fraction"] == 1.0


def test_user_costs_weigh_the_account(iris) -> None:
    log: list = []
    model = SelectiveEnsemble(pool(iris, log), BestSingle(), costs=[1.0, 2.0, 7.0])
    model.fit(iris[0][50:], iris[1][50:])
    model.predict(iris[2])
    chosen = int(np.flatnonzero(model.combiner_._select(
        model._table(model._placeholder(1), iris[2][:1], None))[0])[0])
    assert model.last_cost_["cost_per_input"] == [1.0, 2.0, 7.0][chosen]
    assert model.last_cost_["cost_fraction"] == pytest.approx([1.0, 2.0, 7.0][chosen] / 10)
    np.testing.assert_array_equal(model.costs_, [1.0, 2.0, 7.0])


def test_measured_costs_are_seconds_per_row(iris) -> None:
    model = SelectiveEnsemble([("lr", LogisticRegression(max_iter=500)), ("nb", GaussianNB())],
                              BestSingle(), costs="measured").fit(iris[0], iris[1])
    assert model.costs_.shape == (2,) and (model.costs_ > 0).all() and (model.costs_ < 0.1).all()
    model.predict(iris[2])
    assert min(abs(model.last_cost_["cost_per_input"] - c) for c in model.costs_) < 1e-12


class StallsOnce(Counting):
    """A member whose second call (the first timed one) stalls for 0.2 s: a busy machine."""

    def predict_proba(self, X):
        if len(self.log) == 1:
            import time

            time.sleep(0.2)
        return super().predict_proba(X)


def test_measured_costs_ignore_a_one_off_stall(iris) -> None:
    log: list = []
    X, y = iris[0][:50], iris[1][:50]
    stalls = StallsOnce(GaussianNB(), log, "m0").fit(X, y)
    model = SelectiveEnsemble([("m0", stalls), ("m1", GaussianNB().fit(X, y))], BestSingle(),
                              costs="measured").fit(iris[0][50:], iris[1][50:])
    rows = len(iris[0][50:]) * 0.25            # the selection part the members are timed on
    assert len(log) == 4                         # its predictions, then three timed rounds
    assert model.costs_[0] < 0.05 / rows         # the stall (0.2 s) is not the cost


@pytest.mark.parametrize("combiner", [Cascade(budget=0.4, validation_fraction=0.4),
                                      DifferentiableSelector(budget=0.4, max_epochs=20)])
def test_measured_costs_weigh_the_members_run(iris, combiner) -> None:
    log: list = []
    model = SelectiveEnsemble(pool(iris, log), combiner, costs="measured")
    model.fit(iris[0][50:], iris[1][50:])
    log.clear()
    model.predict(iris[2])
    counts = rows_run(log, iris[2])
    spent = (counts * model.costs_).sum(1)
    assert counts.sum() < counts.size
    assert model.last_cost_["cost_per_input"] == pytest.approx(spent.mean())
    assert model.last_cost_["cost_fraction"] == pytest.approx(
        spent.sum() / (len(counts) * model.costs_.sum()))


@pytest.mark.parametrize(("costs", "match"), [
    ("timed", r"'costs' parameter of SelectiveEnsemble must be None, 'measured' or one cost "
              r"per member \(shape \(2,\)\)\. Got 'timed'"),
    ([[1.0, 2.0]], r"must be None, 'measured' or one cost per member"),
    ([1.0, -2.0], r"member 'nb': cost -2\.0 must be >= 0"),
    ([1.0, 2.0, 3.0], r"'costs' must have shape \(2,\)"),
])
def test_cost_errors(iris, costs, match) -> None:
    model = SelectiveEnsemble([("lr", LogisticRegression()), ("nb", GaussianNB())], BestSingle(),
                              costs=costs)
    with pytest.raises(ValueError, match=match):
        model.fit(iris[0], iris[1])
