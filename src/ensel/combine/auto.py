"""AutoCombiner: choose the combining strategy by cross-validation on the selection table.

Every candidate combiner is fitted on ``cv - 1`` folds of the selection table and scored on the
remaining fold (stratified folds for classification); the candidate with the best mean score
is refitted on the whole table and used from then on. Nothing outside the table given to `fit`
is looked at, so the choice is as honest as any other combiner's fit.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
from sklearn.base import clone

from ensel import _validation as V
from ensel.combine import rules
from ensel.combine.base import BOTH_TASKS, Combiner
from ensel.table import PredictionTable

#: The default candidates, ``(name in COMBINERS, parameters)``, cheap and simple ones first
#: (ties in the cross-validated score go to the earlier one). Dynamic methods use the mean of
#: the selected members' probabilities (``rule="average"``): a hard vote's probabilities
#: contain zeros, which the log-loss rules out anyway. The learned combiners are left out:
#: with their default epochs they cost 10-100x the rest on a 5000-row table, and with few
#: epochs they did not beat stacking (docs/combiners.md).
DEFAULT_CANDIDATES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("best-single", {}),
    ("average", {}),
    ("weighted-average", {}),
    ("greedy", {}),
    ("qo-es", {}),
    ("qdo-es", {}),
    ("stacking", {}),
    ("ola", {}),
    ("knora-e", {"rule": "average"}),
    ("knora-u", {"rule": "average"}),
    ("meta-des", {"rule": "average"}),
)

#: The default candidates under a ``budget``: the combiners that can run fewer members than
#: the whole pool (the cascade is calibrated to the same budget).
BUDGET_CANDIDATES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("best-single", {}),
    ("ola", {}),
    ("knora-e", {"rule": "average"}),
    ("knora-u", {"rule": "average"}),
    ("cascade", {}),
)

METRICS = {"classification": ("log_loss", "accuracy"), "regression": ("squared_error",)}


def cost_fraction_of(est: Combiner, table: PredictionTable) -> float:
    """Mean cost of the members ``est`` runs on ``table``, as a fraction of the whole pool's.

    The members run are the non-zero entries of ``select`` — or every member when the combiner
    needs all predictions to select (``selection_needs_predictions_``) — weighted by the
    table's costs (one unit each by default).

    Examples
    --------
    >>> import numpy as np
    >>> from ensel import PredictionTable
    >>> from ensel.combine import BestSingle
    >>> table = PredictionTable.from_arrays(np.full((2, 2, 2), 0.5), y=[0, 1], costs=[1.0, 3.0])
    >>> cost_fraction_of(BestSingle().fit(table), table)
    0.25
    """
    run = np.abs(est.select(table)) > 0
    if est.selection_needs_predictions_:
        run = np.ones_like(run)
    costs = table.cost_matrix()
    return float((run * costs).sum() / costs.sum())


def _scores(est: Combiner, table: PredictionTable, cost: bool) -> dict[str, float]:
    """Every metric of ``est`` on a labelled table; losses are lower-better, accuracy higher."""
    y = np.asarray(table.y)
    out = {"cost_fraction": cost_fraction_of(est, table)} if cost else {}
    if table.task == "regression":
        return {"squared_error": rules.squared_error(est.predict(table), y)} | out
    proba = est.predict_proba(table)
    return {"log_loss": rules.log_loss(proba, y),
            "accuracy": float(np.mean(np.argmax(proba, axis=1) == y))} | out


def cross_validate(est: Combiner, table: PredictionTable,
                   folds: list[tuple[np.ndarray, np.ndarray]], *,
                   cost: bool = False) -> dict[str, np.ndarray]:
    """Per-fold scores of a combiner: fitted on each training part, scored on its held-out part.

    Parameters
    ----------
    est : Combiner
        Cloned for every fold.
    table : PredictionTable
        Labelled.
    folds : list of (train_rows, test_rows)
    cost : bool, default=False
        Also measure ``cost_fraction`` (see ``cost_fraction_of``) on every held-out part.

    Returns
    -------
    scores : dict of str to ndarray of shape (n_folds,)
        ``log_loss`` and ``accuracy`` (classification) or ``squared_error`` (regression), and
        ``cost_fraction`` when asked.

    Examples
    --------
    >>> import numpy as np
    >>> from ensel import PredictionTable
    >>> from ensel.combine import Average
    >>> rng = np.random.default_rng(0)
    >>> table = PredictionTable.from_arrays(rng.dirichlet(np.ones(3), size=(40, 4)),
    ...                                     y=rng.integers(0, 3, 40))
    >>> folds = [(np.arange(20, 40), np.arange(20)), (np.arange(20), np.arange(20, 40))]
    >>> cross_validate(Average(), table, folds)["accuracy"].shape
    (2,)
    """
    per_fold = [_scores(clone(est).fit(table[train]), table[test], cost)
                for train, test in folds]
    return {name: np.array([s[name] for s in per_fold]) for name in per_fold[0]}


class AutoCombiner(Combiner):
    """Choose the combiner by cross-validation on the selection table, then refit it on all of it.

    Each candidate is cross-validated with ``cv`` folds of the table given to `fit`
    (`~sklearn.model_selection.StratifiedKFold` for classification, `~sklearn.model_selection.KFold`
    for regression, shuffled with ``random_state``); the best mean ``metric`` wins, ties going to
    the candidate listed first. The winner is refitted on the whole table; `predict_proba`,
    `predict` and `select` are its own. Candidates that cannot fit the table (a task they do not
    handle, or inputs ``X`` the table lacks) are skipped and marked so in ``cv_results_``.

    Parameters
    ----------
    candidates : list, optional
        Names in `COMBINERS`, combiner instances, or ``(name, combiner)`` pairs. Default:
        ``ensel.combine.auto.DEFAULT_CANDIDATES`` (static, population-based and dynamic
        combiners; no torch).
    cv : int, default=5
        Number of folds (at least 2, at most the number of rows).
    metric : {"log_loss", "accuracy", "squared_error"} or None, default=None
        How candidates are compared: ``None`` is log-loss for classification and squared error
        for regression.
    budget : float in (0, 1] or None, default=None
        Keep the mean cost of the members run per input within this fraction of the whole
        pool's cost (``ensel.combine.auto.cost_fraction_of``, weighted by the table's costs):
        only candidates whose cross-validated cost fraction is at most ``budget`` can be chosen
        (the others are scored and marked "over budget"). The default candidates become
        ``ensel.combine.auto.BUDGET_CANDIDATES``, with the cascade calibrated to ``budget``.
    max_seconds : float or None, default=600
        Time budget for the cross-validation: once it is spent, the remaining candidates are
        skipped (with a warning; the first candidate always runs). ``None``: no limit. The
        default candidates take well under a minute on a 5000-row, 10-member, 26-class table.
    random_state : int, default=0
        Seeds the folds.
    verbose : bool, default=False
        Print one line per candidate as it is scored.

    Attributes
    ----------
    best_ : str
        Name of the chosen candidate.
    best_estimator_ : Combiner
        The chosen candidate, refitted on the whole table.
    best_score_ : float
        Its mean cross-validated ``metric``.
    cv_scores_ : dict of str to float
        Mean cross-validated ``metric`` per candidate that was scored.
    cv_results_ : dict of str to list
        One entry per candidate (load it with ``pandas.DataFrame(cv_results_)``): ``candidate``,
        ``status`` (``"scored"`` or why it was skipped), ``mean_<metric>`` and ``std_<metric>``
        for every metric of the task (and ``cost_fraction`` with a ``budget``), and ``seconds``
        (cross-validation time).

    Examples
    --------
    >>> import numpy as np
    >>> from ensel import PredictionTable
    >>> from ensel.combine import AutoCombiner
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, 120)
    >>> P = rng.dirichlet(np.ones(3), size=(120, 4))
    >>> P[:, 0] = 0.6 * np.eye(3)[y] + 0.4 * P[:, 0]         # member 0 is good
    >>> table = PredictionTable.from_arrays(P, y=y)
    >>> auto = AutoCombiner(candidates=["best-single", "average", "stacking"]).fit(table)
    >>> auto.best_ in auto.cv_scores_, auto.predict(table).shape
    (True, (120,))
    """

    _tasks = BOTH_TASKS

    def __init__(self, candidates: list[Any] | None = None, *, cv: int = 5,
                 metric: str | None = None, budget: float | None = None,
                 max_seconds: float | None = 600.0, random_state: int = 0,
                 verbose: bool = False) -> None:
        self.candidates = candidates
        self.cv = cv
        self.metric = metric
        self.budget = budget
        self.max_seconds = max_seconds
        self.random_state = random_state
        self.verbose = verbose

    @property
    def selection_needs_predictions_(self) -> bool:
        """The chosen combiner's (True before `fit`)."""
        winner = getattr(self, "best_estimator_", None)
        return True if winner is None else bool(winner.selection_needs_predictions_)

    # ------------------------------------------------------------------ checks
    def _check_params(self, table: PredictionTable) -> None:
        name = type(self).__name__
        V.check_int_param(self.cv, "cv", name, low=2, high=table.n_samples)
        V.check_choice(self.metric, "metric", name, (None, *METRICS[table.task]))
        if self.budget is not None:
            V.check_real_param(self.budget, "budget", name, low=0.0, high=1.0, include_low=False)
        if self.max_seconds is not None:
            V.check_real_param(self.max_seconds, "max_seconds", name, low=0.0, high=np.inf,
                               include_low=False)
        V.check_int_param(self.random_state, "random_state", name, low=0)
        self._named_candidates()

    def _named_candidates(self) -> list[tuple[str, Combiner]]:
        """The candidates as ``(name, unfitted combiner)``; names unique."""
        from ensel.combine import COMBINERS, get_combiner

        name = type(self).__name__
        if self.candidates is None and self.budget is not None:
            return [(n, get_combiner(n)(**(params | {"budget": self.budget} if n == "cascade"
                                           else params))) for n, params in BUDGET_CANDIDATES]
        if self.candidates is None:
            return [(n, get_combiner(n)(**params)) for n, params in DEFAULT_CANDIDATES]
        if isinstance(self.candidates, (str, Combiner)) or len(self.candidates) == 0:
            raise ValueError(
                f"The 'candidates' parameter of {name} must be a non-empty list of names in "
                f"COMBINERS, combiners or (name, combiner) pairs. Got {self.candidates!r} instead.")
        named: list[tuple[str, Combiner]] = []
        for item in self.candidates:
            if isinstance(item, str) and item in COMBINERS:
                named.append((item, get_combiner(item)()))
            elif isinstance(item, Combiner):
                named.append((type(item).__name__, item))
            elif (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
                  and isinstance(item[1], Combiner)):
                named.append(item)
            else:
                raise ValueError(
                    f"{name}: candidate {item!r} is neither a name in COMBINERS "
                    f"({sorted(COMBINERS)}), a combiner nor a (name, combiner) pair.")
        labels = [n for n, _ in named]
        repeated = sorted({n for n in labels if labels.count(n) > 1})
        if repeated:
            raise ValueError(f"{name}: candidate names must be unique; {repeated!r} repeat. "
                             f"Pass (name, combiner) pairs to tell them apart.")
        return named

    # ------------------------------------------------------------------ fit
    def _folds(self, table: PredictionTable) -> list[tuple[np.ndarray, np.ndarray]]:
        from sklearn.model_selection import KFold, StratifiedKFold

        if table.task == "classification":
            splitter = StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)
            return list(splitter.split(np.zeros(table.n_samples), np.asarray(table.y)))
        splitter = KFold(self.cv, shuffle=True, random_state=self.random_state)
        return list(splitter.split(np.zeros(table.n_samples)))

    @staticmethod
    def _unfit_reason(est: Combiner, table: PredictionTable) -> str | None:
        if table.task not in type(est)._tasks:
            return f"skipped: {table.task} not supported"
        if type(est)._needs_inputs and table.X is None:
            return "skipped: needs inputs X"
        if type(est)._needs_labels_at_predict:
            return "skipped: needs labels at predict"
        return None

    def _fit(self, table: PredictionTable) -> None:
        metric = self.metric or METRICS[table.task][0]
        folds = self._folds(table)
        results: dict[str, list[Any]] = {"candidate": [], "status": [], "seconds": []}
        for m in (*METRICS[table.task], *(("cost_fraction",) if self.budget else ())):
            results[f"mean_{m}"], results[f"std_{m}"] = [], []
        fitted: dict[str, Combiner] = {}
        start = time.perf_counter()
        named = self._named_candidates()
        for i, (label, est) in enumerate(named):
            status = self._unfit_reason(est, table)
            over = (self.max_seconds is not None and fitted
                    and time.perf_counter() - start > self.max_seconds)
            if status is None and over:
                status = f"skipped: max_seconds={self.max_seconds:g} spent"
            tic = time.perf_counter()
            scores = {} if status is not None else cross_validate(
                est, table, folds, cost=self.budget is not None)
            self._record(results, label, status or "scored", scores, time.perf_counter() - tic)
            if status is None:
                fitted[label] = est
            if self.verbose:
                self._report(i, len(named), results, metric)
        self._choose(results, fitted, metric, table)

    @staticmethod
    def _record(results: dict[str, list[Any]], label: str, status: str,
                scores: dict[str, np.ndarray], seconds: float) -> None:
        results["candidate"].append(label)
        results["status"].append(status)
        results["seconds"].append(round(seconds, 4))
        for key in [k for k in results if k.startswith("mean_")]:
            values = scores.get(key[5:])
            results[key].append(np.nan if values is None else float(values.mean()))
            results["std_" + key[5:]].append(np.nan if values is None else float(values.std()))

    def _choose(self, results: dict[str, list[Any]], fitted: dict[str, Combiner], metric: str,
                table: PredictionTable) -> None:
        means = dict(zip(results["candidate"], results[f"mean_{metric}"], strict=True))
        self.cv_scores_ = {label: means[label] for label in fitted}
        if not fitted:
            raise ValueError(
                f"{type(self).__name__}: no candidate can be fitted on this {table.task} table "
                f"(inputs X: {'no' if table.X is None else 'yes'}); statuses: "
                f"{dict(zip(results['candidate'], results['status'], strict=True))}.")
        eligible = self._within_budget(results, fitted)
        sign = -1.0 if metric == "accuracy" else 1.0
        self.best_ = min(eligible, key=lambda label: sign * self.cv_scores_[label])
        self.best_score_ = self.cv_scores_[self.best_]
        self.cv_results_ = results
        skipped = [c for c, s in zip(results["candidate"], results["status"], strict=True)
                   if s.startswith("skipped: max_seconds")]
        if skipped:
            warnings.warn(f"{type(self).__name__}: max_seconds={self.max_seconds:g} was spent; "
                          f"candidates not tried: {skipped}.", UserWarning, stacklevel=3)
        self.best_estimator_ = clone(fitted[self.best_]).fit(table)

    def _within_budget(self, results: dict[str, list[Any]], fitted: dict[str, Combiner]
                       ) -> list[str]:
        """The scored candidates whose mean cost fraction meets the budget; marks the others."""
        if self.budget is None:
            return list(fitted)
        eligible, costs = [], {}
        for i, label in enumerate(results["candidate"]):
            if label not in fitted:
                continue
            costs[label] = round(results["mean_cost_fraction"][i], 3)
            if results["mean_cost_fraction"][i] <= self.budget + 1e-9:
                eligible.append(label)
            else:
                results["status"][i] = f"over budget: cost {costs[label]:.3f} > {self.budget:g}"
        if not eligible:
            raise ValueError(f"{type(self).__name__}: no candidate meets budget={self.budget:g}; "
                             f"cross-validated cost fractions: {costs}.")
        return eligible

    @staticmethod
    def _report(i: int, n: int, results: dict[str, list[Any]], metric: str) -> None:
        mean, std = results[f"mean_{metric}"][-1], results[f"std_{metric}"][-1]
        score = f"{metric} {mean:.4f} ± {std:.4f}" if results["status"][-1] == "scored" \
            else results["status"][-1]
        if "mean_cost_fraction" in results and results["status"][-1] == "scored":
            score += f", cost {results['mean_cost_fraction'][-1]:.3f}"
        print(f"[AutoCombiner] {i + 1}/{n} {results['candidate'][-1]}: {score} "
              f"({results['seconds'][-1]:.1f} s)", flush=True)

    # ------------------------------------------------------------------ predict
    def select(self, table: PredictionTable) -> np.ndarray:
        """The chosen combiner's per-input selection ``[N, M]`` (see `Combiner.select`)."""
        self._check_predict_table(table, "select")
        return self.best_estimator_.select(table)

    def predict_proba(self, table: PredictionTable) -> np.ndarray:
        """The chosen combiner's class probabilities ``[N, C]`` (classification)."""
        self._check_predict_table(table, "predict_proba")
        if self.task_ != "classification":
            raise ValueError(
                f"{type(self).__name__}.predict_proba is defined for classification; this "
                f"combiner was fitted on a {self.task_} table. Use predict.")
        return self.best_estimator_.predict_proba(table)

    def predict(self, table: PredictionTable) -> np.ndarray:
        """The chosen combiner's labels ``[N]`` or values ``[N]`` / ``[N, D]``."""
        self._check_predict_table(table, "predict")
        return self.best_estimator_.predict(table)
