"""topk_mask keeps 0 <= z <= 1 and sum(z) = k for any finite scores (issue 14, item 8)."""

import pytest

torch = pytest.importorskip("torch")

from ensel.ops import topk_mask  # noqa: E402

SPREADS = [1.0, 1e3, 1e5, 1e10, 1e15, 1e20, 1e38, 1e100, 1e300, 1e308]


def _scores(spread, dtype, seed=0):
    gen = torch.Generator().manual_seed(seed)
    base = torch.randn(5, 7, generator=gen, dtype=torch.float64)
    base[:, 0] = spread
    base[:, 1] = -spread
    base[1, 2] = spread / 3          # several far entries in one row
    return base.to(dtype)


@pytest.mark.parametrize("method", ["sparse", "entropic", "perturbed", "straight_through"])
@pytest.mark.parametrize("spread", SPREADS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("k", [1, 2, 3, 6])
def test_constraint_holds_for_any_spread(method, spread, dtype, k):
    if dtype == torch.float32 and spread > 1e38:
        pytest.skip("not a finite float32")
    c = _scores(spread, dtype).requires_grad_(True)
    z = topk_mask(c, k, method=method)
    zd = z.detach()
    assert torch.isfinite(zd).all()
    assert float(zd.min()) >= 0.0 and float(zd.max()) <= 1.0
    tol = 1e-9 if dtype == torch.float64 else 1e-5
    assert torch.allclose(zd.sum(-1, dtype=torch.float64),
                          torch.full((5,), float(k), dtype=torch.float64), atol=tol, rtol=0)
    z.mul(torch.arange(7, dtype=dtype)).sum().backward()
    assert torch.isfinite(c.grad).all()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_issue_cases_exact(dtype):
    """The cases of the issue: entropic summed to 2.23, sparse to 1, 1e308 gave NaN."""
    z = topk_mask(torch.tensor([[1e15, -1e15, 0.0, 1.0]], dtype=dtype), 1, method="entropic")
    torch.testing.assert_close(z, torch.tensor([[1.0, 0.0, 0.0, 0.0]], dtype=dtype))
    z = topk_mask(torch.tensor([[1e20, -1e20, 0.0, 1.0]], dtype=dtype), 2, method="sparse")
    torch.testing.assert_close(z, torch.tensor([[1.0, 0.0, 0.0, 1.0]], dtype=dtype))
    if dtype == torch.float64:
        for method in ("sparse", "entropic"):
            z = topk_mask(torch.tensor([[1e308, -1e308, 0.0, 1.0]], dtype=dtype), 2,
                          method=method)
            assert not torch.isnan(z).any() and abs(float(z.sum()) - 2) < 1e-12
            assert float(z[0, 0]) == 1.0 and float(z[0, 1]) == 0.0


def test_wide_rows_keep_the_relaxation_of_their_close_entries():
    """A far outlier does not change how the close entries share the rest of the mass."""
    close = torch.tensor([[0.3, 0.0, -0.2, 0.5]], dtype=torch.float64)
    with_outlier = torch.cat([torch.tensor([[1e200]], dtype=torch.float64), close], dim=1)
    for method in ("sparse", "entropic"):
        alone = topk_mask(close, 1, method=method)
        wide = topk_mask(with_outlier, 2, method=method)
        assert float(wide[0, 0]) == 1.0
        torch.testing.assert_close(wide[:, 1:], alone, atol=1e-12, rtol=0)
