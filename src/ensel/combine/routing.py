"""Routers: combiners on outcome tables that send each input to one member, weighing cost.

A router estimates each member's quality on each input, ``q[N, M]``, and sends input ``n`` to
``argmax_m q[n, m] - cost_weight * c[m] / cost_scale_``, where ``c[m]`` is member ``m``'s mean
cost on the training table (a call's actual cost, which includes its answer, is known only
after the call; evaluation charges the actual costs) and ``cost_scale_`` the largest of them,
so ``cost_weight = 1`` means running the dearest member is worth one unit of quality.
``cost_weight`` is the willingness-to-pay knob; `routing_curve` sweeps it into a quality-cost curve.

Missing outcomes (NaN) are ignored in training: they add nothing to a mean, a neighbour
count or a loss.

- `OracleRouter`: the true outcomes (an upper bound; needs them at predict time).
- `MeanRouter`: each member's mean quality, the same for every input (its curve visits the
  single members).
- `KNNRouter`: the mean outcome of the nearest training prompts (RouterBench's k-NN).
- `PredictiveRouter`: one classifier per member on the prompt features (RouterBench's
  predictive router).
- `LearnedRouter`: one network for every member, trained through ``ensel._training``, with the
  member's training mean as the starting point (a shrinkage prior).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, ClassVar

import numpy as np
from sklearn.base import clone

from ensel import _validation as V
from ensel.combine.base import Combiner
from ensel.table import PredictionTable

OUTCOME = ("outcome",)
DEFAULT_COST_WEIGHTS = np.concatenate([[0.0], np.geomspace(1e-3, 1e4, 71)])
"""The willingness-to-pay grid `routing_curve` sweeps by default (in units of the dearest
member's mean cost)."""


def _member_means(Q: np.ndarray) -> np.ndarray:
    """Each member's mean observed quality ``[M]`` (0.5 for a member never observed)."""
    seen = ~np.isnan(Q)
    total = np.where(seen, Q, 0.0).sum(axis=0)
    return np.where(seen.any(axis=0), total / np.maximum(seen.sum(axis=0), 1), 0.5)


class Router(Combiner):
    """Base class: ``select`` is the one-hot choice ``[N, M]``, ``predict`` the chosen names.

    Subclasses implement ``_fit(table)`` and ``_quality(table) -> [N, M]``.

    Parameters
    ----------
    cost_weight : float, default=0.0
        Quality one would give up to save the dearest member's mean cost (0: best quality
        whatever it costs; ties go to the cheaper member).
    """

    _tasks: ClassVar[tuple[str, ...]] = OUTCOME
    _needs_labels: ClassVar[bool] = False
    _by_quality: ClassVar[bool] = True      # routes by `predict_quality` (not AnswerCascade)

    def __init__(self, cost_weight: float = 0.0) -> None:
        self.cost_weight = cost_weight

    def fit(self, table: PredictionTable) -> Router:
        """Learn from an outcome table (``PredictionTable.from_outcomes``).

        Parameters
        ----------
        table : PredictionTable
            Task ``"outcome"``: quality ``P[N, M]`` (NaN = not observed), costs, and the
            inputs ``X[N, F]`` for routers that look at them.

        Returns
        -------
        self : Router
        """
        V.check_table_like(table, f"{type(self).__name__}.fit")
        V.check_task_supported(table.task, self._tasks, type(self).__name__)
        self.mean_cost_ = table.cost_matrix().mean(axis=0)
        self.cost_scale_ = float(self.mean_cost_.max())
        self.mean_quality_ = _member_means(np.asarray(table.P, dtype=np.float64))
        super().fit(table)
        return self

    def _check_params(self, table: PredictionTable) -> None:
        weight = V.check_real(self.cost_weight, "cost_weight", type(self).__name__)
        if weight < 0:
            raise ValueError(f"The 'cost_weight' parameter of {type(self).__name__} must be "
                             f">= 0. Got {self.cost_weight!r} instead.")

    def predict_quality(self, table: PredictionTable) -> np.ndarray:
        """The estimated quality of every member on every input.

        Parameters
        ----------
        table : PredictionTable
            Same members as at `fit` (and inputs ``X`` when the router uses them).

        Returns
        -------
        ndarray of shape (N, M), float64
        """
        return np.asarray(self._quality(self._check_predict_table(table, "predict_quality")),
                          dtype=np.float64)

    def route(self, table: PredictionTable, *, cost_weight: float | None = None,
              quality: np.ndarray | None = None) -> np.ndarray:
        """The chosen member's index per input, ``[N]`` int (``cost_weight`` overrides)."""
        q = self.predict_quality(table) if quality is None else quality
        weight = self._weight(cost_weight, "route")
        expected = self._expected_cost(table)
        value = q - weight * expected / self.cost_scale_
        best = value.max(axis=1, keepdims=True)
        cost = np.where(value >= best - 1e-12, expected, np.inf)
        return np.argmin(cost, axis=1)          # among the best, the cheapest

    def _weight(self, cost_weight: float | None, method: str) -> float:
        """``cost_weight`` (checked: finite, >= 0), or the constructor's when None."""
        if cost_weight is None:
            return float(self.cost_weight)
        owner = f"{type(self).__name__}.{method}"
        if V.check_real(cost_weight, "cost_weight", owner) < 0:
            raise ValueError(f"The 'cost_weight' argument of {owner} must be >= 0. Got "
                             f"{cost_weight!r} instead.")
        return float(cost_weight)

    def _expected_cost(self, table: PredictionTable) -> np.ndarray:
        """The cost a router can know before a call: the member's mean training cost."""
        return np.broadcast_to(self.mean_cost_, (table.n_samples, self.n_members_))

    def _decide(self, table: PredictionTable, cost_weight: float | None,
                quality: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """``(choice [N], calls [N, M])``: the member whose answer is used, and every member
        called (for a router, the chosen one only)."""
        choice = self.route(table, cost_weight=cost_weight, quality=quality)
        calls = np.zeros((table.n_samples, self.n_members_))
        calls[np.arange(table.n_samples), choice] = 1.0
        return choice, calls

    def _select(self, table: PredictionTable) -> np.ndarray:
        return self._decide(table, None, None)[1]

    def _combine(self, table: PredictionTable, selection: np.ndarray) -> np.ndarray:
        return np.asarray(self.members_, dtype=object)[np.argmax(selection, axis=1)]

    def _quality(self, table: PredictionTable) -> np.ndarray:
        raise NotImplementedError


class OracleRouter(Router):
    """Oracle router: the true outcomes (NaN as 0), so the best member at the least cost.

    Examples
    --------
    >>> from ensel import PredictionTable
    >>> from ensel.combine.routing import OracleRouter
    >>> t = PredictionTable.from_outcomes([[1, 1], [0, 1]], costs=[1.0, 5.0])
    >>> OracleRouter().fit(t).predict(t).tolist()
    ['m0', 'm1']
    """

    def _quality(self, table: PredictionTable) -> np.ndarray:
        return np.nan_to_num(np.asarray(table.P, dtype=np.float64), nan=0.0)

    def _expected_cost(self, table: PredictionTable) -> np.ndarray:
        return table.cost_matrix()                  # the oracle knows the actual costs too


class MeanRouter(Router):
    """Mean router: every member's mean training quality, the same on every input.

    Examples
    --------
    >>> from ensel import PredictionTable
    >>> from ensel.combine.routing import MeanRouter
    >>> t = PredictionTable.from_outcomes([[1, 1], [0, 1]], costs=[1.0, 5.0])
    >>> MeanRouter().fit(t).predict(t).tolist(), MeanRouter(cost_weight=1).fit(t).predict(t)[0]
    (['m1', 'm1'], 'm0')
    """

    def _quality(self, table: PredictionTable) -> np.ndarray:
        return np.broadcast_to(self.mean_quality_, (table.n_samples, self.n_members_))


class KNNRouter(Router):
    """k-nearest-neighbours router: the mean outcome of the closest training inputs.

    Neighbours by cosine distance on ``X``; a neighbour whose outcome for a member is
    missing does not count for that member (the member's mean stands in when none is seen).

    Parameters
    ----------
    n_neighbors : int, default=40
    cost_weight : float, default=0.0

    Examples
    --------
    >>> import numpy as np
    >>> from ensel import PredictionTable
    >>> from ensel.combine.routing import KNNRouter
    >>> X = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    >>> t = PredictionTable.from_outcomes([[1, 0], [1, 0], [0, 1], [0, 1]], costs=[1, 1], X=X)
    >>> KNNRouter(n_neighbors=2).fit(t).predict(t).tolist()
    ['m0', 'm0', 'm1', 'm1']
    """

    _needs_inputs: ClassVar[bool] = True

    def __init__(self, n_neighbors: int = 40, *, cost_weight: float = 0.0) -> None:
        self.n_neighbors = n_neighbors
        self.cost_weight = cost_weight

    def _check_params(self, table: PredictionTable) -> None:
        super()._check_params(table)
        V.check_int_param(self.n_neighbors, "n_neighbors", "KNNRouter", low=1,
                          high=table.n_samples)

    def _fit(self, table: PredictionTable) -> None:
        from sklearn.neighbors import NearestNeighbors

        self.nn_ = NearestNeighbors(n_neighbors=self.n_neighbors, metric="cosine").fit(
            np.asarray(table.X, dtype=np.float64))
        self.Q_ = np.asarray(table.P, dtype=np.float64)

    def _quality(self, table: PredictionTable) -> np.ndarray:
        idx = self.nn_.kneighbors(np.asarray(table.X, dtype=np.float64),
                                  return_distance=False)
        near = self.Q_[idx]                                     # [N, k, M]
        seen = ~np.isnan(near)
        total = np.where(seen, near, 0.0).sum(axis=1)
        count = seen.sum(axis=1)
        return np.where(count > 0, total / np.maximum(count, 1), self.mean_quality_)


class PredictiveRouter(Router):
    """Predictive router: one classifier per member, ``P(member right | x)`` from the inputs.

    Each member's classifier is fitted on the rows where its outcome is observed, with
    ``quality >= 0.5`` as the positive class; a member whose observed outcomes are all one
    class gets that class's constant.

    Parameters
    ----------
    estimator : classifier, optional
        Default ``LogisticRegression(C=1.0, max_iter=1000)``; cloned per member.
    cost_weight : float, default=0.0

    Examples
    --------
    >>> import numpy as np
    >>> from ensel import PredictionTable
    >>> from ensel.combine.routing import PredictiveRouter
    >>> X = np.array([[-2.0], [-1.0], [1.0], [2.0]])
    >>> t = PredictionTable.from_outcomes([[1, 0], [1, 0], [0, 1], [0, 1]], costs=[1, 1], X=X)
    >>> PredictiveRouter().fit(t).predict(t).tolist()
    ['m0', 'm0', 'm1', 'm1']
    """

    _needs_inputs: ClassVar[bool] = True

    def __init__(self, estimator: Any = None, *, cost_weight: float = 0.0) -> None:
        self.estimator = estimator
        self.cost_weight = cost_weight

    def _fit(self, table: PredictionTable) -> None:
        from sklearn.linear_model import LogisticRegression

        base = (LogisticRegression(C=1.0, max_iter=1000) if self.estimator is None
                else self.estimator)
        X = np.asarray(table.X, dtype=np.float64)
        self.estimators_: list[Any] = []
        for m in range(table.n_members):
            q = np.asarray(table.P[:, m], dtype=np.float64)
            seen = ~np.isnan(q)
            label = (q[seen] >= 0.5).astype(np.int64)
            if len(np.unique(label)) < 2:
                self.estimators_.append(float(label[0]) if len(label) else 0.5)
            else:
                self.estimators_.append(clone(base).fit(X[seen], label))

    def _quality(self, table: PredictionTable) -> np.ndarray:
        X = np.asarray(table.X, dtype=np.float64)
        cols = [np.full(len(X), est) if isinstance(est, float)
                else est.predict_proba(X)[:, list(est.classes_).index(1)]
                for est in self.estimators_]
        return np.stack(cols, axis=1)


class WinRateRouter(Router):
    """RouteLLM-style router for two members: the strong one when it is likely to win.

    A classifier on ``X`` estimates the *win rate* ``P(strong right and weak wrong | x)`` (the
    strong member: the higher mean training quality, ties to the dearer), from the rows where
    both outcomes are observed; an input goes to the strong member when its win rate is at
    least ``cost_weight * (c_strong - c_weak) / c_max``: the threshold on the predicted win
    rate of RouteLLM (Ong et al., 2024), swept by `routing_curve` through ``cost_weight``.

    Parameters
    ----------
    estimator : classifier, optional
        Default ``LogisticRegression(C=1.0, max_iter=1000)``.
    cost_weight : float, default=0.0

    Attributes
    ----------
    strong_ : int
        Index of the strong member (the other is the weak one).
    estimator_ : classifier or float
        The fitted win-rate classifier (a constant when the training rows hold one class).

    Examples
    --------
    >>> import numpy as np
    >>> from ensel import PredictionTable
    >>> from ensel.combine.routing import WinRateRouter
    >>> X = np.array([[-2.0], [-1.0], [1.0], [2.0]])
    >>> t = PredictionTable.from_outcomes([[1, 1], [1, 1], [0, 1], [0, 1]], costs=[1, 4], X=X)
    >>> router = WinRateRouter(cost_weight=0.5).fit(t)
    >>> router.strong_, router.predict(t).tolist()
    (1, ['m0', 'm0', 'm1', 'm1'])
    """

    _needs_inputs: ClassVar[bool] = True

    def __init__(self, estimator: Any = None, *, cost_weight: float = 0.0) -> None:
        self.estimator = estimator
        self.cost_weight = cost_weight

    def _fit(self, table: PredictionTable) -> None:
        from sklearn.linear_model import LogisticRegression

        if table.n_members != 2:
            raise ValueError(f"WinRateRouter routes between two members (weak and strong); the "
                             f"table has {table.n_members}: {list(table.members)}.")
        Q = np.asarray(table.P, dtype=np.float64)
        means, costs = self.mean_quality_, self.mean_cost_
        self.strong_ = int(np.lexsort((-costs, -means))[0])
        weak = 1 - self.strong_
        both = ~np.isnan(Q).any(axis=1)
        won = ((Q[both, self.strong_] >= 0.5) & (Q[both, weak] < 0.5)).astype(np.int64)
        if len(np.unique(won)) < 2:
            self.estimator_: Any = float(won[0]) if len(won) else 0.0
            return
        base = (LogisticRegression(C=1.0, max_iter=1000) if self.estimator is None
                else self.estimator)
        self.estimator_ = clone(base).fit(np.asarray(table.X, dtype=np.float64)[both], won)

    def _quality(self, table: PredictionTable) -> np.ndarray:
        X = np.asarray(table.X, dtype=np.float64)
        est = self.estimator_
        win = (np.full(len(X), est) if isinstance(est, float)
               else est.predict_proba(X)[:, list(est.classes_).index(1)])
        out = np.zeros((len(X), 2))
        out[:, self.strong_] = win
        return out


class LearnedRouter(Router):
    """Learned router: one network scores every member, trained by ``ensel._training``.

    The network (an MLP on ``X``) outputs one logit per member, added to the logit of that
    member's training mean quality, so an untrained network is the `MeanRouter` and the
    network learns only where an input departs from each member's average. Loss: binary
    cross-entropy against the observed outcomes (missing ones masked out), shared by all
    members (inputs hard for one member tend to be hard for all). Adam with early stopping
    on ``validation_fraction`` of the rows, then refit on all rows for the chosen epochs.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(64,)
    dropout : float, default=0.2
    alpha : float, default=1e-3
        L2 penalty.
    learning_rate : float, default=1e-3
    max_epochs : int, default=300
    batch_size : int, default=64
    validation_fraction : float, default=0.2
    n_iter_no_change : int, default=20
    cost_weight : float, default=0.0
    random_state : int, default=0
    n_threads : int or None, default=1
        torch intra-op threads while fitting and predicting (the previous setting is restored
        afterwards); one is fastest for a network this small and avoids stalls on a busy
        machine (10,000 prompts: 14x less CPU than two threads here). ``None`` leaves
        torch's setting alone.

    Examples
    --------
    >>> import numpy as np
    >>> from ensel import PredictionTable
    >>> from ensel.combine.routing import LearnedRouter
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2))
    >>> Q = np.stack([X[:, 0] > 0, X[:, 0] <= 0], axis=1).astype(float)
    >>> t = PredictionTable.from_outcomes(Q, costs=[1, 1], X=X)
    >>> router = LearnedRouter(max_epochs=60, learning_rate=1e-2).fit(t)
    >>> float((router.predict(t) == np.where(X[:, 0] > 0, "m0", "m1")).mean()) > 0.9
    True
    """

    _needs_inputs: ClassVar[bool] = True

    def __init__(self, hidden_layer_sizes: tuple[int, ...] = (64,), *, dropout: float = 0.2,
                 alpha: float = 1e-3, learning_rate: float = 1e-3, max_epochs: int = 300,
                 batch_size: int = 64, validation_fraction: float = 0.2,
                 n_iter_no_change: int = 20, cost_weight: float = 0.0,
                 random_state: int = 0, n_threads: int | None = 1) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout
        self.alpha = alpha
        self.learning_rate = learning_rate
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.cost_weight = cost_weight
        self.random_state = random_state
        self.n_threads = n_threads

    def _check_params(self, table: PredictionTable) -> None:
        super()._check_params(table)
        owner = "LearnedRouter"
        if self.n_threads is not None:
            V.check_int_param(self.n_threads, "n_threads", owner, low=1)
        V.check_hidden_layer_sizes(self.hidden_layer_sizes, owner)
        V.check_real_param(self.dropout, "dropout", owner, low=0.0, high=0.95)
        V.check_real_param(self.validation_fraction, "validation_fraction", owner, low=0.05,
                           high=0.5)
        V.check_int_param(self.max_epochs, "max_epochs", owner, low=1)
        V.check_int_param(self.batch_size, "batch_size", owner, low=1)

    def _options(self, **kw: Any) -> Any:
        from ensel._training import TrainOptions

        return TrainOptions(learning_rate=self.learning_rate, alpha=self.alpha,
                            max_epochs=self.max_epochs, batch_size=self.batch_size,
                            n_iter_no_change=self.n_iter_no_change,
                            random_state=self.random_state, name="LearnedRouter", **kw)

    def _fit(self, table: PredictionTable) -> None:
        from ensel._training import threads

        with threads(self.n_threads):
            self._train(table)

    def _train(self, table: PredictionTable) -> None:
        from ensel._training import Job, mlp, run_jobs

        X = np.asarray(table.X, dtype=np.float32)
        self.feature_mean_ = X.mean(axis=0)
        self.feature_scale_ = X.std(axis=0) + 1e-6
        objective = _OutcomeLoss((X - self.feature_mean_) / self.feature_scale_,
                                 np.asarray(table.P, dtype=np.float32), self.mean_quality_)
        build = partial(_PriorNet, partial(mlp, X.shape[1], tuple(self.hidden_layer_sizes),
                                           table.n_members, dropout=self.dropout),
                        self.mean_quality_)
        rng = np.random.default_rng(self.random_state)
        rows = rng.permutation(table.n_samples)
        n_val = max(1, int(round(self.validation_fraction * table.n_samples)))
        first, = run_jobs([Job(build, objective, rows[n_val:], rows[:n_val], self._options())])
        refit, = run_jobs([Job(build, objective, rows, None, self._options(),
                               n_epochs=max(1, first.epoch))])
        self.net_, self.n_epochs_ = refit.net, max(1, first.epoch)

    def _quality(self, table: PredictionTable) -> np.ndarray:
        import torch

        from ensel._training import threads

        X = (np.asarray(table.X, dtype=np.float32) - self.feature_mean_) / self.feature_scale_
        with torch.no_grad(), threads(self.n_threads):
            return torch.sigmoid(self.net_(torch.from_numpy(X))).double().numpy()


class AnswerCascade(Router):
    """Ask a committee of cheap members; keep their answer when they all agree, else ask one more.

    A cascade by answer agreement (FrugalGPT's LLM cascade, with agreement as the stop rule
    as in Yue et al., 2024): a *plan* is a committee ``S`` of members and a fallback ``f``
    at least as dear as each of them. Every input goes to the committee; when all its members give
    the same answer (``table.answers``), that answer is used (the chosen member is the
    committee's best on the training table); otherwise ``f`` is called and its answer used.
    A plan without a committee is ``f`` alone. `fit` scores every plan on the training
    table -- mean quality (missing outcomes ignored) and mean cost per input -- and keeps the
    plans on its quality-cost front; a cascade runs the plan with the best ``quality -
    cost_weight * cost / cost_scale_``, or with ``max_cost`` the best quality within it.
    It needs answers that compare (a letter, a number, a query's result); free text that
    never matches leaves only the single members' plans.

    Parameters
    ----------
    max_committee : int, default=3
        Largest committee (committees have 2 to ``max_committee`` members).
    max_candidates : int, default=8
        Committees are drawn from the ``max_candidates`` members with the best training
        quality among those other than ``f`` and no dearer than it.
    max_cost : float, optional
        Mean cost per input (the table's unit) the plan may spend on the training table;
        overrides ``cost_weight``.
    cost_weight : float, default=0.0

    Attributes
    ----------
    plans_ : list of (tuple of int, int)
        ``(committee, fallback)`` on the training front, by increasing training cost.
    plan_quality_, plan_cost_ : ndarray of shape (P,)
        Their mean quality and mean cost per input on the training table.

    Examples
    --------
    >>> from ensel import PredictionTable
    >>> from ensel.combine.routing import AnswerCascade
    >>> Q = [[1, 1, 1], [0, 0, 1], [1, 1, 1], [1, 1, 1]]
    >>> answers = [["a", "a", "a"], ["b", "c", "c"], ["d", "d", "d"], ["a", "a", "a"]]
    >>> t = PredictionTable.from_outcomes(Q, costs=[1, 1, 10], answers=answers)
    >>> cascade = AnswerCascade(max_cost=5).fit(t)
    >>> cascade.plan(), cascade.predict(t).tolist()
    (((0, 1), 2), ['m0', 'm2', 'm0', 'm0'])
    >>> cascade.select(t).tolist()[:2]       # members called: the committee, then m2 on row 1
    [[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]]
    """

    _by_quality: ClassVar[bool] = False

    def __init__(self, max_committee: int = 3, *, max_candidates: int = 8,
                 max_cost: float | None = None, cost_weight: float = 0.0) -> None:
        self.max_committee = max_committee
        self.max_candidates = max_candidates
        self.max_cost = max_cost
        self.cost_weight = cost_weight

    def _check_params(self, table: PredictionTable) -> None:
        super()._check_params(table)
        owner = "AnswerCascade"
        V.check_int_param(self.max_committee, "max_committee", owner, low=2)
        V.check_int_param(self.max_candidates, "max_candidates", owner, low=2)
        if self.max_cost is not None:
            V.check_real_param(self.max_cost, "max_cost", owner, low=0.0, high=np.inf,
                               include_low=False, include_high=False)

    def _answers(self, table: PredictionTable) -> np.ndarray:
        if table.answers is None:
            raise ValueError("AnswerCascade needs the members' answers in the table "
                             "(PredictionTable.from_outcomes(..., answers=...)); this table "
                             "has none.")
        return np.asarray(table.answers)

    def _fit(self, table: PredictionTable) -> None:
        from itertools import combinations

        codes, Q, C = self._answers(table), np.asarray(table.P, float), table.cost_matrix()
        plans, quality, cost = [], [], []
        for f in range(table.n_members):
            cheaper = [m for m in np.argsort(-self.mean_quality_, kind="stable")
                       if m != f and self.mean_cost_[m] <= self.mean_cost_[f]
                       ][: self.max_candidates]
            committees = [()] + [c for k in range(2, self.max_committee + 1)
                                 for c in combinations(sorted(int(m) for m in cheaper), k)]
            for committee in committees:
                choice, calls = self._apply((committee, f), codes)
                plans.append((committee, f))
                quality.append(np.nanmean(Q[np.arange(len(Q)), choice]))
                cost.append(float((calls * C).sum(axis=1).mean()))
        quality, cost = np.nan_to_num(np.array(quality)), np.array(cost)
        order = np.lexsort((-quality, cost))
        front = [i for k, i in enumerate(order) if k == 0 or quality[i] > quality[order[:k]].max()]
        self.plans_ = [plans[i] for i in front]
        self.plan_quality_, self.plan_cost_ = quality[front], cost[front]

    def _apply(self, plan: tuple[tuple[int, ...], int], codes: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
        """``(choice [N], calls [N, M])`` of one plan on answer codes ``[N, M]``."""
        committee, f = plan
        calls = np.zeros(codes.shape)
        choice = np.full(len(codes), f)
        if committee:
            S = list(committee)
            agree = (codes[:, S] == codes[:, S[:1]]).all(axis=1) & (codes[:, S[0]] >= 0)
            best = S[int(np.argmax(self.mean_quality_[S]))]
            choice[agree] = best
            calls[:, S] = 1.0
            calls[~agree, f] = 1.0
        else:
            calls[:, f] = 1.0
        return choice, calls

    def plan(self, cost_weight: float | None = None) -> tuple[tuple[int, ...], int]:
        """The ``(committee, fallback)`` the cascade runs (``cost_weight`` overrides)."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "plans_")
        if self.max_cost is not None and cost_weight is None:
            within = np.flatnonzero(self.plan_cost_ <= self.max_cost)
            return self.plans_[int(within[-1]) if len(within) else 0]
        weight = self._weight(cost_weight, "plan")
        value = self.plan_quality_ - weight * self.plan_cost_ / self.cost_scale_
        return self.plans_[int(np.argmax(value))]               # ties: the cheaper plan

    def route(self, table: PredictionTable, *, cost_weight: float | None = None,
              quality: np.ndarray | None = None) -> np.ndarray:
        """The member whose answer is used, per input, ``[N]`` int (``quality`` unused)."""
        return self._decide(self._check_predict_table(table, "route"), cost_weight, None)[0]

    def _decide(self, table: PredictionTable, cost_weight: float | None,
                quality: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        return self._apply(self.plan(cost_weight), self._answers(table))

    def _combine(self, table: PredictionTable, selection: np.ndarray) -> np.ndarray:
        # the calls say it all: the fallback's answer where it was called, else the committee's
        committee, f = self.plan()
        best = committee[int(np.argmax(self.mean_quality_[list(committee)]))] if committee else f
        choice = np.where(selection[:, f] > 0, f, best)
        return np.asarray(self.members_, dtype=object)[choice]

    def run_sequential(self, n_inputs: int, fetch: Callable[[int, np.ndarray], Sequence[Any]]
                       ) -> tuple[np.ndarray, np.ndarray]:
        """Run the plan, asking ``fetch`` for one member's answers at a time.

        Parameters
        ----------
        n_inputs : int
        fetch : callable
            ``fetch(member_index, rows) -> answers``: member ``members_[member_index]``'s
            answers to the inputs ``rows`` (an int array), one per row, compared by
            equality (None or ``""``: no answer). Each row of each call is one member call:
            the committee on every input, the fallback only where the committee disagrees.

        Returns
        -------
        choice : ndarray of shape (n_inputs,), int
            The member whose answer is used.
        calls : ndarray of shape (n_inputs, M), int
            1 for every member called on each input.
        """
        n = V.check_int_param(n_inputs, "n_inputs", "AnswerCascade.run_sequential", low=0)
        committee, f = self.plan()
        rows = np.arange(n)
        got = {m: _fetched(fetch, m, rows) for m in committee}
        codes = np.full((n, self.n_members_), -1)
        if committee:
            codes[:, list(committee)] = V.check_answers(
                np.array([got[m] for m in committee], dtype=object).T, n,
                [self.members_[m] for m in committee])
        choice, calls = self._apply((committee, f), codes)
        ask = np.flatnonzero(calls[:, f])
        if len(ask):
            _fetched(fetch, f, ask)
        return choice, calls.astype(np.int64)


def _fetched(fetch: Callable[[int, np.ndarray], Sequence[Any]], member: int,
             rows: np.ndarray) -> list[Any]:
    got = list(fetch(int(member), rows))
    if len(got) != len(rows):
        raise ValueError(f"fetch({int(member)}, rows) returned {len(got)} answers for "
                         f"{len(rows)} rows; it must return one per row.")
    return got


def _prior_net(body: Any, prior: np.ndarray) -> Any:
    import torch
    from torch import nn

    class PriorNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = body()
            p = np.clip(prior, 1e-3, 1 - 1e-3)
            self.register_buffer("offset", torch.tensor(np.log(p / (1 - p)), dtype=torch.float32))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.body(x) + self.offset

    return PriorNet()


_PriorNet = _prior_net


class _OutcomeLoss:
    """Binary cross-entropy of every member's logit against the observed outcomes."""

    def __init__(self, X: np.ndarray, Q: np.ndarray, prior: np.ndarray) -> None:
        import torch

        self.X = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
        seen = ~np.isnan(Q)
        self.Q = torch.from_numpy(np.where(seen, Q, 0.0).astype(np.float32))
        self.seen = torch.from_numpy(seen.astype(np.float32))

    def noise(self, n_rows: int, rng: np.random.Generator) -> None:
        return None

    def _loss(self, net: Any, rows: np.ndarray) -> Any:
        import torch
        import torch.nn.functional as F

        r = torch.from_numpy(np.asarray(rows, dtype=np.int64))
        seen = self.seen.index_select(0, r)
        logits = net(self.X.index_select(0, r))
        bce = F.binary_cross_entropy_with_logits(logits, self.Q.index_select(0, r),
                                                 reduction="none")
        return (bce * seen).sum() / seen.sum().clamp(min=1.0)

    def loss(self, model: Any, rows: np.ndarray, noise: Any, generator: Any) -> Any:
        return self._loss(model, rows)

    def evaluate(self, net: Any, rows: np.ndarray) -> tuple[float, float]:
        import torch

        with torch.no_grad():
            value = float(self._loss(net, rows))
        return value, -value


def routing_curve(router: Router, table: PredictionTable, *, cost_weights: Any = None,
                  missing: str = "zero") -> dict[str, np.ndarray]:
    """A fitted router's quality-cost curve: its choices at every willingness to pay.

    Parameters
    ----------
    router : Router
        Fitted.
    table : PredictionTable
        An outcome table to evaluate on (e.g. the test split).
    cost_weights : array-like of shape (K,), optional
        Default ``DEFAULT_COST_WEIGHTS`` (0, then 1e-3 .. 1e4 geometrically).
    missing : {"raise", "zero", "ignore"}, default="zero"
        How a choice of a missing outcome counts (`ensel.metrics.routing_quality`).

    Returns
    -------
    dict
        ``"cost_weight"``, ``"cost"`` (mean cost per input), ``"quality"`` (mean quality),
        each of shape (K,), and ``"shares"`` of shape (K, M): the fraction of inputs sent
        to each member at each point.

    Examples
    --------
    >>> from ensel import PredictionTable
    >>> from ensel.combine.routing import OracleRouter, routing_curve
    >>> t = PredictionTable.from_outcomes([[1, 1], [0, 1]], costs=[1.0, 5.0])
    >>> curve = routing_curve(OracleRouter().fit(t), t, cost_weights=[0.0, 100.0])
    >>> curve["cost"].tolist(), curve["quality"].tolist()
    ([3.0, 1.0], [1.0, 0.5])
    """
    from ensel.metrics import routing_quality

    weights = DEFAULT_COST_WEIGHTS if cost_weights is None else np.asarray(cost_weights, float)
    q = router.predict_quality(table) if router._by_quality else None
    Q, C = np.asarray(table.P, dtype=np.float64), table.cost_matrix()
    decided = [router._decide(table, float(w), q) for w in weights]
    quality = np.array([routing_quality(Q, choice, missing=missing)[0]
                        for choice, _ in decided])
    cost = np.array([float((calls * C).sum(axis=1).mean()) for _, calls in decided])
    shares = np.stack([calls.mean(axis=0) for _, calls in decided])
    return {"cost_weight": np.asarray(weights), "cost": cost, "quality": quality,
            "shares": shares}


def default_routers(*, random_state: int = 0, max_epochs: int | None = None
                    ) -> dict[str, Router]:
    """The routers `evaluate_routers` compares by default (unfitted), by display name.

    ``oracle`` (`OracleRouter`), ``knn`` (`KNNRouter`), ``predictive`` (`PredictiveRouter`)
    and ``ensel learned`` (`LearnedRouter`, with ``random_state`` and, when given,
    ``max_epochs``). The single members and the zero router are added by `evaluate_routers`.

    Examples
    --------
    >>> from ensel.combine.routing import default_routers
    >>> list(default_routers())
    ['oracle', 'knn', 'predictive', 'ensel learned']
    """
    epochs = {} if max_epochs is None else {"max_epochs": max_epochs}
    return {"oracle": OracleRouter(), "knn": KNNRouter(), "predictive": PredictiveRouter(),
            "ensel learned": LearnedRouter(random_state=random_state, **epochs)}


def add_prompt_features(train: tuple[PredictionTable, Any], *others: tuple[PredictionTable, Any],
                        features: Any = None) -> tuple[PredictionTable, ...]:
    """Outcome tables with prompt features in ``X``, the features fitted on the training prompts.

    Parameters
    ----------
    train : (PredictionTable, list of str)
        An outcome table and its prompts (as from `ensel.datasets.load_routerbench`).
    *others : (PredictionTable, list of str)
        E.g. the test table and prompts (transformed with what was fitted on ``train``).
    features : transformer or callable, optional
        Default ``ensel.text.PromptFeatures()``; anything `ensel.text.featurize` accepts.

    Returns
    -------
    tuple of PredictionTable
        The same outcomes, costs and members, with ``X[N, F]`` float32; ``train``'s first.

    Examples
    --------
    >>> from ensel import PredictionTable
    >>> from ensel.combine.routing import add_prompt_features
    >>> t = PredictionTable.from_outcomes([[1, 0], [0, 1]], costs=[1.0, 2.0])
    >>> train, = add_prompt_features((t, ["ab", "abc"]), features=lambda ps: [[len(p)] for p in ps])
    >>> train.X.tolist()
    [[2.0], [3.0]]
    """
    from ensel.text import PromptFeatures, featurize

    pairs = (train, *others)
    Xs = featurize(PromptFeatures() if features is None else features,
                   *(prompts for _, prompts in pairs))
    return tuple(PredictionTable.from_outcomes(t.P, costs=t.costs, X=X, members=t.members,
                                               answers=t.answers)
                 for (t, _), X in zip(pairs, Xs, strict=True))


def evaluate_routers(routers: dict[str, Router], train: PredictionTable, test: PredictionTable,
                     *, missing: str = "zero", budgets: Any = (), cost_weights: Any = None
                     ) -> dict[str, Any]:
    """Fit routers on ``train``, sweep their knob on ``test``, and score them beside the peers.

    Besides ``routers``, every evaluation holds the *best single* member and the *cheapest*
    one (chosen by training mean quality and cost; one point each) and the *zero router*
    (RouterBench: the single members' test points, whose hull is every mix of two members);
    with two members and inputs, also the RouteLLM-style `WinRateRouter`, and with answers
    in both tables, also ``ensel answer cascade`` (`AnswerCascade`), unless given.
    Each entry is scored by `ensel.metrics.routing_scores` against the single members on
    ``test``; with two members APGR and CPT(50%) are added.

    Parameters
    ----------
    routers : dict of str to Router
        Unfitted routers by display name (e.g. `default_routers`).
    train, test : PredictionTable
        Outcome tables with the same members (and ``X`` for routers that need it).
    missing : {"raise", "zero", "ignore"}, default="zero"
        How a choice of a missing test outcome counts (`ensel.metrics.routing_quality`).
    budgets : sequence of float, default=()
        Mean costs per input, as multiples of the best single member's test cost.
    cost_weights : array-like, optional
        The knob's grid (`routing_curve`).

    Returns
    -------
    dict
        ``members``, ``single_models`` (member → ``{"cost", "quality"}`` on test),
        ``best_single`` (on test), ``budgets``, ``missing`` and ``results``: name →
        ``{"kind", "cost", "quality", "shares", "fit_seconds", "curve_seconds", **scores}``
        with ``kind`` one of ``"single"``, ``"zero"`` (both with ``members_run``),
        ``"router"`` (with ``cost_weight``); ``cost``/``quality`` list the points,
        ``shares[k][m]`` the fraction of inputs sent to member ``m`` at point ``k``, and the
        scores are `ensel.metrics.routing_scores`'s. Plain lists and floats (JSON-ready).

    Examples
    --------
    >>> from ensel import PredictionTable
    >>> from ensel.combine.routing import OracleRouter, evaluate_routers
    >>> t = PredictionTable.from_outcomes([[1, 1], [0, 1], [0, 1]], costs=[1.0, 5.0])
    >>> out = evaluate_routers({"oracle": OracleRouter()}, t, t)
    >>> out["best_single"], round(out["results"]["oracle"]["cost_to_match_best"], 4)
    ('m1', 0.7333)
    """
    if list(train.members) != list(test.members):
        raise ValueError(f"evaluate_routers: train and test must have the same members in the "
                         f"same order; got {list(train.members)} and {list(test.members)}.")
    from ensel.metrics import routing_scores

    singles = _single_points(test, missing)
    train_cost = train.cost_matrix().mean(axis=0)
    best_train = int(np.lexsort((train_cost, -_member_means(np.asarray(train.P))))[0])
    results = {"best single": _points("single", singles, [best_train], test.members),
               "cheapest": _points("single", singles, [int(np.argmin(train_cost))],
                                   test.members),
               "zero router": _points("zero", singles, list(range(test.n_members)),
                                      test.members)}
    if train.n_members == 2 and train.X is not None and not any(
            isinstance(r, WinRateRouter) for r in routers.values()):
        routers = {**routers, "win rate (RouteLLM)": WinRateRouter()}
    if train.answers is not None and test.answers is not None and not any(
            isinstance(r, AnswerCascade) for r in routers.values()):
        routers = {**routers, "ensel answer cascade": AnswerCascade()}
    for name, router in routers.items():
        results[name] = _router_entry(router, train, test, missing, cost_weights)
    strong = int(np.argmax(singles[:, 1])) if test.n_members == 2 else None
    for entry in results.values():
        fraction = None if strong is None else np.asarray(entry["shares"])[:, strong]
        entry.update(routing_scores(entry["cost"], entry["quality"],
                                    single_costs=singles[:, 0], single_qualities=singles[:, 1],
                                    strong_fraction=fraction, budgets=budgets))
    best = int(np.lexsort((singles[:, 0], -singles[:, 1]))[0])
    return {"members": list(test.members), "n_train": train.n_samples,
            "n_test": test.n_samples, "missing": missing, "budgets": [float(b) for b in budgets],
            "single_models": {m: {"cost": float(c), "quality": float(q)}
                              for m, (c, q) in zip(test.members, singles, strict=True)},
            "best_single": test.members[best], "results": results}


def _single_points(test: PredictionTable, missing: str) -> np.ndarray:
    """``[M, 2]``: each member alone on ``test``, (mean cost, mean quality)."""
    from ensel.metrics import routing_quality

    Q, C = np.asarray(test.P, dtype=np.float64), test.cost_matrix()
    return np.array([routing_quality(Q, np.full(test.n_samples, j), costs=C,
                                     missing=missing)[::-1] for j in range(test.n_members)])


def _points(kind: str, singles: np.ndarray, members: list[int], names: Any) -> dict[str, Any]:
    """The entry of some single members' test points (``kind`` "single" or "zero")."""
    return {"kind": kind, "members_run": [names[j] for j in members],
            "cost": singles[members, 0].tolist(), "quality": singles[members, 1].tolist(),
            "shares": np.eye(len(singles))[members].tolist(), "fit_seconds": 0.0,
            "curve_seconds": 0.0}


def _router_entry(router: Router, train: PredictionTable, test: PredictionTable,
                  missing: str, cost_weights: Any) -> dict[str, Any]:
    import time

    start = time.perf_counter()
    router.fit(train)
    fitted = time.perf_counter()
    curve = routing_curve(router, test, cost_weights=cost_weights, missing=missing)
    return {"kind": "router", "cost": curve["cost"].tolist(),
            "quality": curve["quality"].tolist(), "shares": curve["shares"].tolist(),
            "cost_weight": curve["cost_weight"].tolist(), "fit_seconds": fitted - start,
            "curve_seconds": time.perf_counter() - fitted}
