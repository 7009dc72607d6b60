"""Train the e2e-CEL selection network data-parallel on Ray Train.

``DifferentiableSelector(engine="ray").fit(table)`` prepares the features and the split as it
does locally, then calls `fit_selector_on_ray` once per candidate (k, aggregation);
`fit_selectors_on_ray` trains several candidates in one Ray Train run, paying its start-up
once. Each Ray Train worker builds the same network (same seed), wraps it in
DistributedDataParallel (``ray.train.torch.prepare_model``) and trains on its shard of every
minibatch:

- every worker draws the same epoch permutation of the training rows and the same member
  dropout as the local loop (one shared generator, seeded with ``random_state``), cuts it into
  global batches of ``batch_size`` rows, and takes rows ``rank, rank + W, ...`` of each global
  batch (the permutation is padded to a multiple of W so every worker runs the same number of
  steps). DDP averages the gradients of equal shards, so a step is the local step on the same
  global batch, up to the order of floating-point sums and the dropout noise;
- every worker evaluates the full validation part (hard top-k) after each epoch; rank 0's
  numbers are broadcast so that early stopping stops every worker at the same epoch;
- rank 0 reports the best weights of every candidate (directory ``fit-<i>`` of one Ray Train
  checkpoint) in the files of `DifferentiableSelector.save`: ``weights.safetensors`` with the
  same tensor names (``net.*``, ``feature_mean``, ``feature_scale``) and a ``config.json``
  header, here holding the fit's record (k, aggregation, best epoch, validation loss and
  score, history). No pickle, no ``torch.save``. The driver rebuilds the network and loads the
  weights.

The inputs travel once through the object store (``ray.put`` of the feature, prediction and
target arrays), and each worker reads them zero-copy on its node.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ensel.scale import require_ray

__all__ = ["RayTrainConfig", "fit_selector_on_ray", "fit_selectors_on_ray"]

_WHAT = "DifferentiableSelector(engine='ray')"
_CHECKPOINT_FORMAT = "ensel.DifferentiableSelector.checkpoint"


@dataclass
class RayTrainConfig:
    """Resources for training a selector on Ray Train.

    Set it on a selector as the attribute ``ray_train_config`` (it is not a constructor
    parameter, so `sklearn.base.clone` drops it), or pass it to `fit_selector_on_ray`.

    Parameters
    ----------
    num_workers : int, default=2
        Data-parallel training workers (one process each).
    use_gpu : bool, default=False
        One GPU per worker (NCCL) instead of CPU (gloo).
    resources_per_worker : dict, optional
        e.g. ``{"CPU": 2}``; Ray Train's default is one CPU per worker.
    storage_path : str, optional
        Where Ray Train persists the checkpoint. Default: a temporary directory on this machine,
        removed after the fit; on a multi-node cluster give shared storage (NFS path or
        ``s3://...``) so that rank 0's checkpoint is readable from the driver.

    Examples
    --------
    >>> from ensel.scale.train import RayTrainConfig
    >>> RayTrainConfig(num_workers=4).num_workers
    4
    """

    num_workers: int = 2
    use_gpu: bool = False
    resources_per_worker: dict[str, float] | None = field(default=None)
    storage_path: str | None = None

    def check(self) -> RayTrainConfig:
        """Return ``self`` after checking every field; the error names the bad one."""
        if isinstance(self.num_workers, bool) or not isinstance(self.num_workers, int) \
                or self.num_workers < 1:
            raise ValueError(
                f"The 'num_workers' parameter of RayTrainConfig must be an int >= 1. "
                f"Got {self.num_workers!r} instead.")
        if not isinstance(self.use_gpu, bool):
            raise TypeError(
                f"The 'use_gpu' parameter of RayTrainConfig must be a bool. "
                f"Got {self.use_gpu!r} instead.")
        if self.resources_per_worker is not None and not (
                isinstance(self.resources_per_worker, dict)
                and all(isinstance(v, (int, float)) and v >= 0
                        for v in self.resources_per_worker.values())):
            raise ValueError(
                f"The 'resources_per_worker' parameter of RayTrainConfig must be a dict of "
                f"non-negative amounts, e.g. {{'CPU': 2}}. Got {self.resources_per_worker!r} "
                f"instead.")
        return self


def fit_selector_on_ray(selector: Any, k: int, F: Any, P: Any, target: Any, correct: Any,
                        train: np.ndarray, val: np.ndarray, *, aggregation: str | None = None,
                        n_epochs: int | None = None,
                        config: RayTrainConfig | None = None) -> dict[str, Any]:
    """Train one selection network for a fixed k with Ray Train (DDP), with early stopping.

    The Ray counterpart of ``DifferentiableSelector._fit_one`` (same arguments, same result);
    ``DifferentiableSelector`` calls it when ``engine="ray"``, after setting its fitted
    preprocessing attributes (``task_``, ``features_``, ``feature_mean_``, ``target_scale_``).

    Parameters
    ----------
    selector : DifferentiableSelector
        Supplies the hyper-parameters and the loss, mask and combination methods.
    k : int
        Members selected per input.
    F : torch.Tensor of shape (N, F)
        Standardised selection features, float32.
    P : torch.Tensor of shape (N, M, C)
        Members' predictions (regression: ``C`` = outputs), float32.
    target : torch.Tensor of shape (N,) or (N, D)
        Class indices (int64) or regression targets (float32).
    correct : torch.Tensor of shape (N, M) or None
        Whether each member is right (classification). Unused, as in ``_fit_one``.
    train, val : ndarray of int
        Row indices of the training and validation parts.
    aggregation : {"mean", "weighted", "stacked"}, optional
        Default: ``selector._ray_aggregation`` when the selector set it (``aggregation="auto"``
        trains one network per aggregation), else ``selector.aggregation``.
    n_epochs : int, optional
        Train exactly this many epochs and keep the last weights (no early stopping), as
        ``_fit_one(n_epochs=...)`` does for the refit on all rows.
    config : RayTrainConfig, optional
        Default: ``selector.ray_train_config`` if set, else ``RayTrainConfig()`` (two CPU
        workers).

    Returns
    -------
    fit : dict
        ``{"net": _SelectionNet (eval mode, best validation weights), "k": int,
        "aggregation": str, "epoch": int (best epoch), "val_loss": float,
        "val_score": float, "history": list of dict}``, as ``_fit_one``.

    Raises
    ------
    ImportError
        Ray Train is not installed (``pip install ensel[ray]``).
    TypeError
        The configuration is not a `RayTrainConfig`.
    ValueError
        A bad `RayTrainConfig` field or ``n_epochs``, or fewer training rows than workers.

    Examples
    --------
    >>> from ensel import DifferentiableSelector
    >>> from ensel.scale import RayTrainConfig
    >>> selector = DifferentiableSelector(k=2, engine="ray")
    >>> selector.ray_train_config = RayTrainConfig(num_workers=4)
    >>> # selector.fit(table) now trains on 4 Ray Train workers
    """
    aggregation = aggregation or getattr(selector, "_ray_aggregation", None) \
        or selector.aggregation
    return fit_selectors_on_ray(selector, [(k, aggregation)], F, P, target, correct, train,
                                val, n_epochs=n_epochs, config=config)[0]


def fit_selectors_on_ray(selector: Any, candidates: Sequence[tuple[int, str]], F: Any, P: Any,
                         target: Any, correct: Any, train: np.ndarray, val: np.ndarray, *,
                         n_epochs: int | None = None,
                         config: RayTrainConfig | None = None) -> list[dict[str, Any]]:
    """Train one selection network per ``(k, aggregation)`` candidate in a single Ray Train run.

    The same training as `fit_selector_on_ray`, for several candidates one after the other on
    the same workers, so that Ray Train starts once (10-20 s) instead of once per candidate:
    ``k="auto"`` with ``aggregation="auto"`` is ten candidates.

    Parameters
    ----------
    selector : DifferentiableSelector
    candidates : list of (int, str)
        ``(k, aggregation)`` pairs, trained in this order.
    F, P, target, correct, train, val, n_epochs, config
        As in `fit_selector_on_ray`.

    Returns
    -------
    fits : list of dict
        One result of `fit_selector_on_ray` per candidate, in order.
    """
    config = (config or getattr(selector, "ray_train_config", None) or RayTrainConfig())
    if not isinstance(config, RayTrainConfig):
        raise TypeError(
            f"The Ray Train configuration of {type(selector).__name__} must be a "
            f"RayTrainConfig. Got {config!r} instead.")
    config.check()
    if n_epochs is not None and (isinstance(n_epochs, bool) or not isinstance(n_epochs, int)
                                 or n_epochs < 1):
        raise ValueError(
            f"The 'n_epochs' parameter of fit_selector_on_ray must be an int >= 1 or None. "
            f"Got {n_epochs!r} instead.")
    candidates = [(int(k), str(aggregation)) for k, aggregation in candidates]
    if not candidates:
        raise ValueError("fit_selectors_on_ray needs at least one (k, aggregation) candidate.")
    train, val = np.asarray(train, dtype=np.int64), np.asarray(val, dtype=np.int64)
    if len(train) < config.num_workers:
        raise ValueError(
            f"{_WHAT} has {len(train)} training rows for {config.num_workers} workers; every "
            f"worker needs at least one. Use fewer workers or more rows.")
    ray = require_ray(_WHAT, parts=("train", "train.torch"))
    if not ray.is_initialized():
        ray.init()
    refs = [ray.put(_numpy(a)) for a in (F, P, target)]
    storage = config.storage_path
    own_storage = storage is None
    if own_storage:
        storage = tempfile.mkdtemp(prefix="ensel-ray-train-")
    trainer = ray.train.torch.TorchTrainer(
        _train_loop,
        train_loop_config={"selector": selector, "candidates": candidates,
                           "n_epochs": n_epochs, "refs": refs, "train": train, "val": val},
        scaling_config=ray.train.ScalingConfig(
            num_workers=config.num_workers, use_gpu=config.use_gpu,
            resources_per_worker=config.resources_per_worker),
        run_config=ray.train.RunConfig(
            name=f"ensel-selector-{uuid.uuid4().hex[:8]}", storage_path=storage,
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=1)),
    )
    fits = []
    try:
        result = trainer.fit()
        if result.checkpoint is None:
            raise RuntimeError(f"{_WHAT}: Ray Train finished without a checkpoint.")
        with result.checkpoint.as_directory() as directory:
            for i in range(len(candidates)):
                net, info = _read_checkpoint(Path(directory) / f"fit-{i}", selector, F, P)
                fits.append({"net": net, "k": int(info["k"]), "aggregation": info["aggregation"],
                             "epoch": int(info["epoch"]), "val_loss": float(info["val_loss"]),
                             "val_score": float(info["val_score"]),
                             "history": info["history"]})
    finally:
        if own_storage:
            shutil.rmtree(storage, ignore_errors=True)
    return fits


def _numpy(tensor: Any) -> np.ndarray:
    value = tensor.detach().cpu().numpy() if hasattr(tensor, "detach") else np.asarray(tensor)
    return np.ascontiguousarray(value)


def _train_loop(config: dict[str, Any]) -> None:
    """One Ray Train worker: every candidate in turn, then rank 0 reports the checkpoint."""
    import ray
    import ray.train

    sel, refs = config["selector"], config["refs"]
    F, P, target = (ray.get(r) for r in refs)
    if P.ndim == 2:
        P = P[:, :, None]
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    fits = [_train_one(sel, k, aggregation, F, P, target, config["train"], config["val"],
                       config["n_epochs"], rank, world)
            for k, aggregation in config["candidates"]]
    metrics = {"candidates": [{key: v for key, v in info.items() if key != "history"}
                              for _, info in fits]}
    if rank != 0:
        ray.train.report(metrics, checkpoint=None)
        return
    with tempfile.TemporaryDirectory(prefix="ensel-selector-") as directory:
        for i, (net, info) in enumerate(fits):
            path = Path(directory) / f"fit-{i}"
            path.mkdir()
            _write_checkpoint(path, net, sel, info)
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(directory))


def _train_one(sel: Any, k: int, aggregation: str, F: np.ndarray, P: np.ndarray,
               target: np.ndarray, train: np.ndarray, val: np.ndarray, n_epochs: int | None,
               rank: int, world: int) -> tuple[Any, dict[str, Any]]:
    """DDP training of one network on this worker's shard of each global batch (module doc)."""
    import ray.train.torch
    import torch
    import torch.distributed as dist

    from ensel.combine.learned import _EarlyStopping

    distributed = world > 1 and dist.is_available() and dist.is_initialized()

    def rows(array: np.ndarray, idx: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(array[idx])         # fancy indexing copies: writable

    torch.manual_seed(sel.random_state)                 # the same initial network everywhere
    net = sel._new_net(aggregation, F, P)
    model = ray.train.torch.prepare_model(net, move_to_device=False)
    worker_seed = int(np.random.SeedSequence([sel.random_state, rank]).generate_state(1)[0])
    torch.manual_seed(worker_seed)                      # dropout noise: independent per worker
    gen = torch.Generator().manual_seed(worker_seed)    # perturbed top-k noise, likewise
    opt = torch.optim.Adam(net.parameters(), lr=sel.learning_rate,
                           weight_decay=sel.weight_decay)
    shared = np.random.default_rng(sel.random_state)    # the local loop's stream, on every worker
    m = P.shape[1]
    global_batch = max(1, math.ceil(sel.batch_size / world)) * world
    F_val, P_val, t_val = rows(F, val), rows(P, val), rows(target, val)
    best = _EarlyStopping(sel.early_stopping)
    history: list[dict] = []
    for epoch in range(1, (n_epochs or sel.max_epochs) + 1):
        model.train()
        order = shared.permutation(train)
        pad = (-len(order)) % world
        if pad:
            order = np.concatenate([order, order[:pad]])
        total = torch.zeros(2, dtype=torch.float64)     # loss sum, rows
        for start in range(0, len(order), global_batch):
            batch = order[start:start + global_batch]
            mine = batch[rank::world]
            hidden = None
            if sel.member_dropout > 0 and k < m:
                hidden = sel._hidden(len(batch), m, k, shared)[rank::world]
            scores, w = model(rows(F, mine))
            if hidden is not None:
                scores = scores - 1e4 * hidden
            z = sel._mask(scores, k, hard=False, generator=gen)
            loss = sel._loss(sel._combine_tensors(rows(P, mine), z, w, net.head),
                             rows(target, mine))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += torch.tensor([float(loss.detach()) * len(mine), len(mine)],
                                  dtype=torch.float64)
        if distributed:
            dist.all_reduce(total)
        if n_epochs is not None:
            best.epoch = epoch
            continue
        val_loss, val_score = sel._evaluate(net, k, F_val, P_val, t_val)
        agreed = torch.tensor([val_loss, val_score], dtype=torch.float64)
        if distributed:
            dist.broadcast(agreed, src=0)
        val_loss, val_score = float(agreed[0]), float(agreed[1])
        record = {"k": k, "epoch": epoch, "train_loss": float(total[0] / total[1]),
                  "val_loss": val_loss, "val_score": val_score}
        history.append(record)
        if sel.verbose and rank == 0:
            print(f"[{type(sel).__name__} on Ray, {world} workers] k={k} {aggregation} epoch "
                  f"{epoch:3d}  train loss {record['train_loss']:.4f}  val loss {val_loss:.4f}"
                  f"  val score {val_score:.4f}", flush=True)
        if best.update(net, epoch, val_loss, val_score):
            break
    if n_epochs is None:
        net.load_state_dict(best.state)
    net.eval()
    return net, {"k": k, "aggregation": aggregation, **best.result(),
                 "epochs": n_epochs or len(history), "history": history}


def _write_checkpoint(path: Path, net: Any, selector: Any, info: dict[str, Any]) -> None:
    """The network's weights as `DifferentiableSelector.save` writes them (``net.*`` and the
    feature scaling in ``weights.safetensors``) and a JSON header with the fit's record."""
    import torch
    from safetensors.torch import save_file

    tensors = {f"net.{n}": t.detach().contiguous() for n, t in net.state_dict().items()}
    tensors["feature_mean"] = torch.from_numpy(np.asarray(selector.feature_mean_))
    tensors["feature_scale"] = torch.from_numpy(np.asarray(selector.feature_scale_))
    save_file(tensors, str(path / "weights.safetensors"))
    header = {"format": _CHECKPOINT_FORMAT, "version": 1, **info}
    (path / "config.json").write_text(json.dumps(header, indent=1))


def _read_checkpoint(path: Path, selector: Any, F: Any, P: Any) -> tuple[Any, dict[str, Any]]:
    """The trained network (eval mode) and the fit's record, from `_write_checkpoint`'s files."""
    from safetensors.torch import load_file

    info = json.loads((path / "config.json").read_text())
    if info.get("format") != _CHECKPOINT_FORMAT:
        raise ValueError(f"{path / 'config.json'} is not an {_CHECKPOINT_FORMAT} header.")
    tensors = load_file(str(path / "weights.safetensors"))
    net = selector._new_net(info["aggregation"], F, P if P.ndim == 3 else P[:, :, None])
    net.load_state_dict({n[len("net."):]: t for n, t in tensors.items() if n.startswith("net.")})
    net.eval()
    return net, info
