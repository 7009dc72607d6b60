"""Differentiable knapsack: the relaxation of ``max s.z  s.t.  c.z <= B, 0 <= z <= 1``.

For scores ``s[M]``, costs ``c[M] >= 0``, a budget ``B >= 0`` and ``epsilon > 0`` the two
regularised problems of `topk_mask` have the same closed form, with a price ``tau >= 0``:

* ``sparse``:   ``argmax s.z - (epsilon/2)||z||^2 = clip((s - tau c) / epsilon, 0, 1)``
* ``entropic``: ``argmax s.z + epsilon sum H(z_i) = sigmoid((s - tau c) / epsilon)``

``tau = 0`` when the unconstrained mask already fits (``c.z(0) <= B``); otherwise ``tau > 0``
is the root of ``c.z(tau) = B`` (the budget binds and is spent exactly). With
``equality=True`` the constraint is ``c.z = B`` and ``tau`` may take either sign; with unit
costs and ``B = k`` that is exactly `topk_mask`. ``tau`` is found per row, in float64, by the
safeguarded Newton solver of the top-k operators (``ensel.ops._core.solve_threshold``) on
``g(t) = sum c_i phi(s_i/epsilon - t c_i)`` (nonincreasing in ``t``), bracketed by
``[min_i r_i, max_i r_i]``, ``r_i = (s_i/epsilon - a) / c_i`` over the members with
``c_i > 0`` (``a = p`` for sparse, ``log(p / (1 - p))`` for entropic, ``p = B / sum c``: at
either end every costly ``phi`` is on one side of ``p``). For sparse a last exact step on the
free set lands on the root: ``t = (sum_sat c + sum_F c y - B) / sum_F c^2``.

Backward (exact, almost everywhere; one vector-Jacobian product). With ``d_i = phi'(.) /
epsilon`` (sparse: ``1/epsilon`` on the free set ``0 < z_i < 1``, else 0; entropic:
``z_i (1 - z_i) / epsilon``), ``Q = sum d c^2`` and ``G = sum g d c`` for an incoming ``g``,
on a row whose budget binds:

    dL/dB = G / Q,   dL/ds = d g - d c (G / Q),   dL/dc = -tau dL/ds - z dL/dB;

on a row whose budget does not bind, ``dL/ds = d g`` and the costs and budget get 0.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from ensel import _validation as V
from ensel.ops._core import (
    WORK_DTYPE,
    check_dim,
    check_positive,
    check_scores,
    from_rows,
    solve_threshold,
    to_rows,
)

__all__ = ["KNAPSACK_METHODS", "hard_knapsack_mask", "knapsack_mask"]

#: Names of the relaxations accepted by ``knapsack_mask(..., method=...)``.
KNAPSACK_METHODS: tuple[str, ...] = ("sparse", "entropic")

_MAX_EXACT = 12            # default: exact enumeration for M <= 12 (4096 subsets)
_ENUM_ELEMENTS = 1 << 22   # rows x subsets per chunk of the enumeration


def _phi(u: Tensor, method: str) -> Tensor:
    """The regulariser's map, in place: ``clip(u, 0, 1)`` or ``sigmoid(u)``."""
    return u.clamp_(0.0, 1.0) if method == "sparse" else u.sigmoid_()


def _mask_at(y: Tensor, c: Tensor, t: Tensor, method: str, out: Tensor) -> Tensor:
    """``phi(y - t c)`` into ``out``; zero-cost members ignore ``t`` (also an infinite one)."""
    torch.mul(c, t.unsqueeze(-1), out=out)
    if not bool(torch.isfinite(t).all()):
        out.masked_fill_(c <= 0, 0.0)             # not inf * 0 for zero-cost members
    return _phi(torch.sub(y, out, out=out), method)


