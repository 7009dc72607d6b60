"""Static combiners: one combination for every input, learned (or not) on the selection table.

`select` returns the same row for every input: a 0/1 mask (`BestSingle`, `Vote`, `Stacking`)
or weights summing to one (`Average`, `WeightedAverage`, `GreedySelection`). `Oracle` is the
exception: it looks at the labels and is an upper bound for reports, not a method.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ensel import _validation as V
from ensel.combine import rules
from ensel.combine.base import BOTH_TASKS, Combiner
from ensel.table import PredictionTable

_EPS = 1e-15


def _member_scores(table: PredictionTable, metric: str) -> np.ndarray:
    """Loss of every member alone on a labelled table (lower is better), ``[M]``."""
    P, y = table.P, np.asarray(table.y)
    if metric == "accuracy":
        return -table.correct().mean(axis=0)
    if metric == "log_loss":
        return -np.log(np.clip(rules.proba_of_label(P, y), _EPS, None)).mean(axis=0)
    diff = P - (y[:, None] if P.ndim == 2 else y[:, None, :])
    return (diff.reshape(len(P), P.shape[1], -1) ** 2).sum(axis=2).mean(axis=0)


def _default_metric(metric: str | None, task: str) -> str:
    if metric is not None:
        return metric
    return "log_loss" if task == "classification" else "squared_error"


def _check_metric(metric: str | None, task: str, owner: str) -> str:
    choices = ("accuracy", "log_loss") if task == "classification" else ("squared_error",)
    V.check_choice(metric, "metric", owner, (None, *choices))
    return _default_metric(metric, task)


class BestSingle(Combiner):
    """The single member that scores best on the selection table.

    Parameters
    ----------
    metric : {"accuracy", "log_loss", "squared_error"} or None, default=None
        How members are ranked: accuracy for classification (``None``), squared error for
        regression. Ties go to the member listed first.

    Attributes
    ----------
    best_ : int
        Position of the chosen member in ``members_``.

    Examples
    --------
    >>> import numpy as np
    >>> from ensel import PredictionTable
    >>> from ensel.combine import BestSingle
    >>> P = np.array([[[0.9, 0.1], [0.4, 0.6]], [[0.3, 0.7], [0.2, 0.8]]])
    >>> table = PredictionTable.from_arrays(P, y=[0, 1], members=["a", "b"])
    >>> best = BestSingle().fit(table)
    >>> best.members_[best.best_]
    'a'
    """

    _tasks = BOTH_TASKS
    _static = True

    def __init__(self, metric: str | None = None) -> None:
        self.metric = metric

    def _check_params(self, table: PredictionTable) -> None:
        if self.metric is None:
            return
        _check_metric(self.metric, table.task, type(self).__name__)

    def _fit(self, table: PredictionTable) -> None:
        metric = self.metric or ("accuracy" if table.task == "classification"
                                 else "squared_error")
        self.scores_ = _member_scores(table, metric)
        self.best_ = int(np.argmin(self.scores_))

    def _select(self, table: PredictionTable) -> np.ndarray:
        row = np.zeros(self.n_members_)
        row[self.best_] = 1.0
        return self._static_rows(table, row)

    def _combine(self, table: PredictionTable, selection: np.ndarray) -> np.ndarray:
        return np.asarray(table.P[:, self.best_], dtype=np.float64)


class Vote(Combiner):
    """Plurality vote: every member votes for its most probable class.

    `predict_proba` gives the share of votes per class. Ties between classes go to the class
    that comes first in ``classes_`` (the order of the table's columns); ties inside a member
    (equal top probabilities) count for its first such class.

    Examples
    --------
    >>> import numpy as np
    >>> from ensel import PredictionTable
    >>> from ensel.combine import Vote
    >>> P = np.array([[[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], [[0.4, 0.6]] * 3])
    >>> table = PredictionTable.from_arrays(P, classes=["no", "yes"])
    >>> Vote().fit(table).predict(table).tolist()
    ['no', 'yes']
    """

    _needs_labels = False
    _static = True

    def __init__(self) -> None:
        pass

    def _select(self, table: PredictionTable) -> np.ndarray:
        return self._static_rows(table, np.ones(self.n_members_))

    def _combine(self, table: PredictionTable, selection: np.ndarray) -> np.ndarray:
        return rules.vote(table.P)


class Average(Combiner):
    """Unweighted mean of the members' probabilities (classification) or values (regression).

    Examples
    --------
    >>> import numpy as np
    >>> from ensel import PredictionTable
    >>> from ensel.combine import Average
    >>> P = np.array([[[0.9, 0.1], [0.3, 0.7]]])
    >>> table = PredictionTable.from_arrays(P)
    >>> Average().fit(table).predict_proba(table).round(3).tolist()
    [[0.6, 0.4]]
    """

    _tasks = BOTH_TASKS
    _needs_labels = False
    _static = True

    def __init__(self) -> None:
        pass

    def _select(self, table: PredictionTable) -> np.ndarray:
        return self._static_rows(table, np.full(self.n_members_, 1.0 / self.n_members_))

    def _combine(self, table: PredictionTable, selection: np.ndarray) -> np.ndarray:
        return rules.average(table.P)


class _WeightedStatic(Combiner):
    """Static combiners defined by a weight vector ``weights_[M]`` on the simplex."""

    _tasks = BOTH_TASKS
    _static = True

    def _select(self, table: PredictionTable) -> np.ndarray:
        return self._static_rows(table, self.weights_)

    def _combine(self, table: PredictionTable, selection: np.ndarray) -> np.ndarray:
        return rules.average(table.P, self.weights_)


class WeightedAverage(_WeightedStatic):
    """Super Learner (van der Laan et al., 2007): the convex combination with the best loss.

    Non-negative weights summing to one that minimise the selection table's log-loss of the
    weighted mean probabilities (classification) or the squared error of the weighted mean
    (regression), by SLSQP from uniform weights (``scipy.optimize.minimize``). Both objectives
    are convex in the weights.

    Parameters
    ----------
    tol : float, default=1e-9
        SLSQP's tolerance.
    max_iter : int, default=500

    Attributes
    ----------
    weights_ : ndarray of shape (M,)
    loss_ : float
        The minimised loss on the selection table.

    Examples
    --------
    >>> import numpy as np
    >>> from ensel import PredictionTable
    >>> from ensel.combine import WeightedAverage
    >>> rng = np.random.default_rng(0)
    >>> table = PredictionTable.from_arrays(rng.dirichlet(np.ones(3), size=(50, 4)),
    ...                                     y=rng.integers(0, 3, 50))
    >>> w = WeightedAverage().fit(table).weights_
    >>> bool(np.isclose(w.sum(), 1.0) and (w >= 0).all())
    True
    """

    def __init__(self, *, tol: float = 1e-9, max_iter: int = 500) -> None:
        self.tol = tol
        self.max_iter = max_iter

    def _check_params(self, table: PredictionTable) -> None:
        name = type(self).__name__
        V.check_real_param(self.tol, "tol", name, low=0.0, high=1.0, include_low=False)
        V.check_int_param(self.max_iter, "max_iter", name, low=1)

    def _fit(self, table: PredictionTable) -> None:
        from scipy.optimize import minimize

        m = table.n_members
        if table.task == "classification":
            Q = rules.proba_of_label(table.P, np.asarray(table.y)).astype(np.float64)

            def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
                q = np.clip(Q @ w, _EPS, None)
                return float(-np.mean(np.log(q))), -(Q / q[:, None]).mean(axis=0)
        else:
            P = np.asarray(table.P, dtype=np.float64).reshape(table.n_samples, m, -1)
            y = np.asarray(table.y, dtype=np.float64).reshape(table.n_samples, -1)

            def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
                r = np.einsum("nmd,m->nd", P, w) - y
                return (float(np.mean(np.sum(r**2, axis=1))),
                        2 * np.einsum("nd,nmd->m", r, P) / len(r))

        result = minimize(loss, np.full(m, 1.0 / m), jac=True, method="SLSQP",
                          bounds=[(0.0, 1.0)] * m,
                          constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0,
                                        "jac": lambda w: np.ones_like(w)}],
                          options={"ftol": self.tol, "maxiter": self.max_iter})
        w = np.clip(result.x, 0.0, None)
        self.weights_ = w / w.sum()
        self.loss_ = loss(self.weights_)[0]
        self.n_iter_ = int(result.nit)


class GreedySelection(_WeightedStatic):
    """Greedy ensemble selection (Caruana et al., 2004), as in auto-sklearn and AutoGluon.

    Start from the ``n_init`` best members alone (sorted initialisation), then repeatedly add
    (with replacement) the member whose addition gives the best loss of the running average;
    the weights are how often each member was added. The ensemble kept is the best one met
    along the way on the selection table (Caruana's rule). With ``n_bags > 0``, the procedure
    runs on ``n_bags`` random subsets of ``bag_fraction`` of the members and the weights are
    averaged. Ties go to the member listed first.

    Parameters
    ----------
    n_iterations : int, default=50
        Greedy additions after initialisation.
    n_init : int, default=3
        Best members put in first (clipped to the number of members available).
    metric : {"log_loss", "accuracy", "squared_error"} or None, default=None
        ``None`` is log-loss for classification, squared error for regression.
    n_bags : int, default=0
    bag_fraction : float in (0, 1], default=0.5
    random_state : int or None, default=0
        Seeds the bags.

    Attributes
    ----------
    weights_ : ndarray of shape (M,)
    counts_ : ndarray of shape (M,)
        How often each member was chosen (summed over bags).

    Examples
    --------
    >>> import numpy as np
    >>> from ensel import PredictionTable
    >>> from ensel.combine import GreedySelection
    >>> rng = np.random.default_rng(0)
    >>> table = PredictionTable.from_arrays(rng.dirichlet(np.ones(3), size=(50, 4)),
    ...                                     y=rng.integers(0, 3, 50))
    >>> ges = GreedySelection(n_iterations=10).fit(table)
    >>> float(ges.weights_.sum())
    1.0
    """

    def __init__(self, n_iterations: int = 50, *, n_init: int = 3, metric: str | None = None,
                 n_bags: int = 0, bag_fraction: float = 0.5,
                 random_state: int | None = 0) -> None:
        self.n_iterations = n_iterations
        self.n_init = n_init
        self.metric = metric
        self.n_bags = n_bags
        self.bag_fraction = bag_fraction
        self.random_state = random_state

    def _check_params(self, table: PredictionTable) -> None:
        name = type(self).__name__
        V.check_int_param(self.n_iterations, "n_iterations", name, low=0)
        V.check_int_param(self.n_init, "n_init", name, low=0)
        if self.n_iterations + self.n_init == 0:
            raise ValueError(
                f"{name} needs n_iterations + n_init >= 1 to choose any member. Got "
                f"n_iterations=0 and n_init=0."
            )
        _check_metric(self.metric, table.task, name)
        V.check_int_param(self.n_bags, "n_bags", name, low=0)
        V.check_real_param(self.bag_fraction, "bag_fraction", name, low=0.0, high=1.0,
                           include_low=False)

    def _fit(self, table: PredictionTable) -> None:
        metric = _default_metric(self.metric, table.task)
        m = table.n_members
        if self.n_bags == 0:
            counts = self._greedy(table, np.arange(m), metric)
            self.counts_ = counts
            self.weights_ = counts / counts.sum()
            return
        rng = np.random.default_rng(self.random_state)
        size = max(1, round(self.bag_fraction * m))
        weights = np.zeros(m)
        self.counts_ = np.zeros(m)
        for _ in range(self.n_bags):
            subset = np.sort(rng.choice(m, size=size, replace=False))
            counts = self._greedy(table, subset, metric)
            self.counts_ += counts
            weights += counts / counts.sum()
        self.weights_ = weights / weights.sum()

    def _greedy(self, table: PredictionTable, subset: np.ndarray, metric: str) -> np.ndarray:
        """One greedy run over the members in ``subset``; returns counts ``[M]``."""
        y = np.asarray(table.y)
        P = np.asarray(table.P[:, subset], dtype=np.float64)
        if metric == "log_loss":
            P = rules.proba_of_label(P, y)[:, :, None]          # only the true class matters
        elif P.ndim == 2:
            P = P[:, :, None]
        target = None if metric != "squared_error" else y.reshape(len(y), -1)

        def losses(candidates: np.ndarray) -> np.ndarray:   # [N, S, C] -> [S]
            if metric == "log_loss":
                return -np.log(np.clip(candidates[:, :, 0], _EPS, None)).mean(axis=0)
            if metric == "accuracy":
                return -(np.argmax(candidates, axis=2) == y[:, None]).mean(axis=0)
            return ((candidates - target[:, None, :]) ** 2).sum(axis=2).mean(axis=0)

        counts = np.zeros(len(subset))
        total = np.zeros((P.shape[0], P.shape[2]))
        history: list[tuple[float, np.ndarray]] = []
        singles = losses(P)
        for j in np.argsort(singles, kind="stable")[:self.n_init]:
            counts[j] += 1
            total += P[:, j]
        if counts.sum() > 0:
            history.append((float(losses((total / counts.sum())[:, None])[0]), counts.copy()))
        for _ in range(self.n_iterations):
            n = counts.sum()
            scores = losses((total[:, None, :] + P) / (n + 1))
            j = int(np.argmin(scores))
            counts[j] += 1
            total += P[:, j]
            history.append((float(scores[j]), counts.copy()))
        best = min(range(len(history)), key=lambda i: history[i][0])
        out = np.zeros(table.n_members)
        out[subset] = history[best][1]
        return out


class Stacking(Combiner):
    """Stacked generalisation: a model on the members' flattened predictions.

    Classification fits a multinomial logistic regression on ``P`` flattened to
    ``[N, M * C]`` (with two classes only the second column of each member is kept, as
    scikit-learn's ``StackingClassifier`` does); regression fits a ridge regression (``RidgeCV``)
    on ``[N, M * D]``. The members' predictions on the selection table play the role of
    scikit-learn's ``cv="prefit"`` predictions. `select` marks every member as used.

    Parameters
    ----------
    final_estimator : estimator, optional
        Cloned and fitted on the flattened predictions. Default:
        ``LogisticRegression(max_iter=1000)`` (classification), ``RidgeCV()`` (regression).

    Attributes
    ----------
    final_estimator_ : estimator

    Examples
    --------
    >>> import numpy as np
    >>> from ensel import PredictionTable
    >>> from ensel.combine import Stacking
    >>> rng = np.random.default_rng(0)
    >>> table = PredictionTable.from_arrays(rng.dirichlet(np.ones(3), size=(50, 4)),
    ...                                     y=rng.integers(0, 3, 50))
    >>> Stacking().fit(table).predict_proba(table).shape
    (50, 3)
    """

    _tasks = BOTH_TASKS
    _static = True

    def __init__(self, final_estimator: Any = None) -> None:
        self.final_estimator = final_estimator

    def _check_params(self, table: PredictionTable) -> None:
        needed = "predict_proba" if table.task == "classification" else "predict"
        if self.final_estimator is not None and not hasattr(self.final_estimator, needed):
            raise ValueError(
                f"The 'final_estimator' parameter of {type(self).__name__} must have {needed} "
                f"for a {table.task} table. Got {type(self.final_estimator).__name__} instead."
            )

    @staticmethod
    def _features(P: np.ndarray) -> np.ndarray:
        if P.ndim == 3 and P.shape[2] == 2:
            P = P[:, :, 1:]
        return np.asarray(P).reshape(len(P), -1)

    def _fit(self, table: PredictionTable) -> None:
        from sklearn.base import clone
        from sklearn.linear_model import LogisticRegression, RidgeCV

        if self.final_estimator is not None:
            est = clone(self.final_estimator)
        elif table.task == "classification":
            est = LogisticRegression(max_iter=1000)
        else:
            est = RidgeCV()
        self.final_estimator_ = est.fit(self._features(table.P), table.y)

    def _select(self, table: PredictionTable) -> np.ndarray:
        return self._static_rows(table, np.ones(self.n_members_))

    def _combine(self, table: PredictionTable, selection: np.ndarray) -> np.ndarray:
        features = self._features(table.P)
        if self.task_ == "regression":
            return np.asarray(self.final_estimator_.predict(features), dtype=np.float64)
        proba = np.zeros((table.n_samples, len(self.classes_)))
        seen = np.asarray(self.final_estimator_.classes_, dtype=np.int64)
        proba[:, seen] = self.final_estimator_.predict_proba(features)
        return proba


class Oracle(Combiner):
    """The upper bound: for each input, the members that are right (needs labels at predict).

    `select` marks the members whose most probable class is the label (all members when none
    is); `predict_proba` averages them, so accuracy is the share of inputs some member gets
    right. For reports only — it cheats by construction.

    Examples
    --------
    >>> import numpy as np
    >>> from ensel import PredictionTable
    >>> from ensel.combine import Oracle
    >>> P = np.array([[[0.9, 0.1], [0.2, 0.8]], [[0.6, 0.4], [0.7, 0.3]]])
    >>> table = PredictionTable.from_arrays(P, y=[1, 1])
    >>> Oracle().fit(table).select(table).tolist()
    [[0.0, 1.0], [1.0, 1.0]]
    """

    _needs_labels = False
    _needs_labels_at_predict = True

    def __init__(self) -> None:
        pass

    def _select(self, table: PredictionTable) -> np.ndarray:
        mask = table.correct()
        mask[~mask.any(axis=1)] = True
        return mask.astype(np.float64)

    def _combine(self, table: PredictionTable, selection: np.ndarray) -> np.ndarray:
        return rules.average(table.P, selection)
