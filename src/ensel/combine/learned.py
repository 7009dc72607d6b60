"""e2e-CEL: end-to-end learned per-input selection of k members (Kotary et al., IJCAI 2023).

The only combiner module (with ``neural.py``) that imports torch.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ensel import _validation as V
from ensel.combine.base import BOTH_TASKS, Combiner
from ensel.table import PredictionTable

FEATURES = ("inputs", "predictions", "both")
AGGREGATIONS = ("auto", "mean", "weighted", "stacked")
_MIN_PROBA = 1e-7


class _SelectionNet(nn.Module):
    """MLP from selection features to member scores ``[B, M]`` (and weight logits)."""

    def __init__(self, n_in: int, n_members: int, hidden: tuple[int, ...], dropout: float,
                 weighted: bool, n_classes: int = 0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_in
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        self.body = nn.Sequential(*layers)
        self.scores = nn.Linear(width, n_members)
        self.weights = nn.Linear(width, n_members) if weighted else None
        self.head = _StackedHead(n_members, n_classes) if n_classes else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.body(x)
        return self.scores(h), None if self.weights is None else self.weights(h)


class _StackedHead(nn.Module):
    """A linear map per member over its probabilities, summed over the selected members.

    ``logits = b + sum_i z_i p_i W_i / k`` with ``W = 10 I + 30 delta`` (``delta[M, C, C]``
    starts at 0: the plain average, sharpened) and ``b[C]``; members with ``z_i = 0`` do not
    contribute. The factor 30 lets Adam move the head as far as a converged stacker's weights
    within a few epochs (measured: with factor 1, k = M reached 0.937 on letter where
    stacking reaches 0.959; with 30, 0.958).
    """

    def __init__(self, n_members: int, n_classes: int, scale: float = 10.0,
                 step: float = 30.0) -> None:
        super().__init__()
        self.step = step  # the head's weights live on a larger scale than the network's
        self.register_buffer("base", torch.eye(n_classes) * scale)
        self.delta = nn.Parameter(torch.zeros(n_members, n_classes, n_classes))
        self.bias = nn.Parameter(torch.zeros(n_classes))

    def forward(self, P: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        weight = self.base + self.step * self.delta
        logits = torch.einsum("bm,bmc,mcd->bd", z, P, weight) / z.sum(-1, keepdim=True)
        return torch.softmax(logits + self.bias, dim=-1)


class _EarlyStopping:
    """Keep the weights of the epoch with the lowest validation loss; stop after ``patience``
    epochs without improvement. Shared by the local and the Ray training loops."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.val_loss, self.val_score, self.epoch, self.state = math.inf, -math.inf, 0, None
        self.stale = 0

    def update(self, net: nn.Module, epoch: int, val_loss: float, val_score: float) -> bool:
        """Record an epoch; True when training should stop."""
        if val_loss < self.val_loss - 1e-6:
            self.val_loss, self.val_score, self.epoch = val_loss, val_score, epoch
            self.state = {n: t.detach().clone() for n, t in net.state_dict().items()}
            self.stale = 0
            return False
        self.stale += 1
        return self.stale >= self.patience

    def result(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "val_loss": self.val_loss, "val_score": self.val_score}


