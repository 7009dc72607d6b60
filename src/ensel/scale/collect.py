"""Run a pool of members over the inputs and write their predictions as a `PredictionTable`.

Two engines produce the same table:

- ``"local"``: in this process, chunk by chunk;
- ``"ray"``: on a Ray cluster with Ray Data. The chunks are the rows of a
  ``ray.data.from_numpy`` dataset of chunk indices (one row per chunk of ``batch_size``
  inputs; no read tasks, so no CPU is taken from the member actors); every member
  is one ``map_batches`` stage served by its own actor pool, whose actors fetch the member and
  the inputs from the object store once, when they start. The driver streams the resulting
  blocks and scatters each chunk into ``P.npy`` by its index, so the row order is the input
  order whatever order the blocks finish in.

Both engines cut the inputs at the same chunk boundaries (``X[i * batch_size:(i + 1) *
batch_size]``) and call the member the same way (`ensel.members.predict_member`), so the tables
are identical to the bit, not merely close: a BLAS-backed member (a matrix product) can round
differently when the same row is predicted inside a batch of another size.

A Ray Dataset input has no row index to carry: its rows are packed into chunks as Ray batches
them, the run keeps the dataset's order (``preserve_order`` on the dataset's own context, put
back afterwards), and rows are numbered as they arrive.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ensel import _io
from ensel import _validation as V
from ensel.members import named_members, predict_member
from ensel.scale import ENGINES, require_ray
from ensel.table import HEADER, TABLE_FILES, PredictionTable, write_header

__all__ = ["collect_predictions"]

_OWNER = "collect_predictions"
_CHUNK = "data"      # the column ray.data.from_numpy creates: chunk indices


@dataclass(frozen=True)
class _Plan:
    """What every chunk of predictions must look like."""

    names: list[str]
    task: str
    classes: np.ndarray | None
    shape: tuple[int, ...]          # per row and member: (C,), () or (D,)
    dtype: np.dtype
    n_rows: int
    batch_size: int


def collect_predictions(
    members: Sequence[Any],
    data: Any,
    *,
    engine: str = "local",
    batch_size: int = 1024,
    out: str | Path | None = None,
    y: Any = None,
    task: str | None = None,
    classes: Any = None,
    dtype: Any = np.float32,
    store_inputs: bool = True,
    overwrite: bool = False,
    progress: bool = False,
    num_actors: int | tuple[int, int] | None = None,
    num_cpus_per_actor: float | None = None,
    input_column: str = "data",
) -> PredictionTable:
    """Predictions of every member on every input, as a `~ensel.PredictionTable`.

    Parameters
    ----------
    members : list of (name, member) or list of members
        Fitted scikit-learn estimators, ``torch.nn.Module`` (logits; softmax is applied for
        classification) or callables ``f(X) -> array``, as in ``ensel.members.named_members``.
    data : array-like of shape (N, F) or (N, d1, d2, ...), or ray.data.Dataset
        The inputs (images too: torch members get batches ``X[i:j]`` of any shape). A Ray
        Dataset (``engine="ray"`` only) must have a column ``input_column``
        holding one feature vector of length F per row (``ray.data.from_numpy`` names it
        ``"data"``); its rows are numbered in dataset order.
    engine : {"local", "ray"}, default="local"
        Run in this process, or on the Ray cluster this process is connected to (``ray.init()``
        is called if it was not, which joins ``RAY_ADDRESS`` or starts a local cluster).
    batch_size : int, default=1024
        Rows per chunk: every member predicts ``X[i * batch_size:(i + 1) * batch_size]`` in
        one call, on both engines.
    out : str or Path, optional
        A directory to write the table into (``table.json`` and ``P.npy``, ``y.npy``,
        ``X.npy``); ``P`` is written chunk by chunk through a memory map into a temporary
        sibling folder that replaces ``out`` only when the table is complete (an interrupted
        run leaves the previous table whole), and the table returned is opened memory-mapped.
        Without ``out`` the table is built in memory.
    y : array-like of shape (N,) or (N, D), optional
        Labels (not indices) for classification, targets for regression, in row order.
    task : {"classification", "regression"}, optional
        Default: classification when every scikit-learn member has ``predict_proba`` (torch
        modules and callables do not count), else regression; a pool of only torch modules and
        callables is regression unless ``task="classification"`` is given.
    classes : array-like of shape (C,), optional
        Class labels in column order. Default: the ``classes_`` of the members that have one
        (all must agree, in the same order), else ``0..C-1``. Members without ``classes_``
        (torch modules, callables) must return their columns in this order.
    dtype : numpy float dtype, default=np.float32
        Dtype of ``P`` (float32 is the table contract; predictions are cast once per chunk).
    store_inputs : bool, default=True
        Store ``X`` in the table (combiners that look at the inputs need it).
    overwrite : bool, default=False
        Replace a table already in ``out`` (other files in ``out`` are kept); without it a
        non-empty ``out`` is an error. A non-empty folder without ``table.json`` is never
        replaced (`FileExistsError`).
    progress : bool, default=False
        Show progress on stderr (a rich bar locally, Ray Data's bars on Ray).
    num_actors : int or (min, max), optional
        Size of each member's actor pool (``engine="ray"``). Default: autoscale from 1 to the
        number of CPUs of the cluster.
    num_cpus_per_actor : float, optional
        CPUs each actor reserves (``engine="ray"``). Default: ``min(1, CPUs / M)``, or
        ``min(1, (CPUs - 1) / M)`` for a Dataset (one CPU stays free for its read and transform
        tasks), so that one actor of every member fits on the cluster at once and the M stages
        run as a pipeline; on a small cluster, a Dataset whose read tasks ask for more CPUs
        needs a smaller value here.
    input_column : str, default="data"
        The feature column when ``data`` is a Ray Dataset.

    Returns
    -------
    table : PredictionTable
        ``P`` of shape (N, M, C) (classification) or (N, M) / (N, M, D) (regression), in the
        order of ``members`` and of the rows of ``data``; memory-mapped when ``out`` is given.

    Raises
    ------
    ValueError
        Unknown engine, empty pool, ``data`` not 2-D, ``y`` of the wrong length, ``out`` not
        empty without ``overwrite``, members that disagree on the classes or the output shape,
        or predictions that are NaN / not probabilities (naming the member and the row).
    TypeError
        A member that is neither an estimator, a torch module nor a callable.
    ImportError
        ``engine="ray"`` without Ray installed (``pip install ensel[ray]``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.naive_bayes import GaussianNB
    >>> from ensel.scale import collect_predictions
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 4)); y = (X[:, 0] > 0).astype(int)
    >>> pool = [LogisticRegression().fit(X, y), GaussianNB().fit(X, y)]
    >>> table = collect_predictions(pool, X, y=y, batch_size=128)
    >>> table.P.shape, table.members
    ((300, 2, 2), ['logisticregression', 'gaussiannb'])
    """
    if engine not in ENGINES:
        raise ValueError(
            f"The 'engine' parameter of {_OWNER} must be one of {ENGINES}. Got {engine!r} instead."
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(
            f"The 'batch_size' parameter of {_OWNER} must be an int >= 1. "
            f"Got {batch_size!r} instead."
        )
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(
            f"The 'dtype' parameter of {_OWNER} must be a float dtype. Got {dtype} instead."
        )
    if engine == "ray":
        require_ray(f"{_OWNER}(engine='ray')")
    named = named_members(members)
    if not named:
        raise ValueError(f"The pool is empty: 'members' of {_OWNER} has no members.")
    out_path = _check_out(out, overwrite)

    if _is_ray_dataset(data):
        if engine != "ray":
            raise ValueError(
                f"'data' of {_OWNER} is a Ray Dataset, which needs engine='ray'. "
                f"Got engine={engine!r}."
            )
        return _collect_ray_dataset(named, data, y=y, task=task, classes=classes, dtype=dtype,
                                    batch_size=batch_size, out=out_path,
                                    store_inputs=store_inputs, progress=progress,
                                    num_actors=num_actors,
                                    num_cpus_per_actor=num_cpus_per_actor,
                                    input_column=input_column)

    X = _check_inputs(data, store_inputs)
    plan = _plan(named, X[:1], n_rows=len(X), task=task, classes=classes, dtype=dtype,
                 batch_size=batch_size)
    y_enc = _encode_y(y, plan)
    writer = _TableWriter(out_path, plan, input_shape=X.shape[1:] if store_inputs else None,
                          X_dtype=X.dtype, labelled=y_enc is not None)
    with writer:
        writer.write_rows(0, X if store_inputs else None, y_enc)
        if engine == "local":
            _collect_local(named, X, plan, writer, progress)
        else:
            _collect_ray(named, X, plan, writer, progress, num_actors, num_cpus_per_actor)
        return writer.finish()


# ---------------------------------------------------------------------- checks and plan
def _is_ray_dataset(data: Any) -> bool:
    import sys

    module = sys.modules.get("ray.data")
    return module is not None and isinstance(data, module.Dataset)


def _check_out(out: str | Path | None, overwrite: bool) -> Path | None:
    if out is None:
        return None
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"'out' of {_OWNER} must be a directory; {path} is a file.")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise ValueError(
            f"'out' of {_OWNER} ({path}) exists and is not empty; pass overwrite=True to "
            f"replace the table in it, or choose another directory."
        )
    return path


def _check_inputs(data: Any, store_inputs: bool) -> np.ndarray:
    X = np.asarray(data)
    if X.ndim < 2:
        raise ValueError(
            f"'data' of {_OWNER} must be an array X[N, F] or X[N, ...] (e.g. images "
            f"[N, 1, 28, 28]), or a Ray Dataset; got a {X.ndim}-D array of shape {X.shape}."
        )
    if X.shape[0] == 0:
        raise ValueError(f"'data' of {_OWNER} has no rows: shape {X.shape}.")
    if store_inputs:
        if not np.issubdtype(X.dtype, np.number):
            raise ValueError(
                f"'data' of {_OWNER} must be numeric to be stored in the table; got dtype "
                f"{X.dtype}. Pass store_inputs=False to keep only the predictions."
            )
        V.check_finite(X, "X")
    return X


def _plan(named: list[tuple[str, Any]], probe: np.ndarray, *, n_rows: int, task: str | None,
          classes: Any, dtype: np.dtype, batch_size: int) -> _Plan:
    """Task, classes and per-row output shape, from the members and one probe row."""
    if task is None:
        estimators = [m for _, m in named if hasattr(m, "predict") or hasattr(m, "predict_proba")]
        task = "classification" if estimators and all(
            hasattr(m, "predict_proba") for m in estimators) else "regression"
    elif task not in V.TASKS:
        raise ValueError(
            f"The 'task' parameter of {_OWNER} must be one of {V.TASKS}. Got {task!r} instead."
        )
    shapes = {}
    for name, member in named:
        shapes[name] = np.asarray(predict_member(name, member, probe, task)).shape[1:]
    first = named[0][0]
    for name, shape in shapes.items():
        if shape != shapes[first]:
            raise ValueError(
                f"member {name!r} returns predictions of shape {shape} per row but member "
                f"{first!r} returns {shapes[first]}; every member must predict the same outputs."
            )
    shape = shapes[first]
    if task == "classification":
        if len(shape) != 1:
            raise ValueError(
                f"member {first!r} returns predictions of shape {shape} per row; "
                f"classification needs one probability vector [C] per row."
            )
        owners = [(n, np.asarray(m.classes_)) for n, m in named
                  if getattr(m, "classes_", None) is not None]
        if classes is None and owners:
            classes = owners[0][1]
        classes = V.check_classes(classes, shape[0])
        for name, member_classes in owners:
            V.check_same_classes(classes, member_classes, f"member {name!r}")
    elif classes is not None:
        raise ValueError(f"'classes' of {_OWNER} is only meaningful for classification.")
    elif len(shape) > 1:
        raise ValueError(
            f"member {first!r} returns predictions of shape {shape} per row; regression "
            f"needs a value or a vector [D] per row."
        )
    return _Plan([n for n, _ in named], task, classes, tuple(shape), dtype, n_rows, batch_size)


def _encode_y(y: Any, plan: _Plan) -> np.ndarray | None:
    if y is None:
        return None
    if plan.task == "classification":
        V.check_label_types(y, "y")
        return V.encode_labels(V.check_rows(y, plan.n_rows, "y", 1), plan.classes)
    y = np.asarray(y)
    y = V.check_rows(y, plan.n_rows, "y", 1 + len(plan.shape))
    if not np.issubdtype(y.dtype, np.number):
        raise ValueError(f"Regression targets y must be numeric; got dtype {y.dtype}.")
    y = y.astype(np.float64, copy=False)
    V.check_finite(y, "y")
    return y


def _check_chunk(values: Any, name: str, start: int, plan: _Plan) -> np.ndarray:
    """One member's predictions for rows ``start..``, cast to ``plan.dtype`` and checked."""
    values = np.asarray(values)
    if values.shape[1:] != plan.shape:
        raise ValueError(
            f"member {name!r} returned predictions of shape {values.shape[1:]} per row for rows "
            f"{start}..{start + len(values) - 1}; its first rows had {plan.shape}."
        )
    if not np.issubdtype(values.dtype, np.number):
        raise ValueError(f"member {name!r} returned non-numeric predictions ({values.dtype}).")
    values = values.astype(plan.dtype, copy=False)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        kind = "NaN" if np.isnan(values[row]).any() else "inf"
        raise ValueError(f"member {name!r}: predictions have {kind} in row {start + row}.")
    if plan.task == "classification":
        outside = (values < -V.PROBA_TOL) | (values > 1 + V.PROBA_TOL)
        if outside.any():
            row, col = (int(i) for i in np.argwhere(outside)[0])
            raise ValueError(
                f"member {name!r}: probability {float(values[row, col]):.4g} in row "
                f"{start + row}, class index {col} is outside [0, 1]."
            )
        sums = values.sum(axis=1, dtype=np.float64)
        off = np.abs(sums - 1.0) > V.PROBA_TOL
        if off.any():
            row = int(np.argmax(off))
            raise ValueError(
                f"member {name!r}: probabilities in row {start + row} sum to {sums[row]:.4f}, "
                f"expected 1 (tol {V.PROBA_TOL:g}). For logits pass a torch module, or "
                f"task='regression' for multi-output regression."
            )
    return values


