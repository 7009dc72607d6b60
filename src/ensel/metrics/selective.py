"""Selective prediction: risk against coverage when a model may abstain.

A selective model answers only where its *score* (confidence, margin, agreement; higher means
surer) reaches a threshold. On the answered rows, *coverage* is their share of all rows and
*selective risk* the error rate among them.

Conventions: ``y`` holds int class indices; ``proba_or_labels`` is ``proba[N, C]`` (the label
is its argmax, ties to the lowest index, and the default score its largest probability) or
labels ``[N]``. Rows with equal scores are accepted or refused together by a threshold; where a
metric needs an order inside tied rows (AURC, selective accuracy at a coverage) it takes the
*expected* value over a random order of the tied rows, so no tie-break is hidden. Abstentions
are marked with a NumPy masked array (``mask=True`` = abstained), as `ensel.selective`'s
``predict`` returns them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ensel._validation import _numeric, check_finite, check_labels, check_proba

__all__ = [
    "aurc_loss",
    "coverage_at_risk_score",
    "coverage_score",
    "excess_aurc_loss",
    "inconsistency_error",
    "risk_coverage_curve",
    "selective_accuracy_score",
    "selective_error",
]


# ---------------------------------------------------------------------------- inputs
def _errors_and_scores(y: Any, proba_or_labels: Any, score: Any,
                       owner: str) -> tuple[np.ndarray, np.ndarray]:
    """``err[N]`` (bool: the prediction is wrong) and ``score[N]`` (float64)."""
    pred = np.asarray(proba_or_labels)
    if pred.ndim == 2:
        proba = check_proba(pred, what="proba_or_labels")
        y = check_labels(y, n_rows=proba.shape[0], n_classes=proba.shape[1],
                         against="proba_or_labels")
        err = proba.argmax(axis=1) != y
        if score is None:
            score = proba.max(axis=1)
    elif pred.ndim == 1:
        labels = check_labels(pred, what="proba_or_labels")
        y = check_labels(y, n_rows=labels.shape[0], against="proba_or_labels")
        err = labels != y
        if score is None:
            raise ValueError(
                f"{owner} needs 'score' when proba_or_labels holds labels [N]; pass one "
                f"score per row (higher = surer), or pass probabilities [N, C]."
            )
    else:
        raise ValueError(
            f"proba_or_labels must be 2-D [N, C] probabilities or 1-D [N] labels; got shape "
            f"{pred.shape}."
        )
    score = _numeric(score, "score")
    if score.ndim != 1 or score.shape[0] != err.shape[0]:
        raise ValueError(
            f"score must be 1-D with one value per row ({err.shape[0]}); got shape "
            f"{score.shape}."
        )
    score = score.astype(np.float64)
    check_finite(score, "score")
    return err, score


def _expected_errors(err: np.ndarray, score: np.ndarray) -> np.ndarray:
    """``cum[i]``: expected errors among the ``i + 1`` highest-scored rows, ties in random order."""
    order = np.argsort(-score, kind="stable")
    s, e = score[order], err[order].astype(np.float64)
    n = len(s)
    new = np.r_[True, s[1:] != s[:-1]]
    starts = np.flatnonzero(new)
    group = np.cumsum(new) - 1
    size = np.diff(np.r_[starts, n])
    errors = np.add.reduceat(e, starts)
    before = np.r_[0.0, np.cumsum(errors)[:-1]]
    inside = np.arange(n) - starts[group] + 1
    return before[group] + inside * errors[group] / size[group]


def _check_fraction(value: Any, name: str, owner: str, *, low_open: bool) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.floating))
    ok = ok and math.isfinite(value) and (0 < value <= 1 if low_open else 0 <= value <= 1)
    if not ok:
        span = "(0, 1]" if low_open else "[0, 1]"
        raise ValueError(
            f"The '{name}' parameter of {owner} must be a float in {span}. Got {value!r} "
            f"instead."
        )
    return float(value)


def _answered(y_pred: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels ``[N]`` and the abstention mask ``[N]`` of a (masked) prediction."""
    mask = np.ma.getmaskarray(y_pred) if np.ma.isMaskedArray(y_pred) else None
    data = np.asarray(np.ma.getdata(y_pred))
    if data.ndim != 1 or data.shape[0] == 0:
        raise ValueError(f"{what} must be 1-D [N] labels with N >= 1; got shape {data.shape}.")
    if mask is None:
        mask = np.zeros(data.shape[0], dtype=bool)
    return data, mask


