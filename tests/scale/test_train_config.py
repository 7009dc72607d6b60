"""The Ray engine's options (RayTrainConfig, engine_options): checks that run before Ray is
needed, and the Ray engine found by name through the trainer's registry."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from sklearn.base import clone

from ensel import DifferentiableSelector, PredictionTable
from ensel.scale import RayTrainConfig, train_on_ray


def tiny_table(n: int = 40) -> PredictionTable:
    rng = np.random.default_rng(0)
    P = rng.dirichlet([1, 1], size=(n, 2))
    return PredictionTable.from_arrays(P, y=rng.integers(0, 2, n), X=rng.normal(size=(n, 2)))


def fit_on_ray(options, n: int = 40):
    selector = DifferentiableSelector(k=1, aggregation="mean", engine="ray",
                                      engine_options=options, max_epochs=1, calibrate=False)
    return selector.fit(tiny_table(n))


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


def test_engine_options_must_be_a_dict_or_a_config():
    with pytest.raises(TypeError, match=r"'engine_options' of engine='ray' must be a dict of "
                                        r"RayTrainConfig fields or a RayTrainConfig\. Got 3"):
        fit_on_ray(3)


def test_unknown_engine_option_is_named():
    with pytest.raises(ValueError, match=r"got unknown option\(s\) \['workers'\]; the options "
                                         r"are \['num_workers', "):
        fit_on_ray({"workers": 2})


def test_bad_engine_option_is_checked():
    with pytest.raises(ValueError, match="'num_workers' parameter of RayTrainConfig"):
        fit_on_ray({"num_workers": 0})


def test_clone_keeps_engine_options():
    selector = DifferentiableSelector(engine="ray", engine_options={"num_workers": 4})
    assert clone(selector).engine_options == {"num_workers": 4}


def test_local_engine_takes_no_options():
    selector = DifferentiableSelector(k=1, engine_options={"num_workers": 2}, max_epochs=1)
    with pytest.raises(ValueError, match="The local engine takes no engine_options"):
        selector.fit(tiny_table())


def test_fewer_training_rows_than_workers():
    # 4 labelled rows: 3 train, 1 validation
    with pytest.raises(ValueError, match="has 3 training rows for 4 workers"):
        fit_on_ray({"num_workers": 4}, n=4)


def test_no_jobs():
    with pytest.raises(ValueError, match="train_on_ray needs at least one job"):
        train_on_ray([])


def test_selector_on_ray_without_ray_names_the_extra(monkeypatch):
    table = tiny_table()
    monkeypatch.setitem(sys.modules, "ray", None)        # as if Ray were not installed
    with pytest.raises(ImportError, match=r"needs Ray Train .* pip install ensel\[ray\]"):
        DifferentiableSelector(k=1, engine="ray", aggregation="mean").fit(table)


def test_checkpoint_that_does_not_fit_the_jobs_network(tmp_path):
    # private _write_fit/_read_fit: a Ray Train checkpoint is only read back inside
    # train_on_ray, so a checkpoint of another network is written and read directly
    import torch

    from ensel._training import Fit, Job
    from ensel.scale.train import _read_fit, _write_fit

    _write_fit(tmp_path / "fit-0", Fit(torch.nn.Linear(2, 3), 1, 0.5, 0.5))
    job = Job(build=lambda: torch.nn.Linear(4, 3), objective=None, train_rows=np.arange(2),
              val_rows=None, options=None)
    with pytest.raises(ValueError, match=r"model.safetensors does not fit the job's network: "
                                         r"Error\(s\) in loading state_dict"):
        _read_fit(tmp_path / "fit-0", job)
