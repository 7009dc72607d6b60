"""The Ray engine: train learned models data-parallel on Ray Train.

``DifferentiableSelector(engine="ray", engine_options={"num_workers": 4})`` hands its list of
training jobs (one per ``(k, aggregation)`` candidate, then the refit) to `train_on_ray`, which
this module registers as the ``"ray"`` engine of `ensel._training`. Every job is trained in one
Ray Train run, so Ray Train starts once per call (10-20 s). Each worker runs the one training
loop, `ensel._training.train`, with its ``rank`` and ``world``:

- every worker builds the same network (same seed) and wraps it in DistributedDataParallel
  (``ray.train.torch.prepare_model``);
- every worker draws the same epoch permutation and per-row noise (member dropout) from the
  shared stream seeded with ``random_state``, cuts it into global batches of ``batch_size`` rows
  and takes rows ``rank, rank + W, ...`` of each (the permutation is padded to a multiple of W so
  that every worker runs the same number of steps). DDP averages the gradients of equal shards,
  so a step is the local step on the same global batch, up to the order of floating-point sums
  and each worker's own dropout noise (rank 0's noise is the local loop's);
- every worker evaluates the full validation part after each epoch and follows rank 0's numbers,
  so that early stopping stops every worker at the same epoch;
- rank 0 reports every job's kept weights (``fit-<i>/model.safetensors``) and record
  (``fit-<i>/record.json``: epoch, validation loss and score, history) in one Ray Train
  checkpoint. No pickle, no ``torch.save``; the driver rebuilds each network with the job's
  factory and loads the weights.

With one worker the result is the local loop's to the bit (tested). The jobs travel once through
the object store (``ray.put``) and each worker reads them on its node.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ensel._training import Fit, Job, register_engine, train
from ensel.scale import require_ray

__all__ = ["RayTrainConfig", "train_on_ray"]

_WHAT = "engine='ray'"
_RECORD_FORMAT = "ensel.training.record"


@dataclass
class RayTrainConfig:
    """Resources for training a selector on Ray Train.

    A learned model takes it as ``engine_options`` (the fields as a dict, so that
    `sklearn.base.clone` keeps them), e.g.
    ``DifferentiableSelector(engine="ray", engine_options={"num_workers": 4})``; `train_on_ray`
    also takes the dataclass itself.

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


def ray_train_config(options: Any) -> RayTrainConfig:
    """A checked `RayTrainConfig` from ``engine_options`` (None, a dict of its fields, or one)."""
    if options is None:
        return RayTrainConfig().check()
    if isinstance(options, RayTrainConfig):
        return options.check()
    if not isinstance(options, dict):
        raise TypeError(
            f"The 'engine_options' of engine='ray' must be a dict of RayTrainConfig fields or a "
            f"RayTrainConfig. Got {options!r} instead.")
    names = {f.name for f in fields(RayTrainConfig)}
    unknown = sorted(set(options) - names)
    if unknown:
        raise ValueError(
            f"The 'engine_options' of engine='ray' got unknown option(s) {unknown}; the options "
            f"are {sorted(names)}.")
    return RayTrainConfig(**options).check()


