"""Perturbed top-k (Berthet et al., 2020, "Learning with differentiable perturbed optimizers").

Forward: the Monte-Carlo estimate of the smoothed map

    F(c) = E[ topk(c + sigma Z) ],   Z ~ N(0, I),

i.e. the mean of ``n_samples`` hard top-k masks of noisy scores. Every sample has exactly k
ones, so the mean lies in [0, 1] and sums to k exactly.

Backward: the Berthet et al. estimator of the Jacobian of ``F`` for Gaussian noise,
``dF/dc = E[ topk(c + sigma Z) Z^T ] / sigma``, so for an incoming gradient ``g`` the
vector-Jacobian product is ``E[ (g . y(Z)) Z ] / sigma`` with ``y(Z) = topk(c + sigma Z)``,
estimated with the same samples as the forward:

* ``control_variate=False``: ``(1/S) sum_s (g . y_s) Z_s / sigma``.
* ``control_variate=True`` (default): each sample's ``g . y_s`` is centred by the leave-one-out
  baseline ``b_s = mean_{r != s} (g . y_r)``, i.e. ``(1/S) sum_s ((g . y_s) - b_s) Z_s / sigma``.
  ``b_s`` does not depend on ``Z_s``, so ``E[b_s Z_s] = 0`` and the estimator stays unbiased;
  once the scores separate (every ``y_s`` equal) it is exactly 0 instead of pure noise.

The noise is not stored: the forward draws it from a private generator seeded once per call
(from ``seed``, from ``generator``, or from torch's global RNG), and the backward replays the
same stream, in chunks of samples so memory stays bounded. The sampled top-k indices are kept
for the backward when they are small (at most 2**24 of them), otherwise recomputed.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ensel import _validation as V
from ensel.ops._core import check_positive

__all__ = ["perturbed_topk"]

_OWNER = "topk_mask(method='perturbed')"
_CHUNK_ELEMENTS = 1 << 22   # noise values per chunk (16 MB in float32)
_CACHE_ELEMENTS = 1 << 24   # keep the sampled top-k indices for backward below this size


def _chunks(n_samples: int, b: int, m: int) -> list[int]:
    per = max(1, min(n_samples, _CHUNK_ELEMENTS // max(1, b * m)))
    sizes = [per] * (n_samples // per)
    if n_samples % per:
        sizes.append(n_samples % per)
    return sizes


def _noisy_topk(c: Tensor, noise: Tensor, sigma: float, k: int) -> Tensor:
    """Indices ``[S, B, k]`` of the top-k of ``c + sigma * noise`` (``noise`` is ``[S, B, M]``)."""
    v = torch.add(c, noise, alpha=sigma)
    if k == 1:
        return v.argmax(-1, keepdim=True)
    return torch.topk(v, k, dim=-1, sorted=False).indices


class _PerturbedTopK(torch.autograd.Function):
    """``c[B, M] -> (z[B, M], cached top-k indices)``; see the module docstring.

    The noise is replayed in backward from ``seed``; the sampled top-k indices ``[S, B, k]``
    are returned as a second, non-differentiable output (int16 when M allows) when there are
    at most ``_CACHE_ELEMENTS`` of them, otherwise (empty tensor) recomputed in backward.
    """

    @staticmethod
    def forward(c: Tensor, k: int, sigma: float, n_samples: int, seed: int,  # type: ignore[override]
                control_variate: bool, cache: bool) -> tuple[Tensor, Tensor]:
        b, m = c.shape
        if k == m:
            return torch.ones_like(c), c.new_empty(0, dtype=torch.int16)
        gen = torch.Generator(device=c.device).manual_seed(seed)
        keep = cache and n_samples * b * k <= _CACHE_ELEMENTS
        small = torch.int16 if m <= torch.iinfo(torch.int16).max else torch.int32
        offsets = torch.arange(b, device=c.device).unsqueeze(-1) * m    # row offsets  [B, 1]
        counts = torch.zeros(b * m, dtype=torch.int64, device=c.device)
        cache = []
        for s in _chunks(n_samples, b, m):
            noise = torch.randn((s, b, m), generator=gen, dtype=c.dtype, device=c.device)
            idx = _noisy_topk(c, noise, sigma, k)
            counts += torch.bincount((idx + offsets).flatten(), minlength=b * m)
            if keep:
                cache.append(idx.to(small))
        z = counts.view(b, m).to(c.dtype) / n_samples
        idx_all = torch.cat(cache) if keep else c.new_empty(0, dtype=small)
        return z, idx_all

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: tuple[Tensor, Tensor]) -> None:
        c, k, sigma, n_samples, seed, control_variate, _ = inputs
        ctx.k, ctx.sigma, ctx.n_samples = k, sigma, n_samples
        ctx.seed, ctx.control_variate = seed, control_variate
        ctx.mark_non_differentiable(output[1])
        ctx.save_for_backward(c, output[1])

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g: Tensor, _: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        c, idx_all = ctx.saved_tensors
        b, m = c.shape
        k, sigma, n = ctx.k, ctx.sigma, ctx.n_samples
        if k == m:
            return torch.zeros_like(c), None, None, None, None, None, None
        g = g.to(c.dtype)
        gen = torch.Generator(device=c.device).manual_seed(ctx.seed)   # replay the forward noise
        wz = torch.zeros_like(c)            # sum_s (g . y_s) Z_s          [B, M]
        z_sum = torch.zeros_like(c)         # sum_s Z_s                    [B, M]
        w_sum = c.new_zeros(b)              # sum_s (g . y_s)              [B]
        start = 0
        for s in _chunks(n, b, m):
            noise = torch.randn((s, b, m), generator=gen, dtype=c.dtype, device=c.device)
            if idx_all.numel():
                idx = idx_all[start:start + s].long()
            else:
                idx = _noisy_topk(c, noise, sigma, k)
            start += s
            w = g.expand(s, b, m).gather(-1, idx).sum(-1)           # g . y_s   [s, B]
            wz += (w.unsqueeze(-1) * noise).sum(0)
            if ctx.control_variate:
                z_sum += noise.sum(0)
                w_sum += w.sum(0)
        if ctx.control_variate:
            # sum_s (w_s - b_s) Z_s with b_s = (W - w_s) / (n - 1)
            #   = (n * sum_s w_s Z_s - W * sum_s Z_s) / (n - 1)
            grad = (n * wz - w_sum.unsqueeze(-1) * z_sum) / ((n - 1) * n * sigma)
        else:
            grad = wz / (n * sigma)
        return grad, None, None, None, None, None, None


def perturbed_topk(
    c: Tensor,
    k: int,
    *,
    sigma: float = 1.0,
    n_samples: int = 100,
    generator: torch.Generator | None = None,
    seed: int | None = None,
    control_variate: bool = True,
) -> Tensor:
    """Perturbed-optimizer relaxed top-k mask of every row of ``c`` (Berthet et al., 2020).

    This is the 2-D kernel behind ``topk_mask(..., method="perturbed")``, which also checks the
    scores and handles any ``dim``; call that instead.

    Parameters
    ----------
    c : Tensor of shape (B, M)
        Finite floating-point scores, one row per problem.
    k : int
        Mask size, ``1 <= k <= M`` (checked by the caller).
    sigma : float, default=1.0
        Standard deviation of the Gaussian noise added to the scores, ``> 0``.
    n_samples : int, default=100
        Monte-Carlo samples S per row (``>= 2`` with the control variate).
    generator : torch.Generator, optional
        Source of randomness; each call draws one seed from it (so it advances). The same
        generator state gives the same mask and gradient.
    seed : int, optional
        Seed for this call's noise (the same seed always gives the same noise). At most one
        of ``generator`` and ``seed``; with neither, torch's global RNG is used, so
        ``torch.manual_seed`` makes the call reproducible.
    control_variate : bool, default=True
        Centre each sample's term in the gradient by the leave-one-out mean of the others
        (unbiased, much lower variance once the scores separate).

    Returns
    -------
    z : Tensor of shape (B, M)
        Mean of ``n_samples`` hard top-k masks of ``c + sigma * Z``; ``z.sum(-1) == k``.

    Examples
    --------
    >>> import torch
    >>> from ensel.ops.perturbed import perturbed_topk
    >>> z = perturbed_topk(torch.tensor([[3.0, 0.0, -3.0]]), 1, sigma=0.5, seed=0)
    >>> z
    tensor([[1., 0., 0.]])
    """
    sigma = check_positive(sigma, "sigma", _OWNER)
    # parameter errors are ValueErrors throughout ensel, type errors included (as scikit-learn's)
    if not isinstance(control_variate, bool):
        raise ValueError(  # noqa: TRY004
            f"The 'control_variate' parameter of {_OWNER} must be a bool. "
            f"Got {control_variate!r} instead."
        )
    n_samples = V.check_int_param(n_samples, "n_samples", _OWNER, low=2 if control_variate else 1)
    if generator is not None and seed is not None:
        raise ValueError(
            f"{_OWNER} takes at most one of 'generator' and 'seed'. Got both "
            f"(seed={seed!r}) instead."
        )
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(
            f"The 'generator' parameter of {_OWNER} must be a torch.Generator or None. "
            f"Got {type(generator).__name__} instead."
        )
    if seed is None:
        # one draw per call, from the user's generator or from torch's global RNG
        seed = int(torch.randint(0, 2**62, (), generator=generator,
                                 device=generator.device if generator is not None else "cpu"))
    elif isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise ValueError(
            f"The 'seed' parameter of {_OWNER} must be a non-negative int or None. "
            f"Got {seed!r} instead."
        )
    cache = torch.is_grad_enabled() and c.requires_grad     # no backward, no index cache
    z, _ = _PerturbedTopK.apply(c, k, sigma, n_samples, int(seed), control_variate, cache)
    return z
