"""SelectiveEnsemble: a scikit-learn estimator made of members and a combiner.

Its ``predict`` runs, for each input, only the members the combiner selected (when the
selection can be made without them), grouped by member and batched -- stage by stage, in the
combiner's order, for sequential policies such as `~ensel.combine.Cascade` -- and records the
cost, weighted by the member costs (one unit each, the user's numbers, or measured seconds).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ensel.members import named_members, predict_member
from ensel.table import PredictionTable


def _is_fitted(estimator: Any) -> bool:
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return False
    except TypeError:  # not an estimator (e.g. a plain callable): treat as prefit
        return True
    return True


_TIMING_ROUNDS = 3


def _needs_predictions(combiner: Any) -> bool:
    """Whether the combiner must see all members' predictions to select."""
    return bool(getattr(combiner, "selection_needs_predictions_", True))


def _is_sequential(combiner: Any) -> bool:
    """Whether the combiner runs the members itself, stage by stage (e.g. `Cascade`)."""
    return callable(getattr(combiner, "run_sequential", None)) and bool(
        getattr(combiner, "sequential_", True))


class _SelectiveEnsembleBase(BaseEstimator):
    _task = "classification"

    def __init__(self, estimators: list[Any], combiner: Any = None, *,
                 selection_split: float = 0.25, cv: int | None = None,
                 random_state: int | None = 0, costs: Any = None) -> None:
        self.estimators = estimators
        self.combiner = combiner
        self.selection_split = selection_split
        self.cv = cv
        self.random_state = random_state
        self.costs = costs

    # ------------------------------------------------------------------ fit
    def _check_init(self) -> list[tuple[str, Any]]:
        name = type(self).__name__
        if self.cv is not None and (isinstance(self.cv, bool) or not isinstance(self.cv, int)
                                    or self.cv < 2):
            raise ValueError(
                f"The 'cv' parameter of {name} must be None or an int >= 2. Got {self.cv!r} "
                f"instead.")
        if self.cv is None and not 0 < self.selection_split < 1:
            raise ValueError(
                f"The 'selection_split' parameter of {name} must be in (0, 1). "
                f"Got {self.selection_split!r} instead.")
        named = named_members(self.estimators or [])
        if not named:
            raise ValueError(f"{name} needs at least one member in 'estimators'.")
        if not (self.costs is None or isinstance(self.costs, str) and self.costs == "measured"):
            from ensel._validation import check_costs

            if isinstance(self.costs, str) or np.ndim(self.costs) != 1:
                raise ValueError(
                    f"The 'costs' parameter of {name} must be None, 'measured' or one cost per "
                    f"member (shape ({len(named)},)). Got {self.costs!r} instead.")
            check_costs(self.costs, 1, [n for n, _ in named])
        return named

    def _default_combiner(self) -> Any:
        from ensel.combine.learned import DifferentiableSelector

        return DifferentiableSelector(random_state=self.random_state or 0)

    def fit(self, X: Any, y: Any) -> _SelectiveEnsembleBase:
        """Fit unfitted members on one part of the data and the combiner on the other.

        Prefit members (already fitted) are used as they are. Without ``cv``, a stratified
        ``selection_split`` share of the rows is held out: unfitted members are fitted on the
        rest and the combiner on the held-out predictions. With ``cv``, the combiner is fitted
        on out-of-fold predictions of all rows and the members are then refitted on all rows.
        The combiner never sees predictions on a member's own training rows.

        Parameters
        ----------
        X : array-like of shape (N, F)
        y : array-like of shape (N,)
        """
        named = self._check_init()
        X, y = validate_data(self, X, y, y_numeric=self._task == "regression", allow_nd=True)
        if self._task == "classification":
            check_classification_targets(y)
            self.classes_ = np.unique(y)
        else:
            self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
        fitted = [_is_fitted(est) for _, est in named]
        self.combiner_ = clone(self.combiner) if self.combiner is not None \
            else self._default_combiner()
        rows = np.arange(len(y))
        if all(fitted):
            members = list(named)
            P = self._member_outputs(members, X)
            sel_rows = rows
        elif self.cv is None:
            from sklearn.model_selection import train_test_split

            stratify = y if self._task == "classification" and self._can_stratify(y) else None
            base_rows, sel_rows = train_test_split(rows, test_size=self.selection_split,
                                                   stratify=stratify,
                                                   random_state=self.random_state)
            members = [(n, e) if f else (n, clone(e).fit(X[base_rows], y[base_rows]))
                       for (n, e), f in zip(named, fitted, strict=True)]
            P = self._member_outputs(members, X[sel_rows])
        else:
            from sklearn.model_selection import cross_val_predict

            method = "predict_proba" if self._task == "classification" else "predict"
            columns = []
            for (n, e), f in zip(named, fitted, strict=True):
                if f:
                    columns.append(predict_member(n, e, X, self._task))
                else:
                    columns.append(cross_val_predict(clone(e), X, y, cv=self.cv, method=method))
            P = np.stack(columns, axis=1)
            members = [(n, e) if f else (n, clone(e).fit(X, y))
                       for (n, e), f in zip(named, fitted, strict=True)]
            sel_rows = rows
        self.members_ = members
        self.n_members_ = len(members)
        self.costs_ = self._fit_costs(X[sel_rows])
        table = self._table(P, X[sel_rows], y[sel_rows])
        self.combiner_.fit(table)
        return self

    def _fit_costs(self, X: np.ndarray) -> np.ndarray | None:
        """Member costs ``[M]``: None (one unit each), the user's, or seconds per row."""
        if self.costs is None:
            return None
        if not isinstance(self.costs, str):
            return np.asarray(self.costs, dtype=np.float64)
        # the fastest of three interleaved rounds: one stall of the machine (another job, a
        # first-call warm-up) would otherwise decide the costs the budget is calibrated on
        # (measured on a loaded machine: one member's share ranged from 1% to 34% across fits)
        seconds = np.full(len(self.members_), np.inf)
        for _ in range(_TIMING_ROUNDS):
            for j, (name, est) in enumerate(self.members_):
                start = time.perf_counter()
                predict_member(name, est, X, self._task)
                seconds[j] = min(seconds[j], (time.perf_counter() - start) / max(1, len(X)))
        return np.maximum(seconds, 1e-12)

    @staticmethod
    def _can_stratify(y: np.ndarray) -> bool:
        _, counts = np.unique(y, return_counts=True)
        return counts.min() >= 2

    def _member_outputs(self, members: list[tuple[str, Any]], X: np.ndarray) -> np.ndarray:
        columns = []
        for name, est in members:
            out = predict_member(name, est, X, self._task)
            if self._task == "classification":
                out = self._align_classes(name, est, out)
            columns.append(out)
        return np.stack(columns, axis=1)

    def _align_classes(self, name: str, est: Any, proba: np.ndarray) -> np.ndarray:
        est_classes = getattr(est, "classes_", None)
        if est_classes is None:
            if proba.shape[1] != len(self.classes_):
                raise ValueError(
                    f"member {name!r} returned {proba.shape[1]} class columns; the data has "
                    f"{len(self.classes_)} classes.")
            return proba
        from ensel._validation import check_same_classes

        check_same_classes(self.classes_, est_classes, f"member {name!r}")
        return proba

    def _table(self, P: np.ndarray, X: np.ndarray, y: np.ndarray | None) -> PredictionTable:
        names = [n for n, _ in self.members_]
        costs = getattr(self, "costs_", None)
        if self._task == "classification":
            return PredictionTable.from_arrays(P, y=y, X=X, members=names, costs=costs,
                                               classes=self.classes_, task="classification")
        return PredictionTable.from_arrays(P, y=y, X=X, members=names, task="regression",
                                           costs=costs)

    # ------------------------------------------------------------------ predict
    def _selected_table(self, X: Any) -> tuple[PredictionTable, np.ndarray]:
        """Table on ``X`` in which only the selected members were evaluated, and the mask."""
        check_is_fitted(self, "members_")
        X = validate_data(self, X, reset=False, allow_nd=True)
        n, m = len(X), self.n_members_
        if _is_sequential(self.combiner_):
            P = self._placeholder(n)

            def fetch(j: int, rows: np.ndarray) -> np.ndarray:
                P[rows, j] = self._run_member(j, X[rows])
                return P[rows, j]

            _, mask = self.combiner_.run_sequential(n, fetch, X=X)
            mask = mask > 0
            table = self._table(P, X, None)
            evaluated = mask
        elif _needs_predictions(self.combiner_):
            P = self._member_outputs(self.members_, X)
            table = self._table(P, X, None)
            mask = np.asarray(self.combiner_.select(table)) > 0
            evaluated = np.ones((n, m), dtype=bool)
        else:
            P = self._placeholder(n)
            mask = np.asarray(self.combiner_.select(self._table(P, X, None))) > 0
            for j in range(m):
                rows = np.flatnonzero(mask[:, j])
                if len(rows):
                    P[rows, j] = self._run_member(j, X[rows])
            table = self._table(P, X, None)
            evaluated = mask
        per_input = evaluated.sum(1)
        costs = table.cost_matrix()
        spent = (evaluated * costs).sum(1)
        self.last_cost_ = {
            "members_per_input": float(per_input.mean()) if n else 0.0,
            "fraction_of_full": float(per_input.mean() / m) if n else 0.0,
            "cost_per_input": float(spent.mean()) if n else 0.0,
            "cost_fraction": float(spent.sum() / costs.sum()) if n else 0.0,
            "member_evaluations": int(per_input.sum()),
            "full_ensemble_evaluations": int(n * m),
            "per_member": {name: int(evaluated[:, j].sum())
                           for j, (name, _) in enumerate(self.members_)},
        }
        return table, mask

    def _run_member(self, j: int, X: np.ndarray) -> np.ndarray:
        """Member ``j``'s predictions on ``X`` (class columns checked)."""
        name, est = self.members_[j]
        out = predict_member(name, est, X, self._task)
        if self._task == "classification":
            out = self._align_classes(name, est, out)
        return out

    def _placeholder(self, n: int) -> np.ndarray:
        """Values for members that are not run; the combiner gives them zero weight."""
        m = self.n_members_
        if self._task == "classification":
            c = len(self.classes_)
            return np.full((n, m, c), 1.0 / c, dtype=np.float64)
        if self.n_outputs_ == 1:
            return np.zeros((n, m))
        return np.zeros((n, m, self.n_outputs_))

    def select(self, X: Any) -> np.ndarray:
        """The combiner's per-input selection ``[N, M]`` (mask or weights)."""
        table, _ = self._selected_table(X)
        return np.asarray(self.combiner_.select(table))