# ---------------------------------------------------------------------------- curves
def risk_coverage_curve(y: Any, proba_or_labels: Any,
                        score: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Selective risk at every coverage a threshold on the score can reach.

    For each distinct score value ``t`` (in decreasing order), the rows with ``score >= t`` are
    answered: coverage is their share, risk their error rate.

    Parameters
    ----------
    y : array-like of shape (N,)
        True class indices.
    proba_or_labels : array-like of shape (N, C) or (N,)
        Class probabilities or predicted class indices.
    score : array-like of shape (N,), optional
        Higher = surer. Default (probabilities only): the largest probability.

    Returns
    -------
    coverage : ndarray of shape (K,)
        Increasing, in (0, 1]; the last is 1.
    risk : ndarray of shape (K,)
        Selective risk in [0, 1] at each coverage.
    thresholds : ndarray of shape (K,)
        Decreasing distinct scores.

    Examples
    --------
    >>> from ensel.metrics import risk_coverage_curve
    >>> cov, risk, t = risk_coverage_curve([0, 1, 1, 0], [0, 1, 0, 1], [0.9, 0.8, 0.7, 0.7])
    >>> cov.tolist(), risk.tolist(), t.tolist()
    ([0.25, 0.5, 1.0], [0.0, 0.0, 0.5], [0.9, 0.8, 0.7])
    """
    err, score = _errors_and_scores(y, proba_or_labels, score, "risk_coverage_curve")
    order = np.argsort(-score, kind="stable")
    s, e = score[order], err[order]
    last = np.r_[s[1:] != s[:-1], True]            # the last row of each tie group
    answered = np.flatnonzero(last) + 1
    errors = np.cumsum(e)[last]
    n = len(s)
    return answered / n, errors / answered, s[last]


def aurc_loss(y: Any, proba_or_labels: Any, score: Any = None) -> float:
    """Area under the risk–coverage curve (AURC; Geifman et al., 2019).

    ``AURC = (1/N) sum_{i=1..N} risk(top i)``: the selective risk of the ``i`` highest-scored
    rows, averaged over every coverage ``i/N``; tied rows are taken in expected (random) order.

    Parameters
    ----------
    y : array-like of shape (N,)
        True class indices.
    proba_or_labels : array-like of shape (N, C) or (N,)
        Class probabilities or predicted class indices.
    score : array-like of shape (N,), optional
        Higher = surer. Default (probabilities only): the largest probability.

    Returns
    -------
    float
        In [0, 1]; lower is better.

    Examples
    --------
    >>> from ensel.metrics import aurc_loss
    >>> aurc_loss([0, 0], [0, 1], [0.9, 0.1])      # (0/1 + 1/2) / 2
    0.25
    """
    err, score = _errors_and_scores(y, proba_or_labels, score, "aurc_loss")
    cum = _expected_errors(err, score)
    return float(np.mean(cum / np.arange(1, len(cum) + 1)))


def _optimal_aurc(err: np.ndarray) -> float:
    n, wrong = len(err), int(err.sum())
    i = np.arange(1, n + 1)
    return float(np.mean(np.maximum(0, i - (n - wrong)) / i))


def excess_aurc_loss(y: Any, proba_or_labels: Any, score: Any = None) -> float:
    """Excess AURC (E-AURC): AURC minus that of the best possible score for the same errors.

    The best score ranks every right row above every wrong one; E-AURC measures the ranking
    alone, not the error rate (Geifman et al., 2019). Computed exactly on the N rows.

    Parameters
    ----------
    y : array-like of shape (N,)
        True class indices.
    proba_or_labels : array-like of shape (N, C) or (N,)
        Class probabilities or predicted class indices.
    score : array-like of shape (N,), optional
        Higher = surer. Default (probabilities only): the largest probability.

    Returns
    -------
    float
        >= 0; 0 for a perfect ranking.

    Examples
    --------
    >>> from ensel.metrics import excess_aurc_loss
    >>> excess_aurc_loss([0, 0], [0, 1], [0.9, 0.1])    # already the best order
    0.0
    >>> excess_aurc_loss([0, 0], [0, 1], [0.1, 0.9])    # (1/1 + 1/2) / 2 - 0.25
    0.5
    """
    err, score = _errors_and_scores(y, proba_or_labels, score, "excess_aurc_loss")
    cum = _expected_errors(err, score)
    aurc = float(np.mean(cum / np.arange(1, len(cum) + 1)))
    return max(0.0, aurc - _optimal_aurc(err))


def coverage_at_risk_score(y: Any, proba_or_labels: Any, score: Any = None, *,
                           risk: float) -> float:
    """Largest coverage whose empirical selective risk is at most ``risk``.

    Over the thresholds of `risk_coverage_curve`; 0 when no threshold reaches ``risk``. This is
    the in-sample figure, without a guarantee (`ensel.selective.SelectivePredictor` gives one).

    Parameters
    ----------
    y : array-like of shape (N,)
        True class indices.
    proba_or_labels : array-like of shape (N, C) or (N,)
        Class probabilities or predicted class indices.
    score : array-like of shape (N,), optional
        Higher = surer. Default (probabilities only): the largest probability.
    risk : float in [0, 1]
        The target selective risk.

    Returns
    -------
    float
        Coverage in [0, 1]; higher is better.

    Examples
    --------
    >>> from ensel.metrics import coverage_at_risk_score
    >>> coverage_at_risk_score([0, 1, 1, 0], [0, 1, 0, 1], [0.9, 0.8, 0.7, 0.7], risk=0.1)
    0.5
    """
    risk = _check_fraction(risk, "risk", "coverage_at_risk_score", low_open=False)
    coverage, curve, _ = risk_coverage_curve(y, proba_or_labels, score)
    ok = curve <= risk + 1e-12
    return float(coverage[ok].max()) if ok.any() else 0.0


def selective_accuracy_score(y: Any, proba_or_labels: Any, score: Any = None, *,
                             coverage: float) -> float:
    """Accuracy on the ``ceil(coverage * N)`` highest-scored rows (ties in expected order).

    Parameters
    ----------
    y : array-like of shape (N,)
        True class indices.
    proba_or_labels : array-like of shape (N, C) or (N,)
        Class probabilities or predicted class indices.
    score : array-like of shape (N,), optional
        Higher = surer. Default (probabilities only): the largest probability.
    coverage : float in (0, 1]
        Share of rows answered.

    Returns
    -------
    float
        Accuracy in [0, 1]; at ``coverage=1`` the plain accuracy.

    Examples
    --------
    >>> from ensel.metrics import selective_accuracy_score
    >>> y, pred, s = [0, 1, 1, 0], [0, 1, 0, 1], [0.9, 0.8, 0.7, 0.7]
    >>> selective_accuracy_score(y, pred, s, coverage=0.5)
    1.0
    >>> round(selective_accuracy_score(y, pred, s, coverage=0.75), 4)  # 1 of 2 tied, wrong
    0.6667
    """
    coverage = _check_fraction(coverage, "coverage", "selective_accuracy_score",
                               low_open=True)
    err, score = _errors_and_scores(y, proba_or_labels, score, "selective_accuracy_score")
    n = max(1, math.ceil(coverage * len(err) - 1e-9))
    return float(1.0 - _expected_errors(err, score)[n - 1] / n)


# ---------------------------------------------------------------------------- abstentions
def coverage_score(y_pred: Any) -> float:
    """Share of rows answered (not abstained) by a masked prediction.

    Parameters
    ----------
    y_pred : array-like or masked array of shape (N,)
        Predicted labels; masked entries are abstentions (a plain array abstains nowhere).

    Returns
    -------
    float
        Coverage in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from ensel.metrics import coverage_score
    >>> coverage_score(np.ma.MaskedArray([0, 1, 1, 2], mask=[False, True, False, False]))
    0.75
    """
    _, mask = _answered(y_pred, "y_pred")
    return float(1.0 - mask.mean())


def selective_error(y: Any, y_pred: Any) -> float:
    """Selective risk of a masked prediction: the error rate on the rows it answered.

    Parameters
    ----------
    y : array-like of shape (N,)
        True labels (compared with ``==``).
    y_pred : array-like or masked array of shape (N,)
        Predicted labels; masked entries are abstentions.

    Returns
    -------
    float
        In [0, 1]; 0 when every row was abstained on (no answered row is wrong).

    Examples
    --------
    >>> import numpy as np
    >>> from ensel.metrics import selective_error
    >>> selective_error([0, 1, 1, 2], np.ma.MaskedArray([0, 0, 2, 2], mask=[0, 1, 0, 0]))
    0.3333333333333333
    """
    labels, mask = _answered(y_pred, "y_pred")
    y = np.asarray(y)
    if y.shape != labels.shape:
        raise ValueError(f"y has shape {y.shape} but y_pred has shape {labels.shape}.")
    answered = ~mask
    if not answered.any():
        return 0.0
    return float(np.mean(labels[answered] != y[answered]))


def inconsistency_error(y_pred_a: Any, y_pred_b: Any) -> float:
    """Share of rows where two models both answer and give different labels.

    The measure of Selective Ensembles (Black, Leino & Fredrikson, 2022): a row on which
    either model abstains is not inconsistent.

    Parameters
    ----------
    y_pred_a, y_pred_b : array-like or masked array of shape (N,)
        Predicted labels of two models (e.g. trained from different seeds); masked entries are
        abstentions.

    Returns
    -------
    float
        In [0, 1]; 0 when the two never contradict each other.

    Examples
    --------
    >>> import numpy as np
    >>> from ensel.metrics import inconsistency_error
    >>> a = np.ma.MaskedArray([0, 1, 2, 2], mask=[0, 0, 1, 0])
    >>> inconsistency_error(a, [0, 2, 1, 1])        # rows 1 and 3
    0.5
    """
    la, ma = _answered(y_pred_a, "y_pred_a")
    lb, mb = _answered(y_pred_b, "y_pred_b")
    if la.shape != lb.shape:
        raise ValueError(f"y_pred_a has shape {la.shape} but y_pred_b has shape {lb.shape}.")
    return float(np.mean(~ma & ~mb & (la != lb)))
