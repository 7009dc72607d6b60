"""The images protocol: MNIST 5k as ``[N, 1, 28, 28]`` and two pools of small CNNs.

The regime of the e2e-CEL paper: convolutional members, each biased towards some classes,
and a convolutional selection network. As in the tabular protocol (`ensel.protocol`), the
images are split 50/25/25 (stratified) into base-train / selection / test; pixels are scaled
to [0, 1] (no per-pixel standardisation: a CNN wants the picture).

- ``"specialists"``: 10 `~ensel.nets.ConvNet` (two conv layers + linear), member ``i``
  trained on the class-biased rows `ensel.protocol.specialist_rows` picks (its ceil(2C/10)
  focus classes plus 15% of the others);
- ``"natural"``: 8 CNNs of three widths and several seeds on all of base-train, plus two
  scikit-learn models on the flattened pixels (logistic regression, random forest of 30).

Members are trained through the one trainer (`ensel._training.train`, a cross-entropy
objective). Each member's predictions on the selection and test images, its seconds per
row (the table's costs) and, for a CNN, its weights are cached on disk under a key that
hashes everything it depends on (recipe, seed, the exact training and prediction pixels): a
rerun reads them instead of training (``.npy``, ``.safetensors`` and JSON only, written
atomically). The cache folder is ``$ENSEL_CACHE`` or ``~/.cache/ensel``, or the ``cache``
argument.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ensel import _io
from ensel.protocol import POOLS, specialist_rows
from ensel.table import PredictionTable

IMAGE_SHAPE = (1, 28, 28)
CACHE_ENV = "ENSEL_CACHE"
#: In every member's cache key: bump the version whenever member training changes what it
#: gives (2: channels-last ConvNet, whose float rounding differs), so stale members are retrained.
CACHE_FORMAT, CACHE_VERSION = "ensel.images.member", 2
#: CNN widths of the natural pool (conv channels) and how many seeds of each.
NATURAL_CNNS = (((4, 8), 3), ((8, 16), 3), ((16, 32), 2))
SPECIALIST_CHANNELS = (8, 16)


@dataclass(frozen=True)
class CNNRecipe:
    """How one CNN member is trained (every field goes into its cache key)."""

    channels: tuple[int, ...] = SPECIALIST_CHANNELS
    max_epochs: int = 12
    batch_size: int = 64
    learning_rate: float = 2e-3
    n_iter_no_change: int = 3
    validation_fraction: float = 0.1


def cache_dir(cache: str | Path | None = None) -> Path:
    """The cache folder: ``cache``, else ``$ENSEL_CACHE``, else ``~/.cache/ensel``.

    Examples
    --------
    >>> from ensel.images import cache_dir
    >>> cache_dir("/tmp/c").as_posix()
    '/tmp/c'
    """
    if cache is not None:
        return Path(cache).expanduser()
    return Path(os.environ.get(CACHE_ENV) or "~/.cache/ensel").expanduser()


def _decoded_mnist(cache: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """MNIST 5k's pixels and labels; with ``cache``, decoded once into ``.npy`` files there
    (parsing the CSV takes seconds), in a folder named by a hash of the CSV's bytes."""
    from ensel.datasets import dataset_path, load_dataset

    if cache is None:
        return load_dataset("mnist_5k")
    source = dataset_path("mnist_5k.csv.gz")
    key = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    folder = cache / "images" / f"mnist_5k-{key}"
    if (folder / "y.npy").is_file():
        return _io.read_npy(folder / "X.npy"), _io.read_npy(folder / "y.npy")
    X, y = load_dataset("mnist_5k")
    try:
        with _io.atomic_directory(folder) as tmp:
            _io.write_npy(tmp / "X.npy", X.astype(np.uint8))
            _io.write_npy(tmp / "y.npy", y)
    except FileExistsError:
        if not (folder / "y.npy").is_file():
            raise
        # another process (a parallel benchmark part) wrote the same pixels meanwhile
    return X, y


