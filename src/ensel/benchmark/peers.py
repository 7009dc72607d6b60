"""DESlib's dynamic-selection methods behind ensel's combiner API, on saved predictions.

DESlib is an optional peer (``pip install ensel[peers]``). Its methods run in the same process
and on the same pool as ensel's combiners: the members answer from the prediction tables
(`ensel._sklearn_compat.TableMember`), so neither side's timing includes member inference.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from ensel.table import PredictionTable

DESLIB_METHODS: dict[str, tuple[str, str]] = {
    "knora-e": ("deslib.des", "KNORAE"),
    "knora-u": ("deslib.des", "KNORAU"),
    "meta-des": ("deslib.des", "METADES"),
    "ola": ("deslib.dcs", "OLA"),
}
"""DESlib method name → (module, class)."""

PREFIX = "deslib:"


def deslib_available() -> bool:
    """Whether DESlib can be imported (without importing it)."""
    return importlib.util.find_spec("deslib") is not None


def peer_names() -> list[str]:
    """The benchmark names of DESlib's methods, e.g. ``"deslib:knora-e"``."""
    return [PREFIX + name for name in DESLIB_METHODS]


class DESlibCombiner:
    """A DESlib method with ensel's ``fit(table)`` / ``predict_proba`` / ``select`` API.

    Parameters
    ----------
    method : {"knora-e", "knora-u", "meta-des", "ola"}
        The DESlib class to run, with its defaults (7 neighbours) except ``n_jobs=1``.
    pool : list of estimator
        Fitted members; normally ``ensel._sklearn_compat.table_members(selection, test)``,
        which answer from saved predictions. Tables passed to this combiner need inputs ``X``.
    random_state : int, default=0

    Notes
    -----
    DESlib evaluates every member of the pool for every input at predict time, so `select`
    returns all ones ``[N, M]``: the cost counted for DESlib is the whole pool.

    Examples
    --------
    >>> import numpy as np
    >>> from ensel import PredictionTable
    >>> from ensel._sklearn_compat import table_members
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 2))
    >>> table = PredictionTable.from_arrays(rng.dirichlet(np.ones(2), size=(60, 3)),
    ...                                     y=rng.integers(0, 2, 60), X=X)
    >>> sel, test = table[:40], table[40:]
    >>> model = DESlibCombiner("knora-u", table_members(sel, test)).fit(sel)
    >>> model.predict_proba(test).shape
    (20, 2)
    """

    selection_needs_predictions_ = True

    def __init__(self, method: str, pool: list[Any], *, random_state: int = 0) -> None:
        self.method = method
        self.pool = pool
        self.random_state = random_state

    def fit(self, table: PredictionTable) -> DESlibCombiner:
        """Fit DESlib's method on the selection table (``X`` and ``y`` needed)."""
        import importlib

        from ensel._sklearn_compat import patch_deslib

        if self.method not in DESLIB_METHODS:
            raise ValueError(
                f"The 'method' parameter of DESlibCombiner must be one of "
                f"{sorted(DESLIB_METHODS)}. Got {self.method!r} instead.")
        if table.X is None:
            raise ValueError(f"DESlib's {self.method} needs the inputs X; the table has none.")
        patch_deslib()
        module, cls = DESLIB_METHODS[self.method]
        model_cls = getattr(importlib.import_module(module), cls)
        self.model_ = model_cls(pool_classifiers=self.pool, random_state=self.random_state,
                                n_jobs=1)
        self.model_.fit(np.asarray(table.X), table.y_labels)
        self.classes_ = np.asarray(table.classes)
        self.n_members_ = table.n_members
        return self

    def predict_proba(self, table: PredictionTable) -> np.ndarray:
        """Probabilities ``[N, C]`` in the table's class order (NaN rows become uniform)."""
        raw = np.asarray(self.model_.predict_proba(np.asarray(table.X)), dtype=np.float64)
        raw = np.nan_to_num(raw, nan=0.0)
        proba = np.zeros((raw.shape[0], len(self.classes_)))
        columns = [int(np.flatnonzero(self.classes_ == c)[0]) for c in self.model_.classes_]
        proba[:, columns] = raw
        sums = proba.sum(axis=1, keepdims=True)
        empty = sums[:, 0] <= 0
        proba[empty] = 1.0 / proba.shape[1]
        sums[empty] = 1.0
        return proba / sums

    def predict(self, table: PredictionTable) -> np.ndarray:
        """Class labels: the argmax of `predict_proba`."""
        return self.classes_[np.argmax(self.predict_proba(table), axis=1)]

    def select(self, table: PredictionTable) -> np.ndarray:
        """All ones ``[N, M]``: DESlib runs every member for every input."""
        return np.ones((table.n_samples, self.n_members_))
