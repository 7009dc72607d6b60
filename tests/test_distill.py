"""ensel.distill: a student reproduces its teacher; soft labels via sample weights; errors."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier

import ensel.distill as distill_module
from ensel import PredictionTable
from ensel.combine import Average, Stacking
from ensel.distill import distill, distillation_report, soft_targets


def test_docstring_examples_run():
    result = doctest.testmod(distill_module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


@pytest.fixture(scope="module")
def digits_tables():
    X, y = load_digits(return_X_y=True)
    rows = np.random.default_rng(0).permutation(len(y))
    X, y = X[rows] / 16.0, y[rows]
    members = [("lr", LogisticRegression(max_iter=500).fit(X[:600], y[:600])),
               ("nb", GaussianNB().fit(X[:600], y[:600])),
               ("forest", RandomForestClassifier(40, random_state=0).fit(X[:600], y[:600]))]
    sel = PredictionTable.from_estimators(members, X[600:1200], y[600:1200])
    test = PredictionTable.from_estimators(members, X[1200:], y[1200:])
    return sel, test


def test_soft_targets_hand_case():
    np.testing.assert_allclose(soft_targets([[0.8, 0.2, 0.0]]), [[0.8, 0.2, 0.0]])
    hot = soft_targets([[0.6, 0.3, 0.1]], temperature=0.5)     # squares, renormalised
    np.testing.assert_allclose(hot, [[0.36, 0.09, 0.01]] / np.float64(0.46))


def test_student_of_a_stacked_pool_agrees_with_it(digits_tables):
    sel, test = digits_tables
    teacher = Stacking().fit(sel)
    mlp = MLPClassifier((64,), max_iter=300, random_state=0)
    student = distill(teacher, sel, student=mlp)
    report = distillation_report(teacher, student, test)
    assert report["agreement"] > 0.96                       # fixed seed: 0.982 measured
    hard = distillation_report(teacher, distill(teacher, sel, student=mlp, labels="hard"), test)
    assert report["agreement"] > hard["agreement"] + 0.01   # soft labels teach more (0.958)
    assert report["student_accuracy"] > 0.92
    assert report["student_accuracy"] > report["teacher_accuracy"] - 0.04
    assert set(report) == {"agreement", "teacher_accuracy", "student_accuracy",
                           "teacher_log_loss", "student_log_loss", "teacher_seconds",
                           "student_seconds"}
    assert np.array_equal(student.classes_, teacher.classes_)


def test_soft_labels_are_weighted_rows():
    # a linear student trained on soft labels of one feature recovers the teacher's slope
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 1))
    proba = 1 / (1 + np.exp(-2.0 * X[:, 0]))

    class Teacher(LogisticRegression):
        def predict_proba(self, X):
            p = 1 / (1 + np.exp(-2.0 * np.asarray(X)[:, 0]))
            return np.column_stack([1 - p, p])

    teacher = Teacher().fit(X, proba > 0.5)
    student = distill(teacher, X, student=LogisticRegression(C=1e6), min_weight=0.0)
    assert student.coef_[0, 0] == pytest.approx(2.0, rel=0.02)
    hard = distill(teacher, X, student=LogisticRegression(C=1e6), labels="hard")
    assert hard.coef_[0, 0] > 10                               # hard labels: a step


def test_distill_a_selective_ensemble():
    from ensel import SelectiveEnsemble

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    model = SelectiveEnsemble([("lr", LogisticRegression(max_iter=500)),
                               ("forest", RandomForestClassifier(30, random_state=0))],
                              Average()).fit(X[:1000], y[:1000])
    student = distill(model, X[:1300], student=LogisticRegression(max_iter=1000))
    report = distillation_report(model, student, X[1300:], y[1300:])
    assert report["agreement"] > 0.9
    assert report["student_accuracy"] > 0.85


def test_unweighted_student_takes_hard_labels(digits_tables):
    sel, test = digits_tables
    teacher = Average().fit(sel)
    student = distill(teacher, sel, student=KNeighborsClassifier(5), labels="hard")
    assert distillation_report(teacher, student, test)["agreement"] > 0.9


def test_report_without_labels(digits_tables):
    sel, test = digits_tables
    teacher = Average().fit(sel)
    student = distill(teacher, sel, student=LogisticRegression(max_iter=300))
    unlabelled = PredictionTable.from_arrays(test.P, X=test.X, members=test.members)
    assert set(distillation_report(teacher, student, unlabelled)) == {
        "agreement", "teacher_seconds", "student_seconds"}


def test_distill_errors(digits_tables):
    sel, _ = digits_tables
    teacher = Average().fit(sel)
    with pytest.raises(ValueError, match=r"The 'student' of distill must take sample_weight in "
                                         r"fit to learn soft labels; KNeighborsClassifier"):
        distill(teacher, sel, student=KNeighborsClassifier())
    with pytest.raises(ValueError, match=r"The 'labels' parameter of distill must be one of "
                                         r"\('soft', 'hard'\)\. Got 'logits' instead"):
        distill(teacher, sel, labels="logits")
    with pytest.raises(ValueError, match=r"The 'min_weight' parameter of distill must be a "
                                         r"float in \[0, 1\)\. Got 1 instead"):
        distill(teacher, sel, min_weight=1)
    with pytest.raises(ValueError, match=r"The 'temperature' parameter of soft_targets must be "
                                         r"a float in \(0, inf\)\. Got 0 instead"):
        distill(teacher, sel, temperature=0)
    with pytest.raises(ValueError, match=r"The 'model' argument of distill must be fitted: "
                                         r"Average is not"):
        distill(Average(), sel)
    with pytest.raises(ValueError, match=r"The 'model' argument of distill must be a fitted ensel "
                                         r"combiner or a fitted classifier with predict_proba\. "
                                         r"Got list instead"):
        distill([], sel)
    with pytest.raises(ValueError, match=r"distill: the student learns from the inputs, but the "
                                         r"table has X=None"):
        distill(teacher, PredictionTable.from_arrays(sel.P))
    with pytest.raises(TypeError, match=r"distill expects a PredictionTable; got ndarray"):
        distill(teacher, sel.X)
    lr = LogisticRegression().fit(sel.X, sel.y)
    with pytest.raises(TypeError, match=r"distill: a LogisticRegression takes the inputs X, not "
                                        r"a PredictionTable"):
        distill(lr, sel)
    regression = PredictionTable.from_arrays(np.ones((5, 2)), y=np.ones(5), X=np.ones((5, 1)))
    with pytest.raises(ValueError, match=r"distill needs a classification model; got a "
                                         r"regression one"):
        distill(Average().fit(regression), regression)