def load_images(max_rows: int | None = None, *, random_state: int = 0,
                cache: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """MNIST 5k as images ``X[N, 1, 28, 28]`` (float32 in [0, 1]) and labels ``y[N]``.

    ``max_rows`` keeps a stratified subsample (smoke runs). With ``cache`` (a folder), the
    decoded pixels are kept there as ``.npy`` and read back on later calls.

    Examples
    --------
    >>> from ensel.images import load_images
    >>> X, y = load_images(200)
    >>> X.shape, float(X.max()) <= 1.0
    ((200, 1, 28, 28), True)
    """
    X, y = _decoded_mnist(None if cache is None else Path(cache))
    X = np.asarray(X, dtype=np.float64)
    if max_rows is not None and max_rows < len(y):
        from sklearn.model_selection import train_test_split

        X, _, y, _ = train_test_split(X, y, train_size=max_rows, stratify=y,
                                      random_state=random_state)
    return (X / 255.0).astype(np.float32).reshape(len(X), *IMAGE_SHAPE), y


def split_images(X: np.ndarray, y: np.ndarray, *, random_state: int = 0) -> dict[str, Any]:
    """Stratified 50/25/25 base-train / selection / test parts: ``{"base": (X, y), ...}``."""
    from sklearn.model_selection import train_test_split

    X_base, X_rest, y_base, y_rest = train_test_split(
        X, y, train_size=0.5, stratify=y, random_state=random_state)
    X_sel, X_test, y_sel, y_test = train_test_split(
        X_rest, y_rest, train_size=0.5, stratify=y_rest, random_state=random_state)
    return {"base": (X_base, y_base), "sel": (X_sel, y_sel), "test": (X_test, y_test)}


# ---------------------------------------------------------------------- training a CNN
class ClassificationObjective:
    """Cross-entropy of a classifier's logits, for `ensel._training.train`.

    Parameters
    ----------
    X : torch.Tensor of shape (N, ...)
    y : torch.Tensor of shape (N,), int64 class indices
    """

    def __init__(self, X: Any, y: Any) -> None:
        self.X, self.y = X, y

    def noise(self, n_rows: int, rng: np.random.Generator) -> None:
        return None

    def loss(self, model: Any, rows: np.ndarray, noise: Any, generator: Any) -> Any:
        import torch

        idx = torch.from_numpy(rows)
        return torch.nn.functional.cross_entropy(model(self.X[idx]), self.y[idx])

    def evaluate(self, net: Any, rows: np.ndarray) -> tuple[float, float]:
        import torch

        idx = torch.from_numpy(rows)
        logits = net(self.X[idx])
        loss = float(torch.nn.functional.cross_entropy(logits, self.y[idx]))
        return loss, float((logits.argmax(1) == self.y[idx]).float().mean())


def train_cnn(X: np.ndarray, y: np.ndarray, n_classes: int, recipe: CNNRecipe, *,
              random_state: int = 0) -> Any:
    """A `~ensel.nets.ConvNet` trained on ``X[N, 1, H, W]``, ``y[N]`` (class indices).

    Adam through `ensel._training.train`; early stopping on a stratified
    ``recipe.validation_fraction`` of the rows, best weights kept.
    """
    import torch
    from sklearn.model_selection import train_test_split

    from ensel._training import Job, TrainOptions, train
    from ensel.nets import ConvNet

    rows = np.arange(len(y))
    counts = np.bincount(y, minlength=n_classes)
    n_val = max(1, int(round(recipe.validation_fraction * len(y))))
    stratify = y if counts[counts > 0].min() >= 2 and n_val >= (counts > 0).sum() else None
    fit_rows, val_rows = train_test_split(rows, test_size=n_val,
                                          stratify=stratify, random_state=random_state)
    objective = ClassificationObjective(torch.from_numpy(np.ascontiguousarray(X)),
                                        torch.from_numpy(np.asarray(y, dtype=np.int64)))
    build = functools.partial(ConvNet, tuple(X.shape[1:]), n_classes,
                              channels=tuple(recipe.channels))
    options = TrainOptions(learning_rate=recipe.learning_rate, max_epochs=recipe.max_epochs,
                           batch_size=recipe.batch_size,
                           n_iter_no_change=recipe.n_iter_no_change,
                           random_state=random_state, name="ConvNet")
    fit = train(Job(build, objective, np.sort(fit_rows), np.sort(val_rows), options))
    return fit.net


# ---------------------------------------------------------------------- the cache
def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def member_key(recipe: dict[str, Any], train: tuple[np.ndarray, np.ndarray],
               predict: tuple[np.ndarray, ...]) -> str:
    """The content hash naming one cached member: recipe, training rows, prediction inputs."""
    text = json.dumps({"format": CACHE_FORMAT, "version": CACHE_VERSION, "recipe": recipe,
                       "train": _digest(*train), "predict": _digest(*predict)},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _read_cached(folder: Path, key: str, n_parts: int) -> dict[str, Any] | None:
    if not (folder / "member.json").is_file():
        return None
    header = _io.read_json(folder / "member.json", format=CACHE_FORMAT,
                           versions=(CACHE_VERSION,))
    if header.get("key") != key:
        raise ValueError(f"{folder / 'member.json'}: cached under key {header.get('key')!r}, "
                         f"expected {key!r}; remove the folder.")
    parts = [_io.read_npy(folder / f"P{i}.npy") for i in range(n_parts)]
    return {"P": parts, "seconds_per_row": float(header["seconds_per_row"]),
            "seconds_to_train": float(header["seconds_to_train"])}


def _write_cached(folder: Path, key: str, parts: list[np.ndarray], seconds_per_row: float,
                  seconds_to_train: float, recipe: dict[str, Any], net: Any = None) -> None:
    with _io.atomic_directory(folder, marker="member.json") as tmp:
        for i, part in enumerate(parts):
            _io.write_npy(tmp / f"P{i}.npy", part)
        if net is not None:
            from safetensors.torch import save_file

            save_file({n: t.contiguous() for n, t in net.state_dict().items()},
                      str(tmp / "model.safetensors"))
        _io.write_json(tmp / "member.json", {
            "format": CACHE_FORMAT, "version": CACHE_VERSION, "key": key, "recipe": recipe,
            "seconds_per_row": seconds_per_row, "seconds_to_train": seconds_to_train})


# ---------------------------------------------------------------------- the pools
def _flatten(X: np.ndarray) -> np.ndarray:
    """Images ``[N, ...]`` to rows ``[N, F]`` (for scikit-learn members)."""
    return np.asarray(X).reshape(len(X), -1)


def pool_recipes(pool: str, y_base: np.ndarray, *, random_state: int = 0,
                 recipe: CNNRecipe | None = None) -> list[dict[str, Any]]:
    """The members of ``pool`` as JSON recipes: name, kind, training rows, seed, settings.

    Examples
    --------
    >>> import numpy as np
    >>> from ensel.images import pool_recipes
    >>> y = np.repeat(np.arange(10), 20)
    >>> [r["name"] for r in pool_recipes("natural", y)][-3:]
    ['cnn16x32_s1', 'logreg', 'random_forest']
    """
    if pool not in POOLS:
        raise ValueError(f"Unknown pool {pool!r}; choose one of {POOLS}.")
    base = recipe or CNNRecipe()
    settings = {k: v for k, v in base.__dict__.items() if k != "channels"}
    every = np.arange(len(y_base))
    if pool == "specialists":
        rng = np.random.default_rng(random_state)
        return [{"name": f"specialist{i}", "kind": "cnn", "channels": list(base.channels),
                 "seed": random_state * 1000 + i, "settings": settings,
                 "rows": specialist_rows(y_base, i, rng=rng).tolist()} for i in range(10)]
    recipes = [{"name": f"cnn{c[0]}x{c[1]}_s{s}", "kind": "cnn", "channels": list(c),
                "seed": random_state * 1000 + 10 * j + s, "settings": settings,
                "rows": every.tolist()}
               for j, (c, n) in enumerate(NATURAL_CNNS) for s in range(n)]
    recipes += [{"name": name, "kind": "sklearn", "seed": random_state, "rows": every.tolist()}
                for name in ("logreg", "random_forest")]
    return recipes


def build_member(recipe: dict[str, Any], X: np.ndarray, y: np.ndarray, n_classes: int) -> Any:
    """Train the member a recipe describes on ``X[N, 1, H, W]``, ``y[N]`` (class indices)."""
    if recipe["kind"] == "cnn":
        return train_cnn(X, y, n_classes, CNNRecipe(tuple(recipe["channels"]),
                                                    **recipe["settings"]),
                         random_state=recipe["seed"])
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    model = (LogisticRegression(max_iter=200, C=0.1) if recipe["name"] == "logreg"
             else RandomForestClassifier(n_estimators=30, random_state=recipe["seed"]))
    return make_pipeline(FunctionTransformer(_flatten), model).fit(X, y)


def cached_member(recipe: dict[str, Any], base: tuple[np.ndarray, np.ndarray],
                  inputs: list[np.ndarray], n_classes: int, cache: Path) -> dict[str, Any]:
    """A member's probabilities on each of ``inputs``, its seconds per row and training
    seconds: read from the cache, or trained, measured and written there."""
    from ensel.members import predict_member

    rows = np.asarray(recipe["rows"], dtype=np.int64)
    train = (base[0][rows], base[1][rows])
    key = member_key({k: v for k, v in recipe.items() if k != "rows"}, train, tuple(inputs))
    folder = cache / "images" / "members" / f"{recipe['name']}-{key}"
    found = _read_cached(folder, key, len(inputs))
    if found is not None:
        return {**found, "cached": True}
    start = time.perf_counter()
    member = build_member(recipe, *train, n_classes)
    trained = time.perf_counter() - start
    start = time.perf_counter()
    parts = [np.asarray(predict_member(recipe["name"], member, X, "classification"),
                        dtype=np.float32) for X in inputs]
    per_row = (time.perf_counter() - start) / max(1, sum(len(X) for X in inputs))
    parts = [p / p.sum(1, keepdims=True) for p in parts]
    _write_cached(folder, key, parts, per_row, trained,
                  {k: v for k, v in recipe.items() if k != "rows"},
                  member if recipe["kind"] == "cnn" else None)
    return {"P": parts, "seconds_per_row": per_row, "seconds_to_train": trained,
            "cached": False}


def make_image_tables(pool: str, *, seed: int = 0, cache: str | Path | None = None,
                      max_rows: int | None = None, recipe: CNNRecipe | None = None
                      ) -> tuple[PredictionTable, PredictionTable, dict[str, Any]]:
    """Selection and test tables of MNIST 5k images for ``pool`` × ``seed``.

    Parameters
    ----------
    pool : {"specialists", "natural"}
    seed : int, default=0
        The split's and the members' seed.
    cache : str or Path, optional
        The cache folder (`cache_dir`); members are trained only when not found there.
    max_rows : int, optional
        A stratified subsample of the images first (smoke runs).
    recipe : CNNRecipe, optional
        Training settings of the CNN members (the specialists' channels too).

    Returns
    -------
    selection, test : PredictionTable
        ``P[N, M, 10]``, images ``X[N, 1, 28, 28]``, labels, and costs ``[M]``: each member's
        measured seconds per row (when it was trained).
    info : dict
        ``seconds_to_train`` and ``cached`` per member, ``seconds`` for the whole call.
    """
    start = time.perf_counter()
    root = cache_dir(cache)
    X, y = load_images(max_rows, random_state=seed, cache=root)
    classes, y_idx = np.unique(y, return_inverse=True)
    parts = split_images(X, y_idx, random_state=seed)
    inputs = [parts["sel"][0], parts["test"][0]]
    recipes = pool_recipes(pool, parts["base"][1], random_state=seed, recipe=recipe)
    results = [cached_member(r, parts["base"], inputs, len(classes), root) for r in recipes]
    names = [r["name"] for r in recipes]
    costs = np.maximum([r["seconds_per_row"] for r in results], 1e-9)
    tables = [PredictionTable.from_arrays(np.stack([r["P"][i] for r in results], axis=1),
                                          y=classes[parts[part][1]], X=parts[part][0],
                                          members=names, classes=classes, costs=costs)
              for i, part in enumerate(("sel", "test"))]
    info = {"seconds_to_train": {n: r["seconds_to_train"] for n, r in zip(names, results,
                                                                         strict=True)},
            "cached": {n: r["cached"] for n, r in zip(names, results, strict=True)},
            "seconds": time.perf_counter() - start}
    return tables[0], tables[1], info


# ---------------------------------------------------------------------- what the combiners see
def flat_table(table: PredictionTable) -> PredictionTable:
    """The same table with its images flattened to rows ``X[N, F]`` (``F = 784`` for MNIST).

    For the combiners that read tabular inputs (KNORA-E, META-DES, DESlib's methods); the
    predictions, labels and costs are the table's own (not copied).

    Examples
    --------
    >>> import numpy as np
    >>> from ensel import PredictionTable
    >>> from ensel.images import flat_table
    >>> table = PredictionTable.from_arrays(np.full((4, 2, 3), 1 / 3), y=[0, 1, 2, 0],
    ...                                     X=np.zeros((4, 1, 2, 2)))
    >>> flat_table(table).X.shape
    (4, 4)
    """
    X = None if table.X is None else np.asarray(table.X).reshape(table.n_samples, -1)
    return PredictionTable(table.P, table.y, X, list(table.members), table.classes,
                           table.task, costs=table.costs)


@functools.cache
def _selection_network(channels: tuple[int, ...]) -> Any:
    """One ``ConvNet`` factory per width, so that selectors built alike compare equal."""
    from ensel.nets import ConvNet

    return functools.partial(ConvNet, channels=channels)


def selector_params(*, max_epochs: int = 30,
                    channels: tuple[int, ...] = SPECIALIST_CHANNELS) -> dict[str, Any]:
    """`~ensel.combine.DifferentiableSelector` parameters of the images benchmark.

    A `~ensel.nets.ConvNet` selection network of ``channels`` (the members' architecture by
    default) on the images, the stacked head, Adam at 2e-3, ``max_epochs`` epochs with a
    patience of a fifth of them (at least 2).

    Examples
    --------
    >>> from ensel.images import selector_params
    >>> params = selector_params(max_epochs=10)
    >>> params["network"].keywords, params["n_iter_no_change"]
    ({'channels': (8, 16)}, 2)
    """
    return {"network": _selection_network(tuple(channels)), "aggregation": "stacked",
            "learning_rate": 2e-3, "max_epochs": max_epochs,
            "n_iter_no_change": max(2, max_epochs // 5)}
