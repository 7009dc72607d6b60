"""Turn members (fitted estimators, torch modules, callables) into predictions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def named_members(estimators: Sequence[Any]) -> list[tuple[str, Any]]:
    """``[(name, member), ...]`` from a list of pairs or of bare members (names from classes)."""
    named: list[tuple[str, Any]] = []
    counts: dict[str, int] = {}
    for i, item in enumerate(estimators):
        if isinstance(item, tuple):
            if len(item) != 2 or not isinstance(item[0], str):
                raise ValueError(
                    f"estimators[{i}] must be a (name, estimator) pair; got a tuple of "
                    f"{len(item)} items."
                )
            named.append(item)
        else:
            base = type(item).__name__.lower() if not callable(item) or hasattr(item, "fit") \
                else getattr(item, "__name__", "member")
            counts[base] = counts.get(base, 0) + 1
            named.append((base if counts[base] == 1 else f"{base}{counts[base]}", item))
    names = [n for n, _ in named]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"Member names must be unique; repeated: {dupes!r}.")
    return named


def predict_member(name: str, member: Any, X: np.ndarray, task: str) -> np.ndarray:
    """One member's predictions on ``X``: probabilities ``[N, C]`` or values ``[N]``/``[N, D]``.

    Accepts scikit-learn estimators, ``torch.nn.Module`` and plain callables
    ``f(X) -> array``. A torch module is run as `torch_predict` runs it: in eval mode, without
    gradients, in batches of `TORCH_BATCH_SIZE` rows (or its own ``batch_size`` attribute), on
    the device and in the dtype of its parameters; for classification its outputs are logits
    (softmax is applied) unless it has ``outputs_proba = True``.
    """
    method = "predict_proba" if task == "classification" else "predict"
    if not (hasattr(member, method) or is_torch_module(member) or callable(member)):
        raise TypeError(
            f"member {name!r} ({type(member).__name__}) has no {method} and is not callable."
        )
    try:
        if hasattr(member, method):
            out = getattr(member, method)(X)
        elif is_torch_module(member):
            out = torch_predict(member, X, task)
        else:
            out = member(X)
    except (TypeError, ValueError, AttributeError) as exc:
        raise type(exc)(f"member {name!r} failed to predict: {exc}") from exc
    out = np.asarray(out)
    if out.shape[0] != len(X):
        raise ValueError(f"member {name!r} returned {out.shape[0]} rows for {len(X)} inputs.")
    return out


#: Rows per forward pass of a torch member (a module's own ``batch_size`` attribute wins).
TORCH_BATCH_SIZE = 1024


def is_torch_module(member: Any) -> bool:
    """Whether ``member`` is a ``torch.nn.Module`` (without importing torch)."""
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(member, torch.nn.Module)


def torch_predict(module: Any, X: Any, task: str = "classification") -> np.ndarray:
    """A torch module's predictions on ``X``, as a scikit-learn member's: a numpy array.

    The module runs in eval mode (its mode is put back afterwards), under ``torch.no_grad``,
    in batches of ``module.batch_size`` rows (default `TORCH_BATCH_SIZE`), with ``X`` moved to
    the device and cast to the dtype of the module's first parameter (CPU float32 for a module
    without parameters); the outputs come back to the CPU.

    Parameters
    ----------
    module : torch.nn.Module
        Maps a batch ``[B, ...]`` to logits ``[B, C]`` (classification; softmax is applied),
        probabilities ``[B, C]`` when ``module.outputs_proba`` is true, or values
        ``[B]``/``[B, D]`` (regression).
    X : array-like or torch.Tensor of shape (N, ...)
        Any shape the module takes: rows of features ``[N, F]``, images ``[N, 1, 28, 28]``.
    task : {"classification", "regression"}, default="classification"

    Returns
    -------
    ndarray of shape (N, C), (N,) or (N, D)

    Examples
    --------
    >>> import torch
    >>> from ensel.members import torch_predict
    >>> net = torch.nn.Linear(3, 2)
    >>> torch_predict(net, torch.zeros(5, 3)).sum(1).round(6).tolist()
    [1.0, 1.0, 1.0, 1.0, 1.0]
    """
    import torch

    param = next(module.parameters(), None)
    dtype = param.dtype if param is not None else torch.float32
    device = param.device if param is not None else torch.device("cpu")
    size = int(getattr(module, "batch_size", None) or TORCH_BATCH_SIZE)
    proba = bool(getattr(module, "outputs_proba", False))
    inputs = X if isinstance(X, torch.Tensor) else torch.from_numpy(np.asarray(X))
    was_training = module.training
    module.eval()
    parts = []
    try:
        with torch.no_grad():
            for start in range(0, max(len(inputs), 1), size):    # an empty X: one call
                out = module(inputs[start:start + size].to(device=device, dtype=dtype))
                if task == "classification" and not proba:
                    out = torch.softmax(out, dim=-1)
                parts.append(out.detach().cpu())
    finally:
        module.train(was_training)
    return torch.cat(parts).numpy()
