"""DifferentiableSelector (e2e-CEL): routing, gradients, k selection, errors, persistence."""

import numpy as np
import pytest
import torch

from ensel import DifferentiableSelector, PredictionTable
from ensel.ops import METHODS

FAST = dict(max_epochs=60, n_iter_no_change=15, hidden_layer_sizes=(32,))


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


def test_routing_from_the_predictions_alone_on_two_experts():
    # each expert is sure where it is right and says "don't know" (0.5) elsewhere: the
    # predictions alone tell the selector which member to trust
    rng = np.random.default_rng(0)
    n = 800
    y = rng.integers(0, 2, n)
    mine = rng.random(n) < 0.5
    sure, unsure = np.eye(2)[y] * 0.9 + 0.05, np.full((n, 2), 0.5)
    P = np.stack([np.where(mine[:, None], sure, unsure),
                  np.where(mine[:, None], unsure, sure)], axis=1)
    train = PredictionTable.from_arrays(P[:600], y=y[:600])
    test = PredictionTable.from_arrays(P[600:], y=y[600:])
    sel = DifferentiableSelector(k=1, aggregation="mean", **FAST).fit(train)
    assert sel.features_ == "predictions" and sel.selection_needs_predictions_
    np.testing.assert_array_equal(sel.select(test)[:, 0], mine[600:])
    assert (sel.predict(test) == test.y).mean() == 1.0


def test_stacked_head_alone_undoes_a_relabelling_member():
    # member 0 is always right up to a fixed relabelling of the classes (c -> c + 1 mod 3);
    # member 1 is right 40% of the time. Averaging k=1 can only copy a member's labels; the
    # stacked head learns the relabelling
    rng = np.random.default_rng(0)
    n = 900
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, 2))
    shifted = np.eye(3)[(y + 1) % 3] * 0.8 + 0.2 / 3
    noisy_labels = np.where(rng.random(n) < 0.4, y, rng.integers(0, 3, n))
    noisy = np.eye(3)[noisy_labels] * 0.8 + 0.2 / 3
    table = PredictionTable.from_arrays(np.stack([shifted, noisy], 1), y=y, X=X)
    train, test = table[np.arange(600)], table[np.arange(600, n)]
    stacked = DifferentiableSelector(k=1, aggregation="stacked", **FAST).fit(train)
    mean = DifferentiableSelector(k=1, aggregation="mean", **FAST).fit(train)
    assert stacked.aggregation_ == "stacked"
    assert (stacked.predict(test) == test.y).mean() >= 0.98
    assert (mean.predict(test) == test.y).mean() < 0.7


@pytest.mark.parametrize("method", METHODS)
def test_one_epoch_moves_the_selection_network(method):
    # the relaxation's gradient reaches the network: one epoch at the usual step moves the
    # first layer away from where an (almost) zero step leaves it, and nothing is NaN
    table = routing_table(n=64)
    params = dict(k=1, method=method, max_epochs=1, hidden_layer_sizes=(8,), refit=False,
                  early_stopping=False, calibrate=False, member_dropout=0.0)
    moved = DifferentiableSelector(**params).fit(table).net_.body[0].weight
    still = DifferentiableSelector(learning_rate=1e-12, **params).fit(table).net_.body[0].weight
    assert torch.isfinite(moved).all()
    assert (moved - still).abs().max() > 1e-5


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


def test_weighted_aggregation_keeps_constraints():
    table = routing_table(n=300, n_members=3)
    sel = DifferentiableSelector(k=2, aggregation="weighted", **FAST).fit(table)
    w = sel.selection_weights(table)
    np.testing.assert_allclose(w.sum(1), 1, atol=1e-6)
    assert ((w > 0).sum(1) <= 2).all()
    proba = sel.predict_proba(table)
    np.testing.assert_allclose(proba.sum(1), 1, atol=1e-6)


