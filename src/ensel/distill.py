"""Distillation: one scikit-learn student trained on an ensemble's soft predictions.

`distill` fits a student on unlabelled rows to reproduce the class probabilities of any fitted
combiner (on a `PredictionTable`, the student sees its inputs ``X``) or fitted classifier such
as `~ensel.SelectiveEnsemble` (on ``X``), as in *Distilling the Knowledge in a Neural Network*
(Hinton, Vinyals & Dean, 2015). Deployed, the student costs one model instead of the pool.

scikit-learn classifiers learn from hard labels, so the soft targets reach them through sample
weights: every row is repeated once per class whose target probability ``q[n, c]`` is at least
``min_weight``, labelled ``c`` and weighted ``q[n, c]`` (renormalised over the kept classes).
The weighted log loss of the student on those rows is the cross-entropy with the soft targets,
exactly as in Hinton's recipe up to the dropped classes. A student whose ``fit`` takes no
``sample_weight`` can learn the teacher's hard labels (``labels="hard"``). There is no torch
student here: ensel has one training loop, for its own models; wrap a torch module in a
scikit-learn estimator whose ``fit`` takes ``sample_weight`` to distil into it.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted, has_fit_parameter

from ensel import _validation as V
from ensel.table import PredictionTable

LABELS = ("soft", "hard")

__all__ = ["LABELS", "default_student", "distill", "distillation_report", "soft_targets"]


def default_student(random_state: int = 0) -> Any:
    """The student used when none is given: ``MLPClassifier((256, 128))``, 300 epochs at most.

    No early stopping: on letter it stopped the student at 0.954 accuracy where training on
    converged at 0.962 (``benchmarks/bench_trust.py``).

    Parameters
    ----------
    random_state : int, default=0

    Returns
    -------
    sklearn.neural_network.MLPClassifier
        Unfitted.

    Examples
    --------
    >>> from ensel.distill import default_student
    >>> default_student().hidden_layer_sizes
    (256, 128)
    """
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(hidden_layer_sizes=(256, 128), max_iter=300, random_state=random_state)


def _teacher(model: Any, data: Any, owner: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(X[N, F], q[N, C], classes[C])`` of a fitted combiner on a table or classifier on X."""
    from ensel.combine.base import Combiner

    name = type(model).__name__
    if isinstance(model, Combiner):
        attribute = "members_"
    elif hasattr(model, "predict_proba"):
        attribute = "classes_"
    else:
        raise ValueError(
            f"The 'model' argument of {owner} must be a fitted ensel combiner or a fitted "
            f"classifier with predict_proba. Got {name} instead.")
    try:
        check_is_fitted(model, attribute)
    except NotFittedError as exc:
        raise ValueError(f"The 'model' argument of {owner} must be fitted: {name} is not.") \
            from exc
    if isinstance(model, Combiner):
        V.check_table_like(data, owner)
        if model.task_ != "classification":
            raise ValueError(f"{owner} needs a classification model; got a {model.task_} one.")
        if data.X is None:
            raise ValueError(
                f"{owner}: the student learns from the inputs, but the table has X=None. Pass "
                f"X to PredictionTable.from_arrays or from_estimators.")
        X = np.asarray(data.X)
    else:
        if isinstance(data, PredictionTable):
            raise TypeError(f"{owner}: a {name} takes the inputs X, not a PredictionTable.")
        X = np.asarray(data)
    q = np.asarray(model.predict_proba(data), dtype=np.float64)
    return X, q, np.asarray(model.classes_)


