"""Float64 ``gradcheck`` of the exact backward passes (sparse, entropic) over shape grids."""

from __future__ import annotations

import pytest
import torch
from torch.autograd import gradcheck

from ensel.ops import topk_mask


def separated_scores(shape: tuple[int, ...], dim: int, *, spacing: float,
                     seed: int) -> torch.Tensor:
    """Scores whose slices along ``dim`` are a random permutation times ``spacing`` plus jitter.

    Distinct values at least ``spacing`` apart keep every breakpoint of the sparse map far from
    the finite-difference step of gradcheck (checked by ``assert_away_from_kinks``).
    """
    g = torch.Generator().manual_seed(seed)
    m = shape[dim]
    lead = [s for i, s in enumerate(shape) if i != dim % len(shape)]
    n = int(torch.tensor(lead).prod()) if lead else 1
    perm = torch.stack([torch.randperm(m, generator=g) for _ in range(n)]).double()
    rows = perm * spacing + 0.02 * spacing * torch.rand(n, m, generator=g, dtype=torch.float64)
    return rows.reshape(*lead, m).movedim(-1, dim).contiguous()


def assert_away_from_kinks(scores: torch.Tensor, k: int, dim: int, epsilon: float) -> None:
    """For the sparse map: every (c_i - tau)/epsilon is at least 1e-3 from 0 and from 1."""
    z = topk_mask(scores, k, method="sparse", dim=dim, epsilon=epsilon).movedim(dim, -1)
    y = (scores / epsilon).movedim(dim, -1)
    z, y = z.reshape(-1, z.shape[-1]), y.reshape(-1, y.shape[-1])
    for zr, yr in zip(z, y, strict=True):
        free = (zr > 0) & (zr < 1)
        if not free.any():
            continue   # locally constant mask: zero gradient, no kink nearby either
        t = (yr[free] - zr[free]).mean()
        u = yr - t
        assert ((u.abs() > 1e-3) & ((u - 1).abs() > 1e-3)).all(), "pick another seed"


GRID_MK = [(1, 1), (2, 1), (5, 1), (5, 2), (8, 4), (8, 7), (8, 8)]
GRID_SHAPE = [(), (2,), (2, 3)]


@pytest.mark.parametrize("method", ["sparse", "entropic"])
@pytest.mark.parametrize(("m", "k"), GRID_MK)
@pytest.mark.parametrize("lead", GRID_SHAPE)
@pytest.mark.parametrize("dim_first", [False, True])
def test_gradcheck_shapes(method: str, m: int, k: int, lead: tuple[int, ...],
                          dim_first: bool) -> None:
    shape = (m, *lead) if dim_first else (*lead, m)
    dim = 0 if dim_first else -1
    scores = separated_scores(shape, dim, spacing=0.37, seed=m * 100 + k)
    if method == "sparse":
        assert_away_from_kinks(scores, k, dim, 1.0)
    scores.requires_grad_(True)
    assert gradcheck(lambda c: topk_mask(c, k, method=method, dim=dim), (scores,),
                     eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("method", ["sparse", "entropic"])
@pytest.mark.parametrize("epsilon", [0.1, 0.5, 2.0, 10.0])
@pytest.mark.parametrize(("m", "k"), [(6, 2), (9, 3)])
def test_gradcheck_epsilon(method: str, epsilon: float, m: int, k: int) -> None:
    # spacing scales with epsilon so the mask stays non-trivial (free entries exist)
    scores = separated_scores((3, m), -1, spacing=0.37 * epsilon, seed=7 + m)
    if method == "sparse":
        assert_away_from_kinks(scores, k, -1, epsilon)
        z = topk_mask(scores, k, method="sparse", epsilon=epsilon)
        assert ((z > 0) & (z < 1)).any(), "grid should exercise a non-empty free set"
    scores.requires_grad_(True)
    assert gradcheck(lambda c: topk_mask(c, k, method=method, epsilon=epsilon), (scores,),
                     eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("method", ["sparse", "entropic"])
def test_gradcheck_middle_dim(method: str) -> None:
    scores = separated_scores((2, 6, 3), 1, spacing=0.37, seed=3)
    if method == "sparse":
        assert_away_from_kinks(scores, 3, 1, 1.0)
    scores.requires_grad_(True)
    assert gradcheck(lambda c: topk_mask(c, 3, method=method, dim=1), (scores,),
                     eps=1e-6, atol=1e-7, rtol=1e-5)


def test_sparse_backward_matches_free_set_formula() -> None:
    # hand fixture: c = [2, 1, 0.5, -1], k = 2, eps = 1 -> tau = 0.25, F = {1, 2}
    c = torch.tensor([2.0, 1.0, 0.5, -1.0], dtype=torch.float64, requires_grad=True)
    z = topk_mask(c, 2, method="sparse")
    torch.testing.assert_close(z.detach(), torch.tensor([1.0, 0.75, 0.25, 0.0],
                                                        dtype=torch.float64))
    g = torch.tensor([0.3, -1.0, 2.0, 5.0], dtype=torch.float64)
    (grad,) = torch.autograd.grad(z, c, g)
    # (g_F - mean_F g) / eps on F, 0 elsewhere: mean_F = 0.5
    torch.testing.assert_close(grad, torch.tensor([0.0, -1.5, 1.5, 0.0], dtype=torch.float64))


def test_sparse_gradient_zero_when_mask_is_hard() -> None:
    c = torch.tensor([[10.0, 0.0, -10.0, 5.0]], dtype=torch.float64, requires_grad=True)
    z = topk_mask(c, 2, method="sparse")
    torch.testing.assert_close(z.detach(), torch.tensor([[1.0, 0.0, 0.0, 1.0]],
                                                        dtype=torch.float64))
    (grad,) = torch.autograd.grad(z, c, torch.randn(1, 4, dtype=torch.float64))
    assert torch.equal(grad, torch.zeros_like(grad))


def test_entropic_two_members_closed_form() -> None:
    # M = 2, k = 1: tau = (c1 + c2)/2, so z1 = sigmoid((c1 - c2) / (2 eps))
    c = torch.tensor([[1.3, -0.4]], dtype=torch.float64)
    for eps in (0.3, 1.0, 4.0):
        z = topk_mask(c, 1, method="entropic", epsilon=eps)
        expected = torch.sigmoid(torch.tensor((1.3 + 0.4) / (2 * eps), dtype=torch.float64))
        torch.testing.assert_close(z[0, 0], expected)
        torch.testing.assert_close(z[0, 1], 1 - expected)


def test_entropic_backward_matches_formula() -> None:
    c = torch.tensor([0.2, -0.5, 1.1, 0.4], dtype=torch.float64, requires_grad=True)
    eps = 0.7
    z = topk_mask(c, 2, method="entropic", epsilon=eps)
    g = torch.tensor([1.0, -2.0, 0.5, 0.25], dtype=torch.float64)
    (grad,) = torch.autograd.grad(z, c, g)
    d = z.detach() * (1 - z.detach()) / eps
    jac = torch.diag(d) - torch.outer(d, d) / d.sum()
    torch.testing.assert_close(grad, jac.T @ g)
