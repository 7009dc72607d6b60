"""knapsack_mask / hard_knapsack_mask: constraints, KKT form, top-k parity, gradcheck, errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy.special import expit
from torch.autograd import gradcheck

from ensel.ops import hard_knapsack_mask, hard_topk_mask, knapsack_mask, topk_mask

METHODS = ["sparse", "entropic"]


def phi(u: np.ndarray, method: str) -> np.ndarray:
    return np.clip(u, 0, 1) if method == "sparse" else expit(u)


def reference(s: np.ndarray, c: np.ndarray, b: float, method: str, eps: float = 1.0,
              equality: bool = False) -> tuple[np.ndarray, float]:
    """One row by plain bisection on tau (independent of the library's solver)."""
    def spent(tau: float) -> float:
        return float((c * phi((s - tau * c) / eps, method)).sum())

    if not equality and spent(0.0) <= b:
        return phi(s / eps, method), 0.0
    lo, hi = (-1e3, 1e3) if equality else (0.0, 1e3)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if spent(mid) > b else (lo, mid)
    tau = 0.5 * (lo + hi)
    return phi((s - tau * c) / eps, method), tau


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("equality", [False, True])
@pytest.mark.parametrize("m", [1, 3, 10, 64])
def test_matches_reference_and_meets_budget(method: str, dtype: torch.dtype, equality: bool,
                                            m: int) -> None:
    g = torch.Generator().manual_seed(m)
    s = torch.randn(6, m, generator=g, dtype=torch.float64) * 2
    c = torch.rand(6, m, generator=g, dtype=torch.float64) * 2 + 0.05
    b = torch.rand(6, generator=g, dtype=torch.float64) * c.sum(-1)
    z = knapsack_mask(s.to(dtype), c.to(dtype), b.to(dtype), method=method, equality=equality)
    assert z.dtype == dtype and z.shape == s.shape
    tol = 1e-9 if dtype == torch.float64 else 1e-5
    assert (z >= 0).all() and (z <= 1).all()
    spent = (z.double() * c).sum(-1)
    assert (spent <= b * (1 + tol) + tol).all()
    for row in range(6):
        want, tau = reference(s[row].numpy(), c[row].numpy(), float(b[row]), method,
                              equality=equality)
        np.testing.assert_allclose(z[row].double().numpy(), want, atol=1e-6)
        if tau != 0.0:           # the budget binds: spent exactly
            assert abs(float(spent[row]) - float(b[row])) <= 1e-5 * max(1.0, float(b[row]))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("k", [1, 2, 5, 8])
def test_unit_costs_equal_topk(method: str, k: int) -> None:
    g = torch.Generator().manual_seed(k)
    s = torch.randn(2, 4, 8, generator=g, dtype=torch.float64) * 3
    ones = torch.ones(8, dtype=torch.float64)
    # equality=True: top-k for any scores
    torch.testing.assert_close(knapsack_mask(s, ones, float(k), method=method, equality=True),
                               topk_mask(s, k, method=method), atol=1e-10, rtol=0)
    # the inequality relaxation is top-k whenever the budget binds (here: scores shifted up;
    # k = M never binds: the entropic mask stays below 1 where top-k gives exactly 1)
    if k == 8:
        return
    shifted = s - s.amin(-1, keepdim=True) + 4.0
    torch.testing.assert_close(knapsack_mask(shifted, ones, k, method=method, epsilon=0.5),
                               topk_mask(shifted, k, method=method, epsilon=0.5),
                               atol=1e-10, rtol=0)


@pytest.mark.parametrize("method", METHODS)
def test_non_binding_budget_is_the_unconstrained_mask_with_no_budget_gradient(method: str) -> None:
    s = torch.tensor([[0.3, -1.0, 0.2]], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([10.0], dtype=torch.float64, requires_grad=True)
    z = knapsack_mask(s, [1.0, 2.0, 3.0], b, method=method)
    torch.testing.assert_close(z.detach(), torch.as_tensor(phi(s.detach().numpy(), method)))
    z.sum().backward()
    assert b.grad.item() == 0.0


@pytest.mark.parametrize("method", METHODS)
def test_zero_budget_and_zero_cost_members(method: str) -> None:
    s = torch.tensor([[2.0, 0.5, 3.0], [2.0, 0.5, 3.0]], dtype=torch.float64)
    c = torch.tensor([1.0, 0.0, 2.0], dtype=torch.float64)
    z = knapsack_mask(s, c, torch.tensor([0.0, 1.0], dtype=torch.float64), method=method)
    free = float(phi(np.array(0.5), method))
    assert z[0, 0] == 0 and z[0, 2] == 0 and z[0, 1].item() == pytest.approx(free)
    assert z[1, 1].item() == pytest.approx(free)                 # zero cost: price-free
    assert float((z[1] * c).sum()) == pytest.approx(1.0, abs=1e-9)


def test_all_costs_zero_leave_the_mask_unconstrained() -> None:
    s = torch.tensor([2.0, -0.5, 0.25], dtype=torch.float64)
    torch.testing.assert_close(knapsack_mask(s, torch.zeros(3), 0.0),
                               s.clamp(0, 1))


def test_hand_case_sparse() -> None:
    # tau = 0.32: z = clip([2, 1, 0.8] - 0.32 [1, 1, 2], 0, 1) = [1, 0.68, 0.16]
    z = knapsack_mask(torch.tensor([2.0, 1.0, 0.8]), torch.tensor([1.0, 1.0, 2.0]), 2.0)
    torch.testing.assert_close(z, torch.tensor([1.0, 0.68, 0.16]))


def test_dim_and_per_row_budget_shapes() -> None:
    g = torch.Generator().manual_seed(0)
    s = torch.randn(2, 5, 3, generator=g, dtype=torch.float64)
    c = torch.rand(2, 5, 3, generator=g, dtype=torch.float64) + 0.1
    b = torch.rand(2, 3, generator=g, dtype=torch.float64)
    z = knapsack_mask(s, c, b, dim=1)
    moved = knapsack_mask(s.movedim(1, -1), c.movedim(1, -1), b)
    torch.testing.assert_close(z, moved.movedim(-1, 1))
    assert ((z * c).sum(1) <= b + 1e-9).all()


def away_from_kinks(s: torch.Tensor, c: torch.Tensor, b: torch.Tensor, eps: float,
                    equality: bool) -> bool:
    """Sparse: no (s_i - tau c_i)/eps within 1e-3 of 0 or 1, and tau not within 1e-3 of 0."""
    for row in range(s.shape[0]):
        _, tau = reference(s[row].numpy(), c[row].numpy(), float(b[row]), "sparse", eps,
                           equality)
        u = (s[row].numpy() - tau * c[row].numpy()) / eps
        if (np.abs(u) < 1e-3).any() or (np.abs(u - 1) < 1e-3).any():
            return False
        if not equality and 0 < tau < 1e-3:
            return False
    return True


def gradcheck_inputs(m: int, shared_costs: bool, scalar_budget: bool, method: str,
                     equality: bool, eps: float, seed: int) -> tuple[torch.Tensor, ...]:
    for attempt in range(50):
        g = torch.Generator().manual_seed(seed * 100 + attempt)
        s = torch.randn(3, m, generator=g, dtype=torch.float64) * eps
        c = torch.rand(1 if shared_costs else 3, m, generator=g, dtype=torch.float64) + 0.2
        c = c.expand(3, m)
        b = torch.rand(1 if scalar_budget else 3, generator=g, dtype=torch.float64)
        b = (b * 0.8 + 0.1) * c.sum(-1)
        if method == "entropic" or away_from_kinks(s, c, b, eps, equality):
            c = c[0] if shared_costs else c
            b = b[0] if scalar_budget else b
            return s, c.contiguous(), b.contiguous()
    raise AssertionError("no input away from kinks")


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("equality", [False, True])
@pytest.mark.parametrize("m", [1, 2, 5, 9])
@pytest.mark.parametrize(("shared_costs", "scalar_budget"),
                         list(itertools.product([False, True], repeat=2)))
@pytest.mark.parametrize("eps", [0.3, 1.0, 3.0])
def test_gradcheck(method: str, equality: bool, m: int, shared_costs: bool, scalar_budget: bool,
                   eps: float) -> None:
    s, c, b = gradcheck_inputs(m, shared_costs, scalar_budget, method, equality, eps, m)
    inputs = tuple(x.clone().requires_grad_(True) for x in (s, c, b))
    assert gradcheck(lambda s, c, b: knapsack_mask(s, c, b, method=method, epsilon=eps,
                                                   equality=equality),
                     inputs, eps=1e-6, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("method", METHODS)
def test_gradcheck_middle_dim(method: str) -> None:
    g = torch.Generator().manual_seed(5)
    s = torch.randn(2, 4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    c = (torch.rand(4, generator=g, dtype=torch.float64) + 0.5).requires_grad_(True)
    b = (torch.rand(2, 3, generator=g, dtype=torch.float64) + 0.5).requires_grad_(True)
    if method == "sparse":
        flat = s.detach().movedim(1, -1).reshape(-1, 4)
        assert away_from_kinks(flat, c.detach().expand(6, 4), b.detach().reshape(-1), 1.0,
                               False)
    assert gradcheck(lambda s, c, b: knapsack_mask(s, c, b, method=method, dim=1), (s, c, b),
                     eps=1e-6, atol=1e-6, rtol=1e-4)


def brute_force(s: np.ndarray, c: np.ndarray, b: float) -> np.ndarray:
    best, best_value = np.zeros_like(s), 0.0
    for bits in itertools.product([0, 1], repeat=len(s)):
        z = np.array(bits, dtype=float)
        if z @ c <= b + 1e-12 and z @ s > best_value + 1e-12:
            best, best_value = z, float(z @ s)
    return best


@pytest.mark.parametrize("m", [1, 4, 8])
def test_hard_exact_matches_brute_force(m: int) -> None:
    g = torch.Generator().manual_seed(m)
    s = torch.randn(20, m, generator=g, dtype=torch.float64)
    c = torch.rand(20, m, generator=g, dtype=torch.float64) + 0.1
    b = torch.rand(20, generator=g, dtype=torch.float64) * c.sum(-1) * 0.6
    z = hard_knapsack_mask(s, c, b)
    for row in range(20):
        want = brute_force(s[row].numpy(), c[row].numpy(), float(b[row]))
        assert float(z[row] @ s[row]) == pytest.approx(float(want @ s[row].numpy()))
        assert float(z[row] @ c[row]) <= float(b[row]) + 1e-9


def test_hard_greedy_rule_hand_case() -> None:
    # ratios 3/2 = 1.5 > 2/1.5 = 1.33 > 1.9/1.5 = 1.27; budget 3: greedy takes 0 (cost 2) and
    # nothing else fits (value 3); the exact answer is {1, 2} (value 3.9).
    s, c = torch.tensor([3.0, 2.0, 1.9]), torch.tensor([2.0, 1.5, 1.5])
    assert hard_knapsack_mask(s, c, 3.0, max_exact=0).tolist() == [1.0, 0.0, 0.0]
    assert hard_knapsack_mask(s, c, 3.0).tolist() == [0.0, 1.0, 1.0]
    # the best single affordable member wins when it beats the greedy set
    s, c = torch.tensor([1.0, 10.0]), torch.tensor([0.1, 5.0])
    assert hard_knapsack_mask(s, c, 5.0, max_exact=0).tolist() == [0.0, 1.0]


@pytest.mark.parametrize("max_exact", [0, 12])
def test_hard_unit_costs_equal_hard_topk(max_exact: int) -> None:
    g = torch.Generator().manual_seed(1)
    s = torch.rand(30, 10, generator=g) + 0.01         # positive, distinct
    for k in (1, 3, 10):
        torch.testing.assert_close(hard_knapsack_mask(s, torch.ones(10), k, max_exact=max_exact),
                                   hard_topk_mask(s, k))


def test_hard_never_takes_non_positive_scores_and_respects_budget_per_row() -> None:
    s = torch.tensor([[-1.0, 0.0, 2.0], [5.0, 4.0, 3.0]])
    z = hard_knapsack_mask(s, torch.tensor([1.0, 1.0, 1.0]), torch.tensor([3.0, 1.0]))
    assert z.tolist() == [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"costs": [1.0, -1.0, 1.0]}, r"'costs' parameter of knapsack_mask must be >= 0\. Got -1"),
    ({"costs": [1.0, -1.0, 1.0]}, r"Got -1\.0 at index \(1,\)"),
    ({"costs": [1.0, float("nan"), 1.0]}, r"'costs' .* must be finite\. Got nan at index \(1,\)"),
    ({"costs": [1.0, 1.0]}, r"'costs' .* must have shape \(3,\) .* or \(2, 3\) .*"),
    ({"costs": [1.0, 1.0]}, r"Got shape \(2,\) instead"),
    ({"costs": "cheap"}, r"'costs' .* must be a tensor or array of real numbers"),
    ({"budget": -0.5}, r"'budget' .* must be >= 0\. Got -0\.5"),
    ({"budget": float("inf")}, r"'budget' .* must be finite"),
    ({"budget": [1.0, 1.0, 1.0]}, r"'budget' .* must be a scalar or have shape \(2,\)"),
    ({"method": "perturbed"}, r"'method' .* must be one of \('sparse', 'entropic'\)"),
    ({"epsilon": 0.0}, r"'epsilon' parameter of knapsack_mask must be a float in \(0, inf\)"),
    ({"budget": 4.0, "equality": True}, r"With equality=True .* problem 0 \(flattened\)"),
    ({"budget": 4.0, "equality": True}, r"has budget 4 > total cost 3"),
    ({"dim": 2}, r"'dim' parameter of knapsack_mask must be an int in \[-2, 1\]"),
])
def test_errors(kwargs: dict, match: str) -> None:
    args = {"costs": [1.0, 1.0, 1.0], "budget": 1.0, **kwargs}
    with pytest.raises(ValueError, match=match):
        knapsack_mask(torch.zeros(2, 3), **args)


def test_type_errors() -> None:
    with pytest.raises(TypeError, match=r"'equality' parameter of knapsack_mask must be a bool"):
        knapsack_mask(torch.zeros(3), [1.0, 1.0, 1.0], 1.0, equality=1)
    with pytest.raises(TypeError, match=r"'scores' parameter of knapsack_mask must be a torch"):
        knapsack_mask([0.0, 1.0], [1.0, 1.0], 1.0)
    with pytest.raises(ValueError, match=r"'max_exact' parameter of hard_knapsack_mask must be "
                                         r"an int in \[0, 20\]"):
        hard_knapsack_mask(torch.zeros(3), [1.0, 1.0, 1.0], 1.0, max_exact=21)
    with pytest.raises(ValueError, match=r"'costs' parameter of hard_knapsack_mask must be >= 0"):
        hard_knapsack_mask(torch.zeros(3), [1.0, -1.0, 1.0], 1.0)