class _Rows(NamedTuple):
    """The rows that need a solve, costs scaled to a maximum of 1, and two scratch buffers."""

    y: Tensor                     # scores / epsilon                    [R, M] float64
    c: Tensor                     # costs / max cost                    [R, M]
    b: Tensor                     # budget / max cost                   [R]
    c2: Tensor                    # c ** 2                              [R, M]
    bufs: tuple[Tensor, Tensor]   # scratch                             [R, M] x 2


def _bracket(rows: _Rows, method: str, equality: bool) -> tuple[Tensor, Tensor, Tensor]:
    """``lo, hi, t0`` with ``g(lo) >= B >= g(hi)`` for rows with ``0 < p = B / sum c < 1``."""
    y, c, (u, r) = rows.y, rows.c, rows.bufs
    p = rows.b / c.sum(-1)
    a = p if method == "sparse" else torch.log(p / (1.0 - p))
    torch.sub(y, a.unsqueeze(-1), out=u)
    torch.div(u, c, out=r)                    # +-inf or nan where c = 0: masked below
    costly = c > 0
    if bool(costly.all()):
        lo, hi = r.amin(-1), r.amax(-1)
    else:
        lo = torch.where(costly, r, math.inf).amin(-1)
        hi = torch.where(costly, r, -math.inf).amax(-1)
    if not equality:
        lo = lo.clamp_min(0.0)   # these rows bind, so the root is > 0
        hi = torch.maximum(hi, lo)
    # exact when the scores and costs of a row are all equal (and for unit costs, the mean)
    t0 = u.mul_(c).sum(-1) / rows.c2.sum(-1)
    return lo, hi, torch.minimum(torch.maximum(t0, lo), hi)


def _residual(rows: _Rows, method: str):
    """``t -> (g(t) - B, -g'(t))`` on the rows."""
    y, c, b, c2, (z, w) = rows

    def f_and_slope(t: Tensor) -> tuple[Tensor, Tensor]:
        _phi(torch.sub(y, torch.mul(c, t.unsqueeze(-1), out=z), out=z), method)
        f = torch.mul(z, c, out=w).sum(-1) - b
        if method == "sparse":
            torch.frac(z, out=w).ceil_()                  # 1 on the free set
        else:
            torch.addcmul(z, z, z, value=-1.0, out=w)     # z (1 - z)
        return f, w.mul_(c2).sum(-1)

    return f_and_slope


def _exact_step(rows: _Rows, t: Tensor) -> Tensor:
    """Sparse: the root on the piece of ``t``, ``(sum_sat c + sum_F c y - B) / sum_F c^2``."""
    y, c, b, c2, (z, free) = rows
    torch.sub(y, torch.mul(c, t.unsqueeze(-1), out=z), out=z).clamp_(0.0, 1.0)
    torch.frac(z, out=free).ceil_()
    spent_sat = z.floor_().mul_(c).sum(-1)
    q = torch.mul(free, c2, out=z).sum(-1)
    num = spent_sat + free.mul_(c).mul_(y).sum(-1) - b
    return torch.where(q > 0, num / q.clamp_min(1e-300), t)


def _solve_rows(rows: _Rows, method: str, equality: bool, eps: float | None) -> Tensor:
    """The root ``t[R]`` of ``g(t) = B`` on rows that need a solve."""
    lo, hi, t0 = _bracket(rows, method, equality)
    t = solve_threshold(rows.y, rows.c.sum(-1), _residual(rows, method), lo, hi, t0, eps=eps)
    if method == "sparse":
        polished = _exact_step(rows, t)
        t = torch.where((polished >= lo) & (polished <= hi), polished, t)
    return t


