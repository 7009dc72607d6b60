"""Pure functions: rules and competence, against brute-force loops and extreme cases."""

from __future__ import annotations

import numpy as np
import pytest

from ensel.combine import competence as comp
from ensel.combine import rules


@pytest.fixture
def random_region():
    rng = np.random.default_rng(0)
    correct = rng.random((30, 5)) < 0.6
    region = rng.integers(0, 30, size=(12, 7))
    y_sel = rng.integers(0, 3, size=30)
    predicted = rng.integers(0, 3, size=(12, 5))
    return region, correct, y_sel, predicted


def test_competences_match_loops(random_region):
    region, correct, y_sel, predicted = random_region
    n, m = len(region), correct.shape[1]
    ola, counts, lca, prefix = (np.zeros((n, m)) for _ in range(4))
    for i in range(n):
        for j in range(m):
            hits = correct[region[i], j]
            ola[i, j] = hits.mean()
            counts[i, j] = hits.sum()
            same = y_sel[region[i]] == predicted[i, j]
            lca[i, j] = hits[same].mean() if same.any() else 0.0
            k = 0
            while k < len(hits) and hits[k]:
                k += 1
            prefix[i, j] = k
    np.testing.assert_allclose(comp.local_accuracy(region, correct), ola)
    np.testing.assert_allclose(comp.local_correct_counts(region, correct), counts)
    np.testing.assert_allclose(comp.class_local_accuracy(region, correct, y_sel, predicted), lca)
    np.testing.assert_array_equal(comp.correct_prefix_length(region, correct), prefix)
    mask = comp.knora_e_mask(region, correct)
    np.testing.assert_array_equal(mask, prefix == prefix.max(axis=1, keepdims=True))


def test_all_members_right_everywhere():
    correct = np.ones((5, 3), dtype=bool)
    region = np.array([[0, 1, 2], [4, 3, 2]])
    np.testing.assert_array_equal(comp.knora_e_mask(region, correct), np.ones((2, 3), bool))
    np.testing.assert_array_equal(comp.local_accuracy(region, correct), np.ones((2, 3)))
    np.testing.assert_array_equal(comp.best_mask(comp.local_accuracy(region, correct)),
                                  [[1, 0, 0], [1, 0, 0]])


def test_all_members_wrong_everywhere():
    correct = np.zeros((5, 3), dtype=bool)
    region = np.array([[0, 1, 2]])
    np.testing.assert_array_equal(comp.knora_e_mask(region, correct), [[True] * 3])
    np.testing.assert_array_equal(
        comp.positive_or_all(comp.local_correct_counts(region, correct)), [[1.0] * 3])
    np.testing.assert_array_equal(comp.threshold_mask(np.zeros((1, 3)), 0.5), [[True] * 3])


def test_lca_without_neighbours_of_the_predicted_class_is_zero():
    correct = np.ones((3, 1), dtype=bool)
    out = comp.class_local_accuracy(np.array([[0, 1, 2]]), correct, np.array([0, 0, 0]),
                                    np.array([[1]]))
    assert out.tolist() == [[0.0]]


def test_meta_features_shape_and_order():
    rng = np.random.default_rng(1)
    correct = rng.random((20, 4)) < 0.5
    q = rng.random((20, 4))
    P = rng.dirichlet(np.ones(3), size=(6, 4))
    region, profile = rng.integers(0, 20, (6, 7)), rng.integers(0, 20, (6, 5))
    F = comp.meta_features(region, profile, correct, q, P)
    assert F.shape == (6, 4, 2 * 7 + 5 + 2)
    np.testing.assert_array_equal(F[2, 1, :7], correct[region[2], 1])
    np.testing.assert_allclose(F[2, 1, 7:14], q[region[2], 1])
    assert F[2, 1, 14] == pytest.approx(correct[region[2], 1].mean())
    np.testing.assert_array_equal(F[2, 1, 15:20], correct[profile[2], 1])
    assert F[2, 1, 20] == pytest.approx(P[2, 1].max())


def test_vote_counts_with_per_row_weights():
    P = np.array([[[0.9, 0.1], [0.2, 0.8]], [[0.9, 0.1], [0.2, 0.8]]])
    w = np.array([[1.0, 3.0], [2.0, 0.0]])
    np.testing.assert_allclose(rules.vote_counts(P, w), [[1.0, 3.0], [2.0, 0.0]])
    np.testing.assert_allclose(rules.vote(P, w), [[0.25, 0.75], [1.0, 0.0]])


def test_average_all_agree_gives_the_common_prediction():
    p = np.array([0.2, 0.5, 0.3])
    P = np.broadcast_to(p, (4, 3, 3))
    np.testing.assert_allclose(rules.average(P), np.broadcast_to(p, (4, 3)))
    np.testing.assert_allclose(rules.average(P, np.array([0.0, 1.0, 5.0])),
                               np.broadcast_to(p, (4, 3)))


def test_average_regression_shapes():
    P2 = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(rules.average(P2), [1.0, 4.0])
    P3 = np.arange(12.0).reshape(2, 3, 2)
    assert rules.average(P3, np.array([1.0, 0.0, 0.0])).tolist() == [[0.0, 1.0], [6.0, 7.0]]


def test_losses():
    proba = np.array([[1.0, 0.0], [0.5, 0.5]])
    assert rules.log_loss(proba, np.array([0, 1])) == pytest.approx(np.log(2) / 2)
    assert np.isfinite(rules.log_loss(proba, np.array([1, 1])))       # clipped, not inf
    assert rules.squared_error(np.array([[1.0, 2.0]]), np.array([[0.0, 0.0]])) == 5.0
