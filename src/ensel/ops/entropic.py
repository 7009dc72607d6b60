"""Entropic top-k: the binary-entropy regularised relaxation.

For scores ``c`` and ``epsilon > 0``,

    z = argmax_{0 <= z <= 1, sum z = k}  c.z + epsilon * sum_i H(z_i)
      = sigmoid((c - tau) / epsilon),   tau such that sum z = k,

with ``H(p) = -p log p - (1 - p) log(1 - p)``. ``tau`` is found per row by safeguarded Newton
(vectorised, float64) on the smooth, decreasing ``s(t) = sum sigmoid(c/epsilon - t)``,
bracketed by ``[min c/epsilon - L, max c/epsilon - L]`` with ``L = log(k / (M - k))``; scores
spread wider than ``1e4 epsilon`` are centred on their k-th largest instead (see
``ensel.ops._core.workspace``), so the constraint holds for any spread of finite scores. For
``k = M`` the answer is exactly all ones.

Backward (exact): with ``d = z (1 - z) / epsilon``, ``dz/dc = diag(d) - d d^T / sum(d)``, so
the vector-Jacobian product is ``d * g - d (d . g) / sum(d)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ensel.ops._core import check_positive, two_phase_threshold, workspace

__all__ = ["entropic_topk"]


def _bracket(y: Tensor, k: int, centred: bool) -> tuple[Tensor, Tensor, Tensor]:
    """``lo, hi, t0`` with ``s(lo) >= k >= s(hi)`` for rows of ``y``.

    Rows whose maximum is 0: with ``L = log(k / (M - k))``, ``sigmoid(L) = k / M``, so
    ``s(min y - L) >= k >= s(max y - L)``.

    Rows whose k-th largest is 0 (``centred``, wide rows): with ``L = log M``, at ``hi = L``
    the ``M - k + 1`` entries ``<= 0`` add less than 1 and the other ``k - 1`` less than 1
    each, so ``s(hi) < k``; at ``y_(k+1) - L`` the top ``k + 1`` entries add
    ``(k + 1) M / (M + 1) >= k``; at ``-64`` the top ``k`` entries are exactly 1 in float64;
    ``lo`` is the larger of the two, so the threshold stays within ``[-64, log M]``.
    """
    m = y.shape[-1]
    if centred:
        big_l = math.log(m)
        below = torch.kthvalue(y, m - k, dim=-1).values          # y_(k+1)
        lo = (below - big_l).clamp_min(-64.0)
        hi = torch.full_like(lo, big_l)
        return lo, hi, torch.zeros_like(lo).clamp(lo, hi)
    shift = math.log(k / (m - k))
    lo = y.amin(-1) - shift
    hi = torch.full_like(lo, -shift)
    t0 = (y.mean(-1) - shift).clamp(lo, hi)   # exact when the scores of a row are all equal
    return lo, hi, t0


def _f_and_slope(y: Tensor, k: int,
                 buffers: tuple[Tensor, Tensor]) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
    z, w = buffers

    def f_and_slope(t: Tensor) -> tuple[Tensor, Tensor]:
        torch.sub(y, t.unsqueeze(-1), out=z).sigmoid_()
        s = z.sum(-1)
        return s - k, s - torch.mul(z, z, out=w).sum(-1)     # slope = sum z (1 - z)

    return f_and_slope


class _EntropicTopK(torch.autograd.Function):
    """``c[B, M] -> z[B, M]``; see the module docstring."""

    @staticmethod
    def forward(c: Tensor, k: int, epsilon: float) -> Tensor:  # type: ignore[override]
        m = c.shape[-1]
        if k == m:
            return torch.ones_like(c)
        ws = workspace(c, epsilon, k)
        t = two_phase_threshold(ws, k, _bracket, _f_and_slope, atanh_step=True)
        z = torch.sub(ws.y64, t.unsqueeze(-1), out=ws.buf64[0]).sigmoid_()
        return ws.out.copy_(z)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        _, _, epsilon = inputs
        ctx.epsilon = epsilon
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, None, None]:  # type: ignore[override]
        (z,) = ctx.saved_tensors
        d = torch.addcmul(z, z, z, value=-1.0).div_(ctx.epsilon)   # z (1 - z) / epsilon
        d_sum = d.sum(-1, keepdim=True)
        out = d * g
        dg = out.sum(-1, keepdim=True)
        # all z in {0, 1} (e.g. k = M): d = 0 and the gradient is 0
        coef = torch.where(d_sum > 0, dg / d_sum.clamp_min(torch.finfo(d.dtype).tiny), 0.0)
        return out.addcmul_(d, coef, value=-1.0), None, None       # d * g - d * coef


def entropic_topk(c: Tensor, k: int, *, epsilon: float = 1.0) -> Tensor:
    """Entropic (sigmoid) relaxed top-k mask of every row of ``c``.

    This is the 2-D kernel behind ``topk_mask(..., method="entropic")``, which also checks the
    scores and handles any ``dim``; call that instead.

    Parameters
    ----------
    c : Tensor of shape (B, M)
        Finite floating-point scores, one row per problem.
    k : int
        Mask size, ``1 <= k <= M`` (checked by the caller).
    epsilon : float, default=1.0
        Temperature, ``> 0``. Small values give masks close to the hard top-k; the mask is
        never exactly sparse.

    Returns
    -------
    z : Tensor of shape (B, M)
        ``z = sigmoid((c - tau) / epsilon)`` with ``z.sum(-1) == k``.

    Examples
    --------
    >>> import torch
    >>> from ensel.ops.entropic import entropic_topk
    >>> entropic_topk(torch.tensor([[1.0, 1.0, 1.0, 1.0]]), 2)
    tensor([[0.5000, 0.5000, 0.5000, 0.5000]])
    """
    epsilon = check_positive(epsilon, "epsilon", "topk_mask(method='entropic')")
    return _EntropicTopK.apply(c, k, epsilon)