def test_calibration_lowers_the_nll_of_overconfident_members():
    # the right member says 0.99 but the labels are flipped on 15% of the rows: the combined
    # prediction is overconfident, and the fitted temperature/smoothing must lower held-out NLL
    from sklearn.metrics import log_loss

    def noisy(seed):
        table = routing_table(n=800, seed=seed)
        rng = np.random.default_rng(seed + 10)
        y = np.where(rng.random(table.n_samples) < 0.15, 1 - table.y, table.y)
        P = np.where(table.P > 0.5, 0.99, 0.01)
        return PredictionTable.from_arrays(P, y=y, X=table.X)

    train, test = noisy(0), noisy(1)
    raw = DifferentiableSelector(k=1, aggregation="mean", calibrate=False, **FAST).fit(train)
    cal = DifferentiableSelector(k=1, aggregation="mean", calibrate=True, **FAST).fit(train)
    before = log_loss(test.y, raw.predict_proba(test), labels=[0, 1])
    after = log_loss(test.y, cal.predict_proba(test), labels=[0, 1])
    assert cal.temperature_ > 1.5 or cal.smoothing_ > 0.05
    assert after < before - 0.1, (before, after)
    np.testing.assert_array_equal(cal.predict(test), raw.predict(test))   # labels unchanged


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
        "config.json", "model.safetensors"]
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
        (dict(alpha=-1.0), r"'alpha' parameter of DifferentiableSelector must be a float in"),
        (dict(early_stopping=5), r"'early_stopping' parameter of DifferentiableSelector must be "
                                 r"a bool. Got 5"),
        (dict(n_iter_no_change=0), "'n_iter_no_change' parameter"),
        (dict(hidden_layer_sizes=(0,)), "'hidden_layer_sizes' parameter"),
        (dict(dropout=1.0), "'dropout' parameter"),
        (dict(learning_rate=0.0), "'learning_rate' parameter"),
        (dict(batch_size=0), "'batch_size' parameter"),
        (dict(random_state=-1), "'random_state' parameter"),
        (dict(engine="spark"), r"'engine' parameter of DifferentiableSelector must be one of "
                               r"\('local', 'ray'\)"),
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
    with pytest.raises(NotFittedError, match="not fitted yet"):
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
    params = dict(k=1, aggregation="mean", refit=False, calibrate=False, hidden_layer_sizes=(8,))
    sel = DifferentiableSelector(max_epochs=500, n_iter_no_change=3, **params).fit(table)
    losses = [h["val_loss"] for h in sel.history_]
    best_epoch = int(np.argmin(losses)) + 1
    assert len(sel.history_) < 500  # stopped early
    assert len(sel.history_) - best_epoch == 3  # exactly n_iter_no_change epochs without progress
    assert sel.best_epoch_ == best_epoch
    # the kept weights are that epoch's: training exactly best_epoch epochs gives them too
    exact = DifferentiableSelector(max_epochs=best_epoch, early_stopping=False, **params)
    exact.fit(table)
    assert [h["val_loss"] for h in exact.history_] == losses[:best_epoch]
    for name, tensor in exact.net_.state_dict().items():
        assert torch.equal(sel.net_.state_dict()[name], tensor), name


def test_models_saved_by_ensel_0_1_load_with_a_future_warning(tmp_path):
    import json

    table = routing_table(n=200)
    sel = DifferentiableSelector(k=1, n_iter_no_change=7, alpha=3e-4, **{
        k: v for k, v in FAST.items() if k != "n_iter_no_change"}).fit(table)
    path = sel.save(tmp_path / "old")
    config = json.loads((path / "config.json").read_text())
    params = config["params"]
    params["weight_decay"] = params.pop("alpha")
    params["early_stopping"] = params.pop("n_iter_no_change")
    del params["engine_options"]
    config["version"] = 1
    (path / "config.json").write_text(json.dumps(config))
    (path / "model.safetensors").rename(path / "weights.safetensors")
    with pytest.warns(FutureWarning, match="'weight_decay' is now called 'alpha'"):
        loaded = DifferentiableSelector.load(path)
    assert (loaded.alpha, loaded.n_iter_no_change, loaded.early_stopping) == (3e-4, 7, True)
    np.testing.assert_array_equal(loaded.predict_proba(table), sel.predict_proba(table))


@pytest.mark.parametrize("change, match", [
    (lambda c: c.update(format="other"), "is not an ensel.DifferentiableSelector config"),
    (lambda c: c.update(version=99), "has format version 99; this ensel reads versions 1 and 2"),
    (lambda c: c.update(n_outputs=5), r"model.safetensors does not match .*config.json"),
])
def test_load_validates_the_saved_files(tmp_path, change, match):
    import json

    sel = DifferentiableSelector(k=1, **FAST).fit(routing_table(n=100))
    path = sel.save(tmp_path / "m")
    config = json.loads((path / "config.json").read_text())
    change(config)
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=match):
        DifferentiableSelector.load(path)


def test_load_names_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a saved selector: no config.json"):
        DifferentiableSelector.load(tmp_path)
    sel = DifferentiableSelector(k=1, **FAST).fit(routing_table(n=100))
    path = sel.save(tmp_path / "m")
    (path / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors is missing"):
        DifferentiableSelector.load(path)
    (path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="config.json is not valid JSON"):
        DifferentiableSelector.load(path)
