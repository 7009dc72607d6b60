"""Straight-through top-k: hard forward, softmax-surrogate backward.

Forward: the exact 0/1 top-k mask of ``c`` (``torch.topk``'s tie-breaking), so the
constraints hold exactly.

Backward: the gradient of the surrogate ``q(c) = k * softmax(c / temperature)`` (a vector in
[0, k]^M that also sums to k), whatever the forward returned:

    dq/dc = (k / temperature) (diag(p) - p p^T),   p = softmax(c / temperature),

so the vector-Jacobian product is ``(k / temperature) * p * (g - p . g)``. It is biased (the
hard mask is piecewise constant, its true gradient is 0) but cheap and never vanishes. For
``k = M`` the mask is constant (all ones) and the gradient is 0.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ensel.ops._core import check_positive, hard_mask_rows

__all__ = ["straight_through_topk"]


class _StraightThroughTopK(torch.autograd.Function):
    """``c[B, M] -> z[B, M]``; see the module docstring."""

    @staticmethod
    def forward(c: Tensor, k: int, temperature: float) -> Tensor:  # type: ignore[override]
        return hard_mask_rows(c, k)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        c, k, temperature = inputs
        ctx.k, ctx.temperature = k, temperature
        ctx.save_for_backward(c)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, None, None]:  # type: ignore[override]
        (c,) = ctx.saved_tensors
        k, temperature = ctx.k, ctx.temperature
        if k == c.shape[-1]:
            return torch.zeros_like(c), None, None
        p = torch.softmax(c / temperature, dim=-1)
        pg = (p * g).sum(-1, keepdim=True)
        return (k / temperature) * p * (g - pg), None, None


def straight_through_topk(c: Tensor, k: int, *, temperature: float = 1.0) -> Tensor:
    """Hard top-k mask of every row of ``c`` with a softmax-surrogate gradient.

    This is the 2-D kernel behind ``topk_mask(..., method="straight_through")``, which also
    checks the scores and handles any ``dim``; call that instead.

    Parameters
    ----------
    c : Tensor of shape (B, M)
        Finite floating-point scores, one row per problem.
    k : int
        Mask size, ``1 <= k <= M`` (checked by the caller).
    temperature : float, default=1.0
        Temperature of the surrogate ``k * softmax(c / temperature)``, ``> 0``.

    Returns
    -------
    z : Tensor of shape (B, M)
        The exact 0/1 top-k mask; its gradient is that of ``k * softmax(c / temperature)``.

    Examples
    --------
    >>> import torch
    >>> from ensel.ops.straight_through import straight_through_topk
    >>> straight_through_topk(torch.tensor([[0.1, 2.0, 1.0]]), 2)
    tensor([[0., 1., 1.]])
    """
    temperature = check_positive(temperature, "temperature", "topk_mask(method='straight_through')")
    return _StraightThroughTopK.apply(c, k, temperature)
