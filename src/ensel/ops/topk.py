"""``topk_mask``, ``hard_topk_mask`` and the ``TopK`` module: the public face of ``ensel.ops``.

Checks the scores, ``k``, ``dim`` and the method's options, moves ``dim`` last, flattens the
leading dims into one batch and hands the ``[B, M]`` rows to one relaxation kernel.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from ensel import _validation as V
from ensel.ops._core import check_dim, check_scores, from_rows, to_rows
from ensel.ops.entropic import entropic_topk
from ensel.ops.perturbed import perturbed_topk
from ensel.ops.sparse import sparse_topk
from ensel.ops.straight_through import straight_through_topk

__all__ = ["METHODS", "TopK", "hard_topk_mask", "topk_mask"]

_KERNELS: dict[str, Callable[..., Tensor]] = {
    "sparse": sparse_topk,
    "entropic": entropic_topk,
    "perturbed": perturbed_topk,
    "straight_through": straight_through_topk,
}

#: Names of the relaxations accepted by ``topk_mask(..., method=...)`` and ``TopK``.
METHODS: tuple[str, ...] = tuple(_KERNELS)

_OPTIONS: dict[str, tuple[str, ...]] = {
    name: tuple(p.name for p in inspect.signature(fn).parameters.values()
                if p.kind is inspect.Parameter.KEYWORD_ONLY)
    for name, fn in _KERNELS.items()
}


def _kernel(method: Any, options: Mapping[str, Any], owner: str) -> Callable[..., Tensor]:
    """The kernel for ``method``, after checking that it exists and takes these options."""
    if not isinstance(method, str) or method not in _KERNELS:
        raise ValueError(
            f"The 'method' parameter of {owner} must be one of {METHODS}. Got {method!r} instead."
        )
    unknown = sorted(set(options) - set(_OPTIONS[method]))
    if unknown:
        raise ValueError(
            f"{owner} got unknown option(s) {', '.join(map(repr, unknown))} for "
            f"method={method!r}; the options of {method!r} are "
            f"{', '.join(map(repr, _OPTIONS[method]))}."
        )
    return _KERNELS[method]


def topk_mask(
    scores: Tensor,
    k: int,
    *,
    method: str = "sparse",
    dim: int = -1,
    **options: Any,
) -> Tensor:
    """Relaxed, differentiable k-hot mask of the ``k`` largest scores along ``dim``.

    Every method returns ``z`` with ``0 <= z <= 1`` and ``z.sum(dim) == k`` (to about 1e-12
    in float64 and 1e-6 in float32) and has a custom backward:

    ==================== ============================================ =========================
    method               forward                                      backward
    ==================== ============================================ =========================
    ``sparse``           ``clip((c - tau) / epsilon, 0, 1)``          exact
    ``entropic``         ``sigmoid((c - tau) / epsilon)``             exact
    ``perturbed``        mean of ``topk(c + sigma Z)`` over samples   Berthet et al. estimator
    ``straight_through`` hard top-k                                   of ``k softmax(c / T)``
    ==================== ============================================ =========================

    ``tau`` is the threshold that makes the mask sum to ``k``. For ``k = M`` every method
    returns exactly all ones with a zero gradient.

    Parameters
    ----------
    scores : Tensor of shape (..., M, ...)
        Finite floating-point scores (float32 or float64; float16/bfloat16 are computed in
        float32). The members run along ``dim``; all other dims are independent problems.
    k : int
        Number of members to select, ``1 <= k <= M``.
    method : {"sparse", "entropic", "perturbed", "straight_through"}, default="sparse"
        The relaxation; see ``METHODS`` and ``docs/ops.md``.
    dim : int, default=-1
        The members' axis.
    **options
        Options of the method: ``epsilon`` (sparse, entropic; default 1.0); ``sigma``
        (default 1.0), ``n_samples`` (default 100), ``generator``, ``seed``,
        ``control_variate`` (default True) for perturbed; ``temperature`` (default 1.0)
        for straight_through.

    Returns
    -------
    z : Tensor, same shape and dtype as ``scores``
        The relaxed mask.

    Raises
    ------
    ValueError
        Unknown method or option, bad option value, ``k`` not an int in [1, M], NaN or inf
        in ``scores`` (the message gives the index), non-floating ``scores``, bad ``dim``.
    TypeError
        ``scores`` is not a tensor.

    See Also
    --------
    hard_topk_mask : the exact 0/1 mask used at inference.
    TopK : module form, relaxed in training mode and hard in eval mode.

    Examples
    --------
    >>> import torch
    >>> from ensel.ops import topk_mask
    >>> scores = torch.tensor([[2.0, 1.0, 0.5, -1.0]], requires_grad=True)
    >>> z = topk_mask(scores, 2, method="sparse", epsilon=1.0)
    >>> z.detach()
    tensor([[1.0000, 0.7500, 0.2500, 0.0000]])
    >>> z.sum().item()
    2.0
    >>> z[0, 1].backward()
    >>> scores.grad
    tensor([[ 0.0000,  0.5000, -0.5000,  0.0000]])
    """
    kernel = _kernel(method, options, "topk_mask")
    check_scores(scores, "topk_mask")
    d = check_dim(dim, scores.dim(), "topk_mask")
    k = V.check_k(k, scores.shape[d], owner="topk_mask")
    c, moved_shape = to_rows(scores, d)
    if c.dtype not in (torch.float32, torch.float64):
        c = c.float()
    z = kernel(c, k, **options).to(scores.dtype)
    return from_rows(z, moved_shape, d)


def hard_topk_mask(scores: Tensor, k: int, *, dim: int = -1) -> Tensor:
    """Exact 0/1 mask of the ``k`` largest scores along ``dim`` (``torch.topk``'s choice).

    Ties are broken exactly as ``torch.topk`` breaks them. Not differentiable (the result
    has no gradient); use :func:`topk_mask` in training.

    Parameters
    ----------
    scores : Tensor of shape (..., M, ...)
        Finite floating-point scores; the members run along ``dim``.
    k : int
        Number of members to select, ``1 <= k <= M``.
    dim : int, default=-1
        The members' axis.

    Returns
    -------
    mask : Tensor, same shape and dtype as ``scores``
        1 at the ``k`` selected positions of every slice along ``dim``, 0 elsewhere.

    Examples
    --------
    >>> import torch
    >>> from ensel.ops import hard_topk_mask
    >>> hard_topk_mask(torch.tensor([[0.1, 0.9, 0.5], [3.0, 1.0, 2.0]]), 2)
    tensor([[0., 1., 1.],
            [1., 0., 1.]])
    """
    check_scores(scores, "hard_topk_mask")
    d = check_dim(dim, scores.dim(), "hard_topk_mask")
    k = V.check_k(k, scores.shape[d], owner="hard_topk_mask")
    idx = torch.topk(scores.detach(), k, dim=d).indices
    return torch.zeros_like(scores, requires_grad=False).scatter_(d, idx, 1.0)


class TopK(nn.Module):
    """Top-k selection layer: relaxed mask in training mode, hard top-k mask in eval mode.

    In ``train()`` mode (the default) the forward is ``topk_mask(scores, k, method=method,
    dim=dim, **options)``; after ``eval()`` it is ``hard_topk_mask(scores, k, dim=dim)`` for
    every method, so at inference exactly ``k`` members are selected.

    Parameters
    ----------
    k : int
        Number of members to select, ``1 <= k <= M`` (checked against ``M`` at call time).
    method : {"sparse", "entropic", "perturbed", "straight_through"}, default="sparse"
        The relaxation used in training.
    dim : int, default=-1
        The members' axis.
    **options
        Options of the method (see :func:`topk_mask`). For ``perturbed`` with a ``seed``, the
        layer keeps one generator seeded with it, so successive training steps draw fresh
        noise while the whole sequence is reproducible.

    Examples
    --------
    >>> import torch
    >>> from ensel.ops import TopK
    >>> layer = TopK(2, method="entropic", epsilon=0.5)
    >>> scores = torch.tensor([[2.0, 1.5, 0.0, -1.0]])
    >>> layer(scores).sum().item()
    2.0
    >>> layer.eval()(scores)
    tensor([[1., 1., 0., 0.]])
    """

    def __init__(self, k: int, method: str = "sparse", *, dim: int = -1, **options: Any) -> None:
        super().__init__()
        _kernel(method, options, "TopK")
        if method == "perturbed" and options.get("seed") is not None:
            V.check_int_param(options["seed"], "seed", "TopK", low=0)
            if options.get("generator") is not None:
                raise ValueError("TopK(method='perturbed') takes at most one of 'generator' and "
                                 f"'seed'. Got both (seed={options['seed']!r}) instead.")
        self.k = V.check_int_param(k, "k", "TopK", low=1)
        self.method = method
        self.dim = dim
        self.options = dict(options)
        self._generator: torch.Generator | None = None

    def forward(self, scores: Tensor) -> Tensor:
        """Mask of the same shape as ``scores``: relaxed in training, hard in eval mode."""
        if not self.training:
            return hard_topk_mask(scores, self.k, dim=self.dim)
        options = self.options
        if self.method == "perturbed" and options.get("seed") is not None:
            if self._generator is None:
                self._generator = torch.Generator(device=scores.device)
                self._generator.manual_seed(int(options["seed"]))
            options = {**options, "seed": None, "generator": self._generator}
        return topk_mask(scores, self.k, method=self.method, dim=self.dim, **options)

    def extra_repr(self) -> str:
        opts = "".join(f", {key}={value!r}" for key, value in self.options.items())
        return f"k={self.k}, method={self.method!r}, dim={self.dim}{opts}"
