"""The perturbed top-k: its backward against finite differences of the smoothed map,
unbiasedness and variance of both estimators, determinism, and a closed-form check.

The smoothed map is F(c) = E[topk(c + sigma Z)], Z ~ N(0, I). Its Jacobian is estimated here
independently of ensel by central finite differences with common random numbers (the same
noise for c + h e_j and c - h e_j), from a plain torch.topk.
"""

from __future__ import annotations

import math

import pytest
import torch

from ensel.ops import TopK, topk_mask

SIGMA = 0.5          # not 1, so a missing or squared 1/sigma cannot pass


def hard_mean(c: torch.Tensor, noise: torch.Tensor, k: int) -> torch.Tensor:
    """Mean over samples of hard top-k masks of ``c[P, M] + noise[S, 1, M]`` -> ``[P, M]``."""
    idx = torch.topk(c.unsqueeze(0) + noise, k, dim=-1).indices
    return torch.zeros(noise.shape[0], *c.shape, dtype=c.dtype).scatter_(-1, idx, 1.0).mean(0)


def fd_jacobian(c: torch.Tensor, k: int, *, sigma: float, h: float, n_samples: int,
                seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Central-difference Jacobian of F at one row ``c[M]`` and its Monte-Carlo standard error.

    Returns ``J[i, j] = dF_i / dc_j`` and the per-entry standard error, both ``[M, M]``.
    """
    m = c.shape[-1]
    g = torch.Generator().manual_seed(seed)
    noise = sigma * torch.randn(n_samples, 1, m, generator=g, dtype=torch.float64)
    eye = torch.eye(m, dtype=torch.float64)
    plus, minus = c + h * eye, c - h * eye                        # row j = c +- h e_j
    idx_p = torch.topk(plus.unsqueeze(0) + noise, k, dim=-1).indices      # [S, M(j), k]
    idx_m = torch.topk(minus.unsqueeze(0) + noise, k, dim=-1).indices
    y_p = torch.zeros(n_samples, m, m, dtype=torch.float64).scatter_(-1, idx_p, 1.0)
    y_m = torch.zeros(n_samples, m, m, dtype=torch.float64).scatter_(-1, idx_m, 1.0)
    d = (y_p - y_m) / (2 * h)                                     # [S, j, i]
    jac = d.mean(0).T                                             # [i, j]
    se = (d.std(0) / math.sqrt(n_samples)).T
    return jac, se


def op_jacobian(c: torch.Tensor, k: int, **options) -> torch.Tensor:
    """``J[b, i, j]`` from the op's backward: one vector-Jacobian product per output i."""
    c = c.clone().requires_grad_(True)
    z = topk_mask(c, k, method="perturbed", **options)
    rows = []
    for i in range(c.shape[-1]):
        (gi,) = torch.autograd.grad(z[:, i].sum(), c, retain_graph=True)
        rows.append(gi)
    return torch.stack(rows, dim=1)


def test_backward_matches_finite_differences_of_smoothed_map() -> None:
    """Berthet estimator == d/dc E[topk(c + sigma Z)] within a stated Monte-Carlo tolerance.

    Errors, per entry: finite differences (S = 50000, h = 0.2 sigma) have standard error
    ``se_fd`` (measured) and a bias O(h^2) that we bound by 0.01; the op's estimate
    (S = 50000) has standard error at most 1 / (sigma sqrt(S)) = 0.009 because
    |(g . y - b) Z| has second moment <= 1 for g = e_i. Tolerance: 5 combined standard errors
    plus the bias bound (about 0.06 against Jacobian entries up to about 0.6).
    """
    k, s_fd, s_op = 2, 50_000, 50_000
    c = torch.tensor([[0.0, 0.3, -0.2, 0.5, 0.1],
                      [0.6, -0.3, 0.2, 0.0, -0.6]], dtype=torch.float64)
    jac = op_jacobian(c, k, sigma=SIGMA, n_samples=s_op, seed=11)
    se_op = 1.0 / (SIGMA * math.sqrt(s_op))
    for b in range(c.shape[0]):
        ref, se_fd = fd_jacobian(c[b], k, sigma=SIGMA, h=0.2 * SIGMA, n_samples=s_fd, seed=5 + b)
        tol = 5 * math.sqrt(float(se_fd.max()) ** 2 + se_op**2) + 0.01
        err = (jac[b] - ref).abs().max().item()
        assert err < tol, f"row {b}: max |J_op - J_fd| = {err:.4f} > {tol:.4f}"
        # the test has power against the known mistakes: each one is off by far more than tol
        assert ref.abs().max() > 0.3
        for name, wrong in {"missing 1/sigma": jac[b] * SIGMA,
                            "1/sigma^2": jac[b] / SIGMA,
                            "rows of the batch swapped": jac[1 - b],
                            "summed instead of averaged over 2 samples": 2 * jac[b]}.items():
            assert (wrong - ref).abs().max() > 2 * tol, name


def test_forward_matches_smoothed_map() -> None:
    c = torch.tensor([[0.0, 0.3, -0.2, 0.5, 0.1]], dtype=torch.float64)
    z = topk_mask(c, 2, method="perturbed", sigma=SIGMA, n_samples=40_000, seed=3)
    noise = SIGMA * torch.randn(40_000, 1, 5, generator=torch.Generator().manual_seed(4),
                                dtype=torch.float64)
    ref = hard_mean(c, noise, 2)
    # two independent means of Bernoulli variables: se <= 0.5 * sqrt(2 / 40000) = 0.0035
    torch.testing.assert_close(z, ref, atol=0.018, rtol=0)


def test_two_members_closed_form() -> None:
    # M = 2, k = 1: z_1 = P(c_1 + sigma Z_1 > c_2 + sigma Z_2) = Phi((c_1 - c_2) / (sigma sqrt 2))
    c = torch.tensor([[0.4, 0.0]], dtype=torch.float64)
    z = topk_mask(c, 1, method="perturbed", sigma=SIGMA, n_samples=40_000, seed=0)
    p = 0.5 * (1 + math.erf(0.4 / (SIGMA * math.sqrt(2)) / math.sqrt(2)))
    assert abs(z[0, 0].item() - p) < 5 * math.sqrt(p * (1 - p) / 40_000)
    assert z.sum().item() == pytest.approx(1.0, abs=1e-12)


def replicate_gradients(c: torch.Tensor, g: torch.Tensor, k: int, *, n_rep: int,
                        n_samples: int, control_variate: bool, seed: int) -> torch.Tensor:
    """``n_rep`` independent estimates of g^T J at ``c[M]``: one batch row per replicate."""
    x = c.expand(n_rep, -1).clone().requires_grad_(True)
    z = topk_mask(x, k, method="perturbed", sigma=SIGMA, n_samples=n_samples,
                  control_variate=control_variate, seed=seed)
    (grad,) = torch.autograd.grad(z, x, g.expand(n_rep, -1))
    return grad


def test_both_estimators_unbiased() -> None:
    """Means of many small-sample estimates agree with the finite-difference reference."""
    k = 2
    c = torch.tensor([0.0, 0.3, -0.2, 0.5, 0.1], dtype=torch.float64)
    g = torch.tensor([1.0, -0.5, 0.25, 2.0, -1.0], dtype=torch.float64)
    ref_jac, ref_se = fd_jacobian(c, k, sigma=SIGMA, h=0.2 * SIGMA, n_samples=100_000, seed=9)
    ref = g @ ref_jac
    ref_se = torch.sqrt((g.unsqueeze(-1) ** 2 * ref_se**2).sum(0))
    means = {}
    for cv in (True, False):
        est = replicate_gradients(c, g, k, n_rep=4000, n_samples=8, control_variate=cv, seed=1)
        mean, se = est.mean(0), est.std(0) / math.sqrt(est.shape[0])
        tol = 5 * torch.sqrt(se**2 + ref_se**2) + 0.02      # 0.02: finite-difference bias
        assert ((mean - ref).abs() < tol).all(), (cv, mean, ref, tol)
        means[cv] = (mean, se)
    (m1, s1), (m0, s0) = means[True], means[False]
    assert ((m1 - m0).abs() < 5 * torch.sqrt(s1**2 + s0**2)).all()


@pytest.mark.parametrize(("scores", "max_ratio"), [
    ([0.0, 0.3, -0.2, 0.5, 0.1], 0.9),        # close scores: the variance still goes down
    ([3.0, 2.0, 0.0, -2.0, -3.0], 0.05),      # separated: plain estimator is nearly pure noise
])
def test_control_variate_reduces_variance(scores: list[float], max_ratio: float) -> None:
    c = torch.tensor(scores, dtype=torch.float64)
    g = torch.tensor([1.0, -0.5, 0.25, 2.0, -1.0], dtype=torch.float64)
    var = {cv: replicate_gradients(c, g, 2, n_rep=2000, n_samples=10, control_variate=cv,
                                   seed=2).var(0).sum().item()
           for cv in (True, False)}
    assert var[True] < max_ratio * var[False], var


def test_deterministic_given_seed() -> None:
    c = torch.randn(3, 7, dtype=torch.float64)
    g = torch.randn(3, 7, dtype=torch.float64)

    def run(**opts):
        x = c.clone().requires_grad_(True)
        z = topk_mask(x, 3, method="perturbed", n_samples=50, **opts)
        z.backward(g)
        return z.detach(), x.grad

    z1, g1 = run(seed=123)
    z2, g2 = run(seed=123)
    assert torch.equal(z1, z2) and torch.equal(g1, g2)
    z3, _ = run(seed=124)
    assert not torch.equal(z1, z3)


def test_deterministic_given_generator_state() -> None:
    c = torch.randn(2, 6)
    gen = torch.Generator().manual_seed(5)
    state = gen.get_state()
    first = topk_mask(c, 2, method="perturbed", generator=gen)
    second = topk_mask(c, 2, method="perturbed", generator=gen)      # generator advanced
    assert not torch.equal(first, second)
    gen.set_state(state)
    assert torch.equal(topk_mask(c, 2, method="perturbed", generator=gen), first)


def test_deterministic_under_global_seed() -> None:
    c = torch.randn(2, 6)
    torch.manual_seed(0)
    a = topk_mask(c, 2, method="perturbed")
    torch.manual_seed(0)
    b = topk_mask(c, 2, method="perturbed")
    assert torch.equal(a, b)


def test_module_seed_gives_reproducible_fresh_noise() -> None:
    c = torch.randn(2, 6)
    m1, m2 = TopK(2, method="perturbed", seed=7), TopK(2, method="perturbed", seed=7)
    a1, a2 = m1(c), m1(c)
    assert not torch.equal(a1, a2)                       # fresh noise at every step
    assert torch.equal(m2(c), a1) and torch.equal(m2(c), a2)   # same sequence


@pytest.mark.parametrize("chunk_elements", [None, 50])
def test_backward_with_and_without_index_cache_agree(monkeypatch: pytest.MonkeyPatch,
                                                     chunk_elements: int | None) -> None:
    import ensel.ops.perturbed as P

    if chunk_elements is not None:                      # several chunks of samples
        monkeypatch.setattr(P, "_CHUNK_ELEMENTS", chunk_elements)
    c = torch.randn(4, 9, dtype=torch.float64)
    g = torch.randn(4, 9, dtype=torch.float64)

    def run():
        x = c.clone().requires_grad_(True)
        z = topk_mask(x, 3, method="perturbed", n_samples=30, seed=1)
        z.backward(g)
        return z.detach(), x.grad

    z_cached, cached = run()
    monkeypatch.setattr(P, "_CACHE_ELEMENTS", 0)           # recompute top-k in backward
    z_plain, plain = run()
    assert torch.equal(z_plain, z_cached)
    torch.testing.assert_close(plain, cached)


def test_all_members_selected_gives_zero_gradient() -> None:
    x = torch.randn(2, 4, requires_grad=True)
    z = topk_mask(x, 4, method="perturbed", control_variate=False)
    assert torch.equal(z, torch.ones(2, 4))
    z.backward(torch.randn(2, 4))
    assert torch.equal(x.grad, torch.zeros(2, 4))