def _solve(s: Tensor, c: Tensor, b: Tensor, method: str, epsilon: float,
           equality: bool) -> tuple[Tensor, Tensor]:
    """``z[B, M]`` (dtype of ``s``) and the price ``tau[B]`` in the units of ``s / c``."""
    y = s.to(WORK_DTYPE, copy=True).div_(epsilon)
    cn = c.to(WORK_DTYPE, copy=True)
    scale = cn.amax(-1)
    scale = torch.where(scale > 0, scale, 1.0)
    cn.div_(scale.unsqueeze(-1))
    bn = b.to(WORK_DTYPE) / scale
    total = cn.sum(-1)
    buf = torch.empty_like(y)
    t = torch.zeros_like(bn)
    void = total <= 0                                     # no costly member: nothing binds
    t = torch.where(~void & (bn <= 0), math.inf, t)       # nothing costly fits
    todo = ~void & (bn > 0) & (bn < total)
    if equality:
        t = torch.where(~void & (bn >= total), -math.inf, t)   # every costly member, fully
    else:
        todo &= _phi(buf.copy_(y), method).mul_(cn).sum(-1) > bn
    # float32 results need the constraint far below float32 resolution, not at float64's
    eps = 1e-12 if s.dtype == torch.float32 else None
    if bool(todo.all()):
        rows = _Rows(y, cn, bn, cn * cn, (buf, torch.empty_like(y)))
        t = _solve_rows(rows, method, equality, eps)
    elif bool(todo.any()):
        idx = todo.nonzero().squeeze(-1)
        yr, cr = y[idx], cn[idx]
        rows = _Rows(yr, cr, bn[idx], cr * cr, (torch.empty_like(yr), torch.empty_like(yr)))
        t = t.index_put((idx,), _solve_rows(rows, method, equality, eps))
    z = _mask_at(y, cn, t, method, out=buf)
    return z.to(s.dtype), (t * epsilon / scale).to(s.dtype)


class _Knapsack(torch.autograd.Function):
    """``(s[B, M], c[B, M], b[B]) -> (z[B, M], tau[B])``; see the module docstring."""

    @staticmethod
    def forward(s: Tensor, c: Tensor, b: Tensor, method: str,  # type: ignore[override]
                epsilon: float, equality: bool) -> tuple[Tensor, Tensor]:
        return _solve(s, c, b, method, epsilon, equality)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: tuple[Tensor, Tensor]) -> None:
        _, c, _, method, epsilon, equality = inputs
        z, tau = output
        ctx.method, ctx.epsilon, ctx.equality = method, epsilon, equality
        ctx.mark_non_differentiable(tau)
        ctx.save_for_backward(z, c, tau)

    @staticmethod
    def backward(ctx: Any, g: Tensor, _g_tau: Tensor | None,  # type: ignore[override]
                 ) -> tuple[Tensor, Tensor | None, Tensor | None, None, None, None]:
        z, c, tau = ctx.saved_tensors
        if ctx.method == "sparse":
            d = torch.frac(z).ceil_().div_(ctx.epsilon)
        else:
            d = torch.addcmul(z, z, z, value=-1.0).div_(ctx.epsilon)
        dc = d * c
        q = torch.linalg.vecdot(dc, c)
        finite = torch.isfinite(tau)
        binds = finite & (q > 0) & ((tau > 0) | ctx.equality)
        ratio = torch.linalg.vecdot(dc, g) / q.clamp_min(torch.finfo(q.dtype).tiny)
        grad_b = torch.where(binds, ratio, 0.0).unsqueeze(-1)
        grad_s = d.mul_(g).addcmul_(dc, grad_b, value=-1.0)
        grad_c = None
        if ctx.needs_input_grad[1]:
            tau0 = torch.where(finite, tau, 0.0).unsqueeze(-1)
            grad_c = torch.mul(grad_s, tau0).addcmul_(z, grad_b).neg_()
            grad_c = torch.where(finite.unsqueeze(-1), grad_c, 0.0)
        return grad_s.add_(0.0), grad_c, grad_b.squeeze(-1), None, None, None


def _first_bad(bad: Tensor) -> tuple[int, ...]:
    return tuple(int(i) for i in bad.nonzero()[0])


