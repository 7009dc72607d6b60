"""Torch members everywhere a scikit-learn estimator goes: tables, SelectiveEnsemble, collection.

A torch member runs in eval mode, without gradients, in batches, on its parameters' device and
dtype; its outputs are logits (softmax applied) unless it says ``outputs_proba = True``.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from ensel import PredictionTable, SelectiveEnsemble  # noqa: E402
from ensel.combine import Average  # noqa: E402
from ensel.members import predict_member, torch_predict  # noqa: E402
from ensel.scale import collect_predictions  # noqa: E402


class Probe(nn.Module):
    """A linear map that records how it was called: batch sizes, mode, grad, dtype, device."""

    def __init__(self, n_in: int, n_out: int, *, proba: bool = False, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.linear = nn.Linear(n_in, n_out)
        if proba:
            self.outputs_proba = True
        self.calls: list[dict] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append({"rows": len(x), "training": self.training, "dtype": x.dtype,
                           "grad": torch.is_grad_enabled(), "device": x.device})
        out = self.linear(x.flatten(1))
        return torch.softmax(out, -1) if getattr(self, "outputs_proba", False) else out

    @property
    def rows(self) -> int:
        return sum(c["rows"] for c in self.calls)


def images(n: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.random((n, 1, 4, 4)).astype(np.float32)
    return X, (X[:, 0, 0, 0] > 0.5).astype(int)


def test_torch_predict_runs_in_eval_mode_without_grad_in_batches():
    net = Probe(16, 3)
    net.batch_size = 10
    net.train()
    X, _ = images(24)
    out = torch_predict(net, X)
    assert [c["rows"] for c in net.calls] == [10, 10, 4]
    assert not any(c["training"] or c["grad"] for c in net.calls)
    assert net.training                                  # the module's mode is put back
    expected = torch.softmax(net.linear(torch.from_numpy(X).flatten(1)), -1).detach().numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    np.testing.assert_allclose(out.sum(1), 1.0, rtol=1e-6)


def test_torch_predict_uses_the_parameters_dtype_and_device():
    net = Probe(16, 2).double()
    X, _ = images(5)
    out = torch_predict(net, X)
    assert net.calls[0]["dtype"] == torch.float64 and out.dtype == np.float64
    assert net.calls[0]["device"] == next(net.parameters()).device


def test_outputs_proba_skips_the_softmax():
    net = Probe(16, 3, proba=True)
    X, _ = images(6)
    expected = torch.softmax(net.linear(torch.from_numpy(X).flatten(1)), -1).detach().numpy()
    np.testing.assert_allclose(predict_member("p", net, X, "classification"), expected,
                               rtol=1e-6)       # softmax once, not twice


def test_regression_outputs_are_returned_as_they_are():
    net = Probe(16, 1)
    X, _ = images(4)
    out = predict_member("r", net, X, "regression")
    np.testing.assert_allclose(out, net.linear(torch.from_numpy(X).flatten(1)).detach().numpy(),
                               rtol=1e-6)


def test_from_estimators_mixes_torch_and_sklearn_members():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4)).astype(np.float32)
    y = np.where(X[:, 0] > 0, "b", "a")
    pool = [("lr", LogisticRegression().fit(X, y)), ("net", Probe(4, 2))]
    table = PredictionTable.from_estimators(pool, X, y)
    assert table.task == "classification" and table.classes.tolist() == ["a", "b"]
    np.testing.assert_allclose(table.P[:, 1], torch_predict(pool[1][1], X), rtol=1e-6)


def test_image_tables_keep_their_inputs_and_load_memory_mapped(tmp_path):
    X, y = images(12)
    pool = [("a", Probe(16, 2, seed=0)), ("b", Probe(16, 2, seed=1, proba=True))]
    table = PredictionTable.from_estimators(pool, X, y, task="classification")
    assert table.X.shape == (12, 1, 4, 4) and table.classes.tolist() == [0, 1]
    loaded = PredictionTable.load(table.save(tmp_path / "t"))
    assert isinstance(loaded.X, np.memmap) and loaded.X.shape == (12, 1, 4, 4)
    np.testing.assert_array_equal(loaded.X, X)
    np.testing.assert_array_equal(loaded.P, table.P)


def test_a_pool_of_only_torch_members_is_regression_unless_told():
    X, _ = images(5)
    assert PredictionTable.from_estimators([Probe(16, 2)], X).task == "regression"


@pytest.mark.parametrize("shape", [(5,), ()])
def test_table_inputs_must_be_at_least_2d(shape):
    with pytest.raises(ValueError, match=r"X must be at least 2-D: \[N, F\] features or "
                                         r"\[N, \.\.\.\] inputs"):
        PredictionTable.from_arrays(np.full((5, 1, 2), 0.5), X=np.zeros(shape))


def test_loaded_inputs_with_other_rows_are_refused(tmp_path):
    X, y = images(6)
    folder = PredictionTable.from_arrays(np.full((6, 1, 2), 0.5), y=y, X=X).save(tmp_path / "t")
    np.save(folder / "X.npy", X[:4])
    with pytest.raises(ValueError, match=r"X\.npy: X has 4 rows but P has 6"):
        PredictionTable.load(folder)


def test_collect_predictions_on_images(tmp_path):
    X, y = images(30)
    pool = [("a", Probe(16, 2, seed=0)), ("b", Probe(16, 2, seed=1))]
    table = collect_predictions(pool, X, y=y, task="classification", batch_size=8,
                                out=tmp_path / "t")
    assert table.X.shape == (30, 1, 4, 4) and isinstance(table.X, np.memmap)
    # the probe row, then chunks of 8: 8, 8, 8, 6
    assert [c["rows"] for c in pool[0][1].calls] == [1, 8, 8, 8, 6]
    np.testing.assert_allclose(table.P[:, 0], torch_predict(pool[0][1], X), rtol=1e-6)


def test_selective_ensemble_of_torch_members_on_images_runs_each_member_once_per_call():
    X, y = images(40)
    pool = [(f"m{i}", Probe(16, 2, seed=i)) for i in range(3)]
    model = SelectiveEnsemble(pool, Average()).fit(X, y)
    assert [m.rows for _, m in pool] == [40, 40, 40]    # prefit: all rows go to the combiner
    for _, m in pool:
        m.calls.clear()
    proba = model.predict_proba(X[:7])
    assert [m.rows for _, m in pool] == [7, 7, 7]       # Average reads every member
    expected = np.mean([torch_predict(m, X[:7]) for _, m in pool], axis=0)
    np.testing.assert_allclose(proba, expected, rtol=1e-5)


def test_selective_ensemble_runs_exactly_the_selected_torch_members():
    from ensel import DifferentiableSelector

    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    pool = [(f"m{i}", Probe(4, 2, seed=i)) for i in range(3)]
    selector = DifferentiableSelector(k=1, features="inputs", max_epochs=5,
                                      hidden_layer_sizes=(8,))
    model = SelectiveEnsemble(pool, selector).fit(X, y)
    for _, m in pool:
        m.calls.clear()
    model.predict(X[:20])
    ran = [m.rows for _, m in pool]
    blank = PredictionTable.from_arrays(np.full((20, 3, 2), 0.5), X=X[:20],
                                        members=[n for n, _ in pool])
    mask = model.combiner_.select(blank)                # selection from the inputs alone
    assert ran == mask.sum(0).astype(int).tolist() and sum(ran) == 20
    assert all(len(m.calls) <= 1 for _, m in pool)      # one batched call per member run


def test_end_to_end_cnn_members_and_a_cnn_selector_run_only_the_chosen_members():
    import functools

    from ensel import DifferentiableSelector
    from ensel.nets import ConvNet

    X, y = images(60)
    pool = [(f"m{i}", Probe(16, 2, seed=i)) for i in range(3)]
    selector = DifferentiableSelector(k=2, network=functools.partial(ConvNet, channels=(2, 2)),
                                      max_epochs=3, aggregation="mean", calibrate=False)
    model = SelectiveEnsemble(pool, selector).fit(X, y)
    assert model.combiner_.selection_needs_predictions_ is False
    for _, m in pool:
        m.calls.clear()
    model.predict(X[:15])
    blank = PredictionTable.from_arrays(np.full((15, 3, 2), 0.5), X=X[:15],
                                        members=[n for n, _ in pool])
    mask = model.combiner_.select(blank)
    assert [m.rows for _, m in pool] == mask.sum(0).astype(int).tolist()
    assert sum(m.rows for _, m in pool) == 30 and model.last_cost_["members_per_input"] == 2.0
