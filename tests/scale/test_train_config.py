"""fit_selector_on_ray and RayTrainConfig: argument checks, which run before Ray is needed."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from ensel import DifferentiableSelector, PredictionTable
from ensel.scale import RayTrainConfig, fit_selector_on_ray


def tiny_call(selector, **kwargs):
    F = torch.zeros((10, 2))
    P = torch.full((10, 2, 2), 0.5)
    target = torch.zeros(10, dtype=torch.int64)
    train = kwargs.pop("train", np.arange(8))
    return fit_selector_on_ray(selector, 1, F, P, target, None, train, np.arange(8, 10),
                               **kwargs)


def test_default_config():
    config = RayTrainConfig()
    assert (config.num_workers, config.use_gpu, config.resources_per_worker,
            config.storage_path) == (2, False, None, None)
    assert config.check() is config


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_bad_num_workers(bad):
    with pytest.raises(ValueError, match=r"'num_workers' parameter of RayTrainConfig must be an "
                                         r"int >= 1\. Got"):
        RayTrainConfig(num_workers=bad).check()


def test_bad_use_gpu():
    with pytest.raises(TypeError, match=r"'use_gpu' parameter of RayTrainConfig must be a bool\. "
                                        r"Got 'yes'"):
        RayTrainConfig(use_gpu="yes").check()


@pytest.mark.parametrize("bad", [["CPU"], {"CPU": -1}, {"CPU": "two"}])
def test_bad_resources_per_worker(bad):
    with pytest.raises(ValueError, match=r"'resources_per_worker' parameter .* non-negative"):
        RayTrainConfig(resources_per_worker=bad).check()


def test_config_must_be_a_ray_train_config():
    selector = DifferentiableSelector(engine="ray")
    selector.ray_train_config = {"num_workers": 2}
    with pytest.raises(TypeError, match="must be a RayTrainConfig. Got {'num_workers': 2}"):
        tiny_call(selector)


def test_bad_config_on_the_selector_is_checked():
    selector = DifferentiableSelector(engine="ray")
    selector.ray_train_config = RayTrainConfig(num_workers=0)
    with pytest.raises(ValueError, match="'num_workers' parameter of RayTrainConfig"):
        tiny_call(selector)


@pytest.mark.parametrize("bad", [0, 2.0, True])
def test_bad_n_epochs(bad):
    with pytest.raises(ValueError, match=r"'n_epochs' parameter of fit_selector_on_ray must be "
                                         r"an int >= 1 or None\. Got"):
        tiny_call(DifferentiableSelector(engine="ray"), n_epochs=bad)


def test_fewer_training_rows_than_workers():
    with pytest.raises(ValueError, match="has 3 training rows for 4 workers"):
        tiny_call(DifferentiableSelector(engine="ray"), train=np.arange(3),
                  config=RayTrainConfig(num_workers=4))


def test_selector_on_ray_without_ray_names_the_extra(monkeypatch):
    rng = np.random.default_rng(0)
    P = rng.dirichlet([1, 1], size=(40, 2))
    table = PredictionTable.from_arrays(P, y=rng.integers(0, 2, 40), X=rng.normal(size=(40, 2)))
    monkeypatch.setitem(sys.modules, "ray", None)        # as if Ray were not installed
    with pytest.raises(ImportError, match=r"needs Ray Train .* pip install ensel\[ray\]"):
        DifferentiableSelector(k=1, engine="ray", aggregation="mean").fit(table)


def test_no_candidates():
    from ensel.scale import fit_selectors_on_ray

    with pytest.raises(ValueError, match="needs at least one \\(k, aggregation\\) candidate"):
        fit_selectors_on_ray(DifferentiableSelector(engine="ray"), [], torch.zeros((4, 2)),
                             torch.zeros((4, 2, 2)), torch.zeros(4), None, np.arange(3),
                             np.arange(3, 4))
