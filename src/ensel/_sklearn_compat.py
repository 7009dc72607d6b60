"""The one module that touches scikit-learn private API: running DESlib 0.3.7 beside ensel.

DESlib 0.3.7 calls ``BaseEstimator._validate_data``, which scikit-learn removed in 1.6 (it
became the public function ``sklearn.utils.validation.validate_data``). `patch_deslib` gives
DESlib's estimators that method back, mapped onto the public function. Nothing happens at
import: tests and benchmarks call ``patch_deslib()`` explicitly. ensel itself never imports
DESlib.

`TableMember` lets DESlib run on a `~ensel.PredictionTable`'s saved predictions instead of
re-running the members, so that timings compare selection work with selection work.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

_PATCHED: list[type] = []


def _validate_data(self: Any, X: Any = "no_validation", y: Any = "no_validation",
                   reset: bool = True, validate_separately: Any = False,
                   **check_params: Any) -> Any:
    from sklearn.utils.validation import validate_data

    return validate_data(self, X, y, reset=reset, validate_separately=validate_separately,
                         **check_params)


def patch_deslib() -> list[type]:
    """Make DESlib 0.3.7 run on scikit-learn >= 1.6; idempotent.

    Adds ``_validate_data`` to DESlib's base classes when scikit-learn no longer provides it.
    On older scikit-learn this does nothing.

    Returns
    -------
    patched : list of type
        The DESlib classes that received the method (empty when nothing was needed).

    Raises
    ------
    ImportError
        If DESlib is not installed (``pip install ensel[peers]``).
    """
    from sklearn.base import BaseEstimator

    if hasattr(BaseEstimator, "_validate_data"):
        return []
    if _PATCHED:
        return list(_PATCHED)
    try:
        import deslib.base
        import deslib.static.oracle
        import deslib.static.single_best
        import deslib.static.stacked
        import deslib.static.static_selection
    except ImportError as exc:
        raise ImportError(
            f"DESlib is not installed ({exc}); install the peers extra: pip install ensel[peers]"
        ) from exc
    for cls in (deslib.base.BaseDS, deslib.static.oracle.Oracle,
                deslib.static.single_best.SingleBest, deslib.static.stacked.StackedClassifier,
                deslib.static.static_selection.StaticSelection):
        if "_validate_data" not in vars(cls):
            cls._validate_data = _validate_data
            _PATCHED.append(cls)
    return list(_PATCHED)


class TableMember(ClassifierMixin, BaseEstimator):
    """A fitted classifier that answers from saved predictions, looked up by input row.

    DESlib needs estimators with ``predict``/``predict_proba``; this one returns the
    probabilities recorded in prediction tables for the same rows of ``X`` (matched on their
    bytes), so DESlib does no member inference. Every queried row must have been recorded.
    It is born fitted (``classes_`` is set by the constructor); ``fit`` does nothing.

    Parameters
    ----------
    X : ndarray of shape (N, F)
        Rows the member has predictions for (concatenate selection and test inputs).
    proba : ndarray of shape (N, C)
        The member's probabilities on those rows.
    classes : ndarray of shape (C,)

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 1.0], [2.0, 3.0]])
    >>> m = TableMember(X, np.array([[0.9, 0.1], [0.2, 0.8]]), np.array(["a", "b"]))
    >>> m.predict(X[::-1]).tolist()
    ['b', 'a']
    """

    def __init__(self, X: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> None:
        self.X = X
        self.proba = proba
        self.classes = classes
        rows = np.ascontiguousarray(X, dtype=np.float64)
        self._rows = {row.tobytes(): i for i, row in enumerate(rows)}
        self._proba = np.asarray(proba, dtype=np.float64)
        self.classes_ = np.asarray(classes)
        self.n_features_in_ = rows.shape[1]

    def fit(self, X: Any = None, y: Any = None) -> TableMember:
        """Nothing to learn: the member is already fitted (scikit-learn's checks want fit)."""
        return self

    def _lookup(self, X: Any) -> np.ndarray:
        X = np.ascontiguousarray(X, dtype=np.float64)
        try:
            idx = [self._rows[row.tobytes()] for row in X]
        except KeyError:
            raise ValueError("TableMember was asked about a row it has no prediction for.") \
                from None
        return np.asarray(idx, dtype=np.int64)

    def predict_proba(self, X: Any) -> np.ndarray:
        return self._proba[self._lookup(X)]

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def table_members(*tables: Any) -> list[TableMember]:
    """One `TableMember` per member of the given tables (same members; inputs ``X`` needed)."""
    X = np.concatenate([t.X for t in tables])
    P = np.concatenate([t.P for t in tables])
    classes = np.asarray(tables[0].classes)
    return [TableMember(X, P[:, m], classes) for m in range(P.shape[1])]
