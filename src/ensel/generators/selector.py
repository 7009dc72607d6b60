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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ensel._validation import check_choice, check_int_param, check_real_param

__all__ = ["ListwiseSelector"]

FORMAT = "ensel.generators.ListwiseSelector"
FORMAT_VERSION = 2   # 2: scikit-learn parameter names, "version" key; 1 is still read
CONFIG = "config.json"
WEIGHTS = "model.safetensors"
METHODS = ("softmax", "sparse", "entropic", "perturbed", "straight_through")
SOLVERS = ("lbfgs", "adam")
_CONFIG_KEYS = ("params", "n_features", "loss", "metadata")
_RENAMED = {"hidden": "hidden_layer_sizes", "lr": "learning_rate",
            "method_params": "method_options"}
"""Parameter names of format version 1 (ensel 0.1) and their scikit-learn names."""
_NOT_FITTED = "This %(name)s is not fitted yet: call fit() or load() first."
_PAD = -1e4        # score given to absent candidates before a relaxation (finite on purpose)
_LOG_FLOOR = 1e-4  # -log(sum z + floor): sparse relaxations put exact zeros on candidates


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


def _json_params(params: dict[str, Any]) -> dict[str, Any]:
    """``get_params()`` as JSON values (tuples as lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


def _upgrade_params(params: dict[str, Any], where: str) -> dict[str, Any]:
    """Parameters saved under the format-1 names, renamed; a FutureWarning names each."""
    old = [name for name in _RENAMED if name in params]
    if not old:
        return dict(params)
    pairs = ", ".join(f"{name!r} is now {_RENAMED[name]!r}" for name in old)
    warnings.warn(f"{where} was saved with the parameter names of ensel 0.1 ({pairs}); it "
                  f"loads, but those names will not be read in a future release: save it "
                  f"again to write the new names.", FutureWarning, stacklevel=3)
    return {_RENAMED.get(k, k): v for k, v in params.items()}


def _read_config(folder: Path) -> dict[str, Any]:
    """The checked ``config.json`` of a saved selector (format 1 upgraded to 2)."""
    from ensel._io import read_json

    cfg_path = folder / CONFIG
    if not cfg_path.is_file() or not (folder / WEIGHTS).is_file():
        raise FileNotFoundError(f"No saved selector in {str(folder)!r} (expected {CONFIG} "
                                f"and {WEIGHTS}).")
    try:
        raw = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError):
        raw = None                   # read_json below words the error
    if isinstance(raw, dict) and raw.get("format_version") == 1 and "version" not in raw:
        raw["version"] = raw.pop("format_version")     # format 1: same layout, old key
        config = raw
        if raw.get("format") != FORMAT:
            raise ValueError(f"{cfg_path} is not a {FORMAT} header: its format is "
                             f"{raw.get('format')!r}.")
        missing = [k for k in _CONFIG_KEYS if k not in raw]
        if missing:
            raise ValueError(f"{cfg_path} lacks the key(s) {missing}.")
    else:
        config = read_json(cfg_path, format=FORMAT, versions=(FORMAT_VERSION,),
                           keys=_CONFIG_KEYS, required=_CONFIG_KEYS)
    if not isinstance(config["params"], dict) or not isinstance(config["metadata"], dict):
        raise ValueError(  # noqa: TRY004 - the file's content is wrong, not an argument's type
            f"{cfg_path}: 'params' and 'metadata' must be JSON objects.")
    config["params"] = _upgrade_params(config["params"], str(cfg_path))
    return config


class ListwiseSelector(BaseEstimator):
    """Score candidates with a linear model or small MLP trained by a listwise k = 1 loss.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=()
        Hidden layer sizes; ``()`` gives a linear scorer (then, with ``method="softmax"``,
        the problem is convex: a conditional-logit model).
    method : {"softmax", "sparse", "entropic", "perturbed", "straight_through"}, \
