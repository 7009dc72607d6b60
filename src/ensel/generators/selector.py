"""A listwise candidate scorer: one score per candidate, the best-scored candidate is picked.

Independent of SQL: the data are feature tensors ``X[Q, K, F]`` (questions, candidates,
features), a mask ``[Q, K]`` of present candidates and the 0/1 matrix ``correct[Q, K]``.
Training uses the top-k machinery with k = 1 over each question's candidates: the scores go
through a relaxed 1-hot selection ``z`` (``ensel.ops.topk_mask``; or the softmax, the entropic
relaxation's unconstrained cousin) and the loss is ``-log sum_{j correct} z_j``, the
log-probability that the selection lands on a correct candidate (several may be correct).
Questions with no correct candidate carry no signal and are skipped.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ListwiseSelector"]

FORMAT = "ensel.generators.ListwiseSelector"
FORMAT_VERSION = 1
METHODS = ("softmax", "sparse", "entropic", "perturbed", "straight_through")
_PAD = -1e4        # score given to absent candidates before a relaxation (finite on purpose)
_LOG_FLOOR = 1e-4  # -log(sum z + floor): sparse relaxations put exact zeros on candidates


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch on one thread: these problems are tiny and thread start-up dominates."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _check_arrays(X: Any, mask: Any, correct: Any | None = None,
                  n_features: int | None = None) -> tuple[np.ndarray, ...]:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 3:
        raise ValueError(f"'X' must have shape (n_questions, n_candidates, n_features). "
                         f"Got shape {X.shape} instead.")
    if n_features is not None and X.shape[2] != n_features:
        raise ValueError(f"'X' has {X.shape[2]} features but the selector was fitted with "
                         f"{n_features}.")
    if not np.isfinite(X).all():
        q, j, f = np.argwhere(~np.isfinite(X))[0]
        raise ValueError(f"'X' holds a non-finite value at question {q}, candidate {j}, "
                         f"feature {f}.")
    mask = np.ones(X.shape[:2], dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if mask.shape != X.shape[:2]:
        raise ValueError(f"'mask' must have shape {X.shape[:2]} (questions, candidates). "
                         f"Got shape {mask.shape} instead.")
    if not mask.any(axis=1).all():
        q = int(np.flatnonzero(~mask.any(axis=1))[0])
        raise ValueError(f"question {q} has no candidate (its 'mask' row is all False).")
    if correct is None:
        return X, mask
    correct = np.asarray(correct, dtype=bool)
    if correct.shape != X.shape[:2]:
        raise ValueError(f"'correct' must have shape {X.shape[:2]} (questions, candidates). "
                         f"Got shape {correct.shape} instead.")
    return X, mask, correct & mask


class ListwiseSelector:
    """Score candidates with a linear model or small MLP trained by a listwise k = 1 loss.

    Parameters
    ----------
    hidden : sequence of int, default=()
        Hidden layer sizes; ``()`` gives a linear scorer (then, with ``method="softmax"``,
        the problem is convex: a conditional-logit model).
    method : {"softmax", "sparse", "entropic", "perturbed", "straight_through"}, \