def _as_tensor(value: Any, like: Tensor, name: str, owner: str) -> Tensor:
    """``value`` as a floating tensor on the device of ``like``, checked finite and >= 0."""
    if not isinstance(value, Tensor):
        try:
            value = torch.as_tensor(np.asarray(value, dtype=np.float64))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"The {name!r} parameter of {owner} must be a tensor or array of "
                             f"real numbers. Got {value!r} instead.") from exc
    elif not (value.is_floating_point() or value.dtype in (torch.int32, torch.int64)):
        raise ValueError(f"The {name!r} parameter of {owner} must be a real tensor. Got dtype "
                         f"{value.dtype} instead.")
    value = value.to(device=like.device, dtype=like.dtype)
    detached = value.detach()
    if not bool(torch.isfinite(detached).all()):
        pos = _first_bad(~torch.isfinite(detached))
        raise ValueError(f"The {name!r} parameter of {owner} must be finite. Got "
                         f"{float(detached[pos])!r} at index {pos} instead.")
    if bool((detached < 0).any()):
        pos = _first_bad(detached < 0)
        raise ValueError(f"The {name!r} parameter of {owner} must be >= 0. Got "
                         f"{float(detached[pos])!r} at index {pos} instead.")
    return value


def _check_costs(costs: Any, scores: Tensor, dim: int, s_rows: Tensor, owner: str) -> Tensor:
    """Costs ``[M]`` (shared) or of the shape of ``scores`` (per row) as rows ``[B, M]``."""
    c = _as_tensor(costs, s_rows, "costs", owner)
    m = scores.shape[dim]
    if tuple(c.shape) == (m,):
        return c.expand(s_rows.shape)
    if tuple(c.shape) == tuple(scores.shape):
        return to_rows(c, dim)[0]
    raise ValueError(f"The 'costs' parameter of {owner} must have shape ({m},) (one cost per "
                     f"member) or {tuple(scores.shape)} (the shape of the scores). Got shape "
                     f"{tuple(c.shape)} instead.")


def _check_budget(budget: Any, scores: Tensor, dim: int, c_rows: Tensor, equality: bool,
                  owner: str) -> Tensor:
    """A scalar budget or one per problem (the shape of ``scores`` without ``dim``) as ``[B]``."""
    b = _as_tensor(budget, c_rows, "budget", owner)
    lead = tuple(s for i, s in enumerate(scores.shape) if i != dim)
    if b.dim() == 0:
        b = b.expand(c_rows.shape[0])
    elif tuple(b.shape) == lead:
        b = b.reshape(-1)
    else:
        raise ValueError(f"The 'budget' parameter of {owner} must be a scalar or have shape "
                         f"{lead} (one budget per problem). Got shape {tuple(b.shape)} instead.")
    if equality and len(b):
        total = c_rows.detach().sum(-1)
        over = b.detach() > total * (1 + 1e-9)
        if bool(over.any()):
            row = int(over.nonzero()[0, 0])
            raise ValueError(
                f"With equality=True the 'budget' parameter of {owner} must be at most the total "
                f"cost of its problem; problem {row} (flattened) has budget "
                f"{float(b[row]):.6g} > total cost {float(total[row]):.6g}.")
    return b