# ---------------------------------------------------------------------- the table on disk
class _TableWriter:
    """Allocates ``P`` (a memory map under ``out``, or memory), takes chunks, then the header.

    Under ``out`` the arrays live in the temporary folder of an `ensel._io.atomic_directory`,
    swapped in for ``out`` by `finish`; leaving the ``with`` block any other way (an error, an
    interrupt) removes it and leaves the previous table in ``out`` whole.
    """

    def __init__(self, out: Path | None, plan: _Plan, *, input_shape: tuple[int, ...] | None,
                 X_dtype: Any, labelled: bool) -> None:
        self.out = out
        self.plan = plan
        n = plan.n_rows
        y_shape = (n, *plan.shape) if plan.task == "regression" else (n,)
        y_dtype = np.float64 if plan.task == "regression" else np.int64
        shapes = {"P": (n, len(plan.names), *plan.shape)}
        dtypes = {"P": plan.dtype}
        if input_shape is not None:
            shapes["X"], dtypes["X"] = (n, *input_shape), np.dtype(X_dtype)
        if labelled:
            shapes["y"], dtypes["y"] = y_shape, np.dtype(y_dtype)
        self.arrays: dict[str, np.ndarray] = {}
        self.saver = None
        if out is not None:
            self.saver = _io.atomic_directory(out, marker=HEADER, owned=TABLE_FILES)
            tmp = self.saver.open()
            for key, shape in shapes.items():
                self.arrays[key] = np.lib.format.open_memmap(
                    tmp / f"{key}.npy", mode="w+", dtype=dtypes[key], shape=shape)
        else:
            for key, shape in shapes.items():
                self.arrays[key] = np.empty(shape, dtype=dtypes[key])
        self.rows_written = np.zeros(len(plan.names), dtype=np.int64)

    def __enter__(self) -> _TableWriter:  # noqa: PYI034 - private, never subclassed
        return self

    def __exit__(self, *exc: object) -> None:
        """Remove the temporary folder unless `finish` swapped it in."""
        self.arrays.clear()
        if self.saver is not None:
            self.saver.abort()

    def write(self, start: int, member: int, values: np.ndarray) -> None:
        """Predictions of member ``member`` for rows ``start:start + len(values)``."""
        self.arrays["P"][start:start + len(values), member] = values
        self.rows_written[member] += len(values)

    def write_rows(self, start: int, X: np.ndarray | None, y: np.ndarray | None) -> None:
        """Inputs and encoded labels for rows ``start:start + len(...)``."""
        for key, value in (("X", X), ("y", y)):
            if value is not None and key in self.arrays:
                self.arrays[key][start:start + len(value)] = value

    def finish(self) -> PredictionTable:
        plan = self.plan
        missing = self.rows_written != plan.n_rows
        if missing.any():
            m = int(np.argmax(missing))
            raise RuntimeError(
                f"member {plan.names[m]!r}: {self.rows_written[m]} rows of predictions were "
                f"written, expected {plan.n_rows}; the collection did not cover every row."
            )
        if self.out is None:
            return PredictionTable(self.arrays["P"], self.arrays.get("y"), self.arrays.get("X"),
                                   list(plan.names), plan.classes, plan.task)
        for array in self.arrays.values():
            array.flush()
        self.arrays.clear()
        write_header(self.saver.tmp, task=plan.task, members=plan.names, classes=plan.classes,
                     shape=(plan.n_rows, len(plan.names), *plan.shape))
        self.saver.commit()
        return PredictionTable.load(self.out)