def train_on_ray(jobs: Sequence[Job], options: Any = None) -> list[Fit]:
    """Train every job in one Ray Train run (module docstring); one ``Fit`` per job, in order.

    Parameters
    ----------
    jobs : sequence of ensel._training.Job
        What to train; their factories and objectives must pickle.
    options : dict or RayTrainConfig, optional
        Resources (default: two CPU workers).

    Returns
    -------
    fits : list of ensel._training.Fit
        The networks in eval mode, as the local engine returns them.

    Raises
    ------
    ImportError
        Ray Train is not installed (``pip install ensel[ray]``).
    TypeError, ValueError
        Bad options, no jobs, or fewer training rows than workers.
    """
    config = ray_train_config(options)
    jobs = list(jobs)
    if not jobs:
        raise ValueError("train_on_ray needs at least one job.")
    fewest = min(len(job.train_rows) for job in jobs)
    if fewest < config.num_workers:
        raise ValueError(
            f"{_WHAT} has {fewest} training rows for {config.num_workers} workers; every "
            f"worker needs at least one. Use fewer workers or more rows.")
    ray = require_ray(_WHAT, parts=("train", "train.torch"))
    if not ray.is_initialized():
        ray.init()
    storage = config.storage_path or tempfile.mkdtemp(prefix="ensel-ray-train-")
    trainer = ray.train.torch.TorchTrainer(
        _train_loop, train_loop_config={"jobs": ray.put(jobs)},
        scaling_config=ray.train.ScalingConfig(
            num_workers=config.num_workers, use_gpu=config.use_gpu,
            resources_per_worker=config.resources_per_worker),
        run_config=ray.train.RunConfig(
            name=f"ensel-train-{uuid.uuid4().hex[:8]}", storage_path=storage,
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=1)),
    )
    try:
        result = trainer.fit()
        if result.checkpoint is None:
            raise RuntimeError(f"{_WHAT}: Ray Train finished without a checkpoint.")
        with result.checkpoint.as_directory() as directory:
            return [_read_fit(Path(directory) / f"fit-{i}", job) for i, job in enumerate(jobs)]
    finally:
        if config.storage_path is None:
            shutil.rmtree(storage, ignore_errors=True)


def _train_loop(config: dict[str, Any]) -> None:
    """One Ray Train worker: every job in turn, then rank 0 reports the checkpoint."""
    import ray
    import ray.train
    import ray.train.torch

    jobs = ray.get(config["jobs"])
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    fits = [train(job, rank=rank, world=world,
                  wrap=lambda net: ray.train.torch.prepare_model(net, move_to_device=False))
            for job in jobs]
    metrics = {"fits": [{"epoch": f.epoch, "val_loss": f.val_loss} for f in fits]}
    if rank != 0:
        ray.train.report(metrics, checkpoint=None)
        return
    with tempfile.TemporaryDirectory(prefix="ensel-train-") as directory:
        for i, fit in enumerate(fits):
            _write_fit(Path(directory) / f"fit-{i}", fit)
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(directory))


def _write_fit(path: Path, fit: Fit) -> None:
    """A fit's weights (safetensors) and record (JSON; NaN as null) in the folder ``path``."""
    from safetensors.torch import save_file

    from ensel._io import atomic_directory, write_json

    tensors = {n: t.detach().contiguous() for n, t in fit.net.state_dict().items()}
    record = {"format": _RECORD_FORMAT, "version": 1, "epoch": fit.epoch,
              "val_loss": _finite_or_none(fit.val_loss),
              "val_score": _finite_or_none(fit.val_score), "history": fit.history}
    with atomic_directory(path, marker="record.json") as tmp:
        save_file(tensors, str(tmp / "model.safetensors"))
        write_json(tmp / "record.json", record, indent=None)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _read_fit(path: Path, job: Job) -> Fit:
    """The `Fit` written by `_write_fit`, its network rebuilt by the job's factory."""
    from safetensors.torch import load_file

    from ensel._io import read_json

    record = read_json(path / "record.json", format=_RECORD_FORMAT, versions=(1,),
                       keys=("epoch", "val_loss", "val_score", "history"),
                       required=("epoch", "val_loss", "val_score", "history"))
    net = job.build()
    try:
        net.load_state_dict(load_file(str(path / "model.safetensors")))
    except RuntimeError as error:
        raise ValueError(f"{path / 'model.safetensors'} does not fit the job's network: "
                         f"{str(error).splitlines()[0]}") from None
    net.eval()
    nan = math.nan
    return Fit(net, int(record["epoch"]), nan if record["val_loss"] is None
               else float(record["val_loss"]), nan if record["val_score"] is None
               else float(record["val_score"]), record["history"], dict(job.info))


register_engine("ray", train_on_ray)