def knapsack_mask(
    scores: Tensor,
    costs: Any,
    budget: Any,
    *,
    method: str = "sparse",
    epsilon: float = 1.0,
    equality: bool = False,
    dim: int = -1,
) -> Tensor:
    """Relaxed, differentiable mask of the members that best use a cost budget.

    The relaxation of ``max s.z  s.t.  c.z <= B, 0 <= z <= 1`` with the regularisers of
    `topk_mask`: ``z = clip((s - tau c) / epsilon, 0, 1)`` (``sparse``) or
    ``z = sigmoid((s - tau c) / epsilon)`` (``entropic``), with the price ``tau >= 0`` that
    makes ``c.z = B`` when the budget binds (``tau = 0`` when it does not). The backward is
    exact and covers ``scores``, ``costs`` and ``budget`` (a network may produce the budget).

    Parameters
    ----------
    scores : Tensor of shape (..., M, ...)
        Finite floating-point scores (float32 or float64; float16/bfloat16 are computed in
        float32). The members run along ``dim``; every other index is its own problem.
    costs : Tensor or array-like of shape (M,) or the shape of ``scores``
        Costs ``>= 0``, shared by every problem or one row per problem.
    budget : float or Tensor of shape (...)
        ``B >= 0``: one for all problems or one per problem (the shape of ``scores`` without
        ``dim``).
    method : {"sparse", "entropic"}, default="sparse"
        The regulariser, as in `topk_mask`.
    epsilon : float, default=1.0
        Regularisation strength, ``> 0``.
    equality : bool, default=False
        Spend the budget exactly (``c.z = B``, ``tau`` of either sign; needs ``B <= sum c``).
        With unit costs and ``B = k`` this is `topk_mask` for any scores.
    dim : int, default=-1
        The members' axis.

    Returns
    -------
    z : Tensor, same shape and dtype as ``scores``
        The relaxed mask: ``0 <= z <= 1``, ``c.z <= B`` (to about 1e-9 relative in float64,
        1e-6 in float32), ``c.z = B`` when the budget binds.

    Raises
    ------
    ValueError
        Unknown method, non-positive ``epsilon``, NaN/inf or negative costs or budget (the
        message gives the index), wrong shapes, ``B > sum c`` with ``equality=True``.
    TypeError
        ``scores`` is not a tensor; ``equality`` is not a bool.

    See Also
    --------
    hard_knapsack_mask : the 0/1 solution used at inference.
    topk_mask : the unit-cost case.

    Examples
    --------
    >>> import torch
    >>> from ensel.ops import knapsack_mask
    >>> scores = torch.tensor([[2.0, 1.0, 0.8]], requires_grad=True)
    >>> costs = torch.tensor([1.0, 1.0, 2.0])
    >>> z = knapsack_mask(scores, costs, 2.0)              # tau = 0.32
    >>> z.detach()
    tensor([[1.0000, 0.6800, 0.1600]])
    >>> round(float(z.detach() @ costs), 6)
    2.0
    >>> z[0, 1].backward()
    >>> scores.grad
    tensor([[ 0.0000,  0.8000, -0.4000]])
    """
    owner = "knapsack_mask"
    V.check_choice(method, "method", owner, KNAPSACK_METHODS)
    epsilon = check_positive(epsilon, "epsilon", owner)
    if not isinstance(equality, bool):
        raise TypeError(f"The 'equality' parameter of {owner} must be a bool. Got "
                         f"{equality!r} instead.")
    check_scores(scores, owner)
    d = check_dim(dim, scores.dim(), owner)
    s, moved_shape = to_rows(scores, d)
    if s.dtype not in (torch.float32, torch.float64):
        s = s.float()
    c = _check_costs(costs, scores, d, s, owner)
    b = _check_budget(budget, scores, d, c, equality, owner)
    z, _ = _Knapsack.apply(s, c, b, method, epsilon, equality)
    return from_rows(z.to(scores.dtype), moved_shape, d)


def _enumerate(s: Tensor, c: Tensor, b: Tensor) -> Tensor:
    """Exact 0/1 knapsack of every row by enumerating the ``2^M`` subsets (small ``M``)."""
    n, m = s.shape
    codes = torch.arange(1 << m, device=s.device)
    subsets = ((codes.unsqueeze(-1) >> torch.arange(m, device=s.device)) & 1).to(WORK_DTYPE)
    out = torch.zeros(n, m, dtype=WORK_DTYPE, device=s.device)
    step = max(1, _ENUM_ELEMENTS >> m)
    for start in range(0, n, step):
        rows = slice(start, start + step)
        value = s[rows].to(WORK_DTYPE) @ subsets.T                   # [R, 2^M]
        cost = c[rows].to(WORK_DTYPE) @ subsets.T
        limit = b[rows].to(WORK_DTYPE) * (1 + 1e-9) + 1e-12
        value = torch.where(cost <= limit.unsqueeze(-1), value, -math.inf)
        out[rows] = subsets[value.argmax(-1)]                        # the empty set always fits
    return out


