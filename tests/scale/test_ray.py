"""ensel.scale on a local Ray cluster: Ray Data collection and Ray Train selector training.

One cluster per test module (started here, 2 logical CPUs) because Ray takes seconds to
start. It stays on loopback: ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (set in conftest.py before
Ray is imported) makes Ray use 127.0.0.1 as the node address and bind its servers there;
``_node_ip_address="127.0.0.1"`` alone does not (Ray swaps it for the machine's address).

Under ``pytest -n 2`` each xdist worker that runs tests from this module starts its own small
cluster (``address="local"`` never joins another one; about 3 GB resident at peak each while
five actors run); with ``--dist loadgroup`` the ``xdist_group("ray")`` mark keeps them all on
one worker and one cluster.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="Ray is optional: pip install ensel[ray]")
pytest.importorskip("ray.data", reason="Ray Data is optional: pip install ensel[ray]")
pytest.importorskip("ray.train", reason="Ray Train is optional: pip install ensel[ray]")

from ensel import DifferentiableSelector, PredictionTable
from ensel.scale import collect_predictions

pytestmark = [pytest.mark.ray, pytest.mark.xdist_group("ray")]


@pytest.fixture(scope="module", autouse=True)
def ray_cluster():
    if ray.is_initialized():             # a cluster left by another module: start clean
        ray.shutdown()
    # Ray Train's controller polls its workers every 2 s by default; polling faster saves a
    # few seconds per training run here (the cluster inherits this process's environment)
    old = os.environ.get("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S")
    os.environ["RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"] = "0.2"
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             object_store_memory=256 * 2**20)
    assert ray.util.get_node_ip_address() == "127.0.0.1", (
        "the test cluster must stay on loopback: set RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 "
        "before Ray is first imported (tests/scale/conftest.py does)")
    yield
    ray.shutdown()
    if old is None:
        del os.environ["RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"]
    else:
        os.environ["RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"] = old


# ---------------------------------------------------------------------- collection
def test_ray_collection_equals_local(tmp_path, data, pool):
    X, y = data                          # 1000 rows: 8 chunks of 128, the last one partial
    # the members whose results could depend on the batch: matrix products (BLAS, torch)
    pool = [member for member in pool if member[0] in ("logreg", "mlp", "torch")]
    local = collect_predictions(pool, X, y=y, task="classification", batch_size=128)
    table = collect_predictions(pool, X, y=y, task="classification", batch_size=128,
                                engine="ray", out=tmp_path / "t")
    assert isinstance(table.P, np.memmap)          # opened memory-mapped from the shards
    np.testing.assert_array_equal(table.P, local.P)  # to the bit, torch member included
    np.testing.assert_array_equal(table.y, local.y)
    np.testing.assert_array_equal(table.X, local.X)
    assert table.members == local.members and table.task == "classification"
    np.testing.assert_array_equal(table.classes, local.classes)
    loaded = PredictionTable.load(tmp_path / "t")
    np.testing.assert_array_equal(loaded.P, local.P)


def test_ray_collection_of_torch_cnns_on_images_equals_local(tmp_path):
    import torch

    from ensel.nets import ConvNet

    torch.manual_seed(0)
    X = np.random.default_rng(0).random((90, 1, 8, 8)).astype(np.float32)
    pool = [("cnn_a", ConvNet((1, 8, 8), 3, channels=(2, 4))),
            ("cnn_b", ConvNet((1, 8, 8), 3, channels=(4, 4)))]
    local = collect_predictions(pool, X, task="classification", batch_size=32)
    table = collect_predictions(pool, X, task="classification", batch_size=32, engine="ray",
                                out=tmp_path / "t")
    assert table.X.shape == (90, 1, 8, 8) and isinstance(table.X, np.memmap)
    np.testing.assert_array_equal(table.P, local.P)     # softmax of the logits, to the bit
    np.testing.assert_array_equal(table.X, X)


def test_ray_collection_of_a_dataset_and_of_regressors():
    from sklearn.linear_model import Ridge
    from sklearn.tree import DecisionTreeRegressor

    rng = np.random.default_rng(1)
    X = rng.normal(size=(700, 4))
    target = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1 * rng.normal(size=700)
    pool = [Ridge().fit(X, target), DecisionTreeRegressor(max_depth=4).fit(X, target)]
    local = collect_predictions(pool, X, y=target, batch_size=100)
    from_array = collect_predictions(pool, X, y=target, batch_size=100, engine="ray",
                                     num_actors=1)
    np.testing.assert_array_equal(from_array.P, local.P)
    # a Dataset is batched by Ray: the same rows in the same order, the same values up to
    # the rounding of the batch a row was predicted in
    dataset = ray.data.from_numpy(X)
    from_dataset = collect_predictions(pool, dataset, y=target, batch_size=100, engine="ray")
    assert from_dataset.task == "regression" and from_dataset.P.shape == (700, 2)
    np.testing.assert_array_equal(from_dataset.X, X)
    np.testing.assert_allclose(from_dataset.P, local.P, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(from_dataset.y, target)


def test_ray_dataset_rows_keep_their_order():
    def slow_first_column(A):     # defined here: Ray pickles it by value (tests/ isn't a package)
        import time

        time.sleep(1.0 if A[0, 0] == 0 else 0.0)     # the first chunk finishes last
        return A[:, 0] * 2.0

    X = np.arange(600, dtype=np.float64).reshape(300, 2)
    dataset = ray.data.from_numpy(list(np.array_split(X, 12)))       # 12 blocks
    table = collect_predictions([("slow", slow_first_column)], dataset, batch_size=10,
                                engine="ray", num_actors=3, num_cpus_per_actor=0.25)
    np.testing.assert_array_equal(table.X, X)
    np.testing.assert_array_equal(table.P[:, 0], X[:, 0] * 2.0)
    assert not dataset.context.execution_options.preserve_order      # put back afterwards


def test_ray_collection_names_the_member_and_the_row():
    X = np.arange(2000, dtype=np.float64).reshape(1000, 2)

    def flaky(A):
        out = np.full((len(A), 2), 0.5)
        out[A[:, 0] == X[700, 0]] = np.nan
        return out

    with pytest.raises(ValueError, match=r"member 'flaky': predictions have NaN in row 700\."):
        collect_predictions([("flaky", flaky)], X, task="classification", batch_size=64,
                            engine="ray")


def test_ray_dataset_needs_the_ray_engine_and_its_column(data, pool):
    dataset = ray.data.from_numpy(data[0][:20])
    with pytest.raises(ValueError, match="is a Ray Dataset, which needs engine='ray'"):
        collect_predictions(pool, dataset)
    with pytest.raises(ValueError, match=r"has no column 'features' \(columns: \['data'\]\)"):
        collect_predictions(pool, dataset, engine="ray", input_column="features")


def test_ray_dataset_without_rows(pool):
    with pytest.raises(ValueError, match="The Ray Dataset given as 'data' to "
                                         "collect_predictions has no rows"):
        collect_predictions(pool, ray.data.from_numpy(np.zeros((0, 6))), engine="ray")


@pytest.mark.parametrize("bad", [0, (3, 1), (0, 2), "two"])
def test_bad_actor_pool_size(data, pool, bad):
    with pytest.raises(ValueError, match=r"'num_actors' parameter .* Got"):
        collect_predictions(pool, data[0][:20], engine="ray", num_actors=bad)


def test_bad_cpus_per_actor(data, pool):
    with pytest.raises(ValueError, match=r"'num_cpus_per_actor' parameter .* > 0\. Got -1"):
        collect_predictions(pool, data[0][:20], engine="ray", num_cpus_per_actor=-1)


# ---------------------------------------------------------------------- training
def routing_table(n: int = 1500, m: int = 3, seed: int = 0) -> PredictionTable:
    """Member j is 90% right in its third of the line, 40% right elsewhere (3 classes)."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    y = rng.integers(0, 3, n)
    region = np.minimum(((X[:, 0] + 1) / 2 * m).astype(int), m - 1)
    P = np.empty((n, m, 3))
    for j in range(m):
        right = rng.random(n) < np.where(region == j, 0.9, 0.4)
        guess = np.where(right, y, (y + rng.integers(1, 3, n)) % 3)
        P[:, j] = np.eye(3)[guess] * 0.7 + 0.1
    return PredictionTable.from_arrays(P, y=y, X=X)