# ---------------------------------------------------------------------- local engine
def _chunks(n_rows: int, batch_size: int) -> range:
    return range(0, n_rows, batch_size)


def _collect_local(named: list[tuple[str, Any]], X: np.ndarray, plan: _Plan,
                   writer: _TableWriter, progress: bool) -> None:
    starts: Any = _chunks(plan.n_rows, plan.batch_size)
    if progress:
        from rich.console import Console
        from rich.progress import track

        starts = track(starts, description=f"predicting ({len(named)} members)",
                       console=Console(stderr=True))
    for start in starts:
        chunk = X[start:start + plan.batch_size]
        for i, (name, member) in enumerate(named):
            values = predict_member(name, member, chunk, plan.task)
            writer.write(start, i, _check_chunk(values, name, start, plan))


# ---------------------------------------------------------------------- Ray engine
class _MemberPredictor:
    """A Ray Data actor serving one member: loads it (and the inputs) once, at start.

    Called on batches of chunk rows: with ``inputs`` (array input), a chunk is its index in the
    column ``"data"`` and its rows are sliced from the shared inputs; without it (Dataset
    input), a chunk carries its own rows in ``"X"`` (padded to ``batch_size``) and ``"n"``.
    Adds the column ``column``: ``[chunks, batch_size, *shape]`` predictions, zero-padded.
    """

    def __init__(self, name: str, member: list, inputs: list | None, column: str, task: str,
                 batch_size: int, shape: tuple[int, ...], dtype: str) -> None:
        import ray

        self.name = name
        self.member = ray.get(member[0])
        self.X = None if inputs is None else ray.get(inputs[0])
        self.column = column
        self.task = task
        self.batch_size = batch_size
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)

    def _rows(self, batch: dict[str, np.ndarray], j: int) -> np.ndarray:
        if self.X is not None:
            start = int(batch[_CHUNK][j]) * self.batch_size
            rows = self.X[start:start + self.batch_size]
        else:
            rows = batch["X"][j, :int(batch["n"][j])]
        return np.array(rows)         # a writable copy: object-store arrays are read-only

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        n_chunks = len(batch[_CHUNK] if self.X is not None else batch["n"])
        result = np.zeros((n_chunks, self.batch_size, *self.shape), dtype=self.dtype)
        for j in range(n_chunks):
            rows = self._rows(batch, j)
            values = np.asarray(predict_member(self.name, self.member, rows, self.task))
            if values.shape[1:] != self.shape:
                raise ValueError(
                    f"member {self.name!r} returned predictions of shape {values.shape[1:]} per "
                    f"row; its first rows had {self.shape}."
                )
            result[j, :len(rows)] = values
        return {**batch, self.column: result}


