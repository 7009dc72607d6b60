"""Differentiable top-k and knapsack operators (torch only; knows nothing of tables).

Given scores ``c[..., M]`` and ``k``, :func:`topk_mask` returns a relaxed k-hot mask ``z``
with ``0 <= z <= 1`` and ``z.sum(-1) == k`` and a custom backward; :func:`hard_topk_mask` is
the exact 0/1 mask used at inference; :class:`TopK` is the ``nn.Module`` that switches from
the first to the second with ``eval()``. ``METHODS`` lists the relaxations:

* ``sparse``: Euclidean projection onto the capped simplex, ``clip((c - tau)/eps, 0, 1)``.
* ``entropic``: binary-entropy regularised, ``sigmoid((c - tau)/eps)``.
* ``perturbed``: mean of hard top-k masks of ``c + sigma Z`` (Berthet et al., 2020).
* ``straight_through``: hard forward, gradient of ``k softmax(c / T)``.

:func:`knapsack_mask` is the relaxation of ``max s.z  s.t.  c.z <= B, 0 <= z <= 1`` (member
costs ``c``, a budget ``B``; top-k is its unit-cost case) with the sparse and entropic
regularisers, and :func:`hard_knapsack_mask` its 0/1 solution at inference.

See ``docs/ops.md`` for the formulas, which one to use and timings.
"""

from __future__ import annotations

from ensel.ops.knapsack import KNAPSACK_METHODS, hard_knapsack_mask, knapsack_mask
from ensel.ops.topk import METHODS, TopK, hard_topk_mask, topk_mask

__all__ = ["KNAPSACK_METHODS", "METHODS", "TopK", "hard_knapsack_mask", "hard_topk_mask",
           "knapsack_mask", "topk_mask"]
