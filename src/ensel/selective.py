"""Abstention: answer only where the ensemble is sure enough, with a stated guarantee.

Two ways to abstain:

- `SelectivePredictor` wraps a fitted combiner (on tables) or a fitted classifier such as
  `~ensel.SelectiveEnsemble` (on arrays) and abstains where a score falls below a threshold
  chosen on labelled calibration rows so that the selective risk (error rate among answered
  rows) is at most ``target_risk`` with probability at least ``1 - delta`` over the draw of the
  calibration rows (Geifman & El-Yaniv's selection with guaranteed risk, `select_threshold`).
- `SelectiveVote` is Selective Ensembles' vote test (Black, Leino & Fredrikson, 2022): over
  members trained from different seeds, answer with the plurality class only when a binomial
  test between the top two vote counts rejects at level ``alpha`` (`vote_test`).

**Abstentions** are marked explicitly: ``predict`` returns a ``numpy.ma.MaskedArray`` of class
labels whose mask is True where the model abstains (``y.mask``; ``y.compressed()`` keeps the
answers, ``y.filled(-1)`` writes a sentinel of your choice). `ensel.metrics`'
``selective_error``, ``coverage_score`` and ``inconsistency_error`` read that mask.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from ensel import _validation as V
from ensel.table import PredictionTable

SCORES = ("confidence", "margin", "agreement")

__all__ = ["SCORES", "SelectivePredictor", "SelectiveVote", "risk_upper_bound",
           "select_threshold", "vote_test"]


# ---------------------------------------------------------------------------- pure functions
def risk_upper_bound(errors: int, n: int, delta: float) -> float:
    """One-sided Clopper–Pearson upper bound on a risk from ``errors`` mistakes in ``n`` rows.

    The largest ``b`` with ``P(Binomial(n, b) <= errors) >= delta`` (Geifman & El-Yaniv's
    ``B*``): the true risk is below it with probability at least ``1 - delta``.

    Parameters
    ----------
    errors : int
        Mistakes among the ``n`` rows, ``0 <= errors <= n``.
    n : int
        Rows; with ``n = 0`` the bound is 1.
    delta : float in (0, 1)

    Returns
    -------
    float
        In [0, 1].

    Examples
    --------
    >>> from ensel.selective import risk_upper_bound
    >>> round(risk_upper_bound(0, 100, 0.05), 4)        # 1 - 0.05 ** (1 / 100)
    0.0295
    """
    from scipy.stats import beta

    if n == 0 or errors >= n:
        return 1.0
    return float(beta.ppf(1.0 - delta, errors + 1, n - errors))


def select_threshold(score: Any, correct: Any, *, target_risk: float,
                     delta: float) -> dict[str, float]:
    """The lowest score threshold whose selective risk is certified below ``target_risk``.

    Selection with guaranteed risk (SGR; Geifman & El-Yaniv, 2017): a binary search over the
    distinct calibration scores; each threshold tried answers the rows with
    ``score >= threshold`` and is accepted when the Clopper–Pearson bound
    (`risk_upper_bound`) on their risk, at level ``delta / n_tests``, is at most
    ``target_risk``. The search starts at the fewest rows that could be certified without a
    single error, ``log(delta / n_tests) / log(1 - target_risk)`` (a number fixed by N, α and
    δ alone), so that the bound grows with coverage where it searches.
    ``n_tests = ceil(log2(N + 1))`` covers every threshold the search can try,
    so by the union bound all the bounds hold together with probability ``>= 1 - delta``: on
    new rows from the same distribution, the risk among answered rows is at most
    ``target_risk``. The kept threshold is the accepted one with the largest coverage; when none
    is accepted the threshold is ``inf`` (abstain everywhere).

    Parameters
    ----------
    score : array-like of shape (N,)
        Higher = surer, on labelled calibration rows the model was not fitted on.
    correct : array-like of shape (N,), bool
        Whether the model's answer on each row is right.
    target_risk : float in (0, 1)
    delta : float in (0, 1)

    Returns
    -------
    dict
        ``threshold``, ``bound`` (the certified upper bound on the risk at it; 0 when
        abstaining everywhere), ``coverage`` and ``risk`` (empirical, on the calibration
        rows), ``n_tests``.

    Examples
    --------
    >>> import numpy as np
    >>> from ensel.selective import select_threshold
    >>> rng = np.random.default_rng(0)
    >>> score = rng.uniform(size=2000)
    >>> correct = rng.uniform(size=2000) > 0.2 * (1 - score)     # error rate 0.2 (1 - s)
    >>> out = select_threshold(score, correct, target_risk=0.05, delta=0.1)
    >>> bool(out["bound"] <= 0.05 and 0.3 < out["coverage"] < 0.6)
    True
    """
    owner = "select_threshold"
    target_risk = V.check_real_param(target_risk, "target_risk", owner, low=0, high=1,
                                     include_low=False, include_high=False)
    delta = V.check_real_param(delta, "delta", owner, low=0, high=1, include_low=False,
                               include_high=False)
    score, correct = _check_score_correct(score, correct, owner)
    n = len(score)
    order = np.argsort(-score, kind="stable")
    s, wrong = score[order], ~correct[order]
    n_tests = max(1, math.ceil(math.log2(n + 1)))
    # fewer rows than this cannot be certified even without an error: never tried
    fewest = math.log(delta / n_tests) / math.log1p(-target_risk)
    last = np.flatnonzero(np.r_[s[1:] != s[:-1], True])   # accepting s >= s[last[j]]
    last = last[last + 1 >= fewest]
    errors = np.cumsum(wrong)
    lo, hi, best = -1, len(last), None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        answered = int(last[mid]) + 1
        bound = risk_upper_bound(int(errors[last[mid]]), answered, delta / n_tests)
        if bound <= target_risk:
            lo, best = mid, (mid, bound)
        else:
            hi = mid
    if best is None:
        return {"threshold": math.inf, "bound": 0.0, "coverage": 0.0, "risk": 0.0,
                "n_tests": n_tests}
    j, bound = best
    answered = int(last[j]) + 1
    return {"threshold": float(s[last[j]]), "bound": float(bound), "coverage": answered / n,
            "risk": float(errors[last[j]]) / answered, "n_tests": n_tests}


def _check_score_correct(score: Any, correct: Any, owner: str) -> tuple[np.ndarray, np.ndarray]:
    score = np.asarray(score, dtype=np.float64)
    correct = np.asarray(correct)
    if score.ndim != 1 or score.shape[0] == 0:
        raise ValueError(f"score of {owner} must be 1-D [N] with N >= 1; got shape {score.shape}.")
    if correct.shape != score.shape:
        raise ValueError(
            f"correct of {owner} must have the shape of score {score.shape}; got {correct.shape}."
        )
    if correct.dtype != bool:
        raise ValueError(f"correct of {owner} must be a bool array; got dtype {correct.dtype}.")
    V.check_finite(score, "score")
    return score, correct


def vote_test(P: Any, *, alpha: float) -> dict[str, np.ndarray]:
    """Selective Ensembles' vote test on a pool ``P[N, M, C]``.

    Every member votes for its most probable class (ties inside a member go to its first such
    class). With ``n_a`` and ``n_b`` the two largest vote counts of a row, the row is answered
    with the plurality class when the two-sided binomial test of ``n_a`` successes in
    ``n_a + n_b`` trials at ``p = 1/2`` has p-value ``<= alpha``; otherwise it abstains. A tie
    ``n_a = n_b`` always abstains (p = 1). With ``M`` members the smallest p-value possible is
    ``2 ** (1 - M)`` (unanimity), so ``M = 5`` cannot answer at ``alpha < 0.0625``.

    Parameters
    ----------
    P : array-like of shape (N, M, C)
        Class probabilities of every member.
    alpha : float in (0, 1)

    Returns
    -------
    dict of str to ndarray of shape (N,)
        ``label`` (int class index of the plurality), ``abstain`` (bool), ``p_value``,
        ``top`` and ``second`` (the two vote counts).

    Examples
    --------
    >>> import numpy as np
    >>> from ensel.selective import vote_test
    >>> votes = np.array([[0] * 10, [0] * 6 + [1] * 4])      # unanimous; split 6 to 4
    >>> P = np.eye(2)[votes]                                 # [2, 10, 2]
    >>> out = vote_test(P, alpha=0.05)
    >>> out["abstain"].tolist(), out["p_value"].round(4).tolist()
    ([False, True], [0.002, 0.7539])
    """
    from scipy.stats import binom

    alpha = V.check_real_param(alpha, "alpha", "vote_test", low=0, high=1, include_low=False,
                               include_high=False)
    P = np.asarray(P)
    if P.ndim != 3 or 0 in P.shape:
        raise ValueError(
            f"P of vote_test must be 3-D [N, M, C] member probabilities; got shape {P.shape}."
        )
    n_classes = P.shape[2]
    counts = np.zeros((P.shape[0], n_classes), dtype=np.int64)
    for m in range(P.shape[1]):
        counts[np.arange(P.shape[0]), P[:, m].argmax(axis=1)] += 1
    label = counts.argmax(axis=1)
    ranked = np.sort(counts, axis=1)
    top = ranked[:, -1]
    second = ranked[:, -2] if n_classes > 1 else np.zeros_like(top)
    trials = top + second
    p_value = np.minimum(1.0, 2.0 * binom.sf(top - 1, trials, 0.5))
    p_value[top == second] = 1.0
    return {"label": label, "abstain": p_value > alpha, "p_value": p_value, "top": top,
            "second": second}


def _masked(labels: np.ndarray, abstain: np.ndarray) -> np.ma.MaskedArray:
    return np.ma.MaskedArray(labels, mask=np.asarray(abstain, dtype=bool), shrink=False)


def _scores(proba: np.ndarray, kind: str, P: np.ndarray | None = None,
            selection: np.ndarray | None = None) -> np.ndarray:
    """``[N]`` score of each answer: top probability, top-two margin or members' agreement."""
    if kind == "confidence":
        return proba.max(axis=1)
    if kind == "margin":
        ranked = np.sort(proba, axis=1)
        return ranked[:, -1] - ranked[:, -2] if proba.shape[1] > 1 else np.ones(len(proba))
    weights = np.abs(np.asarray(selection, dtype=np.float64))
    votes = np.asarray(P).argmax(axis=2) == proba.argmax(axis=1)[:, None]
    total = weights.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (weights * votes).sum(axis=1) / total, 0.0)