class SelectiveEnsemble(ClassifierMixin, _SelectiveEnsembleBase):
    """A classifier that runs, per input, only the members its combiner selects.

    Parameters
    ----------
    estimators : list of (name, estimator) or estimators
        Members, prefit (used as they are) or unfitted (fitted by `fit`). Classifiers with
        ``predict_proba``; torch modules and callables returning probabilities work when
        prefit. A torch module runs as `ensel.members.torch_predict` runs it (eval mode, no
        gradients, batched, on its parameters' device; logits unless ``outputs_proba =
        True``), and ``X`` may then be images ``[N, 1, 28, 28]`` or any ``[N, ...]``.
    combiner : combiner, default=None
        Any ensel combiner; ``None`` means ``DifferentiableSelector()``.
    selection_split : float, default=0.25
        Share of the rows held out to fit the combiner (when ``cv`` is None).
    cv : int, optional
        Fit the combiner on ``cv``-fold out-of-fold predictions instead, then refit the members
        on all rows.
    random_state : int, default=0
    costs : None, "measured" or array-like of shape (M,), default=None
        What running each member costs: one unit each (None), your numbers (FLOPs, dollars,
        seconds), or ``"measured"``: each member is timed on the selection part at `fit`
        (seconds per row, the fastest of three interleaved rounds). The combiner sees them
        in its table (budgets are in these units)
        and ``last_cost_`` weighs the members run by them.

    Attributes
    ----------
    members_ : list of (name, estimator)
    combiner_ : the fitted combiner
    classes_ : ndarray of shape (C,)
    costs_ : ndarray of shape (M,) or None
        The member costs used (None: one unit each).
    last_cost_ : dict
        After each prediction: ``members_per_input``, ``fraction_of_full`` (of the full
        ensemble's member evaluations), ``cost_per_input`` and ``cost_fraction`` (weighted by
        ``costs_``), ``member_evaluations``, ``per_member``.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from ensel import SelectiveEnsemble, DifferentiableSelector
    >>> X, y = load_iris(return_X_y=True)
    >>> model = SelectiveEnsemble(
    ...     [("lr", LogisticRegression(max_iter=500)), ("tree", DecisionTreeClassifier())],
    ...     DifferentiableSelector(k=1, max_epochs=20)).fit(X, y)
    >>> model.predict(X[:3]).shape
    (3,)
    >>> model.last_cost_["members_per_input"]
    1.0
    """

    _task = "classification"

    def predict_proba(self, X: Any) -> np.ndarray:
        """Combined class probabilities ``[N, C]``."""
        table, _ = self._selected_table(X)
        return self.combiner_.predict_proba(table)

    def predict(self, X: Any) -> np.ndarray:
        """Class labels ``[N]``."""
        check_is_fitted(self, "members_")
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class SelectiveEnsembleRegressor(RegressorMixin, _SelectiveEnsembleBase):
    """The regression variant of `SelectiveEnsemble` (members predict values)."""

    _task = "regression"

    def predict(self, X: Any) -> np.ndarray:
        """Combined predictions ``[N]``."""
        table, _ = self._selected_table(X)
        return self.combiner_.predict(table)


SelectiveEnsembleClassifier = SelectiveEnsemble

__all__ = ["SelectiveEnsemble", "SelectiveEnsembleClassifier", "SelectiveEnsembleRegressor"]