default="softmax"
        The relaxed 1-of-K selection used in training. ``"softmax"`` is computed here; the
        others call ``ensel.ops.topk_mask(scores, 1, method=method, **method_options)`` (a
        warning and the softmax when ``ensel.ops`` is not available). The stochastic
        ``"perturbed"`` needs ``solver="adam"``.
    method_options : dict, optional
        Options of ``topk_mask`` (``epsilon`` for sparse/entropic, ``sigma``, ``n_samples``,
        ``seed`` for perturbed, ``temperature`` for straight_through).
    alpha : float, default=0.01
        L2 penalty on the (first-layer) weights, ``alpha * sum(penalty * w**2)`` added to the
        mean loss per question.
    solver : {"lbfgs", "adam"}, default="lbfgs"
        Full-batch L-BFGS (strong Wolfe line search) or full-batch Adam.
    max_iter : int, default=200
        L-BFGS iterations or Adam steps.
    learning_rate : float, default=0.01
        Adam's learning rate (L-BFGS uses 1 with a line search).
    dropout : float, default=0.0
        Dropout after each hidden layer (MLP only).
    random_state : int, default=0

    Attributes
    ----------
    n_features_ : int
    feature_mean_, feature_scale_ : ndarray of shape (n_features_,)
        Feature standardisation (fitted on present candidates).
    loss_ : float
        Final training objective.
    net_ : torch.nn.Sequential
        The scorer: ``(..., n_features_) -> (..., 1)``.

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

    def __init__(self, hidden_layer_sizes: Sequence[int] = (), *, method: str = "softmax",
                 method_options: dict[str, Any] | None = None, alpha: float = 0.01,
                 solver: str = "lbfgs", max_iter: int = 200, learning_rate: float = 0.01,
                 dropout: float = 0.0, random_state: int = 0) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.method = method
        self.method_options = method_options
        self.alpha = alpha
        self.solver = solver
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.dropout = dropout
        self.random_state = random_state

    # ------------------------------------------------------------------ parameters
    def _check_params(self) -> None:
        """Check every parameter (nothing is stored)."""
        name = type(self).__name__
        check_choice(self.method, "method", name, METHODS)
        check_choice(self.solver, "solver", name, SOLVERS)
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence) or not all(
                isinstance(h, (int, np.integer)) and not isinstance(h, bool) and h >= 1
                for h in sizes):
            raise ValueError(f"The 'hidden_layer_sizes' parameter of {name} must be a tuple of "
                             f"ints >= 1. Got {sizes!r} instead.")
        if self.method_options is not None and not isinstance(self.method_options, dict):
            raise ValueError(f"The 'method_options' parameter of {name} must be a dict or "
                             f"None. Got {self.method_options!r} instead.")
        check_int_param(self.max_iter, "max_iter", name, low=1)
        check_real_param(self.alpha, "alpha", name, low=0.0, high=np.inf)
        check_real_param(self.learning_rate, "learning_rate", name, low=0.0, high=np.inf,
                         include_low=False)
        check_real_param(self.dropout, "dropout", name, low=0.0, high=1.0, include_high=False)

    # ------------------------------------------------------------------ model
    def _build(self, n_features: int) -> Any:
        """The scorer ``(..., F) -> (..., 1)``; a linear one starts at "all candidates equal"."""
        import torch
        from torch import nn

        from ensel._training import mlp

        hidden = tuple(self.hidden_layer_sizes)
        with torch.random.fork_rng():
            torch.manual_seed(self.random_state)
            net = mlp(n_features, hidden, 1, dropout=self.dropout, bias=bool(hidden))
            if not hidden:
                nn.init.zeros_(net[-1].weight)
        return net

    def _scores(self, X: np.ndarray) -> Any:
        import torch

        Xs = (X - self.feature_mean_) / self.feature_scale_
        return self.net_(torch.from_numpy(Xs.astype(np.float32))).squeeze(-1)

    def _selection(self, topk: Any) -> Any:
        """``log z(scores, mask)``: log of the relaxed 1-hot selection, shape (Q, K)."""
        import torch

        if topk is None:
            return lambda scores, mask: torch.log_softmax(
                scores.masked_fill(~mask, float("-inf")), dim=-1)
        method, options = self.method, dict(self.method_options or {})

        def log_relaxed(scores: Any, mask: Any) -> Any:
            filled = torch.where(mask, scores, torch.full_like(scores, _PAD))
            z = topk(filled, 1, method=method, dim=-1, **options)
            return torch.log(z.clamp_min(0) + _LOG_FLOOR)

        return log_relaxed

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
        self._check_params()
        X, mask, correct = _check_arrays(X, mask, correct)
        use = correct.any(axis=1)
        if not use.any():
            raise ValueError("No question has a correct candidate: nothing to learn from.")
        pen = _check_penalty(penalty, X.shape[2])
        present = X[mask]
        self.n_features_ = X.shape[2]
        self.feature_mean_ = present.mean(axis=0).astype(np.float32)
        scale = present.std(axis=0)
        self.feature_scale_ = np.where(scale > 1e-6, scale, 1.0).astype(np.float32)
        self.net_ = self._build(self.n_features_)
        self.loss_ = self._train(X[use], mask[use], correct[use], pen)
        return self

    def _train(self, X: np.ndarray, mask: np.ndarray, correct: np.ndarray,
               pen: np.ndarray) -> float:
        """Optimise ``net_`` with the one trainer (full batch); the final objective."""
        import torch

        from ensel._training import Job, TrainOptions, threads, train

        Xs = ((X - self.feature_mean_) / self.feature_scale_).astype(np.float32)
        objective = _ListwiseLoss(Xs, mask, correct, pen, alpha=float(self.alpha),
                                  select=self._selection(self._resolve_topk()))
        options = TrainOptions(learning_rate=self.learning_rate, alpha=0.0,
                               max_epochs=self.max_iter, batch_size=None,
                               n_iter_no_change=None, solver=self.solver,
                               random_state=self.random_state, name=type(self).__name__)
        rows = np.arange(len(Xs))
        job = Job(build=lambda: self._build(Xs.shape[2]), objective=objective,
                  train_rows=rows, val_rows=None, options=options)
        with threads(1):
            self.net_ = train(job).net
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.random_state)    # "perturbed" draws noise here too
                return float(objective.loss(self.net_, rows, None, None))

    def loss(self, X: Any, mask: Any, correct: Any) -> float:
        """Mean ``-log`` softmax probability of the correct candidates (questions with one).

        The held-out criterion used to choose ``alpha``; ``nan`` when no question has a
        correct candidate.

        Parameters
        ----------
        X : array-like of shape (Q, K, F)
        mask : array-like of shape (Q, K), bool, or None
        correct : array-like of shape (Q, K), bool

        Returns
        -------
        float
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

        from ensel._training import threads

        check_is_fitted(self, "net_", msg=_NOT_FITTED)
        X, mask = _check_arrays(X, mask, n_features=self.n_features_)
        self.net_.eval()
        with torch.no_grad(), threads(1):
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

        The folder is written next to ``path`` and swapped in whole (``ensel._io``), so an
        interrupted save leaves the previous model in ``path`` loading as before.

        Parameters
        ----------
        path : str or Path
            A new or empty folder, or one holding a saved selector (replaced).
        metadata : dict, optional
            JSON-serialisable extras stored in the config (read back as ``metadata_``).

        Returns
        -------
        Path
            ``path``.

        Raises
        ------
        FileExistsError
            ``path`` is a non-empty folder without a ``config.json``.
        """
        import torch
        from safetensors.torch import save_file

        from ensel._io import atomic_directory, write_json

        check_is_fitted(self, "net_", msg=_NOT_FITTED)
        tensors = {f"net.{k}": v.detach().contiguous() for k, v in self.net_.state_dict().items()}
        tensors["feature_mean"] = torch.from_numpy(self.feature_mean_)
        tensors["feature_scale"] = torch.from_numpy(self.feature_scale_)
        config = {"format": FORMAT, "version": FORMAT_VERSION,
                  "params": _json_params(self.get_params()), "n_features": self.n_features_,
                  "loss": self.loss_, "metadata": metadata or {}}
        with atomic_directory(path, marker=CONFIG) as tmp:
            save_file(tensors, str(tmp / WEIGHTS))
            write_json(tmp / CONFIG, config)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> ListwiseSelector:
        """Read a selector written by :meth:`save` (no pickle: JSON + safetensors).

        Parameters are validated as at construction; a ``config.json`` written by ensel 0.1
        (old parameter names) loads with a ``FutureWarning``.

        Parameters
        ----------
        path : str or Path
            The folder given to :meth:`save`.

        Returns
        -------
        ListwiseSelector

        Raises
        ------
        FileNotFoundError
            No ``config.json`` and ``model.safetensors`` in ``path``.
        ValueError
            Another format or version, invalid parameters, or weights that do not fit them;
            the message names the file.
        """
        path = Path(path)
        config = _read_config(path)
        params = config["params"]
        if isinstance(params.get("hidden_layer_sizes"), list):
            params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
        try:
            self = cls(**params)
            self._check_params()
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path / CONFIG}: {exc}") from exc
        self.n_features_ = int(config["n_features"])
        self.loss_ = float(config["loss"])
        self.metadata_ = config["metadata"]
        self._load_weights(path / WEIGHTS, version=config["version"])
        return self

    def _load_weights(self, weights: Path, *, version: int) -> None:
        from safetensors.torch import load_file

        mean, scale = ("feature_mean", "feature_scale") if version >= 2 else ("mean", "scale")
        try:
            tensors = load_file(str(weights))
            self.feature_mean_ = tensors.pop(mean).numpy()
            self.feature_scale_ = tensors.pop(scale).numpy()
            self.net_ = self._build(self.n_features_)
            self.net_.load_state_dict(_renumber({k[4:]: v for k, v in tensors.items()},
                                                self.net_))
        except Exception as exc:  # safetensors' own error, KeyError, shape mismatch
            raise ValueError(f"{weights} does not hold the weights of this {type(self).__name__} "
                             f"({type(exc).__name__}: {exc}).") from exc
        self.net_.eval()


