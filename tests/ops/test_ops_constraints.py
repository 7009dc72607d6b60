"""0 <= z <= 1 and z.sum(dim) == k for every method, on random, tied and extreme scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ensel.ops import METHODS, topk_mask

SUM_TOL = {torch.float64: 1e-5, torch.float32: 1e-4}
DTYPES = [torch.float32, torch.float64]


def check_constraints(z: torch.Tensor, k: int, dim: int = -1) -> None:
    tol = SUM_TOL[z.dtype]
    assert torch.isfinite(z).all()
    assert (z >= 0).all() and (z <= 1).all(), (z.min(), z.max())
    err = (z.double().sum(dim) - k).abs().max().item() if z.numel() else 0.0
    assert err <= tol, err


def ks(m: int) -> list[int]:
    return sorted({1, max(1, m // 2), m})


def options(method: str, epsilon: float) -> dict:
    if method in ("sparse", "entropic"):
        return {"epsilon": epsilon}
    if method == "perturbed":
        return {"n_samples": 20, "seed": 0}
    return {}


shapes = st.tuples(st.integers(1, 3), st.integers(1, 12))
finite = st.floats(-50, 50, allow_nan=False, allow_infinity=False, width=32)


@st.composite
def score_arrays(draw) -> np.ndarray:
    """Random scores, all-equal rows, or rows drawn from a few values (groups of ties)."""
    shape = draw(shapes)
    kind = draw(st.sampled_from(["random", "all_equal", "groups"]))
    if kind == "random":
        return draw(arrays(np.float64, shape, elements=finite))
    if kind == "all_equal":
        return np.full(shape, draw(finite))
    values = draw(st.lists(finite, min_size=1, max_size=3))
    return draw(arrays(np.float64, shape, elements=st.sampled_from(values)))


@settings(max_examples=60, deadline=None)
@given(scores=score_arrays(), epsilon=st.sampled_from([0.01, 1.0, 100.0]))
def test_constraints_hypothesis(scores: np.ndarray, epsilon: float) -> None:
    m = scores.shape[-1]
    for dtype in DTYPES:
        c = torch.as_tensor(scores, dtype=dtype)
        for method in METHODS:
            for k in ks(m):
                check_constraints(topk_mask(c, k, method=method, **options(method, epsilon)), k)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", [1, 2, 7, 64, 300])
def test_constraints_grid(method: str, dtype: torch.dtype, m: int) -> None:
    g = torch.Generator().manual_seed(m)
    c = torch.randn(16, m, generator=g, dtype=dtype) * 3
    for k in ks(m):
        check_constraints(topk_mask(c, k, method=method), k)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_all_equal_scores_split_evenly(method: str, dtype: torch.dtype) -> None:
    c = torch.full((2, 6), 3.5, dtype=dtype)
    z = topk_mask(c, 2, method=method)
    check_constraints(z, 2)
    if method in ("sparse", "entropic"):
        torch.testing.assert_close(z, torch.full_like(c, 2 / 6))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [1e-6, 1e4])
def test_constraints_extreme_scales(method: str, dtype: torch.dtype, scale: float) -> None:
    c = torch.randn(8, 40, generator=torch.Generator().manual_seed(1), dtype=dtype) * scale
    for k in (1, 20, 39):
        for eps in (1e-3, 1e3):
            opts = {"epsilon": eps} if method in ("sparse", "entropic") else {}
            check_constraints(topk_mask(c, k, method=method, **opts), k)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_k_equals_m_is_all_ones_with_zero_gradient(method: str, dtype: torch.dtype) -> None:
    x = torch.randn(3, 5, dtype=dtype, requires_grad=True)
    z = topk_mask(x, 5, method=method)
    assert torch.equal(z.detach(), torch.ones(3, 5, dtype=dtype))
    z.backward(torch.randn(3, 5, dtype=dtype))
    assert torch.equal(x.grad, torch.zeros(3, 5, dtype=dtype))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("shape", "dim"), [((5,), 0), ((3, 5), -1), ((5, 3), 0),
                                            ((2, 5, 3), 1), ((2, 3, 5), 2), ((2, 3, 4, 5), -1)])
def test_any_dim_and_leading_shape(method: str, shape: tuple[int, ...], dim: int) -> None:
    c = torch.randn(shape, dtype=torch.float64)
    z = topk_mask(c, 2, method=method, dim=dim, **({"seed": 0} if method == "perturbed" else {}))
    assert z.shape == c.shape and z.dtype == c.dtype
    check_constraints(z, 2, dim)
    # same as running on the rows with the members last
    rows = c.movedim(dim, -1).reshape(-1, 5)
    expect = topk_mask(rows, 2, method=method, **({"seed": 0} if method == "perturbed" else {}))
    torch.testing.assert_close(z.movedim(dim, -1).reshape(-1, 5), expect)


@pytest.mark.parametrize("method", METHODS)
def test_empty_batch(method: str) -> None:
    z = topk_mask(torch.empty(0, 4), 2, method=method)
    assert z.shape == (0, 4)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_computed_in_float32(method: str, dtype: torch.dtype) -> None:
    c = torch.randn(4, 8).to(dtype)
    z = topk_mask(c, 3, method=method)
    assert z.dtype == dtype
    assert (z >= 0).all() and (z <= 1).all()
    assert (z.float().sum(-1) - 3).abs().max() < 0.05
