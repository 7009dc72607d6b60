"""SelectiveEnsemble: held-out combiner fitting, lazy member evaluation, cost, sklearn checks."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from ensel import DifferentiableSelector, PredictionTable, SelectiveEnsemble
from ensel.estimator import SelectiveEnsembleRegressor

FAST = dict(max_epochs=15, n_iter_no_change=5, hidden_layer_sizes=(16,))


class RecordingClassifier(ClassifierMixin, BaseEstimator):
    """Logistic regression that remembers the rows it was trained on and predicted."""

    def fit(self, X, y):
        self.model_ = LogisticRegression(max_iter=300).fit(X, y)
        self.classes_ = self.model_.classes_
        self.seen_ = {tuple(r) for r in np.asarray(X)}
        self.predicted_rows_ = 0
        return self

    def predict_proba(self, X):
        self.predicted_rows_ += len(X)
        return self.model_.predict_proba(X)

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(1)]


def iris():
    X, y = load_iris(return_X_y=True)
    return X + np.random.default_rng(0).normal(scale=1e-6, size=X.shape), y


def test_combiner_is_fitted_on_rows_the_members_never_saw():
    X, y = iris()
    model = SelectiveEnsemble([("a", RecordingClassifier()), ("b", RecordingClassifier())],
                              DifferentiableSelector(k=1, **FAST), selection_split=0.3).fit(X, y)
    seen = model.members_[0][1].seen_
    # the combiner's table has the held-out rows only: none of them were member training rows
    assert len(seen) == round(0.7 * len(X))
    held_out = [tuple(r) for r in X if tuple(r) not in seen]
    assert len(held_out) == len(X) - len(seen)


def test_predict_runs_only_selected_members_and_matches_full_evaluation():
    X, y = iris()
    members = [(f"m{i}", RecordingClassifier().fit(X[i::3], y[i::3])) for i in range(3)]
    model = SelectiveEnsemble(members, DifferentiableSelector(k=1, features="inputs", **FAST))
    model.fit(X, y)
    for _, m in members:
        m.predicted_rows_ = 0
    proba = model.predict_proba(X)
    assert sum(m.predicted_rows_ for _, m in members) == len(X)  # k=1: one member per input
    assert model.last_cost_["members_per_input"] == 1.0
    assert model.last_cost_["fraction_of_full"] == pytest.approx(1 / 3)
    assert sum(model.last_cost_["per_member"].values()) == len(X)
    full = PredictionTable.from_estimators(members, X)
    np.testing.assert_allclose(proba, model.combiner_.predict_proba(full), atol=1e-6)
    assert model.select(X).sum(1).tolist() == [1.0] * len(X)


def test_selectors_that_read_predictions_run_every_member():
    X, y = iris()
    members = [(f"m{i}", RecordingClassifier().fit(X, y)) for i in range(3)]
    model = SelectiveEnsemble(members, DifferentiableSelector(k=2, features="both", **FAST))
    model.fit(X, y).predict(X)
    assert model.last_cost_["members_per_input"] == 3.0


def test_cross_validated_fit_refits_members_on_all_rows():
    X, y = iris()
    model = SelectiveEnsemble([("a", RecordingClassifier()), ("b", DecisionTreeClassifier())],
                              DifferentiableSelector(k=1, **FAST), cv=3).fit(X, y)
    assert len(model.members_[0][1].seen_) == len(X)
    assert model.score(X, y) > 0.9


def test_regressor():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(300, 2))
    y = X[:, 0] * 2 + np.abs(X[:, 1])
    model = SelectiveEnsembleRegressor(
        [("lin", LinearRegression()), ("tree", DecisionTreeRegressor(max_depth=4))],
        DifferentiableSelector(k=1, **FAST)).fit(X, y)
    assert model.predict(X).shape == (300,)
    assert model.score(X, y) > 0.8
    assert model.last_cost_["members_per_input"] == 1.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(estimators=[]), "needs at least one member"),
        (dict(estimators=[LogisticRegression()], cv=1), "'cv' parameter of SelectiveEnsemble"),
        (dict(estimators=[LogisticRegression()], selection_split=0.0),
         "'selection_split' parameter"),
        (dict(estimators=[("a", LogisticRegression()), ("a", LogisticRegression())]),
         "repeated: \\['a'\\]"),
    ],
)
def test_bad_parameters(kwargs, match):
    X, y = iris()
    with pytest.raises(ValueError, match=match):
        SelectiveEnsemble(**kwargs).fit(X, y)


def test_prefit_members_with_other_classes_are_rejected():
    X, y = iris()
    member = LogisticRegression(max_iter=300).fit(X[y < 2], y[y < 2])
    with pytest.raises(ValueError, match="member 'lr': class order mismatch"):
        SelectiveEnsemble([("lr", member)], DifferentiableSelector(k=1, **FAST)).fit(X, y)


def test_a_callable_member_with_the_wrong_number_of_class_columns():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = (X[:, 0] > 0).astype(int)

    def three_columns(A):                 # no classes_: its columns must be the data's classes
        return np.full((len(A), 3), 1 / 3)

    pool = [("lr", LogisticRegression().fit(X, y)), ("three", three_columns)]
    with pytest.raises(ValueError, match=r"member 'three' returned 3 class columns; the data has "
                                         r"2 classes"):
        SelectiveEnsemble(pool).fit(X, y)
