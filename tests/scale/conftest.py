"""Shared pools and data for the ensel.scale tests."""

from __future__ import annotations

import os

import numpy as np

# Local test clusters stay on loopback: with this variable set before Ray is imported, Ray takes
# 127.0.0.1 as the node address and binds its servers to it (its single-machine mode).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
import pytest


def make_data(n: int = 1000, f: int = 6, c: int = 3, seed: int = 0):
    """Synthetic classification inputs ``X[n, f]`` and labels ``y[n]`` in ``0..c-1``."""
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=n, n_features=f, n_informative=4, n_redundant=0,
                               n_classes=c, n_clusters_per_class=1, random_state=seed)
    return X, y


def make_pool(X, y, *, torch_member: bool = True):
    """Fitted sklearn classifiers (BLAS-backed and exact ones) and, optionally, a torch module
    whose logits are over the same classes."""
    import warnings

    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neural_network import MLPClassifier
    from sklearn.tree import DecisionTreeClassifier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pool = [("logreg", LogisticRegression(max_iter=300).fit(X, y)),
                ("nb", GaussianNB().fit(X, y)),
                ("tree", DecisionTreeClassifier(max_depth=4, random_state=0).fit(X, y)),
                ("mlp", MLPClassifier((16,), max_iter=50, random_state=0).fit(X, y))]
    if torch_member:
        import torch

        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], 8), torch.nn.ReLU(),
                                  torch.nn.Linear(8, len(np.unique(y))))
        pool.append(("torch", net))
    return pool


@pytest.fixture(scope="module")
def data():
    return make_data()


@pytest.fixture(scope="module")
def pool(data):
    return make_pool(*data)
