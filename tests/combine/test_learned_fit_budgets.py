"""DifferentiableSelector.fit_budgets: one copy per budget, each exactly as fitted alone, the
sequential policy's network trained once for all of them."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

import ensel._training as training
from ensel import DifferentiableSelector, PredictionTable

FAST = dict(max_epochs=6, hidden_layer_sizes=(8,), n_iter_no_change=2, random_state=1)


def table(n: int = 160, seed: int = 0) -> PredictionTable:
    """Member j is right where ``X[:, j % 3] > 0``, else a random guess; unequal costs."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = rng.integers(0, 3, n)
    P = np.stack([np.where((X[:, j % 3] > 0)[:, None], np.eye(3)[y] * 0.7 + 0.1,
                           rng.dirichlet(np.ones(3), n)) for j in range(4)], axis=1)
    return PredictionTable.from_arrays(P, y=y, X=X, costs=np.array([1.0, 2.0, 3.0, 1.0]))


@pytest.fixture()
def counted(monkeypatch):
    """The candidates trained (their ``info``), in order."""
    calls = []
    train = training.train

    def counting(job, **kwargs):
        calls.append(dict(job.info))
        return train(job, **kwargs)

    monkeypatch.setattr(training, "train", counting)
    return calls


def test_fit_budgets_equals_fitting_each_budget_alone(counted):
    t, budgets = table(), [0.3, 0.6, 1.0]
    sel = DifferentiableSelector(**FAST)
    alone = [clone(sel).set_params(budget=b).fit(t) for b in budgets]
    n_alone = len(counted)
    counted.clear()
    together = sel.fit_budgets(t, budgets)
    sequential = [c for c in counted if c["policy"] == "sequential"]
    assert len(sequential) == 1 and len(counted) == n_alone - 1      # 2 budgets below 1
    assert not hasattr(sel, "net_") and [s.budget_ for s in together] == budgets
    for a, b in zip(alone, together, strict=True):
        assert (a.policy_, a.aggregation_, a.best_epoch_) == (b.policy_, b.aggregation_,
                                                              b.best_epoch_)
        assert a.threshold_ == b.threshold_ and a.history_ == b.history_
        np.testing.assert_array_equal(a.predict_proba(t), b.predict_proba(t))
        np.testing.assert_array_equal(a.select(t), b.select(t))
        assert not hasattr(b, "_budget_group")
    # the shared training counts in every copy's fit time
    assert all(s.fit_seconds_ > 0 for s in together)


@pytest.mark.parametrize("budgets", [[], 0.3, "0.3", [0.3, 0.0], [1.5]])
def test_fit_budgets_checks_the_budgets(budgets):
    with pytest.raises(ValueError, match="'budgets' parameter of DifferentiableSelector"
                                         ".fit_budgets"):
        DifferentiableSelector(**FAST).fit_budgets(table(40), budgets)