def _greedy(s: Tensor, c: Tensor, b: Tensor) -> Tensor:
    """Greedy 0/1 knapsack by value per cost, or the best single affordable member if better."""
    s64, c64, b64 = s.to(WORK_DTYPE), c.to(WORK_DTYPE), b.to(WORK_DTYPE) * (1 + 1e-9) + 1e-12
    useful = s64 > 0
    ratio = torch.where(c64 > 0, s64 / c64.clamp_min(1e-300), math.inf)
    ratio = torch.where(useful, ratio, -math.inf)
    order = torch.sort(ratio, dim=-1, descending=True, stable=True).indices
    out = torch.zeros_like(s64)
    spent = torch.zeros_like(b64)
    for j in range(s.shape[1]):
        i = order[:, j]
        ci = c64.gather(-1, i.unsqueeze(-1)).squeeze(-1)
        take = useful.gather(-1, i.unsqueeze(-1)).squeeze(-1) & (spent + ci <= b64)
        spent = spent + torch.where(take, ci, 0.0)
        out.scatter_(-1, i.unsqueeze(-1), take.to(out.dtype).unsqueeze(-1))
    single = torch.where(useful & (c64 <= b64.unsqueeze(-1)), s64, -math.inf)
    best, where = single.max(-1)
    alone = best > (out * s64).sum(-1)
    one = torch.zeros_like(out).scatter_(-1, where.unsqueeze(-1), 1.0)
    return torch.where(alone.unsqueeze(-1), one, out)


def hard_knapsack_mask(scores: Tensor, costs: Any, budget: Any, *, dim: int = -1,
                       max_exact: int = _MAX_EXACT) -> Tensor:
    """0/1 mask of the members that maximise ``s.z`` subject to ``c.z <= B`` (inference).

    For ``M <= max_exact`` the exact optimum, by enumerating the ``2^M`` subsets (ties go to
    the subset with the smallest binary code, member ``i`` being bit ``i``). For larger ``M``
    the greedy rule: members with a positive score in decreasing ``s_i / c_i`` (zero-cost
    members first, ties by position), each taken when it still fits; the best single
    affordable member replaces that set when it scores more (so at least half the optimum).
    Members with ``s_i <= 0`` are never taken. With unit costs, ``B = k`` and ``k`` positive,
    distinct scores both rules give the top ``k``. Not differentiable.

    Parameters
    ----------
    scores : Tensor of shape (..., M, ...)
        Finite floating-point scores; the members run along ``dim``.
    costs : Tensor or array-like of shape (M,) or the shape of ``scores``
        Costs ``>= 0``.
    budget : float or Tensor of shape (...)
        ``B >= 0``, one for all problems or one per problem.
    dim : int, default=-1
        The members' axis.
    max_exact : int, default=12
        Largest ``M`` solved exactly (the enumeration costs ``B 2^M M``).

    Returns
    -------
    mask : Tensor, same shape and dtype as ``scores``
        1 for the chosen members, 0 elsewhere; ``c.mask <= B`` (within 1e-9 relative).

    Examples
    --------
    >>> import torch
    >>> from ensel.ops import hard_knapsack_mask
    >>> hard_knapsack_mask(torch.tensor([3.0, 2.0, 2.0]), torch.tensor([2.0, 1.0, 1.0]), 2.0)
    tensor([0., 1., 1.])
    """
    owner = "hard_knapsack_mask"
    check_scores(scores, owner)
    d = check_dim(dim, scores.dim(), owner)
    max_exact = V.check_int_param(max_exact, "max_exact", owner, low=0, high=20)
    s, moved_shape = to_rows(scores.detach(), d)
    if s.dtype not in (torch.float32, torch.float64):
        s = s.float()
    c = _check_costs(costs, scores, d, s, owner).detach()
    b = _check_budget(budget, scores, d, c, False, owner).detach()
    mask = _enumerate(s, c, b) if s.shape[1] <= max_exact else _greedy(s, c, b)
    return from_rows(mask.to(scores.dtype), moved_shape, d)