def _ray_session(what: str) -> Any:
    ray = require_ray(what)
    if not ray.is_initialized():
        ray.init()
    return ray


def _pool_options(ray: Any, n_members: int, num_actors: int | tuple[int, int] | None,
                  num_cpus_per_actor: float | None, reserve: float = 0.0) -> dict[str, Any]:
    """Actor pool and CPUs per actor, so that one actor of every member fits on the cluster at
    once next to ``reserve`` CPUs for other tasks (else the pipeline stalls waiting for CPUs)."""
    cpus = float(ray.cluster_resources().get("CPU", 1.0))
    if num_cpus_per_actor is None:
        free = cpus - reserve if cpus - reserve >= 0.1 * n_members else cpus / (n_members + 1)
        num_cpus_per_actor = min(1.0, math.floor(100 * free / n_members) / 100) or 0.01
    elif not num_cpus_per_actor > 0:
        raise ValueError(
            f"The 'num_cpus_per_actor' parameter of {_OWNER} must be > 0. "
            f"Got {num_cpus_per_actor!r} instead."
        )
    if num_actors is None:
        size: dict[str, int] = {"min_size": 1, "max_size": max(1, int(cpus))}
    elif isinstance(num_actors, tuple) and len(num_actors) == 2 \
            and all(isinstance(v, int) and v >= 1 for v in num_actors) \
            and num_actors[0] <= num_actors[1]:
        size = {"min_size": num_actors[0], "max_size": num_actors[1]}
    elif isinstance(num_actors, int) and not isinstance(num_actors, bool) and num_actors >= 1:
        size = {"size": num_actors}
    else:
        raise ValueError(
            f"The 'num_actors' parameter of {_OWNER} must be an int >= 1 or a pair "
            f"(min, max) with 1 <= min <= max. Got {num_actors!r} instead."
        )
    return {"compute": ray.data.ActorPoolStrategy(**size), "num_cpus": num_cpus_per_actor}


