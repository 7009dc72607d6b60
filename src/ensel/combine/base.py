"""The combiner API every method shares: ``fit(table)``, ``predict_proba``, ``predict``, ``select``.

A combiner learns, from a labelled `~ensel.PredictionTable` (the *selection* data), how to
combine the members' predictions; at predict time it receives a table of the same members,
classes and task. Subclasses implement three hooks:

- ``_fit(table)`` — learn from the checked, labelled table;
- ``_select(table)`` — the per-input selection ``[N, M]`` (0/1 mask or non-negative weights);
- ``_combine(table, selection)`` — probabilities ``[N, C]`` (classification) or values
  ``[N]`` / ``[N, D]`` (regression) from the table and that selection.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ensel import _validation as V
from ensel.table import PredictionTable

CLASSIFICATION = ("classification",)
BOTH_TASKS = ("classification", "regression")


class Combiner(BaseEstimator):
    """Base class of the combiners in `ensel.combine`.

    Fitted attributes (set by `fit`): ``members_`` (list of str), ``classes_`` (ndarray of shape
    ``(C,)``, ``None`` for regression), ``task_``, ``n_members_``, and ``n_features_in_`` for
    combiners that look at the inputs ``X``.

    Class attributes describe what a combiner needs: ``_tasks`` (tasks it handles),
    ``_needs_labels`` (``fit`` needs ``y``), ``_needs_inputs`` (``X`` at fit and predict),
    ``_needs_labels_at_predict`` (only `Oracle`), ``_static`` (the same selection for every
    input), ``_selection_from_inputs`` (the selection depends on ``X`` only).
    """

    _tasks: ClassVar[tuple[str, ...]] = CLASSIFICATION
    _needs_labels: ClassVar[bool] = True
    _needs_inputs: ClassVar[bool] = False
    _needs_labels_at_predict: ClassVar[bool] = False
    _static: ClassVar[bool] = False
    _selection_from_inputs: ClassVar[bool] = False

    @property
    def selection_needs_predictions_(self) -> bool:
        """Whether choosing the members for an input needs every member's prediction on it.

        False for static combiners (a fixed selection) and for dynamic ones that select from
        the inputs alone (OLA, KNORA-E, KNORA-U): a deployed ensemble then runs only the
        selected members. `~ensel.SelectiveEnsemble` and the cost metrics read this.
        """
        return not (self._static or self._selection_from_inputs)

    # ------------------------------------------------------------------ public API
    def fit(self, table: PredictionTable) -> Combiner:
        """Learn the combination from a labelled table (the selection data).

        Parameters
        ----------
        table : PredictionTable
            ``P[N, M, C]`` (or ``[N, M]`` / ``[N, M, D]`` for regression) with labels ``y[N]``;
            dynamic combiners also need the inputs ``X[N, F]``.

        Returns
        -------
        self : Combiner
        """
        owner = f"{type(self).__name__}.fit"
        V.check_table_like(table, owner)
        V.check_task_supported(table.task, self._tasks, type(self).__name__)
        if self._needs_labels:
            V.check_labelled(table, owner)
        if self._needs_inputs:
            V.check_has_inputs(table, type(self).__name__)
        self._check_params(table)
        self.members_ = list(table.members)
        self.classes_ = None if table.classes is None else np.asarray(table.classes)
        self.task_ = table.task
        self.n_members_ = table.n_members
        if self._needs_inputs:
            self.n_features_in_ = int(table.X.shape[1])
        self._fit(table)
        return self

    def select(self, table: PredictionTable) -> np.ndarray:
        """The per-input selection: which members count, and how much, for every row.

        Parameters
        ----------
        table : PredictionTable
            Same members, classes and task as at `fit`.

        Returns
        -------
        selection : ndarray of shape (N, M), float64
            A 0/1 mask (selection methods) or non-negative weights (weighting methods). For
            static combiners every row is the same.
        """
        table = self._check_predict_table(table, "select")
        return self._select(table)

    def predict_proba(self, table: PredictionTable) -> np.ndarray:
        """Class probabilities of the combined prediction.

        Parameters
        ----------
        table : PredictionTable
            A classification table with the members and classes seen at `fit`.

        Returns
        -------
        proba : ndarray of shape (N, C), float64
            Rows sum to 1; columns follow ``classes_``.
        """
        table = self._check_predict_table(table, "predict_proba")
        if self.task_ != "classification":
            raise ValueError(
                f"{type(self).__name__}.predict_proba is defined for classification; this "
                f"combiner was fitted on a {self.task_} table. Use predict."
            )
        return self._combine(table, self._select(table))

    def predict(self, table: PredictionTable) -> np.ndarray:
        """Combined prediction: class labels, or values for regression.

        Classification returns ``classes_[argmax(predict_proba)]``; ties between classes go to
        the class that comes first in ``classes_``.

        Parameters
        ----------
        table : PredictionTable

        Returns
        -------
        y_pred : ndarray of shape (N,) (labels or values) or (N, D) (multi-output regression)
        """
        table = self._check_predict_table(table, "predict")
        out = self._combine(table, self._select(table))
        if self.task_ == "classification":
            return self.classes_[np.argmax(out, axis=1)]
        return out

    # ------------------------------------------------------------------ hooks
    def _check_params(self, table: PredictionTable) -> None:
        """Validate the constructor parameters against the table (raise ValueError)."""

    def _fit(self, table: PredictionTable) -> None:
        """Learn from the checked table (fitted attributes end in ``_``)."""

    def _select(self, table: PredictionTable) -> np.ndarray:
        raise NotImplementedError

    def _combine(self, table: PredictionTable, selection: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # ------------------------------------------------------------------ helpers
    def _check_predict_table(self, table: Any, method: str) -> PredictionTable:
        name = type(self).__name__
        check_is_fitted(self, "members_")
        V.check_table_like(table, f"{name}.{method}")
        V.check_compatible(table, members=self.members_, classes=self.classes_, task=self.task_,
                           owner=name,
                           n_features=self.n_features_in_ if self._needs_inputs else None)
        if self._needs_labels_at_predict:
            V.check_labelled(table, f"{name}.{method}")
        return table

    def _static_rows(self, table: PredictionTable, row: np.ndarray) -> np.ndarray:
        """The fitted static selection ``row[M]`` repeated for every input: ``[N, M]``."""
        return np.broadcast_to(np.asarray(row, dtype=np.float64),
                               (table.n_samples, self.n_members_)).copy()
