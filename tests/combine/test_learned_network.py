"""DifferentiableSelector(network=...): a selection network of one's own, e.g. a CNN on images."""

from __future__ import annotations

import functools
import pickle

import numpy as np
import pytest
import torch
from torch import nn

from ensel import DifferentiableSelector, PredictionTable
from ensel.nets import ConvNet, factory_from_spec, factory_spec

FAST = dict(max_epochs=40, n_iter_no_change=10, aggregation="mean", calibrate=False)
CNN = functools.partial(ConvNet, channels=(4, 8))


def image_table(n: int = 160, seed: int = 0) -> PredictionTable:
    """Images whose left half is bright (member 0 is right there) or dark (member 1 is)."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, 1, 8, 8)).astype(np.float32) * 0.2
    left = rng.random(n) < 0.5
    X[left, :, :, :4] += 0.8
    y = rng.integers(0, 2, n)
    right, wrong = np.eye(2)[y] * 0.9 + 0.05, np.eye(2)[1 - y] * 0.9 + 0.05
    P = np.stack([np.where(left[:, None], right, wrong),
                  np.where(left[:, None], wrong, right)], axis=1)
    return PredictionTable.from_arrays(P, y=y, X=X)


def test_a_cnn_selection_network_learns_which_member_to_trust_on_images():
    table = image_table()
    sel = DifferentiableSelector(k=1, network=CNN, learning_rate=1e-2, **FAST).fit(table)
    test = image_table(80, seed=1)
    assert (sel.predict(test) == test.y).mean() > 0.95
    assert isinstance(sel.net_.body, ConvNet) and sel.input_shape_ == (1, 8, 8)
    assert sel.selection_needs_predictions_ is False


def test_the_factory_is_called_with_the_input_shape_and_the_pool_size():
    calls = []

    def factory(input_shape, n_members):
        calls.append((input_shape, n_members))
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 5))

    DifferentiableSelector(k=1, network=factory, max_epochs=2, refit=False,
                           aggregation="mean", calibrate=False).fit(image_table(40))
    assert calls == [((1, 8, 8), 2)]


def test_the_factory_pickles_for_remote_engines():
    sel = DifferentiableSelector(k=1, network=CNN)
    assert pickle.loads(pickle.dumps(sel)).network.keywords == {"channels": (4, 8)}


def test_save_and_load_a_selector_with_a_cnn(tmp_path):
    table = image_table(80)
    sel = DifferentiableSelector(k=1, network=CNN, **FAST).fit(table)
    loaded = DifferentiableSelector.load(sel.save(tmp_path / "sel"))
    assert loaded.network.func is ConvNet and loaded.network.keywords == {"channels": [4, 8]}
    np.testing.assert_allclose(loaded.predict_proba(table), sel.predict_proba(table), atol=1e-6)
    np.testing.assert_array_equal(loaded.select(table), sel.select(table))


class _Local(nn.Module):
    def __init__(self, input_shape, n_members):
        super().__init__()
        self.linear = nn.Linear(int(np.prod(input_shape)), n_members)

    def forward(self, x):
        return self.linear(x.flatten(1))


def test_saving_a_factory_that_cannot_be_named_is_refused(tmp_path):
    sel = DifferentiableSelector(k=1, network=lambda s, m: _Local(s, m), max_epochs=2,
                                 **{k: v for k, v in FAST.items() if k != "max_epochs"})
    sel.fit(image_table(40))
    with pytest.raises(ValueError, match=r"'network' factory of DifferentiableSelector cannot "
                                         r"be saved: .* is not importable by name"):
        sel.save(tmp_path / "sel")
    assert not (tmp_path / "sel").exists()


@pytest.mark.parametrize(("factory", "match"), [
    (functools.partial(ConvNet, (1, 8, 8)), "positional arguments"),
    (functools.partial(ConvNet, channels=torch.ones(2)), "are not JSON"),
])
def test_factory_spec_refuses_what_json_cannot_hold(factory, match):
    with pytest.raises(ValueError, match=match):
        factory_spec(factory)


def test_factory_specs_round_trip_and_bad_ones_name_the_file():
    spec = factory_spec(CNN)
    assert spec == {"factory": "ensel.nets:ConvNet", "kwargs": {"channels": [4, 8]}}
    assert factory_from_spec(spec, "here").func is ConvNet
    assert factory_from_spec({"factory": "ensel.nets:ConvNet", "kwargs": {}}, "x") is ConvNet
    with pytest.raises(ValueError, match=r"cfg.json: the network factory 'nowhere:Net' cannot "
                                         r"be imported"):
        factory_from_spec({"factory": "nowhere:Net", "kwargs": {}}, "cfg.json")
    with pytest.raises(ValueError, match=r"cfg.json: 'network' must be null or"):
        factory_from_spec({"factory": 3}, "cfg.json")


def test_images_without_a_network_are_refused():
    with pytest.raises(ValueError, match=r"X has shape \(40, 1, 8, 8\): inputs of more than 2 "
                                         r"dimensions need a selection network"):
        DifferentiableSelector(k=1).fit(image_table(40))


def test_images_with_features_predictions_need_no_network():
    sel = DifferentiableSelector(k=1, features="predictions", max_epochs=3, **{
        k: v for k, v in FAST.items() if k != "max_epochs"}).fit(image_table(40))
    assert sel.select(image_table(40)).sum(1).tolist() == [1.0] * 40


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(network=3), r"'network' parameter of DifferentiableSelector must be None or a "
                      r"factory"),
    (dict(network=CNN, features="both"), r"needs features='inputs' \(or None\). Got "
                                          r"features='both'"),
])
def test_bad_network_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DifferentiableSelector(k=1, **kwargs).fit(image_table(40))


def test_a_network_that_does_not_return_features_is_refused():
    with pytest.raises(ValueError, match=r"must map inputs \[B, \*\(1, 8, 8\)\] to features "
                                         r"\[B, H\]; it returned shape \(1, 1, 8, 8\)"):
        DifferentiableSelector(k=1, network=_identity, max_epochs=2).fit(image_table(40))


def _identity(input_shape, n_members):
    return nn.Identity()


def test_predicting_on_images_of_another_size_is_refused():
    sel = DifferentiableSelector(k=1, network=CNN, max_epochs=2, refit=False,
                                 aggregation="mean", calibrate=False).fit(image_table(40))
    rng = np.random.default_rng(0)
    other = PredictionTable.from_arrays(np.full((3, 2, 2), 0.5), X=rng.random((3, 1, 6, 6)))
    with pytest.raises(ValueError, match=r"fitted on inputs X\[N, \*\(1, 8, 8\)\]; got X of "
                                         r"shape \(3, 1, 6, 6\)"):
        sel.predict(other)


def test_the_mlp_stays_the_default_for_tabular_inputs():
    rng = np.random.default_rng(0)
    table = PredictionTable.from_arrays(np.full((30, 2, 2), 0.5), y=rng.integers(0, 2, 30),
                                        X=rng.normal(size=(30, 3)))
    sel = DifferentiableSelector(k=1, max_epochs=2, hidden_layer_sizes=(4,)).fit(table)
    assert isinstance(sel.net_.body, nn.Sequential) and sel.network is None