def _member_stages(ray: Any, ds: Any, named: list[tuple[str, Any]], plan: _Plan,
                   inputs_ref: Any, options: dict[str, Any]) -> Any:
    for i, (name, member) in enumerate(named):
        ds = ds.map_batches(
            _MemberPredictor,
            fn_constructor_kwargs={
                "name": name, "member": [ray.put(member)],
                "inputs": None if inputs_ref is None else [inputs_ref], "column": f"p{i}",
                "task": plan.task, "batch_size": plan.batch_size, "shape": plan.shape,
                "dtype": plan.dtype.str,
            },
            batch_size=1, batch_format="numpy", **options,
        )
    return ds


class _DataContextPatch:
    """Set a dataset's progress bars (and row order) for one run, then put them back.

    A Ray Dataset keeps the `DataContext` it was created with (a copy of the current one),
    and the datasets derived from it share that object: the settings of a run belong there,
    not in ``DataContext.get_current()``.
    """

    def __init__(self, ctx: Any, progress: bool, preserve_order: bool) -> None:
        self.ctx = ctx
        self.progress = progress
        self.order = preserve_order

    def __enter__(self) -> None:
        self.old = (self.ctx.enable_progress_bars, self.ctx.execution_options.preserve_order)
        self.ctx.enable_progress_bars = self.progress
        if self.order:
            self.ctx.execution_options.preserve_order = True

    def __exit__(self, *exc: object) -> None:
        self.ctx.enable_progress_bars, self.ctx.execution_options.preserve_order = self.old


