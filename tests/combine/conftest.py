"""Shared tables and helpers for the combiner tests."""

from __future__ import annotations

import numpy as np
import pytest

from ensel import PredictionTable
from ensel.combine import COMBINERS

CLASSES = np.array(["cat", "dog", "eel"])
FAST = {"max_epochs": 8}        # keep the torch-based combiners quick in the common suite


def synthetic_arrays(n: int = 120, m: int = 4, c: int = 3, f: int = 2, seed: int = 0):
    """Members that are experts in parts of the input space, like a specialists pool."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, f))
    y = rng.integers(0, c, size=n)
    region = (X[:, 0] > 0).astype(int) + 2 * (X[:, 1] > 0).astype(int)      # 4 quadrants
    logits = rng.normal(scale=0.5, size=(n, m, c))
    for j in range(m):
        good = region == j % 4
        logits[good, j, y[good]] += 2.5
        logits[~good, j, y[~good]] += 0.3
    P = np.exp(logits)
    P /= P.sum(axis=2, keepdims=True)
    return P, y, X


def make_combiner(name: str):
    """A fresh instance of the registered combiner, fast settings (an import error fails)."""
    cls = COMBINERS[name]
    if cls.__module__ == "ensel.combine.learned":
        import torch

        torch.set_num_threads(1)   # tiny networks: extra threads only spin on a busy machine
    est = cls()
    fast = {k: v for k, v in FAST.items() if k in est.get_params()}
    return est.set_params(**fast)


def supports(est, task: str) -> bool:
    return task in getattr(type(est), "_tasks", ("classification", "regression"))


@pytest.fixture(scope="session")
def clf_tables():
    """(selection, test) classification tables with string classes and inputs X."""
    P, y, X = synthetic_arrays()
    table = PredictionTable.from_arrays(P, y=CLASSES[y], X=X, classes=CLASSES,
                                        members=["a", "b", "c", "d"])
    return table[:80], table[80:]


@pytest.fixture(scope="session")
def reg_tables():
    """(selection, test) single-output regression tables with inputs X."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(100, 2))
    y = X[:, 0] - 2 * X[:, 1]
    P = y[:, None] + rng.normal(scale=[0.2, 0.5, 1.0, 2.0], size=(100, 4))
    table = PredictionTable.from_arrays(P, y=y, X=X, members=["a", "b", "c", "d"])
    return table[:70], table[70:]


@pytest.fixture(scope="session")
def multi_reg_tables():
    """(selection, test) two-output regression tables P[N, M, 2]."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(90, 3))
    y = np.stack([X[:, 0], X[:, 1] + X[:, 2]], axis=1)
    P = y[:, None, :] + rng.normal(scale=0.3, size=(90, 3, 2)) * np.array([1, 2, 4])[None, :, None]
    table = PredictionTable.from_arrays(P, y=y, X=X, task="regression", members=["a", "b", "c"])
    return table[:60], table[60:]


@pytest.fixture(scope="session")
def fitted_clf(clf_tables):
    """``fitted_clf(name)``: the combiner fitted once per session on the classification table.

    For tests that only read a fitted combiner; tests of fitting itself build their own.
    """
    cache: dict[str, object] = {}

    def get(name: str):
        if name not in cache:
            cache[name] = make_combiner(name).fit(clf_tables[0])
        return cache[name]

    return get