# ---------------------------------------------------------------------------- estimators
class SelectivePredictor(BaseEstimator):
    """Abstain where a fitted model is unsure, with selective risk <= ``target_risk`` w.p. 1 - δ.

    `fit` only calibrates: on labelled rows the model was **not** fitted on, it picks the
    lowest threshold on the score whose selective risk is certified (`select_threshold`,
    SGR with a Clopper–Pearson bound and a union bound over the thresholds tried). On new rows
    from the same distribution, with probability at least ``1 - delta`` over the calibration
    draw, the error rate among answered rows is at most ``target_risk``.

    Parameters
    ----------
    model : fitted combiner or fitted classifier
        An `ensel.combine` combiner (then ``fit`` / ``predict`` take a `PredictionTable`) or a
        scikit-learn classifier with ``predict_proba`` and ``classes_``, e.g. a fitted
        `~ensel.SelectiveEnsemble` (then they take ``X`` and ``fit`` takes ``y``).
    target_risk : float in (0, 1), default=0.05
        The selective risk to guarantee (α).
    delta : float in (0, 1), default=0.1
        The allowed probability that the guarantee fails (δ).
    score : {"confidence", "margin", "agreement"}, default="confidence"
        ``"confidence"``: the top combined probability; ``"margin"``: top minus second;
        ``"agreement"``: the (selection-weighted) share of the members the combiner used that
        vote for the answer (a `SelectiveEnsemble` then runs every member).

    Attributes
    ----------
    threshold_ : float
        Rows with ``score >= threshold_`` are answered (``inf``: abstain everywhere).
    bound_ : float
        Certified upper bound on the selective risk at ``threshold_`` (<= ``target_risk``).
    coverage_, risk_ : float
        Share of calibration rows answered and their error rate.
    n_tests_ : int
        Thresholds the union bound covers.
    n_calibration_ : int
    classes_ : ndarray of shape (C,)

    Examples
    --------
    >>> import numpy as np
    >>> from ensel import PredictionTable
    >>> from ensel.combine import Average
    >>> from ensel.selective import SelectivePredictor
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 3000)
    >>> sure = rng.uniform(0.5, 1.0, size=(3000, 3))                 # members' confidence
    >>> right = rng.uniform(size=(3000, 3)) < sure
    >>> p1 = np.where(right == (y[:, None] == 1), sure, 1 - sure)
    >>> P = np.stack([1 - p1, p1], axis=2)
    >>> table = PredictionTable.from_arrays(P, y=y)
    >>> model = Average().fit(table[:1000])
    >>> sp = SelectivePredictor(model, target_risk=0.1, delta=0.1).fit(table[1000:2000])
    >>> bool(sp.bound_ <= 0.1 and sp.coverage_ > 0.3)
    True
    >>> answer = sp.predict(table[2000:])                            # a masked array
    >>> bool(np.mean(answer.compressed() != table.y[2000:][~answer.mask]) <= 0.1)
    True
    """

    def __init__(self, model: Any, *, target_risk: float = 0.05, delta: float = 0.1,
                 score: str = "confidence") -> None:
        self.model = model
        self.target_risk = target_risk
        self.delta = delta
        self.score = score

    # ------------------------------------------------------------------ fit
    def fit(self, data: Any, y: Any = None) -> SelectivePredictor:
        """Calibrate the threshold on labelled rows the model was not fitted on.

        Parameters
        ----------
        data : PredictionTable (combiner) or array-like of shape (N, F) (classifier)
            A labelled table, or the inputs.
        y : array-like of shape (N,), optional
            Labels, for a classifier only (a table carries its own).

        Returns
        -------
        self : SelectivePredictor
        """
        name = type(self).__name__
        V.check_choice(self.score, "score", name, SCORES)
        on_tables = self._check_model()
        if on_tables:
            V.check_table_like(data, f"{name}.fit")
            V.check_labelled(data, f"{name}.fit")
            if y is not None:
                raise ValueError(
                    f"{name}.fit takes the labels from the table; got y as well. Pass y=None."
                )
            truth = np.asarray(data.y)
        elif y is None:
            raise ValueError(f"{name}.fit needs the labels y of the calibration rows X.")
        proba, score = self._proba_and_score(data, on_tables)
        predicted = proba.argmax(axis=1)
        if not on_tables:
            truth = V.encode_labels(V.check_rows(y, len(proba), "y", 1),
                                    np.asarray(self.model.classes_))
        out = select_threshold(score, predicted == truth, target_risk=self.target_risk,
                               delta=self.delta)
        self.threshold_, self.bound_ = out["threshold"], out["bound"]
        self.coverage_, self.risk_ = out["coverage"], out["risk"]
        self.n_tests_, self.n_calibration_ = out["n_tests"], len(score)
        self.classes_ = np.asarray(self.model.classes_)
        self.on_tables_ = on_tables
        if self.coverage_ == 0.0:
            warnings.warn(
                f"{name}: no threshold certifies selective risk <= {self.target_risk:g} at "
                f"delta={self.delta:g} on {len(score)} calibration rows; it abstains "
                f"everywhere. Use more calibration rows or a larger target_risk.",
                UserWarning, stacklevel=2)
        return self

    def _check_model(self) -> bool:
        """Whether the model is a combiner (tables); raise unless it is fitted and usable."""
        from ensel.combine.base import Combiner

        name, model = type(self).__name__, self.model
        if isinstance(model, Combiner):
            attribute = "members_"
        elif hasattr(model, "predict_proba"):
            attribute = "classes_"
        else:
            raise ValueError(
                f"The 'model' parameter of {name} must be a fitted ensel combiner or a fitted "
                f"classifier with predict_proba. Got {type(model).__name__} instead.")
        try:
            check_is_fitted(model, attribute)
        except NotFittedError as exc:
            raise ValueError(
                f"The 'model' parameter of {name} must be fitted: {type(model).__name__} is "
                f"not. Fit it on other rows first; {name}.fit only calibrates.") from exc
        if isinstance(model, Combiner) and model.task_ != "classification":
            raise ValueError(f"{name} needs a classification model; got a {model.task_} one.")
        if self.score == "agreement" and not isinstance(model, Combiner) and not (
                hasattr(model, "members_") and hasattr(model, "combiner_")):
            raise ValueError(
                f"score='agreement' of {name} needs the members' votes: a combiner or a "
                f"SelectiveEnsemble. Got {type(model).__name__}; use 'confidence' or 'margin'.")
        return isinstance(model, Combiner)

    def _proba_and_score(self, data: Any, on_tables: bool) -> tuple[np.ndarray, np.ndarray]:
        model = self.model
        if on_tables:
            V.check_table_like(data, type(self).__name__)
            table = data
        elif self.score == "agreement":
            table = PredictionTable.from_estimators(model.members_, data)
            model = model.combiner_
        else:
            proba = np.asarray(model.predict_proba(data), dtype=np.float64)
            return proba, _scores(proba, self.score)
        proba = np.asarray(model.predict_proba(table), dtype=np.float64)
        selection = model.select(table) if self.score == "agreement" else None
        return proba, _scores(proba, self.score, table.P, selection)

    # ------------------------------------------------------------------ predict
    def selection_score(self, data: Any) -> np.ndarray:
        """The score of every row (answered when ``>= threshold_``): ``[N]`` float64."""
        check_is_fitted(self, "threshold_")
        return self._proba_and_score(data, self.on_tables_)[1]

    def abstain(self, data: Any) -> np.ndarray:
        """``[N]`` bool: True where the model abstains."""
        return self.selection_score(data) < self.threshold_

    def predict_proba(self, data: Any) -> np.ndarray:
        """The wrapped model's class probabilities ``[N, C]`` (no abstention)."""
        check_is_fitted(self, "threshold_")
        return self._proba_and_score(data, self.on_tables_)[0]

    def predict(self, data: Any) -> np.ma.MaskedArray:
        """Class labels ``[N]`` as a masked array; masked (``mask=True``) = abstained.

        Parameters
        ----------
        data : PredictionTable or array-like of shape (N, F)

        Returns
        -------
        y_pred : numpy.ma.MaskedArray of shape (N,)
            Labels from ``classes_``; ``y_pred.mask`` marks the abstentions.
        """
        check_is_fitted(self, "threshold_")
        proba, score = self._proba_and_score(data, self.on_tables_)
        return _masked(self.classes_[proba.argmax(axis=1)], score < self.threshold_)