def _collect_ray(named: list[tuple[str, Any]], X: np.ndarray, plan: _Plan, writer: _TableWriter,
                 progress: bool, num_actors: int | tuple[int, int] | None,
                 num_cpus_per_actor: float | None) -> None:
    ray = _ray_session(f"{_OWNER}(engine='ray')")
    options = _pool_options(ray, len(named), num_actors, num_cpus_per_actor)
    n_chunks = math.ceil(plan.n_rows / plan.batch_size)
    cpus = int(ray.cluster_resources().get("CPU", 1))
    inputs_ref = ray.put(np.ascontiguousarray(X))
    n_blocks = min(n_chunks, max(4 * cpus, 1))
    ds = ray.data.from_numpy(np.array_split(np.arange(n_chunks, dtype=np.int64), n_blocks))
    with _DataContextPatch(ds.context, progress, preserve_order=False):
        ds = _member_stages(ray, ds, named, plan, inputs_ref, options)
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            for j, chunk in enumerate(batch[_CHUNK]):
                start = int(chunk) * plan.batch_size
                n = min(plan.batch_size, plan.n_rows - start)
                for i, name in enumerate(plan.names):
                    writer.write(start, i, _check_chunk(batch[f"p{i}"][j, :n], name, start, plan))


def _pack_chunk(batch: dict[str, np.ndarray], column: str,
                batch_size: int) -> dict[str, np.ndarray]:
    """Dataset input: pack a batch of rows into one chunk row (padded ``X`` and its length)."""
    X = np.asarray(batch[column])
    if X.ndim != 2:
        raise ValueError(
            f"column {column!r} of the Ray Dataset must hold one feature vector per row; got a "
            f"batch of shape {X.shape}."
        )
    padded = np.zeros((1, batch_size, X.shape[1]), dtype=X.dtype)
    padded[0, :len(X)] = X
    return {"X": padded, "n": np.array([len(X)], dtype=np.int64)}