def _check_penalty(penalty: Any, n_features: int) -> np.ndarray:
    pen = np.ones(n_features, dtype=np.float32) if penalty is None else \
        np.asarray(penalty, dtype=np.float32)
    if pen.shape != (n_features,) or (pen < 0).any():
        raise ValueError(f"'penalty' must hold {n_features} non-negative numbers, one per "
                         f"feature. Got shape {pen.shape} instead.")
    return pen


class _ListwiseLoss:
    """The listwise k = 1 loss on standardised training arrays (`ensel._training.Objective`).

    ``-log sum_{j correct} z_j`` averaged over the questions of a batch, plus the L2 penalty
    ``alpha * sum(penalty * w**2)`` on the first layer's weights.
    """

    def __init__(self, X: np.ndarray, mask: np.ndarray, correct: np.ndarray, penalty: np.ndarray,
                 *, alpha: float, select: Any) -> None:
        import torch

        self.X = torch.from_numpy(X)                     # [Q, K, F]
        self.mask = torch.from_numpy(mask)               # [Q, K]
        self.correct = torch.from_numpy(correct)         # [Q, K]
        self.penalty = torch.from_numpy(penalty)         # [F]
        self.alpha = alpha
        self.select = select

    def noise(self, n_rows: int, rng: np.random.Generator) -> None:
        return None

    def loss(self, model: Any, rows: np.ndarray, noise: Any, generator: Any) -> Any:
        import torch

        idx = torch.from_numpy(np.asarray(rows))
        scores = model(self.X[idx]).squeeze(-1)
        logz = self.select(scores, self.mask[idx])
        picked = torch.logsumexp(logz.masked_fill(~self.correct[idx], float("-inf")), dim=-1)
        w = model[0].weight
        return -picked.mean() + self.alpha * (self.penalty * w.pow(2)).sum()

    def evaluate(self, net: Any, rows: np.ndarray) -> tuple[float, float]:
        return float(self.loss(net, rows, None, None)), float("nan")


def _renumber(state: dict[str, Any], net: Any) -> dict[str, Any]:
    """Saved layer numbers -> ``net``'s: the i-th saved layer is ``net``'s i-th Linear.

    ensel 0.1 put a Dropout after every hidden layer even at ``dropout=0``, so the output
    layer of its one-hidden-layer scorer is number 3 where `ensel._training.mlp` makes it 2.
    """
    from torch import nn

    saved = sorted({int(key.split(".", 1)[0]) for key in state})
    linear = [i for i, module in enumerate(net) if isinstance(module, nn.Linear)]
    if len(saved) != len(linear):
        return state                                    # load_state_dict names the mismatch
    number = dict(zip(saved, linear, strict=True))
    return {f"{number[int(key.split('.', 1)[0])]}.{key.split('.', 1)[1]}": value
            for key, value in state.items()}
