"""SQLCascade: call text-to-SQL systems one by one, stop once their results agree enough.

A cascade over generators under a budget (the vocabulary of `ensel.combine.Cascade`): the
systems run in an order chosen on training questions, after each call the candidates returned
so far are executed and grouped by result, and a question stops at the first call after which
the leading result group leads the runner-up by at least ``threshold_`` votes. The threshold is
the largest one whose mean cost on the training questions is within the budget. The chosen SQL
is the consensus of the candidates run. `calls` is the cost account: which systems were called
for each question.

The default order is *complementary*: first the system with the best training accuracy per unit
of cost, then, one at a time, the system most often right (per unit of cost) on the training
questions where the consensus of the systems chosen so far is wrong. Calling the most accurate
systems first instead makes the cascade stop, after two calls, on the errors that similar
systems share (on Spider, two GPT-4 prompting pipelines agree on the same wrong SQL). Consensus
ties go by default to the group holding the system with the higher training accuracy, not to
the one called first.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ensel import _validation as V
from ensel.generators.sql.data import ExecutedQuestion, group_results
from ensel.generators.sql.engine import ExecutionResult
from ensel.metrics.cost import exit_stages, exit_threshold

__all__ = ["SQLCascade", "vote_margin"]

FORMAT = "ensel.generators.SQLCascade"
FORMAT_VERSION = 2                 # 2: the 'ties' parameter (version 1 files: ties by order)
CONFIG = "config.json"
ORDERS = ("complementary", "accuracy_per_cost", "table")
TIES = ("accuracy", "order")
_KEYS = ("params", "systems", "costs", "system_accuracy", "order", "threshold",
         "calibration_margins")
_NOT_FITTED = "This %(name)s is not fitted yet: call fit() or load() first."

#: ``fetch(system_index, rows) -> results``: the candidates of one system for some questions,
#: executed (one `ExecutionResult` per row, in the order of ``rows``).
Fetch = Callable[[int, np.ndarray], Sequence[ExecutionResult]]


def vote_margin(results: Sequence[ExecutionResult], priority: Sequence[float] | None = None
                ) -> tuple[int, int]:
    """Votes of the leading result group minus the runner-up's, and the consensus candidate.

    Parameters
    ----------
    results : sequence of ExecutionResult, length R >= 1
        The candidates run so far, in the order they ran; failed ones do not vote.
    priority : sequence of float, length R, optional
        Tie rule between groups of equal size: the group holding the candidate with the
        lowest priority wins (e.g. each candidate's system rank by training accuracy).
        Default: the group holding the earliest candidate.

    Returns
    -------
    margin : int
        Size of the consensus group minus the size of the largest other group (0 when no
        candidate executed).
    pick : int
        Index into ``results`` of the consensus candidate: the earliest candidate of the
        winning group (0 when every candidate failed).

    Examples
    --------
    >>> r = lambda v: ExecutionResult(rows=((v,),), columns=("x",))
    >>> err = ExecutionResult((), (), error="no such table: t")
    >>> vote_margin([r(1), err, r(2), r(1), r(1)])
    (2, 0)
    >>> vote_margin([err, r(2), r(1)])
    (0, 1)
    >>> vote_margin([err, r(2), r(1)], priority=[0, 2, 1])     # r(1) from the stronger system
    (0, 2)
    """
    groups = group_results(results)
    if not groups.n_groups:
        return 0, 0
    sizes = groups.sizes
    ranked = np.sort(sizes)[::-1]
    margin = int(ranked[0]) - (int(ranked[1]) if len(ranked) > 1 else 0)
    if priority is None:
        return margin, groups.consensus()
    priority = np.asarray(priority, dtype=float)
    if priority.shape != (len(results),):
        raise ValueError(f"vote_margin: 'priority' must have one entry per result "
                         f"({len(results)}); got shape {priority.shape}.")
    tied = [m for m, size in zip(groups.members, sizes, strict=True) if size == ranked[0]]
    return margin, min(tied, key=lambda m: float(priority[m].min()))[0]


class SQLCascade(BaseEstimator):
    """Budgeted generator selection: call systems in order until the results agree enough.

    Per question the systems are called one at a time in `order_`; after each call the
    candidates so far are executed and grouped by result (`vote_margin`), and the question
    stops once the leading group leads by at least `threshold_` votes (or every system ran).
    The chosen SQL is the consensus of the candidates run (ties: see ``ties``). The threshold is
    calibrated on the training questions: the largest whose mean cost there is within the
    budget, as in `ensel.combine.Cascade`. Train on some databases, apply to others.

    The vote margin is an integer, so the mean cost moves in steps: a budget between the costs
    of two margins gets the smaller one (on the Spider half, margin 2 costs about 24% of the
    calls and margin 3 about 35%, so budget 1/3 spends about 24%); `validation_cost_fraction_`
    says what was spent.

    Parameters
    ----------
    budget : float or None, default=1/3
        Mean cost per question as a fraction of calling every system, in ``(0, 1]``. With the
        default costs (one call each) it is the fraction of generator calls. Give ``budget`` or
        ``max_cost``, not both.
    max_cost : float, optional
        Mean cost per question in the units of ``costs``, ``> 0``.
    costs : mapping of str to float, optional
        Relative cost of one call of each system (e.g. from model size or API price), every
        system of the training questions, each ``> 0``. Default: 1 per call.
    order : {"complementary", "accuracy_per_cost", "table"}, default="complementary"
        Call order, chosen on the training questions. ``"complementary"``: first the system
        with the best accuracy per unit of cost, then repeatedly the one right on the most
        training questions, per unit of cost, where the consensus of the systems chosen so
        far (with the ``ties`` rule) is wrong. ``"accuracy_per_cost"``: decreasing accuracy per
        unit of cost. ``"table"``: the questions file's order (which may carry outside
        knowledge of the systems, e.g. a leaderboard). Ties in the first two by the file's
        order.
    ties : {"accuracy", "order"}, default="accuracy"
        Which of two equally large result groups is the consensus: the one holding the system
        with the higher training accuracy (ties by the file's order), or the one holding the
        earliest system called. Either way the chosen candidate is the earliest-called member
        of that group.

    Attributes
    ----------
    systems_ : list of str
        Candidate systems, in the order of the questions' candidates.
    costs_ : ndarray of shape (K,)
        Cost of one call of each system.
    system_accuracy_ : dict of str to float
        Each system's accuracy on the training questions.
    order_ : ndarray of shape (K,)
        System indices in the order they are called.
    priority_ : ndarray of shape (K,)
        Tie priority of each system (0 wins ties), from ``ties``.
    threshold_ : float
        Stop once the leading group leads by at least this many votes (``inf``: call every
        system; ``-inf``: always stop after the first call).
    validation_cost_fraction_ : float
        Mean cost on the calibration (training) questions as a fraction of calling every
        system: at most the budget unless ``budget_met_`` is False.
    validation_cost_ : float
        The same in cost units; ``validation_margins_`` ``[Q, K]`` holds the vote margin after
        each call on those questions.
    budget_met_ : bool
        False when even one call per question costs more than the budget (a warning says so;
        the cascade then always stops after the first call).

    Examples
    --------
    Fit on one half of the shipped Spider databases, count the calls on the other half:

    >>> from ensel.datasets import dataset_path
    >>> from ensel.generators.sql import (SQLiteDatabases, by_database_folds,
    ...                                   execute_questions, load_questions)
    >>> data = dataset_path("spider_dev_public")
    >>> dbs = SQLiteDatabases(data / "database")
    >>> executed = execute_questions(load_questions(data / "questions.jsonl"), dbs)
    >>> halves, (rows_b, rows_a) = by_database_folds(executed)
    >>> cascade = SQLCascade(budget=1 / 3).fit([executed[i] for i in rows_a])
    >>> cascade.threshold_, round(cascade.validation_cost_fraction_, 3)
    (2.0, 0.231)
    >>> calls = cascade.calls([executed[i] for i in rows_b])     # [Q, K] 0/1
    >>> calls.shape, round(cascade.cost_fraction(calls), 3)
    ((247, 12), 0.236)
    >>> dbs.close()
    """

    def __init__(self, budget: float | None = 1 / 3, *, max_cost: float | None = None,
                 costs: Mapping[str, float] | None = None,
                 order: str = "complementary", ties: str = "accuracy") -> None:
        self.budget = budget
        self.max_cost = max_cost
        self.costs = costs
        self.order = order
        self.ties = ties

    # ------------------------------------------------------------------ parameters
    def _check_budget(self, budget: Any, max_cost: Any, where: str) -> None:
        V.check_budget_params(budget, max_cost, type(self).__name__, where)

    def _check_costs(self, systems: Sequence[str]) -> np.ndarray:
        if self.costs is None:
            return np.ones(len(systems))
        name = type(self).__name__
        if not isinstance(self.costs, Mapping):
            raise ValueError(f"The 'costs' parameter of {name} must be a mapping from system "
                             f"name to a cost > 0, or None. Got {self.costs!r} instead.")
        missing = [s for s in systems if s not in self.costs]
        if missing:
            raise ValueError(f"The 'costs' parameter of {name} has no cost for the system(s) "
                             f"{', '.join(missing)}; give one for each of {list(systems)}.")
        for s in systems:
            V.check_real_param(self.costs[s], f"costs[{s!r}]", name, low=0.0, high=np.inf,
                               include_low=False, include_high=False)
        return np.array([float(self.costs[s]) for s in systems])

    # ------------------------------------------------------------------ fit
    def fit(self, executed: Sequence[ExecutedQuestion]) -> SQLCascade:
        """Choose the order on the training questions and calibrate the threshold there.

        Parameters
        ----------
        executed : sequence of ExecutedQuestion
            Training questions with gold SQL, all executed with the same ``systems`` (a
            system without a candidate for a question counts as a wrong call there).

        Returns
        -------
        self
        """
        from ensel.generators.sql.selector import system_accuracies

        name = type(self).__name__
        self._check_budget(self.budget, self.max_cost, name)
        V.check_choice(self.order, "order", name, ORDERS)
        V.check_choice(self.ties, "ties", name, TIES)
        executed = list(executed)
        self.system_accuracy_ = system_accuracies(executed)      # checks gold, non-empty
        self.systems_ = list(executed[0].systems)
        self._check_systems(executed)
        self.costs_ = self._check_costs(self.systems_)
        self.order_ = self._order(executed)
        self.priority_ = self._priority(self.order_)
        self.validation_margins_ = self._margins(executed)
        self._calibrate_validation()
        return self

    def _priority(self, order: np.ndarray) -> np.ndarray:
        """``[K]``: each system's rank in the tie rule (0 wins), for the call order ``order``."""
        if self.ties == "order":
            ranked = np.asarray(order)
        else:
            accuracy = np.array([self.system_accuracy_[s] for s in self.systems_])
            ranked = np.argsort(-accuracy, kind="stable")
        out = np.empty(len(ranked), dtype=np.int64)
        out[ranked] = np.arange(len(ranked))
        return out

    def _order(self, executed: Sequence[ExecutedQuestion]) -> np.ndarray:
        k = len(self.systems_)
        if self.order == "table":
            return np.arange(k)
        accuracy = np.array([self.system_accuracy_[s] for s in self.systems_])
        by_value = np.argsort(-(accuracy / self.costs_), kind="stable")
        if self.order == "accuracy_per_cost":
            return by_value
        return self._complementary(executed, by_value)

    def _complementary(self, executed: Sequence[ExecutedQuestion],
                       by_value: np.ndarray) -> np.ndarray:
        """Greedy: next, the system right most often (per cost) where the prefix's consensus
        is wrong; ties by ``by_value`` (accuracy per cost). The first is ``by_value[0]``."""
        correct = np.stack([eq.correct & eq.present for eq in executed])      # [Q, K]
        order = [int(by_value[0])]
        while len(order) < len(by_value):
            wrong = ~self._prefix_correct(executed, correct, order)
            rest = [int(j) for j in by_value if j not in order]
            gain = correct[wrong][:, rest].sum(axis=0) / self.costs_[rest]
            order.append(rest[int(np.argmax(gain))])              # first maximum: by value
        return np.array(order, dtype=np.int64)

    def _prefix_correct(self, executed: Sequence[ExecutedQuestion], correct: np.ndarray,
                        order: list[int]) -> np.ndarray:
        """``[Q]``: whether the consensus of the systems ``order`` (called in that order) is
        right on each training question, with this cascade's tie rule."""
        priority = self._priority(np.array(order + [j for j in range(len(self.systems_))
                                                    if j not in order]))[order]
        picks = [order[vote_margin([eq.results[j] for j in order], priority)[1]]
                 for eq in executed]
        return correct[np.arange(len(executed)), picks]

    def _margins(self, executed: Sequence[ExecutedQuestion]) -> np.ndarray:
        """``[Q, K]``: the vote margin after each call, every system called on every question."""
        out = np.zeros((len(executed), len(self.order_)))
        for q, eq in enumerate(executed):
            ran = [eq.results[j] for j in self.order_]
            out[q] = [vote_margin(ran[: s + 1])[0] for s in range(len(ran))]
        return out

    def _spent(self, exits: np.ndarray) -> np.ndarray:
        return np.cumsum(self.costs_[self.order_])[exits]

    def _calibrate_validation(self) -> None:
        margins = self.validation_margins_
        self.threshold_ = self._calibrate(margins)
        spent = self._spent(exit_stages(margins, self.threshold_))
        self.validation_cost_ = float(spent.mean())
        self.validation_cost_fraction_ = float(spent.mean() / self.costs_.sum())

    def _calibrate(self, margins: np.ndarray) -> float:
        """The largest threshold whose mean cost on ``margins`` is within the budget."""
        target = (self.budget * self.costs_.sum() if self.budget is not None
                  else float(self.max_cost))
        spent = np.broadcast_to(np.cumsum(self.costs_[self.order_]), margins.shape)
        threshold, self.budget_met_ = exit_threshold(margins, spent, target)
        if not self.budget_met_:
            warnings.warn(f"{type(self).__name__}: even one call per question costs "
                          f"{spent[0, 0]:.4g} on the training questions, above the budget "
                          f"{target:.4g}; every question stops after the first call.",
                          stacklevel=3)
        return threshold

    def at_budget(self, budget: float | None = None, *,
                  max_cost: float | None = None) -> SQLCascade:
        """A fitted copy at another budget: same order, threshold recalibrated.

        Equal to fitting ``SQLCascade(budget=budget, ...)`` on the same training questions
        (the order does not depend on the budget), without executing anything again.

        Parameters
        ----------
        budget : float, optional
            As in the constructor.
        max_cost : float, optional
            As in the constructor.

        Returns
        -------
        SQLCascade
        """
        import copy

        check_is_fitted(self, "threshold_", msg=_NOT_FITTED)
        self._check_budget(budget, max_cost, f"{type(self).__name__}.at_budget")
        out = copy.copy(self)
        out.budget, out.max_cost = budget, max_cost
        out._calibrate_validation()
        return out

    # ------------------------------------------------------------------ run
    def run_sequential(self, n_questions: int, fetch: Fetch) -> tuple[np.ndarray, np.ndarray]:
        """Run the cascade, asking ``fetch`` for one system's candidates at a time.

        Parameters
        ----------
        n_questions : int
            Number of questions.
        fetch : callable
            ``fetch(system_index, rows) -> sequence of ExecutionResult``: the executed
            candidates of system ``systems_[system_index]`` for the questions ``rows`` (an
            int array), one per row. Called once per stage, in `order_`, only for the
            questions still running: each row of each call is one generator call.

        Returns
        -------
        picks : ndarray of shape (n_questions,), int
            The chosen system per question (index into ``systems_``): the first system, in
            the call order, of the consensus group of the candidates run (equal groups
            decided by `priority_`).
        calls : ndarray of shape (n_questions, K), int
            1 for every system called on each question, 0 elsewhere.
        """
        check_is_fitted(self, "threshold_", msg=_NOT_FITTED)
        n = V.check_int_param(n_questions, "n_questions", f"{type(self).__name__}."
                              f"run_sequential", low=0)
        k = len(self.systems_)
        priority = self.priority_[self.order_]          # of the candidates in call order
        ran: list[list[ExecutionResult]] = [[] for _ in range(n)]
        picks = np.full(n, int(self.order_[0]), dtype=np.int64)
        calls = np.zeros((n, k), dtype=np.int64)
        active = np.arange(n)
        for stage, j in enumerate(self.order_):
            if not len(active):
                break
            got = list(fetch(int(j), active))
            if len(got) != len(active):
                raise ValueError(f"fetch({int(j)}, rows) returned {len(got)} results for "
                                 f"{len(active)} rows; it must return one per row.")
            calls[active, j] = 1
            done = np.zeros(len(active), dtype=bool)
            for i, (q, result) in enumerate(zip(active, got, strict=True)):
                ran[q].append(result)
                margin, pick = vote_margin(ran[q], priority[: stage + 1])
                picks[q] = self.order_[pick]
                done[i] = margin >= self.threshold_ or stage == k - 1
            active = active[~done]
        return picks, calls

    def _run(self, executed: Sequence[ExecutedQuestion]) -> tuple[np.ndarray, np.ndarray]:
        check_is_fitted(self, "threshold_", msg=_NOT_FITTED)
        executed = list(executed)
        self._check_systems(executed)
        return self.run_sequential(len(executed), lambda j, rows: [executed[q].results[j]
                                                                   for q in rows])

    def select(self, executed: Sequence[ExecutedQuestion]) -> np.ndarray:
        """Index (into ``systems_``) of the chosen candidate per question, shape ``(Q,)``.

        Reads only the candidates the cascade calls (see `calls`); candidates already in
        ``executed`` are the generators' answers, looked up instead of generated.
        """
        return self._run(executed)[0]

    def calls(self, executed: Sequence[ExecutedQuestion]) -> np.ndarray:
        """The cost account, shape ``(Q, K)``: 1 for each system called on each question."""
        return self._run(executed)[1]

    def cost_fraction(self, calls: Any) -> float:
        """Mean cost of ``calls`` ``[Q, K]`` as a fraction of calling every system."""
        check_is_fitted(self, "threshold_", msg=_NOT_FITTED)
        calls = np.asarray(calls, dtype=float)
        if calls.ndim != 2 or calls.shape[1] != len(self.systems_):
            raise ValueError(f"'calls' must have shape (n_questions, {len(self.systems_)}). "
                             f"Got shape {calls.shape} instead.")
        return float((calls @ self.costs_).mean() / self.costs_.sum()) if len(calls) else 0.0

    def _check_systems(self, executed: Sequence[ExecutedQuestion]) -> None:
        for eq in executed:
            if list(eq.systems) != self.systems_:
                raise ValueError(
                    f"question {eq.question.id!r} was executed with systems {list(eq.systems)} "
                    f"but the cascade was fitted on {self.systems_}; pass "
                    f"systems=cascade.systems_ to execute_questions.")

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Save into the folder ``path`` as ``config.json`` (JSON only, written atomically).

        Parameters
        ----------
        path : str or Path
            A new or empty folder, or one holding a saved model (replaced whole).

        Returns
        -------
        Path
        """
        from ensel._io import atomic_directory, write_json

        check_is_fitted(self, "threshold_", msg=_NOT_FITTED)
        config = {"format": FORMAT, "version": FORMAT_VERSION,
                  "params": {"budget": self.budget, "max_cost": self.max_cost,
                             "costs": None if self.costs is None else
                             {s: float(c) for s, c in self.costs.items()},
                             "order": self.order, "ties": self.ties},
                  "systems": self.systems_, "costs": self.costs_.tolist(),
                  "system_accuracy": self.system_accuracy_, "order": self.order_.tolist(),
                  "threshold": _json_float(self.threshold_),
                  "calibration_margins": self.validation_margins_.astype(int).tolist()}
        with atomic_directory(path, marker=CONFIG) as tmp:
            write_json(tmp / CONFIG, config, indent=None)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> SQLCascade:
        """Read a cascade written by :meth:`save` (parameters checked as at construction).

        Parameters
        ----------
        path : str or Path
            The folder given to :meth:`save`.

        Returns
        -------
        SQLCascade

        Raises
        ------
        FileNotFoundError
            No ``config.json`` in ``path``.
        ValueError
            Another format or version, or entries that do not fit together; the message
            names the file.
        """
        from ensel._io import read_json

        where = Path(path) / CONFIG
        config = read_json(where, format=FORMAT, versions=(1, FORMAT_VERSION), keys=_KEYS,
                           required=_KEYS)
        try:
            params = dict(config["params"])
            if config["version"] == 1:                 # before 'ties': ties by call order
                params.setdefault("ties", "order")
            self = cls(**params)
            self._check_budget(self.budget, self.max_cost, cls.__name__)
            V.check_choice(self.order, "order", cls.__name__, ORDERS)
            V.check_choice(self.ties, "ties", cls.__name__, TIES)
            self.systems_ = [str(s) for s in config["systems"]]
            self.costs_ = self._check_costs(self.systems_)
            self.system_accuracy_ = {s: float(config["system_accuracy"][s])
                                     for s in self.systems_}
            self.order_ = np.asarray(config["order"], dtype=np.int64)
            self.validation_margins_ = np.asarray(config["calibration_margins"], dtype=float)
            k = len(self.systems_)
            if sorted(self.order_.tolist()) != list(range(k)) or \
                    self.validation_margins_.ndim != 2 or self.validation_margins_.shape[1] != k:
                raise ValueError(f"'order' and 'calibration_margins' must cover the {k} "
                                 f"systems")
            self.priority_ = self._priority(self.order_)
        except (TypeError, KeyError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from exc
        self._calibrate_validation()
        if not np.allclose(self.costs_, np.asarray(config["costs"], dtype=float)):
            raise ValueError(f"{where}: the saved 'costs' {config['costs']!r} are not the costs "
                             f"its parameters give ({self.costs_.tolist()}).")
        if self.threshold_ != float(config["threshold"]):
            raise ValueError(f"{where}: the saved threshold {config['threshold']!r} is not the "
                             f"one its calibration margins give ({self.threshold_:g}).")
        return self


def _json_float(x: float) -> float | str:
    return x if np.isfinite(x) else ("inf" if x > 0 else "-inf")
