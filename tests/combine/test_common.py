"""One suite over every registered combiner: shapes, determinism, bad input, fitted state."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from ensel import PredictionTable
from ensel.combine import COMBINERS

from .conftest import CLASSES, make_combiner, supports

NAMES = sorted(COMBINERS)


def _fitted(name, table):
    est = make_combiner(name)
    if not supports(est, table.task):
        pytest.skip(f"{name} does not handle {table.task}")
    return est.fit(table)


def _relabel(table, **changes):
    parts = {"P": table.P, "y": table.y_labels, "X": table.X, "members": table.members,
             "classes": table.classes, "task": table.task}
    parts.update(changes)
    return PredictionTable.from_arrays(**parts)


# ---------------------------------------------------------------- classification outputs
@pytest.mark.parametrize("name", NAMES)
def test_fit_returns_self_and_sets_fitted_attributes(name, clf_tables):
    sel, _ = clf_tables
    est = make_combiner(name)
    assert est.fit(sel) is est
    assert est.members_ == sel.members
    assert est.task_ == "classification"
    np.testing.assert_array_equal(est.classes_, CLASSES)
    if getattr(type(est), "_needs_inputs", False):
        assert est.n_features_in_ == sel.X.shape[1]


@pytest.mark.parametrize("name", NAMES)
def test_predict_proba_is_a_distribution_per_row(name, clf_tables, fitted_clf):
    _, test = clf_tables
    proba = fitted_clf(name).predict_proba(test)
    assert proba.shape == (test.n_samples, test.n_classes)
    assert np.isfinite(proba).all()
    assert (proba >= -1e-9).all() and (proba <= 1 + 1e-9).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_predict_returns_labels_of_the_argmax(name, clf_tables, fitted_clf):
    _, test = clf_tables
    est = fitted_clf(name)
    pred = est.predict(test)
    assert pred.shape == (test.n_samples,)
    assert set(pred.tolist()) <= set(CLASSES.tolist())
    np.testing.assert_array_equal(pred, CLASSES[np.argmax(est.predict_proba(test), axis=1)])


@pytest.mark.parametrize("name", NAMES)
def test_select_shape_and_range(name, clf_tables, fitted_clf):
    _, test = clf_tables
    est = fitted_clf(name)
    selection = est.select(test)
    assert selection.shape == (test.n_samples, test.n_members)
    assert np.isfinite(selection).all()
    assert (selection >= 0).all()
    assert (selection.sum(axis=1) > 0).all(), "every input must use at least one member"
    if getattr(type(est), "_static", False):
        assert (selection == selection[0]).all(), "static combiners repeat one row"


@pytest.mark.parametrize("name", NAMES)
def test_beats_chance_on_experts(name, clf_tables, fitted_clf):
    _, test = clf_tables
    accuracy = np.mean(fitted_clf(name).predict(test) == test.y_labels)
    assert accuracy > 0.5


@pytest.mark.parametrize("name", NAMES)
def test_deterministic(name, clf_tables):
    sel, test = clf_tables
    a, b = _fitted(name, sel), _fitted(name, sel)
    np.testing.assert_array_equal(a.predict_proba(test), b.predict_proba(test))
    np.testing.assert_array_equal(a.select(test), b.select(test))


@pytest.mark.parametrize("name", NAMES)
def test_clone_and_params_round_trip(name, clf_tables):
    est = make_combiner(name)
    params = est.get_params()
    twin = clone(est)
    assert twin.get_params().keys() == params.keys()
    assert type(est).__name__ in repr(est)
    assert est.set_params(**params) is est


# ---------------------------------------------------------------- fitted state and bad input
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("method", ["predict", "predict_proba", "select"])
def test_not_fitted(name, method, clf_tables):
    _, test = clf_tables
    est = make_combiner(name)
    with pytest.raises(NotFittedError, match="not fitted"):
        getattr(est, method)(test)


@pytest.mark.parametrize("name", NAMES)
def test_fit_rejects_arrays(name, clf_tables):
    sel, _ = clf_tables
    with pytest.raises(TypeError, match="expects a PredictionTable; got ndarray"):
        make_combiner(name).fit(sel.P)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("method", ["predict", "predict_proba", "select"])
def test_predict_rejects_arrays(name, method, clf_tables, fitted_clf):
    _, test = clf_tables
    est = fitted_clf(name)
    with pytest.raises(TypeError, match="expects a PredictionTable; got ndarray"):
        getattr(est, method)(test.P)


@pytest.mark.parametrize("name", NAMES)
def test_predict_rejects_other_members(name, clf_tables, fitted_clf):
    _, test = clf_tables
    est = fitted_clf(name)
    renamed = _relabel(test, members=["a", "b", "c", "x"])
    with pytest.raises(ValueError, match=r"was fitted on members \['a', 'b', 'c', 'd'\]"):
        est.predict(renamed)
    with pytest.raises(ValueError, match="was fitted on members"):
        est.select(test.select_members(["b", "a", "c", "d"]))


@pytest.mark.parametrize("name", NAMES)
def test_predict_rejects_other_class_order(name, clf_tables, fitted_clf):
    _, test = clf_tables
    est = fitted_clf(name)
    swapped = _relabel(test, P=test.P[:, :, [1, 0, 2]], classes=CLASSES[[1, 0, 2]])
    with pytest.raises(ValueError, match="class order mismatch"):
        est.predict_proba(swapped)


@pytest.mark.parametrize("name", NAMES)
def test_predict_rejects_other_task(name, reg_tables, fitted_clf):
    est = fitted_clf(name)
    with pytest.raises(ValueError, match="was fitted on a classification table; got a regression"):
        est.predict(reg_tables[1])


@pytest.mark.parametrize("name", NAMES)
def test_fit_needs_labels(name, clf_tables):
    sel, _ = clf_tables
    est = make_combiner(name)
    unlabelled = PredictionTable.from_arrays(sel.P, X=sel.X, classes=CLASSES,
                                             members=sel.members)
    if not getattr(type(est), "_needs_labels", True):
        est.fit(unlabelled)
        return
    with pytest.raises(ValueError, match="needs labels"):
        est.fit(unlabelled)


@pytest.mark.parametrize("name", [n for n in NAMES if COMBINERS.paths[n].startswith(
    "ensel.combine.dynamic")])
def test_dynamic_needs_inputs(name, clf_tables):
    sel, test = clf_tables
    est = make_combiner(name)
    no_x = _relabel(sel, X=None)
    with pytest.raises(ValueError, match="needs the inputs X to find neighbours"):
        est.fit(no_x)
    est.fit(sel)
    with pytest.raises(ValueError, match="the table has X=None"):
        est.predict(_relabel(test, X=None))
    with pytest.raises(ValueError, match="fitted on X with 2 features; got 3"):
        est.select(_relabel(test, X=np.hstack([test.X, test.X[:, :1]])))


def test_oracle_needs_labels_at_predict(clf_tables):
    sel, test = clf_tables
    est = make_combiner("oracle").fit(sel)
    unlabelled = PredictionTable.from_arrays(test.P, X=test.X, classes=CLASSES,
                                             members=test.members)
    with pytest.raises(ValueError, match=r"Oracle.select needs labels"):
        est.select(unlabelled)


# ---------------------------------------------------------------- regression
@pytest.mark.parametrize("name", NAMES)
def test_regression_outputs_or_clear_refusal(name, reg_tables):
    sel, test = reg_tables
    est = make_combiner(name)
    if not supports(est, "regression"):
        with pytest.raises(ValueError, match="supports classification tables only; got a "
                                             "regression table"):
            est.fit(sel)
        return
    est.fit(sel)
    pred = est.predict(test)
    assert pred.shape == (test.n_samples,)
    assert np.isfinite(pred).all()
    mse = np.mean((pred - test.y) ** 2)
    assert mse < np.mean((test.y - test.y.mean()) ** 2)
    selection = est.select(test)
    assert selection.shape == (test.n_samples, test.n_members)
    assert (selection >= 0).all()
    with pytest.raises(ValueError, match="defined for classification"):
        est.predict_proba(test)


@pytest.mark.parametrize("name", NAMES)
def test_multi_output_regression(name, multi_reg_tables):
    sel, test = multi_reg_tables
    est = make_combiner(name)
    if not supports(est, "regression"):
        pytest.skip(f"{name} is classification only")
    pred = est.fit(sel).predict(test)
    assert pred.shape == (test.n_samples, 2)
    assert np.isfinite(pred).all()