class DifferentiableSelector(Combiner):
    """Differentiable model selection (e2e-CEL): learn which k members to trust per input.

    A selection network scores the members from the input's features, a differentiable top-k
    layer (`ensel.ops.topk_mask`) turns the scores into a relaxed k-subset ``z``, and the combined
    prediction ``sum_i z_i p_i / k`` is trained end to end on its negative log-likelihood
    (classification) or squared error (regression). At prediction the hard top-k is used, so only
    k of the M members matter for each input.

    Parameters
    ----------
    k : int, "auto" or None, default=None
        Members selected per input. ``None`` means ``min(3, M)`` (k = 3 was the best fixed k
        on the benchmark); ``"auto"`` trains one selector per k in ``1..min(M, 5)`` and keeps
        the best on the validation part.
    method : {"sparse", "entropic", "perturbed", "straight_through"}, default="sparse"
        The top-k relaxation used in training (see `ensel.ops`).
    features : {"inputs", "predictions", "both"} or None, default=None
        What the selection network sees: the inputs ``X``, the members' predictions, or both.
        ``None`` means inputs when the table has ``X``, else predictions. Only with ``"inputs"``
        can a deployed ensemble skip running the unselected members.
    aggregation : {"auto", "mean", "weighted", "stacked"}, default="auto"
        How the selected members' predictions are combined. ``"auto"`` trains ``"mean"`` and
        ``"stacked"`` (classification; ``"mean"`` for regression) and keeps the better on the
        validation part. ``"mean"`` averages the selected members (the paper); ``"weighted"``
        also learns per-input positive weights over the selected members; ``"stacked"``
        (classification)
        feeds the selected members' probabilities to a learned linear head, one C x C map per
        member, like stacking restricted to the k selected members.
    hidden_layer_sizes : tuple of int, default=(128, 128)
    dropout : float, default=0.1
    learning_rate : float, default=1e-3
    weight_decay : float, default=1e-4
    max_epochs : int, default=200
    batch_size : int, default=128
    validation_fraction : float, default=0.2
        Share of the fitting rows held out for early stopping, ``k="auto"`` and calibration.
    early_stopping : int, default=20
        Patience in epochs on the validation loss (hard top-k).
    member_dropout : float, default=0.1
        Probability of hiding each member from the selector during a training step (at least
        k stay visible); a cheap regulariser against collapsing onto one member.
    refit : bool, default=True
        After choosing k, the aggregation and the number of epochs on the validation part,
        train once more on all rows for that many epochs (the temperature stays the one fitted
        on the validation part).
    calibrate : bool, default=True
        Fit a temperature and a small uniform smoothing on the validation part so that the
        combined probabilities are calibrated and never zero (labels do not change).
    method_options : dict, optional
        Passed to the relaxation (e.g. ``{"epsilon": 0.5}`` or ``{"sigma": 1.0}``).
    engine : {"local", "ray"}, default="local"
        Where training runs: in this process, or data-parallel on a Ray cluster through Ray
        Train (`ensel.scale`; needs the ``ray`` extra). The fitted model is the same kind.
    random_state : int, default=0
    verbose : bool, default=False
        Print epoch, training loss and validation score.

    Attributes
    ----------
    k_ : int
    members_ : list of str
    classes_ : ndarray of shape (C,)
    features_ : str
    temperature_ : float
    smoothing_ : float
        Share of the uniform distribution mixed into the calibrated probabilities.
    history_ : list of dict
        One record per epoch of the kept model (``epoch``, ``train_loss``, ``val_loss``,
        ``val_score``).
    k_scores_ : dict
        Validation score per k tried when ``k="auto"``.

    Examples
    --------
    >>> import numpy as np
    >>> from ensel import PredictionTable, DifferentiableSelector
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(400, 2))
    >>> y = (X[:, 1] > 0).astype(int)
    >>> right, wrong = np.eye(2)[y] * 0.9 + 0.05, np.eye(2)[1 - y] * 0.9 + 0.05
    >>> left = (X[:, 0] < 0)[:, None]
    >>> P = np.stack([np.where(left, right, wrong), np.where(left, wrong, right)], axis=1)
    >>> table = PredictionTable.from_arrays(P, y=y, X=X)
    >>> sel = DifferentiableSelector(k=1, max_epochs=60).fit(table)
    >>> bool((sel.predict(table) == y).mean() > 0.95)
    True
    """

    _tasks = BOTH_TASKS

    def __init__(self, k: int | str | None = None, *, method: str = "sparse",
                 features: str | None = None,
                 aggregation: str = "auto", hidden_layer_sizes: tuple[int, ...] = (128, 128),
                 dropout: float = 0.1, learning_rate: float = 1e-3, weight_decay: float = 1e-4,
                 max_epochs: int = 200, batch_size: int = 128, validation_fraction: float = 0.2,
                 early_stopping: int = 20, member_dropout: float = 0.1,
                 refit: bool = True,
                 calibrate: bool = True,
                 method_options: dict[str, Any] | None = None, engine: str = "local",
                 random_state: int = 0, verbose: bool = False) -> None:
        self.k = k
        self.method = method
        self.features = features
        self.aggregation = aggregation
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.member_dropout = member_dropout
        self.refit = refit
        self.calibrate = calibrate
        self.method_options = method_options
        self.engine = engine
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ checks
    def _check_params(self, table: PredictionTable) -> None:
        self._ks = self._k_candidates(table)
        self._features_mode(table)

    def _k_candidates(self, table: PredictionTable) -> list[int]:
        from ensel.ops import METHODS

        name = type(self).__name__
        m = table.n_members
        if self.k is None:
            ks = [min(3, m)]
        elif self.k == "auto":
            ks = list(range(1, min(m, 5) + 1))
        else:
            ks = [V.check_k(self.k, m, name)]
        if self.method not in METHODS:
            raise ValueError(
                f"The 'method' parameter of {name} must be one of {METHODS}. "
                f"Got {self.method!r} instead.")
        if self.features is not None and self.features not in FEATURES:
            raise ValueError(
                f"The 'features' parameter of {name} must be one of {FEATURES} or None. "
                f"Got {self.features!r} instead.")
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(
                f"The 'aggregation' parameter of {name} must be one of {AGGREGATIONS}. "
                f"Got {self.aggregation!r} instead.")
        if self.aggregation == "stacked" and table.task != "classification":
            raise ValueError(
                f"aggregation='stacked' of {name} needs a classification table; use 'mean' or "
                f"'weighted' for regression.")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(
                f"The 'validation_fraction' parameter of {name} must be in (0, 1). "
                f"Got {self.validation_fraction!r} instead.")
        if self.engine not in ("local", "ray"):
            raise ValueError(
                f"The 'engine' parameter of {name} must be one of ('local', 'ray'). "
                f"Got {self.engine!r} instead.")
        if not 0 <= self.member_dropout < 1:
            raise ValueError(
                f"The 'member_dropout' parameter of {name} must be in [0, 1). "
                f"Got {self.member_dropout!r} instead.")
        for param in ("max_epochs", "batch_size"):
            value = getattr(self, param)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"The '{param}' parameter of {name} must be an int >= 1. "
                    f"Got {value!r} instead.")
        return ks

    def _features_mode(self, table: PredictionTable) -> str:
        if self.features is None:
            return "inputs" if table.X is not None else "predictions"
        if self.features in ("inputs", "both") and table.X is None:
            raise ValueError(
                f"features={self.features!r} needs inputs, but the table has X=None. Pass X to "
                f"the table or use features='predictions'.")
        return self.features

    # ------------------------------------------------------------------ features
    def _raw_features(self, table: PredictionTable) -> np.ndarray:
        parts = []
        if self.features_ in ("inputs", "both"):
            parts.append(np.asarray(table.X, dtype=np.float32))
        if self.features_ in ("predictions", "both"):
            P = np.asarray(table.P, dtype=np.float32)
            parts.append(P.reshape(len(P), -1))
        return np.concatenate(parts, axis=1)

    def _tensors(self, table: PredictionTable) -> tuple[torch.Tensor, torch.Tensor]:
        F = (self._raw_features(table) - self.feature_mean_) / self.feature_scale_
        P = np.asarray(table.P, dtype=np.float32)
        if P.ndim == 2:
            P = P[:, :, None]
        return torch.from_numpy(np.ascontiguousarray(F, dtype=np.float32)), torch.from_numpy(
            np.ascontiguousarray(P))

    # ------------------------------------------------------------------ core
    def _combine_tensors(self, P: torch.Tensor, z: torch.Tensor, w: torch.Tensor | None,
                         head: nn.Module | None = None) -> torch.Tensor:
        """``P[B, M, C]``, mask ``z[B, M]`` → combined ``[B, C]``."""
        if head is not None:
            return head(P, z)
        if w is None:
            return torch.einsum("bm,bmc->bc", z, P) / z.sum(-1, keepdim=True)
        a = z * torch.exp(w - w.max(-1, keepdim=True).values)
        return torch.einsum("bm,bmc->bc", a, P) / a.sum(-1, keepdim=True).clamp_min(1e-12)

    def _loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.task_ == "classification":
            picked = out.gather(1, target[:, None]).squeeze(1)
            return -torch.log(picked.clamp_min(_MIN_PROBA)).mean()
        return ((out - target) ** 2).sum(-1).mean() / self.target_scale_

    def _mask(self, scores: torch.Tensor, k: int, *, hard: bool,
              generator: torch.Generator | None = None) -> torch.Tensor:
        from ensel.ops import hard_topk_mask, topk_mask

        if hard:
            return hard_topk_mask(scores, k)
        options = dict(self.method_options or {})
        if self.method == "perturbed" and not {"generator", "seed"} & options.keys():
            options["generator"] = generator
        return topk_mask(scores, k, method=self.method, **options)

    def _new_net(self, aggregation: str, F: torch.Tensor, P: torch.Tensor) -> _SelectionNet:
        return _SelectionNet(F.shape[1], P.shape[1], tuple(self.hidden_layer_sizes),
                             self.dropout, aggregation == "weighted",
                             P.shape[2] if aggregation == "stacked" else 0)

    def _fit_one(self, k: int, F: torch.Tensor, P: torch.Tensor, target: torch.Tensor,
                 correct: torch.Tensor | None, train: np.ndarray, val: np.ndarray, *,
                 aggregation: str | None = None, n_epochs: int | None = None) -> dict:
        """Train one selection network; early stopping on ``val`` unless ``n_epochs`` is
        given (then exactly that many epochs, keeping the last weights)."""
        aggregation = aggregation or self.aggregation
        torch.manual_seed(self.random_state)
        gen = torch.Generator().manual_seed(self.random_state)
        net = self._new_net(aggregation, F, P)
        opt = torch.optim.Adam(net.parameters(), lr=self.learning_rate,
                               weight_decay=self.weight_decay)
        rng = np.random.default_rng(self.random_state)
        m = P.shape[1]
        best = _EarlyStopping(self.early_stopping)
        history: list[dict] = []
        for epoch in range(1, (n_epochs or self.max_epochs) + 1):
            net.train()
            order = rng.permutation(train)
            total = 0.0
            for start in range(0, len(order), self.batch_size):
                idx = torch.from_numpy(order[start:start + self.batch_size])
                scores, w = net(F[idx])
                if self.member_dropout > 0 and k < m:
                    scores = scores - 1e4 * self._hidden(len(idx), m, k, rng)
                z = self._mask(scores, k, hard=False, generator=gen)
                loss = self._loss(self._combine_tensors(P[idx], z, w, net.head), target[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            if n_epochs is not None:
                continue
            val_loss, val_score = self._evaluate(net, k, F[val], P[val], target[val])
            record = {"k": k, "epoch": epoch, "train_loss": total / len(train),
                      "val_loss": val_loss, "val_score": val_score}
            history.append(record)
            if self.verbose:
                print(f"[{type(self).__name__}] k={k} epoch {epoch:3d}  train loss "
                      f"{record['train_loss']:.4f}  val loss {val_loss:.4f}  "
                      f"val score {val_score:.4f}", flush=True)
            if best.update(net, epoch, val_loss, val_score):
                break
        if n_epochs is None:
            net.load_state_dict(best.state)
        net.eval()
        return {"net": net, "k": k, "aggregation": aggregation, **best.result(),
                "history": history}

    def _hidden(self, b: int, m: int, k: int, rng: np.random.Generator) -> torch.Tensor:
        """Members to hide ``[b, m]`` (1 = hidden): each with probability ``member_dropout``,
        at most ``m - k`` per row so that k stay visible."""
        keys = rng.random((b, m))
        ranks = keys.argsort(1).argsort(1)
        hidden = (keys < self.member_dropout) & (ranks < m - k)
        return torch.from_numpy(hidden.astype(np.float32))

    @torch.no_grad()
    def _evaluate(self, net: _SelectionNet, k: int, F: torch.Tensor, P: torch.Tensor,
                  target: torch.Tensor) -> tuple[float, float]:
        net.eval()
        scores, w = net(F)
        out = self._combine_tensors(P, self._mask(scores, k, hard=True), w, net.head)
        loss = float(self._loss(out, target))
        if self.task_ == "classification":
            score = float((out.argmax(1) == target).float().mean())
        else:
            score = -loss
        return loss, score

    # ------------------------------------------------------------------ public API
    def _fit(self, table: PredictionTable) -> None:
        ks = self._ks
        start = time.perf_counter()
        self.features_ = self._features_mode(table)
        self.n_features_in_ = None if self.features_ == "predictions" else int(table.X.shape[1])
        raw = self._raw_features(table)
        train, val = self._split(table)
        self.feature_mean_ = raw[train].mean(0).astype(np.float32)
        self.feature_scale_ = np.maximum(raw[train].std(0), 1e-6).astype(np.float32)
        F, P = self._tensors(table)
        if self.task_ == "classification":
            target = torch.from_numpy(np.asarray(table.y, dtype=np.int64))
            correct = torch.from_numpy(table.correct().astype(np.float32))
            self.target_scale_ = 1.0
        else:
            y = np.asarray(table.y, dtype=np.float32)
            target = torch.from_numpy(y.reshape(len(y), -1))
            correct = None
            self.target_scale_ = float(max(np.var(y[train], axis=0).sum(), 1e-12))
        if self.aggregation != "auto":
            aggregations = [self.aggregation]
        else:
            aggregations = ["mean", "stacked"] if self.task_ == "classification" else ["mean"]
        candidates = [(k, a) for a in aggregations for k in ks]
        if self.engine == "ray":
            from ensel.scale.train import fit_selectors_on_ray

            fits = fit_selectors_on_ray(self, candidates, F, P, target, correct, train, val)
        else:
            fits = [self._fit_one(k, F, P, target, correct, train, val, aggregation=a)
                    for k, a in candidates]
        self.k_scores_ = {k: max(f["val_score"] for f in fits if f["k"] == k) for k in ks}
        self.validation_scores_ = {(f["aggregation"], f["k"]): f["val_score"] for f in fits}
        # best validation score; ties go to the simpler model (plain mean, then smaller k)
        chosen = max(fits, key=lambda f: (f["val_score"], f["aggregation"] == "mean", -f["k"],
                                          -f["val_loss"]))
        self.net_ = chosen["net"]
        self.k_ = chosen["k"]
        self.aggregation_ = chosen["aggregation"]
        self.history_ = chosen["history"]
        self.temperature_, self.smoothing_ = 1.0, 0.0
        if self.calibrate and self.task_ == "classification":
            self.temperature_, self.smoothing_ = self._fit_calibration(F[val], P[val],
                                                                       target[val])
        if self.refit and chosen.get("epoch"):
            everything = np.sort(np.concatenate([train, val]))
            if self.engine == "ray":
                from ensel.scale.train import fit_selector_on_ray

                refit = fit_selector_on_ray(self, self.k_, F, P, target, correct, everything,
                                            val, aggregation=self.aggregation_,
                                            n_epochs=chosen["epoch"])
            else:
                refit = self._fit_one(self.k_, F, P, target, correct, everything, val,
                                      aggregation=self.aggregation_, n_epochs=chosen["epoch"])
            self.net_ = refit["net"]
        self.fit_seconds_ = time.perf_counter() - start

    def _split(self, table: PredictionTable) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.model_selection import train_test_split

        idx = np.arange(table.n_samples)
        stratify = None
        if table.task == "classification":
            counts = np.bincount(table.y)
            if counts[counts > 0].min() >= 2:
                stratify = table.y
        n_val = max(1, int(round(self.validation_fraction * len(idx))))
        if stratify is not None and n_val < len(np.unique(stratify)):
            stratify = None
        if len(idx) < 2:
            raise ValueError(f"{type(self).__name__}.fit needs at least 2 labelled rows.")
        train, val = train_test_split(idx, test_size=n_val, stratify=stratify,
                                      random_state=self.random_state)
        return np.sort(train), np.sort(val)

    @torch.no_grad()
    def _raw_output(self, F: torch.Tensor, P: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scores, w = self.net_(F)
        z = self._mask(scores, self.k_, hard=True)
        return self._combine_tensors(P, z, w, self.net_.head), z

    def _fit_calibration(self, F: torch.Tensor, P: torch.Tensor,
                         target: torch.Tensor) -> tuple[float, float]:
        """Temperature ``T`` and uniform smoothing ``a`` minimising the validation NLL of
        ``(1 - a) softmax(log p / T) + a / C``; ``(1, 0)`` unless that improves it."""
        from scipy.optimize import minimize

        out, _ = self._raw_output(F, P)
        logp = torch.log(out.clamp_min(_MIN_PROBA)).double()
        n_classes = logp.shape[1]

        def nll(x: np.ndarray) -> float:
            q = torch.softmax(logp / math.exp(x[0]), 1) * (1 - x[1]) + x[1] / n_classes
            return float(-torch.log(q.gather(1, target[:, None])).mean())

        res = minimize(nll, x0=np.array([0.0, 1e-3]), bounds=[(-3.0, 3.0), (0.0, 0.5)],
                       method="L-BFGS-B")
        if res.fun < nll(np.zeros(2)):
            return float(math.exp(res.x[0])), float(res.x[1])
        return 1.0, 0.0

    @property
    def selection_needs_predictions_(self) -> bool:
        """Whether selecting needs the members' predictions (False only for inputs-only)."""
        return self.features_ != "inputs"

    def _check_predict_table(self, table: Any, method: str) -> PredictionTable:
        table = super()._check_predict_table(table, method)
        if self.features_ != "predictions":
            V.check_compatible(table, members=self.members_, classes=self.classes_,
                               task=self.task_, owner=type(self).__name__,
                               n_features=self.n_features_in_)
        return table

    def _select(self, table: PredictionTable) -> np.ndarray:
        """The hard per-input selection: a 0/1 mask ``[N, M]`` with k ones per row."""
        F, _ = self._tensors(table)
        with torch.no_grad():
            scores, _ = self.net_(F)
            return self._mask(scores, self.k_, hard=True).numpy().astype(np.float64)

    def _combine(self, table: PredictionTable, selection: np.ndarray) -> np.ndarray:
        F, P = self._tensors(table)
        z = torch.from_numpy(np.asarray(selection, dtype=np.float32))
        with torch.no_grad():
            w = self.net_(F)[1] if self.aggregation_ == "weighted" else None
            out = self._combine_tensors(P, z, w, self.net_.head)
            if self.task_ == "regression":
                out = out.numpy().astype(np.float64)
                return out[:, 0] if np.asarray(table.P).ndim == 2 else out
            if self.temperature_ != 1.0:
                out = torch.softmax(torch.log(out.clamp_min(_MIN_PROBA)) / self.temperature_, 1)
            out = out * (1 - self.smoothing_) + self.smoothing_ / out.shape[1]
        out = out.numpy().astype(np.float64)
        return out / out.sum(1, keepdims=True)

    def selection_weights(self, table: PredictionTable) -> np.ndarray:
        """Weights ``[N, M]`` each selected member gets in the combination (rows sum to 1)."""
        table = self._check_predict_table(table, "selection_weights")
        F, _ = self._tensors(table)
        with torch.no_grad():
            scores, w = self.net_(F)
            z = self._mask(scores, self.k_, hard=True)
            a = z if w is None else z * torch.exp(w - w.max(-1, keepdim=True).values)
            return (a / a.sum(-1, keepdim=True)).numpy().astype(np.float64)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write ``config.json`` and ``weights.safetensors`` into the directory ``path``."""
        from safetensors.torch import save_file

        if not hasattr(self, "net_"):
            raise ValueError(f"Cannot save an unfitted {type(self).__name__}; call 'fit' first.")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        params = self.get_params()
        params["hidden_layer_sizes"] = list(params["hidden_layer_sizes"])
        config = {
            "format": "ensel.DifferentiableSelector", "version": 1, "params": params,
            "k_": self.k_, "aggregation_": self.aggregation_, "features_": self.features_,
            "members_": self.members_,
            "task_": self.task_,
            "classes_": None if self.classes_ is None else self.classes_.tolist(),
            "n_features_in_": self.n_features_in_, "temperature_": self.temperature_,
            "smoothing_": self.smoothing_,
            "target_scale_": self.target_scale_, "n_inputs": int(self.feature_mean_.shape[0]),
            "n_outputs": int(self.net_.scores.out_features),
            "n_head_classes": 0 if self.net_.head is None else int(self.net_.head.bias.shape[0]),
        }
        (path / "config.json").write_text(json.dumps(config, indent=2))
        tensors = {f"net.{n}": t.contiguous() for n, t in self.net_.state_dict().items()}
        tensors["feature_mean"] = torch.from_numpy(self.feature_mean_)
        tensors["feature_scale"] = torch.from_numpy(self.feature_scale_)
        save_file(tensors, str(path / "weights.safetensors"))
        return path

    @classmethod
    def load(cls, path: str | Path) -> DifferentiableSelector:
        """Load a selector written by `save` (no pickle involved)."""
        from safetensors.torch import load_file

        path = Path(path)
        config_path = path / "config.json"
        if not config_path.is_file():
            raise FileNotFoundError(f"{path} is not a saved selector: no config.json in it.")
        config = json.loads(config_path.read_text())
        if config.get("format") != "ensel.DifferentiableSelector":
            raise ValueError(f"{config_path} is not an ensel.DifferentiableSelector config.")
        params = config["params"]
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
        self = cls(**params)
        tensors = load_file(str(path / "weights.safetensors"))
        self.feature_mean_ = tensors.pop("feature_mean").numpy()
        self.feature_scale_ = tensors.pop("feature_scale").numpy()
        net = _SelectionNet(config["n_inputs"], config["n_outputs"],
                            tuple(params["hidden_layer_sizes"]), params["dropout"],
                            config["aggregation_"] == "weighted", config["n_head_classes"])
        net.load_state_dict({n[len("net."):]: t for n, t in tensors.items()})
        net.eval()
        self.net_ = net
        self.k_ = config["k_"]
        self.aggregation_ = config["aggregation_"]
        self.features_ = config["features_"]
        self.members_ = config["members_"]
        self.n_members_ = len(self.members_)
        self.task_ = config["task_"]
        self.classes_ = None if config["classes_"] is None else np.asarray(config["classes_"])
        self.n_features_in_ = config["n_features_in_"]
        self.temperature_ = config["temperature_"]
        self.smoothing_ = config["smoothing_"]
        self.target_scale_ = config["target_scale_"]
        return self
