"""NeuralEnsembler: per-input member weights from a small network on the members' predictions.

After Pineda Arango et al. (2024), "Regularized Neural Ensemblers": the network reads all the
members' predictions for one input and outputs a softmax over the members; the combined
prediction is the weighted mean. Training drops random members (their predictions are zeroed
in the input and they get no weight), which keeps the ensemble from collapsing onto a few
members. This module imports torch; ``import ensel.combine`` does not load it.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from ensel import _validation as V
from ensel._training import Job, TrainOptions, mlp, threads, train
from ensel.combine.base import BOTH_TASKS, Combiner
from ensel.table import PredictionTable

_MIN_PROBA = 1e-7


def _weights(network: torch.nn.Module, F: torch.Tensor,
             keep: torch.Tensor | None = None) -> torch.Tensor:
    """Weights ``[B, M]`` from per-member inputs ``F[B, M, C']`` (dropped members: 0)."""
    if keep is not None:
        F = F * keep[:, :, None]
    logits = network(F.reshape(len(F), -1))
    if keep is not None:
        logits = logits.masked_fill(~keep, -math.inf)
    return torch.softmax(logits, dim=1)


class _EnsemblerObjective:
    """The mixture's NLL (classification) or standardised squared error (regression) for
    `ensel._training.train`, with member dropout as the trainer's per-row noise."""

    def __init__(self, F: torch.Tensor, P: torch.Tensor, target: torch.Tensor,
                 target_scale: torch.Tensor | float, member_dropout: float,
                 classification: bool) -> None:
        self.F, self.P, self.target, self.target_scale = F, P, target, target_scale
        self.member_dropout, self.classification = member_dropout, classification

    def noise(self, n_rows: int, rng: np.random.Generator) -> np.ndarray | None:
        """Members kept for each training row, ``[n_rows, M]`` bool, at least one per row."""
        if self.member_dropout == 0:
            return None
        m = self.P.shape[1]
        keep = rng.random((n_rows, m)) >= self.member_dropout
        empty = np.flatnonzero(~keep.any(axis=1))
        keep[empty, rng.integers(0, m, len(empty))] = True
        return keep

    def _loss(self, w: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        out = torch.einsum("bm,bmc->bc", w, self.P[rows])
        target = self.target[rows]
        if self.classification:
            picked = out.gather(1, target[:, None]).squeeze(1)
            return -torch.log(picked.clamp_min(_MIN_PROBA)).mean()
        return (((out - target) / self.target_scale) ** 2).sum(dim=1).mean()

    def loss(self, model: torch.nn.Module, rows: np.ndarray, noise: np.ndarray | None,
             generator: torch.Generator) -> torch.Tensor:
        idx = torch.from_numpy(rows)
        keep = None if noise is None else torch.from_numpy(noise)
        return self._loss(_weights(model, self.F[idx], keep), idx)

    def evaluate(self, net: torch.nn.Module, rows: np.ndarray) -> tuple[float, float]:
        idx = torch.from_numpy(rows)
        loss = float(self._loss(_weights(net, self.F[idx]), idx))
        return loss, -loss


class NeuralEnsembler(Combiner):
    """Regularised neural ensembler (Pineda Arango et al., 2024): learned per-input weights.

    A multilayer perceptron maps the members' flattened predictions ``P[n]`` (``M * C``
    numbers; regression values are standardised) to one logit per member; the weights are their
    softmax and the prediction is ``sum_m w_m(x) P[n, m]``. Trained with Adam on the
    negative log-likelihood (classification) or squared error (regression) of that mixture,
    with member dropout, minibatches, and early stopping on a held-out part of the table; the
    best epoch's parameters are kept. Seeded: the same table and ``random_state`` give the same
    model. `select` returns the weights ``[N, M]`` (rows sum to 1).

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(64,)
    member_dropout : float in [0, 1), default=0.25
        Probability of dropping each member for each training row (at least one is kept).
        The default is ours, not the paper's.
    learning_rate : float, default=1e-3
    alpha : float, default=0.0
        L2 penalty on the network's weights (Adam's ``weight_decay``).
    max_epochs : int, default=200
    batch_size : int, default=128
    n_iter_no_change : int, default=10
        Epochs without improvement of the validation loss before stopping.
    validation_fraction : float in (0, 1), default=0.2
    random_state : int, default=0
    n_threads : int or None, default=1
        torch intra-op threads while fitting and predicting (the previous setting is restored
        afterwards); one thread is fastest for a network this small, and avoids stalls on a
        busy machine. ``None`` leaves torch's setting alone.

    Attributes
    ----------
    network_ : torch.nn.Module
    n_epochs_ : int
        Epochs run. ``best_epoch_`` and ``validation_loss_`` describe the kept parameters.
    feature_mean_, feature_scale_ : ndarray
        Standardisation of the network's inputs (regression values; 0 and 1 for
        probabilities), as the selector's ``feature_mean_``/``feature_scale_``.

    Examples
    --------
    >>> import numpy as np
    >>> from ensel import PredictionTable
    >>> from ensel.combine.neural import NeuralEnsembler
    >>> rng = np.random.default_rng(0)
    >>> table = PredictionTable.from_arrays(rng.dirichlet(np.ones(3), size=(80, 4)),
    ...                                     y=rng.integers(0, 3, 80))
    >>> weights = NeuralEnsembler(max_epochs=5).fit(table).select(table)
    >>> weights.shape, bool(np.allclose(weights.sum(axis=1), 1.0, atol=1e-5))
    ((80, 4), True)
    """

    _tasks = BOTH_TASKS

    def __init__(self, hidden_layer_sizes: tuple[int, ...] = (64,), *,
                 member_dropout: float = 0.25, learning_rate: float = 1e-3,
                 alpha: float = 0.0, max_epochs: int = 200, batch_size: int = 128,
                 n_iter_no_change: int = 10, validation_fraction: float = 0.2,
                 random_state: int = 0, n_threads: int | None = 1) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.member_dropout = member_dropout
        self.learning_rate = learning_rate
        self.alpha = alpha
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.n_iter_no_change = n_iter_no_change
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.n_threads = n_threads

    def _check_params(self, table: PredictionTable) -> None:
        name = type(self).__name__
        V.check_training_params(self, name)
        if self.n_threads is not None:
            V.check_int_param(self.n_threads, "n_threads", name, low=1)
        n_val = round(self.validation_fraction * table.n_samples)
        if n_val < 1 or table.n_samples - n_val < 1:
            raise ValueError(
                f"{name} needs at least one training and one validation row: "
                f"validation_fraction={self.validation_fraction!r} of {table.n_samples} rows "
                f"leaves {n_val} for validation."
            )

    # ------------------------------------------------------------------ tensors
    def _inputs(self, table: PredictionTable) -> tuple[torch.Tensor, torch.Tensor]:
        """Network input ``[N, M, C']`` (per member, standardised for regression) and ``P``."""
        P = np.asarray(table.P, dtype=np.float32)
        if P.ndim == 2:
            P = P[:, :, None]
        F = (P - self.feature_mean_) / self.feature_scale_
        return torch.from_numpy(np.ascontiguousarray(F)), torch.from_numpy(
            np.ascontiguousarray(P))

    # ------------------------------------------------------------------ fit
    def _fit(self, table: PredictionTable) -> None:
        with threads(self.n_threads):
            self._train(table)

    def _train(self, table: PredictionTable) -> None:
        P = np.asarray(table.P, dtype=np.float32)
        if table.task == "classification":
            self.feature_mean_, self.feature_scale_ = np.float32(0.0), np.float32(1.0)
            target_scale: torch.Tensor | float = 1.0
            target = torch.from_numpy(np.asarray(table.y, dtype=np.int64))
        else:
            y = np.asarray(table.y, dtype=np.float32).reshape(table.n_samples, -1)
            self.feature_mean_ = y.mean(axis=0).astype(np.float32)
            scale = y.std(axis=0).astype(np.float32)
            self.feature_scale_ = np.where(scale > 0, scale, 1.0).astype(np.float32)
            target_scale = torch.from_numpy(self.feature_scale_)
            target = torch.from_numpy(y)
        n, m = P.shape[:2]
        width = 1 if P.ndim == 2 else P.shape[2]
        order = np.random.default_rng(self.random_state).permutation(n)
        n_val = round(self.validation_fraction * n)
        F, Pt = self._inputs(table)
        objective = _EnsemblerObjective(F, Pt, target, target_scale, self.member_dropout,
                                        table.task == "classification")
        options = TrainOptions(learning_rate=self.learning_rate, alpha=self.alpha,
                               max_epochs=self.max_epochs, batch_size=self.batch_size,
                               n_iter_no_change=self.n_iter_no_change,
                               random_state=self.random_state, name=type(self).__name__)
        hidden = tuple(self.hidden_layer_sizes)
        fit = train(Job(functools.partial(mlp, m * width, hidden, m), objective,
                        order[n_val:], order[:n_val], options))
        self.network_ = fit.net
        self.n_epochs_ = len(fit.history)
        self.best_epoch_ = fit.epoch
        self.validation_loss_ = fit.val_loss

    # ------------------------------------------------------------------ predict
    def _select(self, table: PredictionTable) -> np.ndarray:
        F, _ = self._inputs(table)
        with threads(self.n_threads), torch.no_grad():
            return _weights(self.network_, F).double().numpy()

    def _combine(self, table: PredictionTable, selection: np.ndarray) -> np.ndarray:
        P = np.asarray(table.P, dtype=np.float64)
        if P.ndim == 2:
            return np.einsum("nm,nm->n", selection, P)
        out = np.einsum("nm,nmc->nc", selection, P)
        if self.task_ == "classification":
            out /= out.sum(axis=1, keepdims=True)
        return out
