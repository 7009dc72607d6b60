"""DifferentiableSelector (e2e-CEL): routing, gradients, k selection, errors, persistence."""

import numpy as np
import pytest
import torch

from ensel import DifferentiableSelector, PredictionTable
from ensel.ops import METHODS

FAST = dict(max_epochs=60, early_stopping=15, hidden_layer_sizes=(32,))


def routing_table(n=600, seed=0, n_members=2):
    """Member j is right exactly where the first input falls in its slice of the line."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    y = (X[:, 1] > 0).astype(int)
    right = np.eye(2)[y] * 0.9 + 0.05
    wrong = np.eye(2)[1 - y] * 0.9 + 0.05
    region = np.minimum(((X[:, 0] + 1) / 2 * n_members).astype(int), n_members - 1)
    P = np.stack([np.where((region == j)[:, None], right, wrong) for j in range(n_members)], 1)
    return PredictionTable.from_arrays(P, y=y, X=X)


@pytest.mark.parametrize("method", ["sparse", "entropic", "straight_through", "perturbed"])
def test_learns_to_route_to_the_right_member(method):
    train, test = routing_table(n=1000, seed=0), routing_table(seed=1)
    opts = {"n_samples": 20} if method == "perturbed" else None
    sel = DifferentiableSelector(k=1, method=method, method_options=opts,
                                 **{**FAST, "max_epochs": 150}).fit(train)
    accuracy = (sel.predict(test) == test.y).mean()
    assert accuracy >= 0.98, accuracy
    mask = sel.select(test)
    assert mask.shape == (test.n_samples, 2) and set(np.unique(mask)) <= {0.0, 1.0}
    np.testing.assert_array_equal(mask.sum(1), 1)


def test_routing_with_predictions_as_features_only():
    # the predictions alone cannot tell which member is right here: chance is the honest floor
    train = routing_table(seed=0)
    sel = DifferentiableSelector(k=1, features="predictions", **FAST).fit(train)
    assert sel.features_ == "predictions" and sel.selection_needs_predictions_


@pytest.mark.parametrize("method", METHODS)
def test_gradients_reach_the_selection_network(method):
    table = routing_table(n=64)
    sel = DifferentiableSelector(k=1, method=method, max_epochs=1, hidden_layer_sizes=(8,))
    sel.fit(table)
    net = sel.net_
    net.train()
    F, P = sel._tensors(table)
    scores, w = net(F)
    z = sel._mask(scores, 1, hard=False, generator=torch.Generator().manual_seed(0))
    loss = sel._loss(sel._combine_tensors(P, z, w), torch.from_numpy(table.y))
    loss.backward()
    grad = net.body[0].weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_k_auto_picks_k_on_validation():
    # three members, each wrong (but unconfident) on its own third of the rows, at random:
    # one member alone is right on 2/3 of rows, any two together are always right
    rng = np.random.default_rng(0)
    n = 900
    y = rng.integers(0, 2, n)
    third = rng.integers(0, 3, n)
    right, wrong = np.eye(2)[y] * 0.8 + 0.1, np.eye(2)[y] * -0.2 + 0.6
    P = np.stack([np.where((third == j)[:, None], wrong, right) for j in range(3)], 1)
    table = PredictionTable.from_arrays(P, y=y, X=rng.normal(size=(n, 2)))
    sel = DifferentiableSelector(k="auto", **FAST).fit(table)
    assert sorted(sel.k_scores_) == [1, 2, 3]
    assert sel.k_ >= 2
    assert sel.k_scores_[sel.k_] == max(sel.k_scores_.values())
    assert sel.k_scores_[1] < 0.8 <= sel.k_scores_[sel.k_]
    assert sel.select(table).sum(1).tolist() == [sel.k_] * n


def test_regression_routing():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(1000, 1))
    y = np.sin(3 * X[:, 0])
    P = np.stack([np.where(X[:, 0] < 0, y, y + 2), np.where(X[:, 0] < 0, y - 2, y)], 1)
    table = PredictionTable.from_arrays(P, y=y, X=X)
    sel = DifferentiableSelector(k=1, **{**FAST, "max_epochs": 150}).fit(table)
    assert sel.task_ == "regression"
    pred = sel.predict(table)
    assert pred.shape == (1000,)
    # a wrong pick costs 4, so MSE < 0.1 means more than 97.5% of inputs routed right
    # (either member alone: MSE 2.0)
    assert np.mean((pred - y) ** 2) < 0.1


def test_weighted_aggregation_and_calibration_keep_constraints():
    table = routing_table(n=300, n_members=3)
    sel = DifferentiableSelector(k=2, aggregation="weighted", **FAST).fit(table)
    w = sel.selection_weights(table)
    np.testing.assert_allclose(w.sum(1), 1, atol=1e-6)
    assert ((w > 0).sum(1) <= 2).all()
    proba = sel.predict_proba(table)
    np.testing.assert_allclose(proba.sum(1), 1, atol=1e-6)
    assert sel.temperature_ > 0


def test_deterministic_for_a_seed():
    table = routing_table(n=200)
    a = DifferentiableSelector(k=1, random_state=3, **FAST).fit(table).predict_proba(table)
    b = DifferentiableSelector(k=1, random_state=3, **FAST).fit(table).predict_proba(table)
    np.testing.assert_array_equal(a, b)


def test_save_load_roundtrip(tmp_path):
    table = routing_table(n=200, n_members=3)
    sel = DifferentiableSelector(k=2, aggregation="weighted", **FAST).fit(table)
    sel.save(tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "config.json", "weights.safetensors"]
    loaded = DifferentiableSelector.load(tmp_path / "model")
    np.testing.assert_array_equal(loaded.predict_proba(table), sel.predict_proba(table))
    np.testing.assert_array_equal(loaded.select(table), sel.select(table))
    assert loaded.get_params() == sel.get_params()


def test_default_k_is_three_or_the_pool_size():
    assert DifferentiableSelector(max_epochs=1).fit(routing_table(n=40)).k_ == 2
    assert DifferentiableSelector(max_epochs=1).fit(routing_table(n=40, n_members=4)).k_ == 3


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(k=3), r"'k' parameter of DifferentiableSelector must be an int in \[1, 2\]"),
        (dict(k=0), r"must be an int in \[1, 2\]. Got 0"),
        (dict(method="gumbel"), "'method' parameter of DifferentiableSelector must be one of"),
        (dict(features="pixels"), "'features' parameter"),
        (dict(aggregation="max"), "'aggregation' parameter"),
        (dict(validation_fraction=1.5), "'validation_fraction' parameter"),
        (dict(member_dropout=1.0), "'member_dropout' parameter"),
        (dict(max_epochs=0), "'max_epochs' parameter"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        DifferentiableSelector(**params).fit(routing_table(n=40))


def test_fit_and_predict_errors(tmp_path):
    from sklearn.exceptions import NotFittedError

    table = routing_table(n=60)
    unlabelled = PredictionTable.from_arrays(table.P, X=table.X)
    with pytest.raises(ValueError, match="needs labels: the table has y=None"):
        DifferentiableSelector().fit(unlabelled)
    with pytest.raises(TypeError, match="expects a PredictionTable; got ndarray"):
        DifferentiableSelector().fit(table.P)
    with pytest.raises(ValueError, match="features='inputs' needs inputs"):
        DifferentiableSelector(features="inputs").fit(PredictionTable.from_arrays(table.P, table.y))
    with pytest.raises(NotFittedError, match="not fitted yet"):
        DifferentiableSelector().predict(table)
    with pytest.raises(ValueError, match="Cannot save an unfitted"):
        DifferentiableSelector().save(tmp_path)
    sel = DifferentiableSelector(k=1, max_epochs=2).fit(table)
    other = PredictionTable.from_arrays(table.P, X=table.X, classes=["no", "yes"])
    with pytest.raises(ValueError, match="class order mismatch"):
        sel.predict(other)
    renamed = PredictionTable.from_arrays(table.P, X=table.X, members=["a", "b"])
    with pytest.raises(ValueError, match=r"fitted on members \['m0', 'm1'\]"):
        sel.predict(renamed)
    with pytest.raises(ValueError, match="fitted on X with 2 features; got 3"):
        sel.predict(PredictionTable.from_arrays(table.P, X=np.zeros((60, 3))))


def test_early_stopping_keeps_the_best_epoch():
    table = routing_table(n=200)
    sel = DifferentiableSelector(k=1, max_epochs=500, early_stopping=3, refit=False,
                                 hidden_layer_sizes=(8,)).fit(table)
    losses = [h["val_loss"] for h in sel.history_]
    best_epoch = int(np.argmin(losses)) + 1
    assert len(sel.history_) < 500  # stopped early
    assert len(sel.history_) - best_epoch == 3  # exactly `patience` epochs without progress
    F, P = sel._tensors(table[np.arange(table.n_samples)])
    _, val = sel._split(table)
    loss, _ = sel._evaluate(sel.net_, 1, F[val], P[val], torch.from_numpy(table.y[val]))
    assert loss == pytest.approx(min(losses), rel=1e-6)  # the kept weights are that epoch's
