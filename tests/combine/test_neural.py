"""NeuralEnsembler: weights, seeding, member dropout, regression, parameters."""

from __future__ import annotations

import numpy as np
import pytest

from ensel import PredictionTable

from .conftest import synthetic_arrays

torch = pytest.importorskip("torch")

from ensel.combine.neural import NeuralEnsembler


@pytest.fixture(scope="module")
def tables():
    P, y, X = synthetic_arrays(n=300, m=4)
    # member 3 is an expert only where x0 > 0 and x1 > 0; make inputs reveal that via P
    table = PredictionTable.from_arrays(P, y=y, X=X)
    return table[:200], table[200:]


def test_weights_are_per_input_and_sum_to_one(tables):
    sel, test = tables
    est = NeuralEnsembler(max_epochs=60).fit(sel)
    w = est.select(test)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-5)
    assert w.std(axis=0).max() > 0.01, "weights should vary with the input"
    np.testing.assert_allclose(est.predict_proba(test), np.einsum("nm,nmc->nc", w, test.P),
                               atol=1e-6)
    assert 1 <= est.best_epoch_ <= est.n_epochs_ <= 60


def test_better_than_the_plain_average(tables):
    sel, test = tables
    est = NeuralEnsembler(max_epochs=100).fit(sel)
    nll = -np.mean(np.log(est.predict_proba(test)[np.arange(test.n_samples), test.y]))
    avg = test.P.mean(axis=1)
    nll_avg = -np.mean(np.log(avg[np.arange(test.n_samples), test.y]))
    assert nll < nll_avg


def test_seeded(tables):
    sel, test = tables
    a = NeuralEnsembler(max_epochs=10, random_state=1).fit(sel).select(test)
    b = NeuralEnsembler(max_epochs=10, random_state=1).fit(sel).select(test)
    c = NeuralEnsembler(max_epochs=10, random_state=2).fit(sel).select(test)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_restores_torch_threads(tables):
    sel, _ = tables
    before = torch.get_num_threads()
    NeuralEnsembler(max_epochs=2, n_threads=1).fit(sel)
    assert torch.get_num_threads() == before


def test_heavy_member_dropout_keeps_one_member_per_row(tables):
    # a row with every member dropped would put softmax over -inf only: NaN loss, NaN weights
    sel, test = tables
    est = NeuralEnsembler(member_dropout=0.99, max_epochs=3, batch_size=16).fit(sel)
    weights = est.select(test)
    assert np.isfinite(est.validation_loss_) and np.isfinite(weights).all()
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)


def test_regression_weights_favour_the_precise_member():
    rng = np.random.default_rng(0)
    y = rng.normal(size=400) * 10 + 50
    P = y[:, None] + rng.normal(scale=[0.5, 5.0, 10.0], size=(400, 3))
    table = PredictionTable.from_arrays(P, y=y)
    est = NeuralEnsembler(max_epochs=100).fit(table[:300])
    assert est.select(table[300:]).mean(axis=0)[0] > 0.6
    assert np.mean((est.predict(table[300:]) - y[300:]) ** 2) < 5.0


@pytest.mark.parametrize("params, message", [
    ({"hidden_layer_sizes": (0,)}, (r"'hidden_layer_sizes' parameter of NeuralEnsembler must be "
                                   r"a tuple of ints >= 1. Got \(0,\)")),
    ({"member_dropout": 1.0}, (r"'member_dropout' parameter of NeuralEnsembler must be a float "
                              r"in \[0, 1\). Got 1.0")),
    ({"learning_rate": 0}, (r"'learning_rate' parameter of NeuralEnsembler must be a float in "
                           r"\(0, inf\]")),
    ({"max_epochs": 0}, r"'max_epochs' parameter of NeuralEnsembler must be an int >= 1"),
    ({"batch_size": 2.0}, r"'batch_size' parameter of NeuralEnsembler must be an int >= 1"),
    ({"validation_fraction": 1.0}, (r"'validation_fraction' parameter of NeuralEnsembler must "
                                   r"be a float in \(0, 1\)")),
    ({"n_threads": 0}, r"'n_threads' parameter of NeuralEnsembler must be an int >= 1"),
    ({"alpha": -1.0}, r"'alpha' parameter of NeuralEnsembler must be a float in \[0, inf\]"),
    ({"n_iter_no_change": 0}, r"'n_iter_no_change' parameter of NeuralEnsembler must be an int"),
    ({"validation_fraction": 0.01}, r"needs at least one training and one validation row"),
])
def test_bad_parameters(tables, params, message):
    sel, _ = tables
    with pytest.raises(ValueError, match=message):
        NeuralEnsembler(**params).fit(sel[:20])