default="softmax"
        The relaxed 1-of-K selection used in training. ``"softmax"`` is computed here; the
        others call ``ensel.ops.topk_mask(scores, 1, method=method, **method_params)`` (a
        warning and the softmax when ``ensel.ops`` is not available). The stochastic
        ``"perturbed"`` needs ``solver="adam"``.
    method_params : dict, optional
        Options of ``topk_mask`` (``epsilon`` for sparse/entropic, ``sigma``, ``n_samples``,
        ``seed`` for perturbed, ``temperature`` for straight_through).
    alpha : float, default=0.01
        L2 penalty on the (first-layer) weights, ``alpha * sum(penalty * w**2)`` added to the
        mean loss per question.
    solver : {"lbfgs", "adam"}, default="lbfgs"
        Full-batch L-BFGS (strong Wolfe line search) or Adam.
    max_iter : int, default=200
        L-BFGS iterations or Adam steps.
    lr : float, default=0.01
        Adam's learning rate (L-BFGS uses 1 with a line search).
    dropout : float, default=0.0
        Dropout after each hidden layer (MLP only).
    random_state : int, default=0

    Attributes
    ----------
    n_features_ : int
    mean_, scale_ : ndarray of shape (n_features_,)
        Feature standardisation (fitted on present candidates).
    loss_ : float
        Final training objective.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 3, 2)).astype("float32")
    >>> correct = X[:, :, 0] == X[:, :, 0].max(axis=1, keepdims=True)   # feature 0 decides
    >>> sel = ListwiseSelector(alpha=1e-3).fit(X, None, correct)
    >>> sel.decision_function(X).shape, bool((sel.predict(X) == correct.argmax(1)).mean() > 0.9)
    ((40, 3), True)
    """

    def __init__(self, hidden: Sequence[int] = (), *, method: str = "softmax",
                 method_params: dict[str, Any] | None = None, alpha: float = 0.01,
                 solver: str = "lbfgs", max_iter: int = 200, lr: float = 0.01,
                 dropout: float = 0.0, random_state: int = 0) -> None:
        self.hidden = hidden
        self.method = method
        self.method_params = method_params
        self.alpha = alpha
        self.solver = solver
        self.max_iter = max_iter
        self.lr = lr
        self.dropout = dropout
        self.random_state = random_state

    # ------------------------------------------------------------------ parameters
    def get_params(self) -> dict[str, Any]:
        """The constructor parameters (JSON-serialisable)."""
        return {"hidden": list(self.hidden), "method": self.method,
                "method_params": dict(self.method_params or {}), "alpha": self.alpha,
                "solver": self.solver, "max_iter": self.max_iter, "lr": self.lr,
                "dropout": self.dropout, "random_state": self.random_state}

    def _check_params(self) -> None:
        name = type(self).__name__
        if self.method not in METHODS:
            raise ValueError(f"The 'method' parameter of {name} must be one of {METHODS}. "
                             f"Got {self.method!r} instead.")
        if self.solver not in ("lbfgs", "adam"):
            raise ValueError(f"The 'solver' parameter of {name} must be 'lbfgs' or 'adam'. "
                             f"Got {self.solver!r} instead.")
        if not all(isinstance(h, int) and not isinstance(h, bool) and h >= 1
                   for h in self.hidden):
            raise ValueError(f"The 'hidden' parameter of {name} must be a sequence of ints >= 1. "
                             f"Got {self.hidden!r} instead.")
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, int) \
                or self.max_iter < 1:
            raise ValueError(f"The 'max_iter' parameter of {name} must be an int >= 1. "
                             f"Got {self.max_iter!r} instead.")
        if not (isinstance(self.alpha, (int, float)) and self.alpha >= 0):
            raise ValueError(f"The 'alpha' parameter of {name} must be a float >= 0. "
                             f"Got {self.alpha!r} instead.")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"The 'dropout' parameter of {name} must be in [0, 1). "
                             f"Got {self.dropout!r} instead.")

    # ------------------------------------------------------------------ model
    def _build(self, n_features: int) -> Any:
        import torch
        from torch import nn

        with torch.random.fork_rng():
            torch.manual_seed(self.random_state)
            layers: list[nn.Module] = []
            width = n_features
            for h in self.hidden:
                layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(self.dropout)]
                width = h
            net = nn.Sequential(*layers, nn.Linear(width, 1, bias=bool(self.hidden)))
            if not self.hidden:          # linear scorer: start from "all candidates equal"
                nn.init.zeros_(net[-1].weight)
        return net

    def _scores(self, X: np.ndarray) -> Any:
        import torch

        Xs = (X - self.mean_) / self.scale_
        return self.net_(torch.from_numpy(Xs.astype(np.float32))).squeeze(-1)

    def _log_selection(self, scores: Any, mask: Any) -> Any:
        """log z: log of the relaxed 1-hot selection, shape (Q, K)."""
        import torch

        if self._topk is None:
            return torch.log_softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
        filled = torch.where(mask, scores, torch.full_like(scores, _PAD))
        z = self._topk(filled, 1, method=self.method, dim=-1, **(self.method_params or {}))
        return torch.log(z.clamp_min(0) + _LOG_FLOOR)

    def _objective(self, scores: Any, mask: Any, correct: Any, penalty: Any) -> Any:
        import torch

        logz = self._log_selection(scores, mask)
        picked = torch.logsumexp(logz.masked_fill(~correct, float("-inf")), dim=-1)
        w = self.net_[0].weight
        return -picked.mean() + self.alpha * (penalty * w.pow(2)).sum()

    def _resolve_topk(self) -> Any:
        if self.method == "softmax":
            return None
        try:
            from ensel.ops import topk_mask
        except ImportError:
            warnings.warn(f"ensel.ops.topk_mask is not available; training {type(self).__name__} "
                          f"with method='softmax' instead of {self.method!r}.", RuntimeWarning,
                          stacklevel=3)
            return None
        return topk_mask

    # ------------------------------------------------------------------ fit / predict
    def fit(self, X: Any, mask: Any, correct: Any, *, penalty: Any = None) -> ListwiseSelector:
        """Train the scorer.

        Parameters
        ----------
        X : array-like of shape (Q, K, F)
            Candidate features (questions, candidates, features).
        mask : array-like of shape (Q, K), bool, or None
            Present candidates (None: all).
        correct : array-like of shape (Q, K), bool
            Which candidates are right. Questions with none right are skipped.
        penalty : array-like of shape (F,), optional
            Per-feature multiplier of ``alpha`` (default 1); 0 leaves a feature unpenalised,
            so strong ``alpha`` shrinks the scorer towards a model on those features only.

        Returns
        -------
        self
        """
        import torch

        self._check_params()
        X, mask, correct = _check_arrays(X, mask, correct)
        use = correct.any(axis=1)
        if not use.any():
            raise ValueError("No question has a correct candidate: nothing to learn from.")
        n_features = X.shape[2]
        pen = np.ones(n_features, dtype=np.float32) if penalty is None else \
            np.asarray(penalty, dtype=np.float32)
        if pen.shape != (n_features,) or (pen < 0).any():
            raise ValueError(f"'penalty' must hold {n_features} non-negative numbers, one per "
                             f"feature. Got shape {pen.shape} instead.")
        present = X[mask]
        self.n_features_ = n_features
        self.mean_ = present.mean(axis=0).astype(np.float32)
        scale = present.std(axis=0)
        self.scale_ = np.where(scale > 1e-6, scale, 1.0).astype(np.float32)
        self._topk = self._resolve_topk()
        self.net_ = self._build(n_features)
        Xt = X[use]
        mt, ct = torch.from_numpy(mask[use]), torch.from_numpy(correct[use])
        pen_t = torch.from_numpy(pen)
        with torch.random.fork_rng(), _one_thread():
            torch.manual_seed(self.random_state)
            self.net_.train()
            if self.solver == "lbfgs":
                opt = torch.optim.LBFGS(self.net_.parameters(), lr=1.0, max_iter=self.max_iter,
                                        line_search_fn="strong_wolfe", tolerance_grad=1e-6,
                                        tolerance_change=1e-9)

                def closure() -> Any:
                    opt.zero_grad()
                    loss = self._objective(self._scores(Xt), mt, ct, pen_t)
                    loss.backward()
                    return loss

                opt.step(closure)
            else:
                opt = torch.optim.Adam(self.net_.parameters(), lr=self.lr)
                for _ in range(self.max_iter):
                    opt.zero_grad()
                    loss = self._objective(self._scores(Xt), mt, ct, pen_t)
                    loss.backward()
                    opt.step()
        self.net_.eval()
        with torch.no_grad():
            self.loss_ = float(self._objective(self._scores(Xt), mt, ct, pen_t))
        return self

    def loss(self, X: Any, mask: Any, correct: Any) -> float:
        """Mean ``-log`` softmax probability of the correct candidates (questions with one).

        The held-out criterion used to choose ``alpha``; ``nan`` when no question has a
        correct candidate.
        """
        s = self.decision_function(X, mask)
        X, mask, correct = _check_arrays(X, mask, correct)
        use = correct.any(axis=1)
        if not use.any():
            return float("nan")
        s = s[use].astype(np.float64)
        m = s.max(axis=1, keepdims=True)
        lse_all = m[:, 0] + np.log(np.exp(s - m).sum(axis=1))
        sc = np.where(correct[use], s, -np.inf)
        lse_ok = m[:, 0] + np.log(np.exp(sc - m).sum(axis=1))
        return float((lse_all - lse_ok).mean())

    def _accuracy(self, X: np.ndarray, mask: np.ndarray, correct: np.ndarray) -> float:
        pick = self.predict(X, mask)
        return float(correct[np.arange(len(pick)), pick].mean())

    def _check_fitted(self) -> None:
        if not hasattr(self, "net_"):
            raise RuntimeError(f"This {type(self).__name__} is not fitted yet: call fit() or "
                               f"load() first.")

    def decision_function(self, X: Any, mask: Any = None) -> np.ndarray:
        """Candidate scores.

        Parameters
        ----------
        X : array-like of shape (Q, K, F)
        mask : array-like of shape (Q, K), bool, optional

        Returns
        -------
        ndarray of shape (Q, K), float32
            Higher is better; ``-inf`` for absent candidates.
        """
        import torch

        self._check_fitted()
        X, mask = _check_arrays(X, mask, n_features=self.n_features_)
        self.net_.eval()
        with torch.no_grad(), _one_thread():
            s = self._scores(X).numpy().astype(np.float32)
        return np.where(mask, s, -np.inf).astype(np.float32)

    def predict(self, X: Any, mask: Any = None) -> np.ndarray:
        """Index of the selected candidate per question, shape ``(Q,)``.

        Hard top-1 of the scores; among equal scores the earliest candidate wins.
        """
        return np.argmax(self.decision_function(X, mask), axis=1)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path, *, metadata: dict[str, Any] | None = None) -> Path:
        """Write ``config.json`` and ``model.safetensors`` into the folder ``path``.

        Parameters
        ----------
        path : str or Path
            A folder (created if needed).
        metadata : dict, optional
            JSON-serialisable extras stored in the config (read back by :meth:`load_metadata`).
        """
        from safetensors.torch import save_file

        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        import torch

        tensors = {f"net.{k}": v.detach().contiguous() for k, v in self.net_.state_dict().items()}
        tensors["mean"] = torch.from_numpy(self.mean_)
        tensors["scale"] = torch.from_numpy(self.scale_)
        save_file(tensors, str(path / "model.safetensors"))
        config = {"format": FORMAT, "format_version": FORMAT_VERSION, "params": self.get_params(),
                  "n_features": self.n_features_, "loss": self.loss_,
                  "metadata": metadata or {}}
        (path / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
        return path

    @staticmethod
    def _read_config(path: Path) -> dict[str, Any]:
        cfg_path = path / "config.json"
        if not cfg_path.is_file() or not (path / "model.safetensors").is_file():
            raise FileNotFoundError(f"No saved selector in {str(path)!r} (expected config.json "
                                    f"and model.safetensors).")
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
        if config.get("format") != FORMAT or config.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{cfg_path} is not a saved {FORMAT} (version {FORMAT_VERSION}); "
                             f"found format {config.get('format')!r} version "
                             f"{config.get('format_version')!r}.")
        return config

    @classmethod
    def load(cls, path: str | Path) -> ListwiseSelector:
        """Read a selector written by :meth:`save` (no pickle: JSON + safetensors)."""
        from safetensors.torch import load_file

        path = Path(path)
        config = cls._read_config(path)
        params = config["params"]
        self = cls(tuple(params.pop("hidden")), **params)
        tensors = load_file(str(path / "model.safetensors"))
        self.n_features_ = int(config["n_features"])
        self.loss_ = float(config["loss"])
        self.mean_ = tensors.pop("mean").numpy()
        self.scale_ = tensors.pop("scale").numpy()
        self.net_ = self._build(self.n_features_)
        self.net_.load_state_dict({k[4:]: v for k, v in tensors.items()})
        self.net_.eval()
        self._topk = None
        self.metadata_ = config.get("metadata", {})
        return self