class SelectiveVote(BaseEstimator):
    """Selective Ensembles' vote test (Black, Leino & Fredrikson, 2022): answer when settled.

    Over members trained from different seeds, predict the plurality class only where the
    two-sided binomial test between the top two vote counts rejects at level ``alpha``
    (`vote_test`); abstain elsewhere. Two such ensembles trained independently then rarely
    contradict each other on the rows both answer (`ensel.metrics.inconsistency_error`).
    Needs no labels.

    Parameters
    ----------
    alpha : float in (0, 1), default=0.05
        Level of the test. With M members no row is answered when ``alpha < 2 ** (1 - M)``.

    Attributes
    ----------
    members_ : list of str
    classes_ : ndarray of shape (C,)

    Examples
    --------
    >>> import numpy as np
    >>> from ensel import PredictionTable
    >>> from ensel.selective import SelectiveVote
    >>> votes = np.array([[0] * 10, [0] * 6 + [1] * 4])
    >>> table = PredictionTable.from_arrays(np.eye(2)[votes], classes=["cat", "dog"])
    >>> SelectiveVote(alpha=0.05).fit(table).predict(table)
    masked_array(data=['cat', --],
                 mask=[False,  True],
           fill_value='N/A',
                dtype='<U3')
    """

    def __init__(self, alpha: float = 0.05) -> None:
        self.alpha = alpha

    def fit(self, table: PredictionTable, y: Any = None) -> SelectiveVote:
        """Record the members and classes (the test has nothing to learn).

        Parameters
        ----------
        table : PredictionTable
            A classification table ``P[N, M, C]``; labels are not needed.
        y : ignored

        Returns
        -------
        self : SelectiveVote
        """
        name = type(self).__name__
        V.check_real_param(self.alpha, "alpha", name, low=0, high=1, include_low=False,
                           include_high=False)
        V.check_table_like(table, f"{name}.fit")
        V.check_task_supported(table.task, ("classification",), name)
        self.members_ = list(table.members)
        self.classes_ = np.asarray(table.classes)
        return self

    def test(self, table: PredictionTable) -> dict[str, np.ndarray]:
        """`vote_test` on the table: ``label``, ``abstain``, ``p_value``, ``top``, ``second``."""
        name = type(self).__name__
        check_is_fitted(self, "members_")
        V.check_table_like(table, f"{name}.test")
        V.check_compatible(table, members=self.members_, classes=self.classes_,
                           task="classification", owner=name)
        return vote_test(table.P, alpha=self.alpha)

    def abstain(self, table: PredictionTable) -> np.ndarray:
        """``[N]`` bool: True where the vote is not settled at level ``alpha``."""
        return self.test(table)["abstain"]

    def predict(self, table: PredictionTable) -> np.ma.MaskedArray:
        """Plurality labels ``[N]`` as a masked array; masked (``mask=True``) = abstained."""
        out = self.test(table)
        return _masked(self.classes_[out["label"]], out["abstain"])
