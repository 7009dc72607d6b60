"""The one training loop (ensel._training): seeding, early stopping, solvers, engines."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch

from ensel._training import (
    EarlyStopping,
    Job,
    TrainOptions,
    get_engine,
    mlp,
    register_engine,
    run_jobs,
    threads,
    train,
    worker_seed,
)


class LeastSquares:
    """Linear regression on a fixed design: the loss the trainer must drive down."""

    def __init__(self, n: int = 256, noise_rows: bool = False) -> None:
        rng = np.random.default_rng(0)
        self.X = torch.from_numpy(rng.normal(size=(n, 3)).astype(np.float32))
        self.w = torch.tensor([[1.0], [-2.0], [0.5]])
        self.y = self.X @ self.w
        self.noise_rows = noise_rows
        self.noise_seen: list[int] = []

    def noise(self, n_rows, rng):
        return rng.random(n_rows) if self.noise_rows else None

    def loss(self, model, rows, noise, generator):
        if noise is not None:
            self.noise_seen.append(len(noise))
        idx = torch.from_numpy(rows)
        return ((model(self.X[idx]) - self.y[idx]) ** 2).mean()

    def evaluate(self, net, rows):
        loss = float(self.loss(net, rows, None, None))
        return loss, -loss


def linear() -> torch.nn.Module:
    return torch.nn.Linear(3, 1)


def job(objective=None, **options) -> Job:
    objective = objective or LeastSquares()
    rows = np.arange(256)
    return Job(linear, objective, rows[:200], rows[200:],
               TrainOptions(**{"learning_rate": 0.05, "max_epochs": 40, "batch_size": 32,
                               **options}))


def test_adam_fits_least_squares_and_keeps_a_history():
    fit = train(job())
    assert fit.val_loss < 1e-3
    assert [h["epoch"] for h in fit.history] == list(range(1, len(fit.history) + 1))
    assert fit.history[-1]["train_loss"] < fit.history[0]["train_loss"] / 10
    assert not fit.net.training


def test_lbfgs_solves_least_squares():
    fit = train(job(solver="lbfgs", max_epochs=50))
    np.testing.assert_allclose(fit.net.weight.detach().numpy(), [[1.0, -2.0, 0.5]], atol=1e-4)
    assert fit.history[-1]["train_loss"] < 1e-8


def test_same_seed_same_weights_and_global_random_state_untouched():
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = train(job(random_state=5))
    after = torch.rand(1)
    b = train(job(random_state=5))
    c = train(job(random_state=6))
    assert torch.equal(after, expected_next)              # fork_rng: the caller's stream
    assert torch.equal(a.net.weight, b.net.weight)
    assert not torch.equal(a.net.weight, c.net.weight)


def test_early_stopping_restores_the_best_epoch():
    stopper = EarlyStopping(patience=2)
    net = torch.nn.Linear(1, 1)
    assert not stopper.update(net, 1, 1.0, 0.0)
    with torch.no_grad():
        net.weight.fill_(7.0)
    assert not stopper.update(net, 2, 0.5, 0.1)
    assert not stopper.update(net, 3, 0.6, 0.2)
    assert stopper.update(net, 4, 0.5, 0.3)              # equal is not better: 2 stale epochs
    assert stopper.epoch == 2 and stopper.val_loss == 0.5
    assert float(stopper.state["weight"]) == 7.0


def test_fixed_epochs_train_exactly_that_many_without_validation():
    fit = train(Job(linear, LeastSquares(), np.arange(200), np.arange(200, 256),
                    TrainOptions(max_epochs=500), n_epochs=3))
    assert fit.epoch == 3 and len(fit.history) == 3
    assert math.isnan(fit.val_loss) and "val_loss" not in fit.history[0]


def test_no_early_stopping_keeps_the_last_weights():
    fit = train(job(n_iter_no_change=None, restore_best=False, max_epochs=7))
    assert fit.epoch == 7 and fit.val_loss == fit.history[-1]["val_loss"]


def test_noise_is_drawn_per_global_batch_and_sharded():
    objective = LeastSquares(noise_rows=True)
    train(Job(linear, objective, np.arange(100), None,
              TrainOptions(max_epochs=1, batch_size=32)))
    assert objective.noise_seen == [32, 32, 32, 4]
    objective = LeastSquares(noise_rows=True)
    train(Job(linear, objective, np.arange(100), None,
              TrainOptions(max_epochs=1, batch_size=32)), rank=1, world=2)
    assert objective.noise_seen == [16, 16, 16, 2]   # padded to 100, batches of 32, half each


def test_worker_seed_is_the_random_state_on_rank_zero():
    assert worker_seed(7, 0) == 7
    assert worker_seed(7, 1) != worker_seed(7, 2) != 7


def test_mlp_layers():
    net = mlp(4, (8, 6), 2, dropout=0.5)
    kinds = [type(layer).__name__ for layer in net]
    assert kinds == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert [type(layer).__name__ for layer in mlp(4, (), None)] == []
    assert mlp(4, (), 1, bias=False)[0].bias is None


def test_threads_restores_the_setting():
    before = torch.get_num_threads()
    with threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with threads(None):
        assert torch.get_num_threads() == before


def test_engines_by_name(monkeypatch):
    import ensel._training as training

    monkeypatch.setattr(training, "_ENGINES", dict(training._ENGINES))   # registry restored
    seen = []

    def counting(jobs, options):
        seen.append((len(jobs), options))
        return [train(j) for j in jobs]

    register_engine("counting-test", counting)
    fits = run_jobs([job(max_epochs=2), job(max_epochs=3)], "counting-test", {"x": 1})
    assert seen == [(2, {"x": 1})] and [f.epoch for f in fits] != []
    with pytest.raises(ValueError, match=r"The 'engine' parameter must be one of \('local', "
                                         r"'counting-test', 'ray'\)\. Got 'spark' instead"):
        get_engine("spark")
    with pytest.raises(ValueError, match="The local engine takes no engine_options"):
        run_jobs([job()], "local", {"num_workers": 2})


def test_local_engine_equals_train():
    a = run_jobs([job(max_epochs=3)])[0]
    b = train(job(max_epochs=3))
    assert torch.equal(a.net.weight, b.net.weight) and a.history == b.history


def test_job_factories_pickle_for_remote_engines():
    import pickle

    build = functools.partial(mlp, 3, (4,), 1)
    assert isinstance(pickle.loads(pickle.dumps(build))(), torch.nn.Sequential)


def test_full_batch_takes_the_rows_in_order_and_draws_nothing_for_them():
    seen = []

    class Recording(LeastSquares):
        def loss(self, model, rows, noise, generator):
            seen.append(rows.copy())
            return super().loss(model, rows, noise, generator)

    rows = np.arange(50)[::-1].copy()
    train(Job(linear, Recording(), rows, None, TrainOptions(max_epochs=2, batch_size=None)))
    assert len(seen) == 2 and all(np.array_equal(r, rows) for r in seen)
