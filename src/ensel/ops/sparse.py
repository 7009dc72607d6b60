"""Sparse top-k: the Euclidean projection onto the capped simplex.

For scores ``c`` and ``epsilon > 0``,

    z = argmax_{0 <= z <= 1, sum z = k}  c.z - (epsilon / 2) ||z||^2
      = clip((c - tau) / epsilon, 0, 1),   tau such that sum z = k.

``s(t) = sum clip(c/epsilon - t, 0, 1)`` is piecewise linear and nonincreasing in ``t``; its
slope on a piece is minus the size of the free set ``F = {i : 0 < z_i < 1}``. Newton's method
on a piecewise-linear function lands exactly on the root once it is on the right piece, so the
solver (safeguarded Newton, vectorised over rows) finishes with one exact step on the free
set: ``tau / epsilon = (sum_F c_i / epsilon - (k - #{z_i = 1})) / |F|``.

Backward (exact, almost everywhere): ``dz/dc = (1 / epsilon) (I - 1 1^T / |F|)`` on ``F``,
zero elsewhere, applied as a vector-Jacobian product ``(g_F - mean_F(g)) / epsilon``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ensel.ops._core import check_positive, two_phase_threshold, workspace

__all__ = ["sparse_topk"]


def _bracket(y: Tensor, k: int, centred: bool) -> tuple[Tensor, Tensor, Tensor]:
    """``lo, hi, t0`` with ``s(lo) >= k >= s(hi)`` for rows of ``y``.

    Rows whose k-th largest is 0 (``centred``, wide rows): at ``t = 0`` only the ``k - 1``
    entries above 0 count, each at most 1, so ``s(0) <= k - 1``; at ``t = -1`` the top ``k``
    entries are saturated, so ``s(-1) >= k``.
    """
    m = y.shape[-1]
    if centred:
        lo = torch.full(y.shape[:-1], -1.0, dtype=y.dtype, device=y.device)
        return lo, torch.zeros_like(lo), torch.full_like(lo, -0.5)
    # rows whose maximum is 0: s(min y - k/M) >= M * (k/M) = k and s(max y - k/M) <= k
    lo = y.amin(-1) - k / m
    hi = torch.full_like(lo, -k / m)
    if k == 1:
        # the largest entry (0) alone saturates at t = -1, so s(-1) >= 1
        lo = lo.clamp_min(-1.0)
        return lo, hi, lo
    return lo, hi, 0.5 * (lo + hi)


def _f_and_slope(y: Tensor, k: int,
                 buffers: tuple[Tensor, Tensor]) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
    z, w = buffers

    def f_and_slope(t: Tensor) -> tuple[Tensor, Tensor]:
        torch.sub(y, t.unsqueeze(-1), out=z).clamp_(0.0, 1.0)
        # |F| = #{0 < z < 1} = sum(ceil(frac(z))); cheaper than boolean masks
        return z.sum(-1) - k, torch.frac(z, out=w).ceil_().sum(-1)

    return f_and_slope


def _exact_step(y: Tensor, k: int, t: Tensor, buffers: tuple[Tensor, Tensor]) -> Tensor:
    """Newton step on the piece of ``t``: ``(sum_F y - (k - #saturated)) / |F|``, exact there."""
    z, free = buffers
    torch.sub(y, t.unsqueeze(-1), out=z).clamp_(0.0, 1.0)
    torch.frac(z, out=free).ceil_()                  # 1 on F = {0 < z < 1}
    n_free = free.sum(-1)
    n_sat = z.floor_().sum(-1)                       # z is now 1 where saturated, else 0
    sum_free = torch.mul(y, free, out=z).sum(-1)
    exact = (sum_free - (k - n_sat)) / n_free.clamp_min(1.0)
    return torch.where(n_free > 0, exact, t)


class _SparseTopK(torch.autograd.Function):
    """``c[B, M] -> z[B, M]``; see the module docstring."""

    @staticmethod
    def forward(c: Tensor, k: int, epsilon: float) -> Tensor:  # type: ignore[override]
        m = c.shape[-1]
        if k == m:
            return torch.ones_like(c)
        ws = workspace(c, epsilon, k)
        t = two_phase_threshold(ws, k, _bracket, _f_and_slope, _exact_step)
        z = torch.sub(ws.y64, t.unsqueeze(-1), out=ws.buf64[0]).clamp_(0.0, 1.0)
        return ws.out.copy_(z)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        _, _, epsilon = inputs
        ctx.epsilon = epsilon
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, None, None]:  # type: ignore[override]
        (z,) = ctx.saved_tensors
        free = torch.frac(z).ceil_()                          # 1 where 0 < z < 1, else 0
        n_free = free.sum(-1, keepdim=True).clamp_min(1.0)   # |F| = 0 -> gradient 0
        g_free = g * free
        mean_free = g_free.sum(-1, keepdim=True) / n_free
        g_free.addcmul_(free, mean_free, value=-1.0).div_(ctx.epsilon)
        # "+ 0.0" turns the -0.0 of (negative * 0) into +0.0
        return g_free.add_(0.0), None, None


def sparse_topk(c: Tensor, k: int, *, epsilon: float = 1.0) -> Tensor:
    """Sparse (capped-simplex, Euclidean) relaxed top-k mask of every row of ``c``.

    This is the 2-D kernel behind ``topk_mask(..., method="sparse")``, which also checks the
    scores and handles any ``dim``; call that instead.

    Parameters
    ----------
    c : Tensor of shape (B, M)
        Finite floating-point scores, one row per problem.
    k : int
        Mask size, ``1 <= k <= M`` (checked by the caller).
    epsilon : float, default=1.0
        Regularisation strength, ``> 0``. Small values give masks close to the hard top-k
        (and zero gradients); large values spread the mass evenly.

    Returns
    -------
    z : Tensor of shape (B, M)
        ``z = clip((c - tau) / epsilon, 0, 1)`` with ``z.sum(-1) == k``.

    Examples
    --------
    >>> import torch
    >>> from ensel.ops.sparse import sparse_topk
    >>> sparse_topk(torch.tensor([[2.0, 1.0, 0.5, -1.0]]), 2)
    tensor([[1.0000, 0.7500, 0.2500, 0.0000]])
    """
    epsilon = check_positive(epsilon, "epsilon", "topk_mask(method='sparse')")
    return _SparseTopK.apply(c, k, epsilon)
