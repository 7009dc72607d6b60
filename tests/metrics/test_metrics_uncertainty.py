"""uncertainty_decomposition: hand cases and extremes."""

from __future__ import annotations

import numpy as np
import pytest

from ensel.metrics import uncertainty_decomposition


def test_hand_cases():
    P = np.array([
        [[1.0, 0.0], [0.0, 1.0]],           # sure and opposed: all epistemic
        [[0.5, 0.5], [0.5, 0.5]],           # agree, unsure: all aleatoric
        [[1.0, 0.0], [0.5, 0.5]],           # mean (3/4, 1/4)
    ])
    u = uncertainty_decomposition(P)
    assert sorted(u) == ["aleatoric", "epistemic", "total"]
    h34 = -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))
    np.testing.assert_allclose(u["total"], [np.log(2), np.log(2), h34], atol=1e-15)
    np.testing.assert_allclose(u["aleatoric"], [0.0, np.log(2), np.log(2) / 2], atol=1e-15)
    np.testing.assert_allclose(u["epistemic"], [np.log(2), 0.0, h34 - np.log(2) / 2], atol=1e-15)
    assert u["total"][2] == pytest.approx(0.5623351446, abs=1e-10)


def test_three_disjoint_members_carry_log3_epistemic():
    u = uncertainty_decomposition(np.eye(3)[None])       # [1, 3, 3]
    np.testing.assert_allclose(u["epistemic"], [np.log(3)])
    np.testing.assert_allclose(u["aleatoric"], [0.0])


def test_identical_members_have_zero_mutual_information():
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(5), size=20)
    u = uncertainty_decomposition(np.repeat(proba[:, None, :], 3, axis=1))
    np.testing.assert_allclose(u["epistemic"], 0.0, atol=1e-12)
    np.testing.assert_allclose(u["total"], u["aleatoric"], atol=1e-12)
    assert u["total"].shape == (20,) and u["total"].dtype == np.float64


def test_float32_pool_with_tolerance_rounding():
    P = np.array([[[1.00004, -0.00004], [0.3, 0.7]]], dtype=np.float32)
    u = uncertainty_decomposition(P)
    assert np.isfinite(u["total"]).all() and (u["epistemic"] >= 0).all()