FAST = {"k": 1, "aggregation": "mean", "refit": False, "max_epochs": 25, "n_iter_no_change": 6,
        "hidden_layer_sizes": (32,), "batch_size": 128, "random_state": 0}


def test_ray_trained_selector_matches_local(tmp_path):
    # Tolerance 0.05 on the validation accuracy. With the same seed both engines use the same
    # split, initial network, epoch permutations and member dropout; Ray only changes the
    # order of floating-point sums (DDP averages two half-batch gradients) and the dropout
    # noise. Across seeds 0-5 the local fit's validation accuracy on this table spreads over
    # 0.84-0.89 (std 0.02, 300 validation rows), so 0.05 is about 2.5 sigma of that noise,
    # while a broken trainer lands near the best single member (0.57) or chance (0.33).
    table = routing_table()
    local = DifferentiableSelector(**FAST).fit(table)
    remote = DifferentiableSelector(engine="ray", **FAST).fit(table)
    best_local = max(h["val_score"] for h in local.history_)
    best_remote = max(h["val_score"] for h in remote.history_)
    assert best_local > 0.8 and best_remote > 0.8, (best_local, best_remote)
    assert abs(best_local - best_remote) <= 0.05, (best_local, best_remote)
    assert remote.k_ == 1 and remote.aggregation_ == "mean" and not remote.net_.training
    assert [h["epoch"] for h in remote.history_] == list(range(1, len(remote.history_) + 1))
    # the fitted Ray selector is an ordinary selector: it saves and loads
    remote.save(tmp_path / "sel")
    again = DifferentiableSelector.load(tmp_path / "sel")
    np.testing.assert_array_equal(again.predict_proba(table), remote.predict_proba(table))
    np.testing.assert_array_equal(again.select(table), remote.select(table))


def test_one_worker_is_the_local_loop_to_the_bit():
    # every candidate (k x aggregation, "stacked" included) and the refit on all rows go
    # through the same trainer; with one Ray worker it must be the local loop exactly
    import torch

    table = routing_table(n=400)
    params = {**FAST, "k": "auto", "aggregation": "auto", "refit": True, "max_epochs": 4,
              "method": "perturbed", "method_options": {"n_samples": 4}}
    local = DifferentiableSelector(**params).fit(table)
    remote = DifferentiableSelector(engine="ray", engine_options={"num_workers": 1},
                                    **params).fit(table)
    assert remote.validation_scores_ == local.validation_scores_
    assert (remote.k_, remote.aggregation_) == (local.k_, local.aggregation_)
    assert remote.history_ == local.history_
    for name, tensor in local.net_.state_dict().items():
        assert torch.equal(remote.net_.state_dict()[name], tensor), name
    np.testing.assert_array_equal(remote.predict_proba(table), local.predict_proba(table))
