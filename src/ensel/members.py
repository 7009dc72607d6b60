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

    Accepts scikit-learn estimators, ``torch.nn.Module`` (outputs are logits for
    classification; softmax is applied) and plain callables ``f(X) -> array``.
    """
    try:
        if task == "classification" and hasattr(member, "predict_proba"):
            out = member.predict_proba(X)
        elif task != "classification" and hasattr(member, "predict"):
            out = member.predict(X)
        elif _is_torch_module(member):
            out = _torch_forward(member, X, task)
        elif callable(member):
            out = member(X)
        else:
            raise TypeError(
                f"member {name!r} ({type(member).__name__}) has no predict_proba/predict and is "
                f"not callable."
            )
    except (TypeError, ValueError, AttributeError) as exc:
        raise type(exc)(f"member {name!r} failed to predict: {exc}") from exc
    out = np.asarray(out)
    if out.shape[0] != len(X):
        raise ValueError(f"member {name!r} returned {out.shape[0]} rows for {len(X)} inputs.")
    return out


def _is_torch_module(member: Any) -> bool:
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(member, torch.nn.Module)


def _torch_forward(module: Any, X: np.ndarray, task: str) -> np.ndarray:
    import torch

    param = next(module.parameters(), None)
    dtype = param.dtype if param is not None else torch.float32
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            out = module(torch.as_tensor(np.asarray(X), dtype=dtype))
            if task == "classification":
                out = torch.softmax(out, dim=-1)
    finally:
        module.train(was_training)
    return out.cpu().numpy()
