"""Shared pieces of the top-k operators: input checks, hard masks and a monotone root finder.

Everything here works on a flattened batch ``c[B, M]`` (rows are independent problems);
``ensel.ops.topk`` moves the user's ``dim`` to the end and flattens the leading dims.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from ensel import _validation as V

# Solvers for the threshold tau run in float64 whatever the input dtype: the constraint
# sum(z) = k must hold to 1e-5 for M in the hundreds and scores of any scale.
WORK_DTYPE = torch.float64


def check_scores(scores: Any, owner: str) -> Tensor:
    """A floating-point tensor with at least one dimension and no NaN or inf."""
    if not isinstance(scores, Tensor):
        raise TypeError(
            f"The 'scores' parameter of {owner} must be a torch.Tensor. "
            f"Got {type(scores).__name__} instead."
        )
    if not scores.is_floating_point():
        raise ValueError(
            f"The 'scores' parameter of {owner} must be a floating-point tensor (float32 or "
            f"float64). Got dtype {scores.dtype} instead."
        )
    if scores.dim() == 0:
        raise ValueError(
            f"The 'scores' parameter of {owner} must have at least one dimension (the members). "
            f"Got a 0-d tensor instead."
        )
    # a sum is NaN or inf when an entry is; it is ~20x cheaper than isfinite().all(). A sum
    # that merely overflows falls through to the exact check, which then finds nothing.
    if not math.isfinite(float(scores.detach().sum())) and not bool(torch.isfinite(scores).all()):
        # the wording lives in ensel._validation; only the failing case pays for the copy
        V.check_finite(
            scores.detach().to("cpu", torch.float64).numpy(),
            f"The 'scores' parameter of {owner}",
        )
    return scores


def check_dim(dim: Any, ndim: int, owner: str) -> int:
    """``dim`` as a non-negative axis index of a tensor with ``ndim`` dimensions."""
    if isinstance(dim, bool) or not isinstance(dim, int) or not -ndim <= dim < ndim:
        raise ValueError(
            f"The 'dim' parameter of {owner} must be an int in [{-ndim}, {ndim - 1}] for scores "
            f"with {ndim} dimension(s). Got {dim!r} instead."
        )
    return dim % ndim


def to_rows(scores: Tensor, dim: int) -> tuple[Tensor, tuple[int, ...]]:
    """Move ``dim`` last and flatten the rest: ``[..., M, ...] -> [B, M]``."""
    moved = scores.movedim(dim, -1)
    return moved.reshape(-1, moved.shape[-1]), tuple(moved.shape)


def from_rows(z: Tensor, moved_shape: tuple[int, ...], dim: int) -> Tensor:
    """Inverse of :func:`to_rows`."""
    return z.reshape(moved_shape).movedim(-1, dim)


def hard_mask_rows(c: Tensor, k: int) -> Tensor:
    """Exact 0/1 mask of the ``k`` largest entries of every row of ``c[B, M]`` (torch.topk ties)."""
    idx = torch.topk(c, k, dim=-1).indices
    return torch.zeros_like(c).scatter_(-1, idx, 1.0)


def check_positive(value: Any, name: str, owner: str) -> float:
    """A finite real number > 0."""
    return V.check_real_param(value, name, owner, low=0.0, high=math.inf,
                              include_low=False, include_high=False)


def solve_threshold(
    y: Tensor,
    k: int,
    f_and_slope: Callable[[Tensor], tuple[Tensor, Tensor]],
    lo: Tensor,
    hi: Tensor,
    t0: Tensor,
    *,
    max_iter: int = 200,
    atanh_step: bool = False,
    eps: float | None = None,
) -> Tensor:
    """Find ``t[B]`` with ``s(t) = k`` for a nonincreasing ``s`` on ``[lo, hi]``, per row.

    Newton safeguarded by bisection, as in Numerical Recipes' ``rtsafe``: a Newton step is
    taken only when it stays inside the current bracket and is less than half the step before
    last; otherwise the bracket is bisected. After 60 iterations only bisection is used, so
    the loop always ends. Works in the dtype of ``y``.

    Parameters
    ----------
    y : Tensor of shape (B, M)
        The (scaled, shifted) scores; sets the dtype and the stopping tolerance.
    k : int
        Target sum.
    f_and_slope : callable
        ``t[B] -> (f[B], slope[B])``, ``f = s(t) - k`` and ``slope = -ds/dt >= 0``.
    lo, hi : Tensor of shape (B,)
        A bracket with ``s(lo) >= k >= s(hi)``.
    t0 : Tensor of shape (B,)
        Start, inside the bracket.
    max_iter : int, default=200
        Iteration cap.
    atanh_step : bool, default=False
        Replace the Newton step ``f / slope`` by ``atanh(f / slope)`` when ``|f / slope| < 1``:
        the exact root of ``B exp(-t) - A exp(t)``, the shape of the entropic ``s - k`` when
        the scores around the root are far apart (where plain Newton crawls).
    eps : float, optional
        Relative precision behind the stopping tolerance; default: machine epsilon of the
        dtype of ``y``.

    Returns
    -------
    t : Tensor of shape (B,)
        The root: ``|s(t) - k| <= 8 eps (M + k + |s'(t)| |t|)`` (the rounding error of
        evaluating ``s`` in the dtype of ``y``) unless ``max_iter`` ran out.
    """
    m = y.shape[-1]
    if y.shape[0] == 0:
        return t0
    eps8 = 8.0 * (torch.finfo(y.dtype).eps if eps is None else eps)
    t = t0
    dx = dx_old = hi - lo
    for it in range(max_iter):
        f, slope = f_and_slope(t)
        # rounding of s(t): summation (~ (M + k) eps) and y_i - t for the entries in
        # transition (~ slope |t| eps); |f| below that is as good as it gets
        done = f.abs() <= eps8 * (m + k + slope * t.abs())
        if bool(done.all()):
            break
        lo = torch.where(f > 0, t, lo)
        hi = torch.where(f < 0, t, hi)
        mid = 0.5 * (lo + hi)
        if it < 60:
            step = f / slope
            if atanh_step:
                # exact when s - k = B exp(-t) - A exp(t) (two sigmoid tails around the root)
                step = torch.where(step.abs() < 1, torch.atanh(step.clamp(-1.0, 1.0)), step)
            newton = t + step
            use = (slope > 0) & (newton >= lo) & (newton <= hi) & (step.abs() < 0.5 * dx_old)
            dx_old, dx = dx, torch.where(use, step.abs(), 0.5 * (hi - lo))
            nxt = torch.where(use, newton, mid)
        else:
            nxt = mid
        t = torch.where(done, t, nxt)
    return t


class Workspace(NamedTuple):
    """Tensors for one threshold solve on ``c[B, M]``, allocated once per call.

    Fresh multi-megabyte temporaries at every solver step cost more than the arithmetic
    (page faults on newly mapped memory), so the solvers write into these instead.
    """

    y64: Tensor                       # (c - max c) / epsilon in float64           [B, M]
    y32: Tensor | None                # the same in float32 (float32 input only)   [B, M]
    buf64: tuple[Tensor, Tensor]      # float64 scratch                            [B, M] x 2
    buf32: tuple[Tensor, Tensor] | None   # float32 scratch on the same memory     [B, M] x 2
    out: Tensor                       # the result, dtype of c; holds y32 until the end
    centred: bool = False             # y centred on the k-th largest score (wide rows)


#: Rows whose scaled scores span more than this are centred on their k-th largest score.
WIDE = 1e4
#: Scaled scores of such rows are clamped to +-SATURATE: an entry that far (in units of
#: epsilon) from the k-th largest score is exactly 0 or 1 in the mask either way (the
#: thresholds of both relaxations are then within 64 units of it), and no spread of finite
#: scores can overflow.
SATURATE = 1e6


def workspace(c: Tensor, epsilon: float, k: int) -> Workspace:
    """Scaled scores and scratch for ``c[B, M]`` (float32 or float64).

    ``y = (c - max c) / epsilon`` per row, which keeps the threshold near 0 (so its rounding
    stays small). When some row spans more than `WIDE` (in units of epsilon) that shift
    would lose the entries the threshold separates -- ``[1e20, -1e20, 0, 1]`` minus ``1e20``
    rounds 0 and 1 together -- so every row is instead centred on its k-th largest score
    ``c_(k)`` and clamped to ``[-SATURATE, SATURATE]`` (``centred=True``): the threshold is
    then within a few units of 0 for any spread of finite scores, up to ``1e308``. For
    float32 ``c`` a float32 copy feeds a cheap first solve whose result starts the float64
    one.
    """
    b, m = c.shape
    y64 = c.to(WORK_DTYPE, copy=True)
    top = y64.amax(-1, keepdim=True)
    centred = bool(b) and bool(((top - y64.amin(-1, keepdim=True)) > WIDE * epsilon).any())
    if centred:
        y64.sub_(torch.kthvalue(y64, m - k + 1, dim=-1, keepdim=True).values)
    else:
        y64.sub_(top)
    if epsilon != 1.0:
        y64.div_(epsilon)
    if centred:
        y64.clamp_(-SATURATE, SATURATE)
    flat = torch.empty(2 * b * m, dtype=WORK_DTYPE, device=c.device)
    buf64 = (flat[: b * m].view(b, m), flat[b * m:].view(b, m))
    out = torch.empty_like(c, memory_format=torch.contiguous_format)
    if c.dtype != torch.float32:
        return Workspace(y64, None, buf64, None, out, centred)
    out.copy_(y64)
    flat32 = flat.view(torch.float32)
    buf32 = (flat32[: b * m].view(b, m), flat32[b * m: 2 * b * m].view(b, m))
    return Workspace(y64, out, buf64, buf32, out, centred)


Bracket = Callable[[Tensor, int, bool], tuple[Tensor, Tensor, Tensor]]
FAndSlope = Callable[[Tensor, int, tuple[Tensor, Tensor]],
                    Callable[[Tensor], tuple[Tensor, Tensor]]]
Polish = Callable[[Tensor, int, Tensor, tuple[Tensor, Tensor]], Tensor]


def two_phase_threshold(
    ws: Workspace,
    k: int,
    bracket: Bracket,
    f_and_slope: FAndSlope,
    polish: Polish | None = None,
    *,
    atanh_step: bool = False,
) -> Tensor:
    """Threshold ``t[B]`` in float64, started from a float32 solve for float32 input.

    For float32 input the float64 solve stops at ``|s(t) - k| <= 8e-12 (M + k + ...)`` (far
    below float32 resolution) instead of at float64 rounding.

    ``bracket(y, k, centred) -> (lo, hi, t0)`` (``centred``: see `workspace`);
    ``f_and_slope(y, k, buffers)`` builds the function handed to :func:`solve_threshold`;
    ``polish(y, k, t, buffers)`` (optional) improves a nearly exact root.
    """
    y64 = ws.y64
    lo, hi, t0 = bracket(y64, k, ws.centred)
    polished = False
    if ws.y32 is not None and ws.y32.shape[0]:
        lo32, hi32, t32 = bracket(ws.y32, k, ws.centred)
        t32 = solve_threshold(ws.y32, k, f_and_slope(ws.y32, k, ws.buf32), lo32, hi32, t32,
                              max_iter=30, atanh_step=atanh_step)
        start = t32.to(WORK_DTYPE)
        if polish is not None:
            start = polish(y64, k, start, ws.buf64)
            polished = True
        t0 = torch.where(torch.isfinite(start), start, t0).clamp(lo, hi)
    # float32 results need |sum z - k| far below float32 resolution, not at float64's
    eps = 1e-12 if ws.y32 is not None else None
    t = solve_threshold(y64, k, f_and_slope(y64, k, ws.buf64), lo, hi, t0,
                        atanh_step=atanh_step, eps=eps)
    if polish is None or (polished and t is t0):   # t0 polished and passed the check
        return t
    return polish(y64, k, t, ws.buf64)