def _collect_ray_dataset(named: list[tuple[str, Any]], data: Any, *, y: Any, task: str | None,
                         classes: Any, dtype: np.dtype, batch_size: int, out: Path | None,
                         store_inputs: bool, progress: bool,
                         num_actors: int | tuple[int, int] | None,
                         num_cpus_per_actor: float | None, input_column: str) -> PredictionTable:
    ray = _ray_session(f"{_OWNER}(engine='ray')")
    if input_column not in data.columns():
        raise ValueError(
            f"The Ray Dataset given as 'data' to {_OWNER} has no column {input_column!r} "
            f"(columns: {data.columns()}); pass input_column=..."
        )
    n_rows = data.count()
    if n_rows == 0:
        raise ValueError(f"The Ray Dataset given as 'data' to {_OWNER} has no rows.")
    probe = _check_inputs(np.array(data.take_batch(1, batch_format="numpy")[input_column]),
                          store_inputs)
    plan = _plan(named, probe, n_rows=n_rows, task=task, classes=classes, dtype=dtype,
                 batch_size=batch_size)
    y_enc = _encode_y(y, plan)
    # one CPU stays free for the dataset's own read / transform tasks (1 CPU each by default)
    options = _pool_options(ray, len(named), num_actors, num_cpus_per_actor, reserve=1.0)
    writer = _TableWriter(out, plan, input_shape=probe.shape[1:] if store_inputs else None,
                          X_dtype=probe.dtype, labelled=y_enc is not None)
    with writer, _DataContextPatch(data.context, progress, preserve_order=True):
        writer.write_rows(0, None, y_enc)
        ds = data.map_batches(
            _pack_chunk, fn_kwargs={"column": input_column, "batch_size": batch_size},
            batch_size=batch_size, batch_format="numpy")
        ds = _member_stages(ray, ds, named, plan, None, options)
        start = 0
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            for j, n in enumerate(batch["n"]):
                n = int(n)
                if start + n > n_rows:
                    raise RuntimeError(
                        f"The Ray Dataset yielded more than the {n_rows} rows it counted.")
                rows = batch["X"][j, :n]
                if store_inputs:
                    V.check_finite(rows, "X")
                writer.write_rows(start, rows if store_inputs else None, None)
                for i, name in enumerate(plan.names):
                    writer.write(start, i, _check_chunk(batch[f"p{i}"][j, :n], name, start, plan))
                start += n
        return writer.finish()

