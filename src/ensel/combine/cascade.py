"""Cascade: run members one by one and stop once the combined prediction is confident.

The strong simple baseline of budgeted selection (after the early-exit cascades of Wang et
al., "Wisdom of Committees", 2022): the members run in an order chosen on the selection data
(accuracy above chance per unit of cost), after each stage the members run so far are
combined (a stacker per prefix, or their mean), and an input leaves the cascade at the first
stage whose combined prediction has a top probability of at least ``threshold_``. The
threshold is calibrated on a validation part of the fitting table so that the mean cost meets
the budget there.
`select` marks every member an input ran before it left: the cost account.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ensel import _validation as V
from ensel.combine.base import Combiner
from ensel.combine.static import Stacking
from ensel.metrics.cost import exit_stages, exit_threshold
from ensel.table import PredictionTable

__all__ = ["Cascade"]

Fetch = Callable[[int, np.ndarray], np.ndarray]


class Cascade(Combiner):
    """Confidence cascade: members in order, exit when the prefix's combination is confident.

    Parameters
    ----------
    budget : float or None, default=0.3
        Mean cost per input as a fraction of running the whole pool, in ``(0, 1]``. Give
        ``budget`` or ``max_cost``, not both.
    max_cost : float, optional
        Mean cost per input in the table's cost units (``PredictionTable.costs``), ``> 0``.
    combine : {"stacking", "mean"}, default="stacking"
        How the members run so far are combined at each stage: a `Stacking` combiner per
        prefix (logistic regression on their predictions) or the mean of their probabilities.
    order : {"accuracy_per_cost", "table"}, default="accuracy_per_cost"
        Member order: decreasing skill per mean cost on the fitting part -- skill is the
        accuracy above the majority-class rate, so members no better than chance go last --
        ties by table order; or the table's order.
    validation_fraction : float, default=0.3
        Share of the fitting table (stratified) on which the threshold is calibrated; the
        member order and the stackers are fitted on the rest.
    refit : bool, default=True
        Refit the stackers on the whole fitting table, then calibrate the threshold on their
        confidences on the validation part (which they have now seen: measured on held-out
        data, this keeps the mean test cost within about 0.01 of the budget, where calibrating
        the stackers fitted without those rows spent 0.05-0.15 less than the budget).
    random_state : int, default=0
        Seed of the validation split.

    Attributes
    ----------
    order_ : ndarray of shape (M,)
        Member indices in the order they run.
    stackers_ : list of Stacking or None
        The combiner of each prefix (``combine="stacking"``).
    threshold_ : float
        Exit when the prefix's top probability is at least this (``inf``: never before the
        last stage, ``-inf``: always after the first).
    validation_cost_fraction_ : float
        Mean cost on the validation part as a fraction of the whole pool's (at most the
        budget, unless ``budget_met_`` is False).
    validation_cost_ : float
        The same in cost units.
    validation_confidence_ : ndarray of shape (N_val, M)
        Top combined probability after each stage on the validation rows (by the final
        stackers), and ``validation_costs_`` their costs ``[N_val, M]``.
    budget_met_ : bool
        False when even stopping every input after the first member costs more than the
        budget (a warning says so; the cascade then always stops after the first).

    Examples
    --------
    >>> import numpy as np
    >>> from ensel import PredictionTable
    >>> from ensel.combine import Cascade
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, 300)
    >>> P = rng.dirichlet(np.ones(3), size=(300, 4))
    >>> P[np.arange(300), 0, y] += 2.0                 # member 0 is right, and confident
    >>> table = PredictionTable.from_arrays(P / P.sum(-1, keepdims=True), y=y)
    >>> cascade = Cascade(budget=0.5).fit(table)
    >>> int(cascade.order_[0])
    0
    >>> bool(cascade.validation_cost_fraction_ <= 0.5)
    True
    >>> bool(cascade.select(table).sum(1).mean() <= 2.2)
    True
    """

    _static = False

    def __init__(self, budget: float | None = 0.3, *, max_cost: float | None = None,
                 combine: str = "stacking", order: str = "accuracy_per_cost",
                 validation_fraction: float = 0.3, refit: bool = True,
                 random_state: int = 0) -> None:
        self.budget = budget
        self.max_cost = max_cost
        self.combine = combine
        self.order = order
        self.validation_fraction = validation_fraction
        self.refit = refit
        self.random_state = random_state

    @property
    def selection_needs_predictions_(self) -> bool:
        """False: the cascade runs members one at a time and selects as it goes."""
        return False

    # ------------------------------------------------------------------ fit
    def _check_params(self, table: PredictionTable) -> None:
        name = type(self).__name__
        V.check_budget_params(self.budget, self.max_cost, name)
        V.check_choice(self.combine, "combine", name, ("stacking", "mean"))
        V.check_choice(self.order, "order", name, ("accuracy_per_cost", "table"))
        V.check_real_param(self.validation_fraction, "validation_fraction", name, low=0.0,
                           high=1.0, include_low=False, include_high=False)
        V.check_bool_param(self.refit, "refit", name)
        V.check_int_param(self.random_state, "random_state", name, low=0)
        if table.n_samples < 4:
            raise ValueError(f"{name} needs at least 4 rows to fit and calibrate; the table has "
                             f"{table.n_samples}.")

    def _fit(self, table: PredictionTable) -> None:
        fit_rows, val_rows = self._split(table)
        self.order_ = self._order(table[fit_rows])
        self.stackers_ = self._fit_stackers(table[fit_rows])
        if self.refit:
            self.stackers_ = self._fit_stackers(table)
        # the threshold is set for the stackers that will predict: after a refit their
        # confidences run higher than those of the stackers fitted without the validation
        # rows, and calibrating on the latter would spend well under the budget on new data
        val = table[val_rows]
        self.validation_confidence_ = self._confidences(val)
        self.validation_costs_ = val.cost_matrix()
        self._calibrate_validation()

    def _calibrate_validation(self) -> None:
        conf, costs = self.validation_confidence_, self.validation_costs_
        self.threshold_ = self._calibrate(conf, costs)
        spent = self._spent(costs, exit_stages(conf, self.threshold_))
        self.validation_cost_ = float(spent.mean())
        self.validation_cost_fraction_ = float(spent.sum() / costs.sum())

    def _split(self, table: PredictionTable) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.model_selection import train_test_split

        idx = np.arange(table.n_samples)
        y = np.asarray(table.y)
        n_val = min(max(2, int(round(self.validation_fraction * len(idx)))), len(idx) - 2)
        counts = np.bincount(y)
        counts = counts[counts > 0]
        stratify = y if counts.min() >= 2 and n_val >= len(counts) and \
            len(idx) - n_val >= len(counts) else None
        fit_rows, val_rows = train_test_split(idx, test_size=n_val, stratify=stratify,
                                              random_state=self.random_state)
        return np.sort(fit_rows), np.sort(val_rows)

    def _order(self, table: PredictionTable) -> np.ndarray:
        if self.order == "table":
            return np.arange(table.n_members)
        # skill = accuracy above the majority-class rate, so a member no better than chance
        # goes last whatever its cost; free members with some skill go first
        skill = table.correct().mean(axis=0) - np.bincount(table.y).max() / table.n_samples
        mean_cost = table.cost_matrix().mean(axis=0)
        per_cost = skill / np.where(mean_cost > 0, mean_cost, 1.0)
        key = np.where((mean_cost > 0) | (skill <= 0), per_cost, np.inf)
        return np.argsort(-key, kind="stable")

    def _fit_stackers(self, table: PredictionTable) -> list[Stacking] | None:
        if self.combine == "mean":
            return None
        return [Stacking().fit(table.select_members(self.order_[: j + 1].tolist()))
                for j in range(len(self.order_))]

    # ------------------------------------------------------------------ the stages
    def _stage_proba(self, stage: int, P_prefix: np.ndarray) -> np.ndarray:
        """Combined probabilities ``[R, C]`` of the first ``stage + 1`` members."""
        if self.stackers_ is None:
            return P_prefix.mean(axis=1, dtype=np.float64)
        names = [self.members_[j] for j in self.order_[: stage + 1]]
        sub = PredictionTable(P_prefix, None, None, names, self.classes_, "classification")
        return self.stackers_[stage].predict_proba(sub)

    def _confidences(self, table: PredictionTable) -> np.ndarray:
        """``[N, M]``: top combined probability after each stage, on every row."""
        P = np.asarray(table.P)
        return np.stack([self._stage_proba(j, P[:, self.order_[: j + 1]]).max(axis=1)
                         for j in range(len(self.order_))], axis=1)

    def _spent(self, costs: np.ndarray, exits: np.ndarray) -> np.ndarray:
        """Cost per row of running the members up to its exit stage."""
        cumulative = np.cumsum(costs[:, self.order_], axis=1)
        return cumulative[np.arange(len(exits)), exits]

    def _calibrate(self, conf: np.ndarray, costs: np.ndarray) -> float:
        """The largest threshold whose mean cost on ``conf`` is within the budget."""
        target = (self.budget * costs.sum(axis=1).mean() if self.budget is not None
                  else float(self.max_cost))
        threshold, self.budget_met_ = exit_threshold(conf, np.cumsum(costs[:, self.order_], 1),
                                                     target)
        if not self.budget_met_:
            warnings.warn(f"{type(self).__name__}: even stopping after the first member "
                          f"costs {self._spent(costs, np.zeros(len(conf), int)).mean():.4g} per "
                          f"input on validation, above the budget {target:.4g}; every input "
                          f"stops after the first member.", stacklevel=3)
        return threshold

    # ------------------------------------------------------------------ predict
    def run_sequential(self, n_samples: int, fetch: Fetch, X: Any = None
                       ) -> tuple[np.ndarray, np.ndarray]:
        """Run the cascade, asking ``fetch`` for each member's predictions on the rows it needs.

        Parameters
        ----------
        n_samples : int
            Number of inputs.
        fetch : callable
            ``fetch(member_index, rows) -> ndarray of shape (len(rows), C)``: the member's
            probabilities on those rows (``rows`` indexes the inputs). It is called once per
            stage, in `order_`, only for the inputs still in the cascade.
        X : array-like, optional
            The inputs; unused (the order is the same for every input), accepted so that every
            sequential combiner is run alike.

        Returns
        -------
        proba : ndarray of shape (n_samples, C)
        selection : ndarray of shape (n_samples, M)
            1 for every member run on each input, 0 elsewhere.
        """
        m, c = self.n_members_, len(self.classes_)
        P = np.zeros((n_samples, m, c))
        proba = np.zeros((n_samples, c))
        selection = np.zeros((n_samples, m))
        active = np.arange(n_samples)
        for stage, j in enumerate(self.order_):
            if not len(active):
                break
            P[active, j] = fetch(int(j), active)
            selection[active, j] = 1.0
            p = self._stage_proba(stage, P[active][:, self.order_[: stage + 1]])
            done = p.max(axis=1) >= self.threshold_
            if stage == m - 1:
                done[:] = True
            proba[active[done]] = p[done]
            active = active[~done]
        return proba, selection

    def _run_table(self, table: PredictionTable) -> tuple[np.ndarray, np.ndarray]:
        P = np.asarray(table.P)
        return self.run_sequential(table.n_samples, lambda j, rows: P[rows, j])

    def _select(self, table: PredictionTable) -> np.ndarray:
        return self._run_table(table)[1]

    def _combine(self, table: PredictionTable, selection: np.ndarray) -> np.ndarray:
        return self._run_table(table)[0]

    def at_budget(self, budget: float | None = None, *,
                  max_cost: float | None = None) -> Cascade:
        """A fitted copy at another budget: same split and stackers, threshold recalibrated.

        Equal to fitting ``Cascade(budget=budget, ...)`` on the same table (the stackers and
        the validation part do not depend on the budget), at the cost of one calibration: the
        benchmark's frontier sweeps budgets this way.

        Parameters
        ----------
        budget : float, optional
            As in the constructor.
        max_cost : float, optional
            As in the constructor.

        Returns
        -------
        Cascade
        """
        import copy

        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "threshold_")
        out = copy.copy(self)
        out.budget, out.max_cost = budget, max_cost
        name = type(self).__name__
        V.check_budget_params(budget, max_cost, name, f"{name}.at_budget")
        out._calibrate_validation()
        return out

