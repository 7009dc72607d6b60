"""The one training loop for every learned model in ensel.

A learned model (the e2e-CEL selector, the neural ensembler, the listwise candidate scorer)
provides three things: a *factory* that builds its network, an *objective* that computes the
loss of a minibatch and scores the validation rows, and its hyper-parameters as
`TrainOptions`. `train` owns everything else: seeding, the optimiser (Adam on minibatches, or
full-batch L-BFGS), the epoch permutations, the objective's per-row noise (member dropout),
early stopping on the validation loss with the best weights kept, the history and the progress
lines.

An *engine* runs a list of `Job` s and returns one `Fit` per job. ``"local"`` trains them one
after the other in this process. Other engines register themselves with `register_engine`;
the known ones (``"ray"``: `ensel.scale.train`) are imported on first use by name, so nothing
here imports them. A distributed engine calls the same `train` inside each worker with its
``rank`` and ``world``: every worker draws the same permutation and noise from the shared
stream, takes rows ``rank, rank + world, ...`` of each global batch, sums its loss into one
all-reduced total, and follows rank 0's validation numbers. With ``world=1`` it is this loop,
bit for bit.

This module imports torch; ``import ensel`` does not load it.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

__all__ = ["EarlyStopping", "Fit", "Job", "Objective", "TrainOptions", "get_engine", "mlp",
           "register_engine", "run_jobs", "threads", "train"]

SOLVERS = ("adam", "lbfgs")


@dataclass(frozen=True)
class TrainOptions:
    """How `train` optimises (scikit-learn's words, as in ``MLPClassifier``).

    Parameters
    ----------
    learning_rate : float, default=1e-3
        Adam's step size (L-BFGS uses 1 with a strong-Wolfe line search).
    alpha : float, default=0.0
        L2 penalty, passed to Adam as ``weight_decay``.
    max_epochs : int, default=200
        Epochs (Adam) or iterations (L-BFGS).
    batch_size : int or None, default=128
        Rows per global minibatch; ``None`` is the full training part in one step.
    n_iter_no_change : int or None, default=20
        Stop after this many epochs without a lower validation loss; ``None`` never stops
        early. Needs validation rows.
    restore_best : bool, default=True
        Keep the weights of the epoch with the lowest validation loss (else the last ones).
    solver : {"adam", "lbfgs"}, default="adam"
    random_state : int, default=0
    verbose : bool, default=False
        Print one progress line per epoch.
    name : str, default="model"
        Who is training, for the progress lines.
    """

    learning_rate: float = 1e-3
    alpha: float = 0.0
    max_epochs: int = 200
    batch_size: int | None = 128
    n_iter_no_change: int | None = 20
    restore_best: bool = True
    solver: str = "adam"
    random_state: int = 0
    verbose: bool = False
    name: str = "model"


class Objective(Protocol):
    """What a learned model tells the trainer (all row indices index the model's own data)."""

    def noise(self, n_rows: int, rng: np.random.Generator) -> np.ndarray | None:
        """Per-row noise for one global batch of ``n_rows`` (e.g. members to hide), drawn from
        the shared stream ``rng`` so that every worker draws the same; or None."""

    def loss(self, model: nn.Module, rows: np.ndarray, noise: np.ndarray | None,
             generator: torch.Generator) -> torch.Tensor:
        """Mean training loss over ``rows`` (``noise`` holds their rows of `noise`)."""

    def evaluate(self, net: nn.Module, rows: np.ndarray) -> tuple[float, float]:
        """``(loss, score)`` on the validation rows, the network in eval mode, no grad."""


@dataclass
class Fit:
    """One trained network.

    ``epoch`` is the epoch whose weights ``net`` holds (the best one with early stopping,
    else the last); ``val_loss``/``val_score`` are its validation numbers (NaN without
    validation rows); ``history`` has one record per epoch.
    """

    net: nn.Module
    epoch: int
    val_loss: float
    val_score: float
    history: list[dict[str, float]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Job:
    """One network to train: ``build()`` makes it (called under ``random_state``), the
    objective trains it on ``train_rows`` and scores ``val_rows``. ``n_epochs`` trains exactly
    that many epochs (no validation, last weights); ``info`` travels to the `Fit` unchanged."""

    build: Callable[[], nn.Module]
    objective: Objective
    train_rows: np.ndarray
    val_rows: np.ndarray | None
    options: TrainOptions
    n_epochs: int | None = None
    info: dict[str, Any] = field(default_factory=dict)


class EarlyStopping:
    """Keep the weights of the epoch with the lowest validation loss; stop after
    ``patience`` epochs without improvement (``None``: never stop)."""

    def __init__(self, patience: int | None, tol: float = 1e-6) -> None:
        self.patience, self.tol = patience, tol
        self.val_loss, self.val_score, self.epoch = math.inf, math.nan, 0
        self.state: dict[str, torch.Tensor] | None = None
        self.stale = 0

    def update(self, net: nn.Module, epoch: int, val_loss: float, val_score: float) -> bool:
        """Record an epoch; True when training should stop."""
        if val_loss < self.val_loss - self.tol:
            self.val_loss, self.val_score, self.epoch = val_loss, val_score, epoch
            self.state = {n: t.detach().clone() for n, t in net.state_dict().items()}
            self.stale = 0
            return False
        self.stale += 1
        return self.patience is not None and self.stale >= self.patience


@contextmanager
def threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` torch intra-op threads, restoring the previous number afterwards
    (``None`` leaves torch's setting alone)."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def mlp(n_in: int, hidden: Sequence[int], n_out: int | None, *, dropout: float = 0.0,
        bias: bool = True) -> nn.Sequential:
    """Linear-ReLU(-Dropout) layers of widths ``hidden``, then a linear map to ``n_out``
    (``None``: no output layer; the body only)."""
    layers: list[nn.Module] = []
    width = n_in
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = h
    if n_out is not None:
        layers.append(nn.Linear(width, n_out, bias=bias))
    return nn.Sequential(*layers)


def worker_seed(random_state: int, rank: int) -> int:
    """The seed of worker ``rank``'s own noise (dropout, perturbations): ``random_state`` on
    rank 0, so that one worker is the local loop exactly."""
    if rank == 0:
        return int(random_state)
    return int(np.random.SeedSequence([random_state, rank]).generate_state(1)[0])


def train(job: Job, *, rank: int = 0, world: int = 1,
          wrap: Callable[[nn.Module], nn.Module] | None = None) -> Fit:
    """Train ``job``'s network (module docstring); ``wrap`` (e.g. DDP) wraps it for the
    training forward passes. Global torch random state is left as it was."""
    opts = job.options
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(opts.random_state)
        net = job.build()
        model = net if wrap is None else wrap(net)
        seed = worker_seed(opts.random_state, rank)
        if rank > 0:                  # rank 0 (and the local loop) goes on from the build
            torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        shared = np.random.default_rng(opts.random_state)
        if opts.solver == "lbfgs":
            fit = _train_lbfgs(job, net, model, generator)
        else:
            fit = _train_adam(job, net, model, generator, shared, rank, world)
    net.eval()
    fit.info = dict(job.info)
    return fit


def _train_adam(job: Job, net: nn.Module, model: nn.Module, generator: torch.Generator,
                shared: np.random.Generator, rank: int, world: int) -> Fit:
    opts, objective = job.options, job.objective
    optimizer = torch.optim.Adam(net.parameters(), lr=opts.learning_rate,
                                 weight_decay=opts.alpha)
    validate = job.n_epochs is None and job.val_rows is not None and len(job.val_rows) > 0
    stopper = EarlyStopping(opts.n_iter_no_change if validate else None)
    history: list[dict[str, float]] = []
    epoch = 0
    for epoch in range(1, (job.n_epochs or opts.max_epochs) + 1):
        model.train()
        train_loss = _epoch(objective, model, optimizer, job.train_rows, opts.batch_size,
                            shared, generator, rank, world)
        record = {"epoch": epoch, "train_loss": train_loss}
        history.append(record)
        if validate:
            net.eval()
            with torch.no_grad():
                val_loss, val_score = _agreed(objective.evaluate(net, job.val_rows), world)
            record.update(val_loss=val_loss, val_score=val_score)
        _progress(opts, record, rank, world, job.info)
        if validate and stopper.update(net, epoch, record["val_loss"], record["val_score"]):
            break
    if validate and opts.restore_best and stopper.state is not None:
        net.load_state_dict(stopper.state)
        return Fit(net, stopper.epoch, stopper.val_loss, stopper.val_score, history)
    last = history[-1] if history else {}
    return Fit(net, epoch, last.get("val_loss", math.nan), last.get("val_score", math.nan),
               history)


def _epoch(objective: Objective, model: nn.Module, optimizer: torch.optim.Optimizer,
           train_rows: np.ndarray, batch_size: int | None, shared: np.random.Generator,
           generator: torch.Generator, rank: int, world: int) -> float:
    """One pass over a permutation of the training rows (full batch: the rows as given, so
    that full-batch training is deterministic); the mean loss over all workers."""
    order = np.asarray(train_rows) if batch_size is None else shared.permutation(train_rows)
    pad = (-len(order)) % world
    if pad:                                  # every worker runs the same number of steps
        order = np.concatenate([order, order[:pad]])
    size = len(order) if batch_size is None else max(1, math.ceil(batch_size / world)) * world
    total = torch.zeros(2, dtype=torch.float64)     # loss sum, rows
    for start in range(0, len(order), size):
        batch = order[start:start + size]
        noise = objective.noise(len(batch), shared)
        mine = batch[rank::world]
        loss = objective.loss(model, mine, None if noise is None else noise[rank::world],
                              generator)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += torch.tensor([float(loss.detach()) * len(mine), len(mine)],
                              dtype=torch.float64)
    if world > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.all_reduce(total)
    return float(total[0] / total[1])


def _agreed(numbers: tuple[float, float], world: int) -> tuple[float, float]:
    """Rank 0's validation numbers on every worker, so that all stop at the same epoch."""
    if world == 1 or not (torch.distributed.is_available()
                          and torch.distributed.is_initialized()):
        return float(numbers[0]), float(numbers[1])
    agreed = torch.tensor(numbers, dtype=torch.float64)
    torch.distributed.broadcast(agreed, src=0)
    return float(agreed[0]), float(agreed[1])


def _train_lbfgs(job: Job, net: nn.Module, model: nn.Module,
                 generator: torch.Generator) -> Fit:
    """Full-batch L-BFGS with a strong-Wolfe line search, ``max_epochs`` iterations."""
    objective, rows = job.objective, np.asarray(job.train_rows)
    optimizer = torch.optim.LBFGS(net.parameters(), lr=1.0,
                                  max_iter=job.n_epochs or job.options.max_epochs,
                                  line_search_fn="strong_wolfe", tolerance_grad=1e-6,
                                  tolerance_change=1e-9)
    model.train()

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = objective.loss(model, rows, None, generator)
        loss.backward()
        return loss

    optimizer.step(closure)
    state = optimizer.state[optimizer._params[0]]
    n_iter = int(state.get("n_iter", 0))
    net.eval()
    with torch.no_grad():
        train_loss = float(objective.loss(net, rows, None, generator))
    return Fit(net, n_iter, math.nan, math.nan, [{"epoch": n_iter, "train_loss": train_loss}])


def _progress(opts: TrainOptions, record: dict[str, float], rank: int, world: int,
              info: dict[str, Any]) -> None:
    if not opts.verbose or rank != 0:
        return
    where = "" if world == 1 else f" on {world} workers"
    tag = " ".join(f"{k}={v}" for k, v in info.items() if isinstance(v, (int, str)))
    line = f"[{opts.name}{where}] {tag + ' ' if tag else ''}epoch {record['epoch']:3d}  " \
           f"train loss {record['train_loss']:.4f}"
    if "val_loss" in record:
        line += f"  val loss {record['val_loss']:.4f}  val score {record['val_score']:.4f}"
    print(line, flush=True)


# ---------------------------------------------------------------------- engines
Engine = Callable[[Sequence[Job], Any], list[Fit]]

_ENGINES: dict[str, Engine] = {}
_ENGINE_MODULES = {"ray": "ensel.scale.train"}   # imported on first use; they register


def register_engine(name: str, engine: Engine) -> None:
    """Make ``engine(jobs, options) -> fits`` available as ``engine=name``."""
    _ENGINES[name] = engine


def engine_names() -> tuple[str, ...]:
    """Every engine name a learned model accepts: ``"local"``, then the others sorted."""
    return ("local", *sorted((set(_ENGINES) | set(_ENGINE_MODULES)) - {"local"}))


def get_engine(name: str) -> Engine:
    """The engine registered as ``name``, importing its module on first use."""
    if name not in _ENGINES and name in _ENGINE_MODULES:
        importlib.import_module(_ENGINE_MODULES[name])
    if name not in _ENGINES:
        raise ValueError(f"The 'engine' parameter must be one of {engine_names()!r}. "
                         f"Got {name!r} instead.")
    return _ENGINES[name]


def _local(jobs: Sequence[Job], options: Any = None) -> list[Fit]:
    """Train every job in this process, one after the other."""
    if options:
        raise ValueError(f"The local engine takes no engine_options. Got {options!r} instead.")
    return [train(job) for job in jobs]


register_engine("local", _local)


def run_jobs(jobs: Sequence[Job], engine: str = "local", options: Any = None) -> list[Fit]:
    """Train ``jobs`` on ``engine``; one `Fit` per job, in order."""
    return get_engine(engine)(list(jobs), options)