def soft_targets(proba: Any, *, temperature: float = 1.0) -> np.ndarray:
    """The teacher's probabilities at a temperature: ``softmax(log(proba) / temperature)``.

    Parameters
    ----------
    proba : array-like of shape (N, C)
    temperature : float > 0, default=1.0
        Above 1 spreads mass onto the runner-up classes (more to learn per row); 1 keeps the
        teacher's probabilities.

    Returns
    -------
    ndarray of shape (N, C)
        Rows sum to 1.

    Examples
    --------
    >>> from ensel.distill import soft_targets
    >>> soft_targets([[0.8, 0.2]], temperature=2.0).round(3)     # sqrt(0.8), sqrt(0.2)
    array([[0.667, 0.333]])
    """
    temperature = V.check_real_param(temperature, "temperature", "soft_targets", low=0,
                                     high=np.inf, include_low=False, include_high=False)
    with np.errstate(divide="ignore"):               # a zero probability stays zero
        logits = np.log(np.clip(np.asarray(proba, dtype=np.float64), 0.0, None)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    out = np.exp(logits)
    return out / out.sum(axis=1, keepdims=True)


def distill(model: Any, data: Any, *, student: Any = None, temperature: float = 1.0,
            labels: str = "soft", min_weight: float = 0.01, random_state: int = 0) -> Any:
    """Fit one student to reproduce a fitted ensemble's predictions on unlabelled rows.

    Parameters
    ----------
    model : fitted combiner or fitted classifier
        The teacher: an `ensel.combine` combiner (``data`` is a table with inputs ``X``) or a
        classifier with ``predict_proba``, e.g. a fitted `~ensel.SelectiveEnsemble` (``data``
        is ``X``).
    data : PredictionTable or array-like of shape (N, F)
        The transfer rows; labels are not used. Rows the teacher was not fitted on make the
        targets honest; more rows (also unlabelled ones) make a better student.
    student : scikit-learn classifier, optional
        Cloned and fitted. Default: `default_student` (an ``MLPClassifier``). With
        ``labels="soft"`` its ``fit`` must take ``sample_weight``.
    temperature : float > 0, default=1.0
        Targets are `soft_targets` at this temperature; the student then predicts the tempered
        distribution (its labels do not change).
    labels : {"soft", "hard"}, default="soft"
        ``"soft"``: the teacher's probabilities as sample weights over classes (see the module
        docstring); ``"hard"``: the teacher's labels only.
    min_weight : float in [0, 1), default=0.01
        Target probabilities below it are dropped (``"soft"``), which keeps the repeated rows
        few (on letter: 1.3 per row at 0.01, 3.1 at 0.001); the rest are renormalised.
    random_state : int, default=0
        Seed of the default student (a given student keeps its own).

    Returns
    -------
    student : fitted scikit-learn classifier
        Its ``classes_`` are the teacher's labels (those that received weight).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from sklearn.linear_model import LogisticRegression
    >>> from ensel.distill import distill
    >>> X, y = load_iris(return_X_y=True)
    >>> teacher = RandomForestClassifier(50, random_state=0).fit(X, y)
    >>> student = distill(teacher, X, student=LogisticRegression(max_iter=1000))
    >>> bool((student.predict(X) == teacher.predict(X)).mean() > 0.9)
    True
    """
    owner = "distill"
    V.check_choice(labels, "labels", owner, LABELS)
    min_weight = V.check_real_param(min_weight, "min_weight", owner, low=0, high=1,
                                    include_high=False)
    student = default_student(random_state) if student is None else clone(student)
    if labels == "soft" and not has_fit_parameter(student, "sample_weight"):
        raise ValueError(
            f"The 'student' of distill must take sample_weight in fit to learn soft labels; "
            f"{type(student).__name__} does not. Pass labels='hard' or another student.")
    X, q, classes = _teacher(model, data, owner)
    q = soft_targets(q, temperature=temperature)
    if labels == "hard":
        return student.fit(X, classes[q.argmax(axis=1)])
    keep = q >= min_weight
    keep[np.arange(len(q)), q.argmax(axis=1)] = True        # the top class always stays
    rows, cols = np.nonzero(keep)
    weight = q[rows, cols] / (q * keep).sum(axis=1)[rows]
    return student.fit(X[rows], classes[cols], sample_weight=weight)


def _student_proba(student: Any, X: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The student's probabilities in the teacher's class order (zeros for unseen classes)."""
    proba = np.zeros((len(X), len(classes)))
    position = {label: i for i, label in enumerate(classes.tolist())}
    columns = [position[label] for label in np.asarray(student.classes_).tolist()]
    proba[:, columns] = student.predict_proba(X)
    return proba


def distillation_report(model: Any, student: Any, data: Any, y: Any = None) -> dict[str, float]:
    """Agreement, accuracy, log loss and predict time of a teacher and its student.

    Parameters
    ----------
    model : fitted combiner or fitted classifier
        The teacher, as given to `distill`.
    student : fitted scikit-learn classifier
    data : PredictionTable or array-like of shape (N, F)
        Evaluation rows (not the transfer rows). A table carries its labels.
    y : array-like of shape (N,), optional
        Labels for array ``data``.

    Returns
    -------
    dict of str to float
        ``agreement`` (share of rows where the student's label is the teacher's); with labels
        also ``teacher_accuracy``, ``student_accuracy``, ``teacher_log_loss``,
        ``student_log_loss``; ``teacher_seconds`` and ``student_seconds`` (predict time on the
        rows; on a table the teacher's excludes running its members).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from sklearn.linear_model import LogisticRegression
    >>> from ensel.distill import distill, distillation_report
    >>> X, y = load_iris(return_X_y=True)
    >>> teacher = RandomForestClassifier(50, random_state=0).fit(X[::2], y[::2])
    >>> student = distill(teacher, X[::2], student=LogisticRegression(max_iter=1000))
    >>> report = distillation_report(teacher, student, X[1::2], y[1::2])
    >>> bool(report["agreement"] > 0.9 and report["student_accuracy"] > 0.85)
    True
    """
    from ensel.metrics import log_loss

    start = time.perf_counter()
    X, q, classes = _teacher(model, data, "distillation_report")
    teacher_seconds = time.perf_counter() - start
    start = time.perf_counter()
    p = _student_proba(student, X, classes)
    student_seconds = time.perf_counter() - start
    out = {"agreement": float(np.mean(q.argmax(axis=1) == p.argmax(axis=1))),
           "teacher_seconds": teacher_seconds, "student_seconds": student_seconds}
    if isinstance(data, PredictionTable):
        truth = None if data.y is None else np.asarray(data.y)
    else:
        truth = None if y is None else V.encode_labels(V.check_rows(y, len(X), "y", 1), classes)
    if truth is not None:
        p = np.clip(p, 1e-12, None)
        p /= p.sum(axis=1, keepdims=True)
        out.update(teacher_accuracy=float(np.mean(q.argmax(axis=1) == truth)),
                   student_accuracy=float(np.mean(p.argmax(axis=1) == truth)),
                   teacher_log_loss=log_loss(truth, q), student_log_loss=log_loss(truth, p))
    return out
