"""Public API of ensel.ops: errors, hard masks at inference, the TopK module, gradient flow."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

import ensel.ops
from ensel.ops import METHODS, TopK, hard_topk_mask, topk_mask


def torch_topk_mask(c: torch.Tensor, k: int, dim: int) -> torch.Tensor:
    idx = torch.topk(c, k, dim=dim).indices
    return torch.zeros_like(c).scatter_(dim, idx, 1.0)


def test_exports() -> None:
    assert set(ensel.ops.__all__) == {"topk_mask", "hard_topk_mask", "TopK", "METHODS",
                                      "knapsack_mask", "hard_knapsack_mask", "KNAPSACK_METHODS"}
    assert METHODS == ("sparse", "entropic", "perturbed", "straight_through")


# ----------------------------------------------------------------------------- errors
def test_nan_names_problem_and_position() -> None:
    c = torch.zeros(2, 5)
    c[1, 2] = float("nan")
    with pytest.raises(ValueError, match=re.escape("'scores' parameter of topk_mask has NaN at "
                                                   "index (1, 2)")):
        topk_mask(c, 2)


@pytest.mark.parametrize("value", [float("inf"), float("-inf")])
def test_inf_names_problem_and_position(value: float) -> None:
    c = torch.zeros(5, dtype=torch.float64)
    c[3] = value
    with pytest.raises(ValueError, match=r"has inf at index 3\."):
        topk_mask(c, 2, method="entropic")
    with pytest.raises(ValueError, match=r"'scores' parameter of hard_topk_mask has inf"):
        hard_topk_mask(c, 2)


@pytest.mark.parametrize("k", [0, 6, 2.5, True, "2", None])
@pytest.mark.parametrize("method", METHODS)
def test_bad_k(k: object, method: str) -> None:
    msg = f"The 'k' parameter of topk_mask must be an int in [1, 5]. Got {k!r} instead."
    with pytest.raises(ValueError, match=re.escape(msg)):
        topk_mask(torch.zeros(3, 5), k, method=method)


def test_bad_k_hard_and_module() -> None:
    with pytest.raises(ValueError, match=re.escape("'k' parameter of hard_topk_mask must be an "
                                                   "int in [1, 5]. Got 0 instead.")):
        hard_topk_mask(torch.zeros(5), 0)
    with pytest.raises(ValueError, match=r"The 'k' parameter of TopK must be an int >= 1\. Got 0"):
        TopK(0)
    with pytest.raises(ValueError, match=r"'k' parameter of topk_mask must be an int in \[1, 3\]"):
        TopK(4)(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"'k' parameter of hard_topk_mask must be an int in"):
        TopK(4).eval()(torch.zeros(2, 3))


@pytest.mark.parametrize("method", ["softmax", "SPARSE", "", None, 3])
def test_bad_method(method: object) -> None:
    expected = ("The 'method' parameter of topk_mask must be one of ('sparse', 'entropic', "
                f"'perturbed', 'straight_through'). Got {method!r} instead.")
    with pytest.raises(ValueError, match=re.escape(expected)):
        topk_mask(torch.zeros(5), 2, method=method)
    with pytest.raises(ValueError, match=r"The 'method' parameter of TopK must be one of"):
        TopK(2, method=method)


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool, torch.uint8,
                                   torch.complex64])
def test_non_floating_dtype(dtype: torch.dtype) -> None:
    with pytest.raises(ValueError, match=re.escape(f"must be a floating-point tensor (float32 or "
                                                   f"float64). Got dtype {dtype} instead.")):
        topk_mask(torch.zeros(5, dtype=dtype), 2)
    with pytest.raises(ValueError, match="hard_topk_mask must be a floating-point tensor"):
        hard_topk_mask(torch.zeros(5, dtype=dtype), 2)


def test_not_a_tensor() -> None:
    with pytest.raises(TypeError, match=r"'scores' parameter of topk_mask must be a "
                                        r"torch\.Tensor\. Got list instead\."):
        topk_mask([1.0, 2.0], 1)


def test_zero_dim_scores() -> None:
    with pytest.raises(ValueError, match=r"must have at least one dimension"):
        topk_mask(torch.tensor(1.0), 1)


@pytest.mark.parametrize("dim", [2, -3, 1.0, None])
def test_bad_dim(dim: object) -> None:
    with pytest.raises(ValueError, match=re.escape(f"The 'dim' parameter of topk_mask must be an "
                                                   f"int in [-2, 1] for scores with 2 dimension(s)."
                                                   f" Got {dim!r} instead.")):
        topk_mask(torch.zeros(2, 3), 1, dim=dim)


@pytest.mark.parametrize(("method", "bad", "valid"), [
    ("sparse", "sigma", "'epsilon'"),
    ("entropic", "temperature", "'epsilon'"),
    ("perturbed", "epsilon", "'sigma', 'n_samples', 'generator', 'seed', 'control_variate'"),
    ("straight_through", "epsilon", "'temperature'"),
])
def test_unknown_option(method: str, bad: str, valid: str) -> None:
    msg = (f"topk_mask got unknown option(s) '{bad}' for method='{method}'; the options of "
           f"'{method}' are {valid}.")
    with pytest.raises(ValueError, match=re.escape(msg)):
        topk_mask(torch.zeros(5), 2, method=method, **{bad: 1.0})
    with pytest.raises(ValueError, match=re.escape(f"TopK got unknown option(s) '{bad}'")):
        TopK(2, method=method, **{bad: 1.0})


@pytest.mark.parametrize(("method", "name"), [("sparse", "epsilon"), ("entropic", "epsilon"),
                                              ("perturbed", "sigma"),
                                              ("straight_through", "temperature")])
@pytest.mark.parametrize("value", [0, -1.0, float("nan"), float("inf"), "1", True])
def test_bad_positive_option(method: str, name: str, value: object) -> None:
    msg = (f"The '{name}' parameter of topk_mask(method='{method}') must be a float in (0, inf). "
           f"Got {value!r} instead.")
    with pytest.raises(ValueError, match=re.escape(msg)):
        topk_mask(torch.zeros(5), 2, method=method, **{name: value})


@pytest.mark.parametrize(("opts", "match"), [
    ({"n_samples": 1}, (r"'n_samples' parameter of topk_mask\(method='perturbed'\) must be an int "
                        r">= 2\. Got 1 instead\.")),
    ({"n_samples": 0, "control_variate": False}, r"'n_samples' .* must be an int >= 1\. Got 0"),
    ({"n_samples": 2.5}, r"'n_samples' .* must be an int >= 2\. Got 2\.5 instead\."),
    ({"seed": -1}, (r"'seed' parameter of topk_mask\(method='perturbed'\) must be a non-negative "
                    r"int or None\. Got -1 instead\.")),
    ({"seed": 1.5}, r"'seed' .* Got 1\.5 instead\."),
    ({"seed": 1, "generator": torch.Generator()}, r"takes at most one of 'generator' and 'seed'"),
    ({"generator": 3}, r"'generator' parameter .* must be a torch\.Generator or None\. Got int"),
    ({"control_variate": 1}, r"'control_variate' parameter .* must be a bool\. Got 1 instead\."),
])
def test_bad_perturbed_options(opts: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        topk_mask(torch.zeros(5), 2, method="perturbed", **opts)


def test_module_seed_checks() -> None:
    with pytest.raises(ValueError, match=r"The 'seed' parameter of TopK must be an int >= 0"):
        TopK(2, method="perturbed", seed=-3)
    with pytest.raises(ValueError, match=r"TopK\(method='perturbed'\) takes at most one of"):
        TopK(2, method="perturbed", seed=1, generator=torch.Generator())


# ------------------------------------------------------------------- hard masks at eval
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("shape", "dim"), [((7,), 0), ((4, 7), -1), ((7, 4), 0),
                                            ((2, 7, 3), 1), ((2, 3, 7), -1), ((2, 3, 7), 2)])
@pytest.mark.parametrize("k", [1, 3, 7])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_eval_returns_torch_topk_mask(method: str, shape: tuple[int, ...], dim: int, k: int,
                                      dtype: torch.dtype) -> None:
    c = torch.randn(shape, dtype=dtype)
    layer = TopK(k, method=method, dim=dim).eval()
    out = layer(c)
    assert out.dtype == dtype
    assert torch.equal(out, torch_topk_mask(c, k, dim))
    assert torch.equal(hard_topk_mask(c, k, dim=dim), torch_topk_mask(c, k, dim))


@pytest.mark.parametrize("method", METHODS)
def test_eval_ties_broken_like_torch_topk(method: str) -> None:
    c = torch.tensor([[1.0, 1.0, 1.0, 0.0, 0.0], [2.0, 2.0, 2.0, 2.0, 2.0]])
    assert torch.equal(TopK(2, method=method).eval()(c), torch_topk_mask(c, 2, -1))


def test_hard_mask_fixture_and_no_grad() -> None:
    c = torch.tensor([[0.1, 0.9, 0.5], [3.0, 1.0, 2.0]], requires_grad=True)
    mask = hard_topk_mask(c, 2)
    assert torch.equal(mask, torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0]]))
    assert not mask.requires_grad


def test_train_mode_is_relaxed() -> None:
    c = torch.tensor([[2.0, 1.0, 0.5, -1.0]])
    layer = TopK(2, method="sparse", epsilon=1.0)
    assert layer.training
    torch.testing.assert_close(layer(c), torch.tensor([[1.0, 0.75, 0.25, 0.0]]))
    assert torch.equal(layer.eval()(c), torch.tensor([[1.0, 1.0, 0.0, 0.0]]))
    assert torch.equal(layer.train()(c), topk_mask(c, 2))


def test_module_repr() -> None:
    assert repr(TopK(3, method="entropic", epsilon=0.5)) == (
        "TopK(k=3, method='entropic', dim=-1, epsilon=0.5)")


# ------------------------------------------------------------------------- gradients
def test_straight_through_forward_hard_backward_softmax_surrogate() -> None:
    c = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    g = torch.randn(3, 6, dtype=torch.float64)
    z = topk_mask(c, 2, method="straight_through", temperature=0.7)
    assert torch.equal(z.detach(), torch_topk_mask(c.detach(), 2, -1))
    (grad,) = torch.autograd.grad(z, c, g)
    c2 = c.detach().clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(2 * torch.softmax(c2 / 0.7, dim=-1), c2, g)
    torch.testing.assert_close(grad, expected)


@pytest.mark.parametrize("method", METHODS)
def test_gradients_flow_to_a_linear_layer(method: str) -> None:
    torch.manual_seed(0)
    net = nn.Linear(3, 6)
    x = torch.randn(8, 3)
    target = torch.randn(8, 6)
    layer = TopK(2, method=method)
    loss = (layer(net(x)) * target).sum()
    loss.backward()
    assert net.weight.grad is not None and net.weight.grad.abs().sum() > 0
    assert net.bias.grad.abs().sum() > 0
