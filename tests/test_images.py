"""ensel.images: MNIST images, CNN members through the one trainer, the content-hash cache."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ensel import images  # noqa: E402
from ensel.images import CNNRecipe, cached_member, make_image_tables, pool_recipes  # noqa: E402

TINY = CNNRecipe(channels=(2, 4), max_epochs=2, n_iter_no_change=2, batch_size=32)


def tiny_data(n: int = 80, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 4
    X = rng.random((n, 1, 8, 8)).astype(np.float32) * 0.1
    for c in range(4):                       # class c lights up quadrant c
        r, s = divmod(c, 2)
        X[y == c, :, 4 * r:4 * r + 4, 4 * s:4 * s + 4] += 0.9
    return X, y


def test_load_images_gives_mnist_as_pictures():
    X, y = images.load_images(300)
    assert X.shape == (300, 1, 28, 28) and X.dtype == np.float32
    assert 0.0 <= X.min() and X.max() <= 1.0 and len(np.unique(y)) == 10


def test_decoded_images_are_cached_and_read_back_the_same(tmp_path, monkeypatch):
    X, y = images.load_images(100, cache=tmp_path)
    folder = next((tmp_path / "images").glob("mnist_5k-*"))
    assert sorted(p.name for p in folder.iterdir()) == ["X.npy", "y.npy"]
    import ensel.datasets

    monkeypatch.setattr(ensel.datasets, "load_dataset", lambda name: pytest.fail("parsed"))
    X2, y2 = images.load_images(100, cache=tmp_path)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)


def test_split_is_50_25_25_and_stratified():
    X, y = images.load_images(400)
    parts = images.split_images(X, y, random_state=0)
    assert [len(parts[p][1]) for p in ("base", "sel", "test")] == [200, 100, 100]
    assert np.bincount(parts["sel"][1]).tolist() == np.bincount(parts["test"][1]).tolist()


def test_train_cnn_learns_through_the_one_trainer():
    X, y = tiny_data(160)
    net = images.train_cnn(X, y, 4, CNNRecipe(channels=(2, 4), max_epochs=15,
                                              learning_rate=1e-2, batch_size=16))
    from ensel.members import torch_predict

    X_test, y_test = tiny_data(40, seed=1)
    assert (torch_predict(net, X_test).argmax(1) == y_test).mean() >= 0.9


def test_the_cache_answers_a_rerun_without_training(tmp_path, monkeypatch):
    X, y = tiny_data()
    recipe = {"name": "m", "kind": "cnn", "channels": [2, 4], "seed": 0, "rows": list(range(60)),
              "settings": {k: v for k, v in TINY.__dict__.items() if k != "channels"}}
    first = cached_member(recipe, (X, y), [X[60:]], 4, tmp_path)
    assert first["cached"] is False and first["P"][0].shape == (20, 4)
    folder = next((tmp_path / "images" / "members").iterdir())
    assert sorted(p.name for p in folder.iterdir()) == ["P0.npy", "member.json",
                                                        "model.safetensors"]
    monkeypatch.setattr(images, "build_member", lambda *a: pytest.fail("trained again"))
    again = cached_member(recipe, (X, y), [X[60:]], 4, tmp_path)
    assert again["cached"] is True
    np.testing.assert_array_equal(again["P"][0], first["P"][0])
    assert again["seconds_per_row"] == first["seconds_per_row"]


def test_the_key_follows_the_content():
    X, y = tiny_data()
    key = images.member_key({"seed": 0}, (X, y), (X[:5],))
    assert key == images.member_key({"seed": 0}, (X.copy(), y.copy()), (X[:5].copy(),))
    assert key != images.member_key({"seed": 1}, (X, y), (X[:5],))
    X2 = X.copy()
    X2[0, 0, 0, 0] += 1e-3
    assert key != images.member_key({"seed": 0}, (X2, y), (X[:5],))
    assert key != images.member_key({"seed": 0}, (X, y), (X[:6],))


def test_a_cache_entry_under_another_key_is_refused(tmp_path):
    X, y = tiny_data()
    recipe = {"name": "m", "kind": "sklearn", "seed": 0, "rows": list(range(60))}
    recipe["name"] = "logreg"
    cached_member(recipe, (X, y), [X[60:]], 4, tmp_path)
    folder = next((tmp_path / "images" / "members").iterdir())
    header = json.loads((folder / "member.json").read_text())
    header["key"] = "0" * 32
    (folder / "member.json").write_text(json.dumps(header))
    with pytest.raises(ValueError, match=r"member\.json: cached under key '0+', expected"):
        cached_member(recipe, (X, y), [X[60:]], 4, tmp_path)


def test_pool_recipes():
    y = np.repeat(np.arange(10), 30)
    spec = pool_recipes("specialists", y, random_state=1)
    assert [r["name"] for r in spec] == [f"specialist{i}" for i in range(10)]
    assert {r["seed"] for r in spec} == set(range(1000, 1010))
    focus = np.bincount(y[spec[0]["rows"]], minlength=10)
    assert focus[:2].tolist() == [30, 30] and focus[2:].min() >= 3     # classes 0, 1 + others
    natural = pool_recipes("natural", y)
    assert [r["kind"] for r in natural] == ["cnn"] * 8 + ["sklearn"] * 2
    assert len({r["seed"] for r in natural[:8]}) == 8
    with pytest.raises(ValueError, match=r"Unknown pool 'other'; choose one of"):
        pool_recipes("other", y)


def test_make_image_tables_on_a_subsample(tmp_path):
    recipe = CNNRecipe(channels=(2, 4), max_epochs=1, batch_size=64)
    sel, test, info = make_image_tables("specialists", max_rows=200, cache=tmp_path,
                                        recipe=recipe)
    assert sel.X.shape == (50, 1, 28, 28) and test.P.shape == (50, 10, 10)
    assert sel.costs.shape == (10,) and (sel.costs > 0).all()
    assert not any(info["cached"].values())
    _, again, info = make_image_tables("specialists", max_rows=200, cache=tmp_path,
                                       recipe=recipe)
    assert all(info["cached"].values())
    np.testing.assert_array_equal(again.P, test.P)


def test_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv(images.CACHE_ENV, str(tmp_path))
    assert images.cache_dir() == tmp_path
    monkeypatch.delenv(images.CACHE_ENV)
    assert images.cache_dir().parts[-2:] == (".cache", "ensel")


def test_decoded_images_written_meanwhile_by_another_process(tmp_path, monkeypatch):
    """Two benchmark parts in parallel decode MNIST at once: the later one keeps its pixels."""
    import ensel.datasets

    load = ensel.datasets.load_dataset

    def load_while_another_writes(name):
        X, y = load(name)
        folder = tmp_path / "images" / f"mnist_5k-{key}"
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "X.npy", X.astype(np.uint8))
        np.save(folder / "y.npy", y)
        return X, y

    import hashlib

    from ensel.datasets import dataset_path

    key = hashlib.sha256(dataset_path("mnist_5k.csv.gz").read_bytes()).hexdigest()[:16]
    monkeypatch.setattr(ensel.datasets, "load_dataset", load_while_another_writes)
    X, y = images.load_images(100, cache=tmp_path)
    assert X.shape == (100, 1, 28, 28)
    monkeypatch.setattr(ensel.datasets, "load_dataset", load)
    (tmp_path / "images" / f"mnist_5k-{key}" / "y.npy").unlink()      # not an artefact: refuse
    with pytest.raises(FileExistsError, match=r"mnist_5k-"):
        images.load_images(100, cache=tmp_path)


def test_convnet_is_channels_last_and_computes_conv_relu_pool():
    from ensel.nets import ConvNet

    torch.manual_seed(0)
    net = ConvNet((1, 8, 8), 3, channels=(2, 4))
    convs = [m for m in net.features if isinstance(m, torch.nn.Conv2d)]
    assert all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    x = torch.rand(5, 1, 8, 8)
    h = x
    for c in convs:            # the textbook block, in the default memory layout
        h = torch.nn.functional.max_pool2d(torch.relu(torch.nn.functional.conv2d(
            h, c.weight.contiguous(), c.bias, padding=1)), 2)
    expected = torch.nn.functional.linear(h.flatten(1), net.out.weight, net.out.bias)
    with torch.no_grad():
        torch.testing.assert_close(net(x), expected, rtol=1e-5, atol=1e-6)
    state = {n: t.contiguous() for n, t in net.state_dict().items()}   # as the cache saves it
    again = ConvNet((1, 8, 8), 3, channels=(2, 4))
    again.load_state_dict(state)
    with torch.no_grad():
        torch.testing.assert_close(again(x), net(x), rtol=0, atol=0)
