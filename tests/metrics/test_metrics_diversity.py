"""Pairwise diversity and the Vendi score: hand cases, extremes, parity with DESlib/sklearn."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn.metrics as skm

from ensel.metrics import (
    cohen_kappa,
    disagreement,
    double_fault,
    pairwise_diversity,
    q_statistic,
    vendi_score,
)

# 4 rows, 3 members, 2 classes, y all 0. Correct?  m0: 1 1 0 0, m1: 1 0 1 0, m2: 1 1 1 0
RIGHT = np.array([[1, 1, 1], [1, 0, 1], [0, 1, 1], [0, 0, 0]])
P4 = np.eye(2)[1 - RIGHT]            # predicted label 0 where right, 1 where wrong
Y4 = np.zeros(4, dtype=int)


def test_disagreement_hand_case():
    # (0,1): only-one-right on rows 1, 2 -> 2/4; (0,2): row 2 -> 1/4; (1,2): row 1 -> 1/4
    np.testing.assert_allclose(disagreement(P4, Y4), [[0, 0.5, 0.25],
                                                      [0.5, 0, 0.25],
                                                      [0.25, 0.25, 0]])


def test_double_fault_hand_case():
    # both wrong only on row 3; diagonal = error rates 2/4, 2/4, 1/4
    np.testing.assert_allclose(double_fault(P4, Y4), [[0.5, 0.25, 0.25],
                                                      [0.25, 0.5, 0.25],
                                                      [0.25, 0.25, 0.25]])


def test_q_statistic_hand_case():
    # (0,1): N11=N10=N01=N00=1 -> 0; (0,2) and (1,2): N11=2, N10=0, N01=1, N00=1 -> 2/2 = 1
    np.testing.assert_allclose(q_statistic(P4, Y4), [[1, 0, 1], [0, 1, 1], [1, 1, 1]])


def test_q_statistic_opposed_members_is_minus_one():
    right = np.array([[1, 0], [1, 0], [0, 1], [0, 1]])
    np.testing.assert_allclose(q_statistic(np.eye(2)[1 - right], Y4), [[1, -1], [-1, 1]])


def test_q_statistic_undefined_is_nan():
    # member 0 is never wrong: N00 = N01 = 0 for every pair with it, and on its diagonal
    right = np.array([[1, 1], [1, 0], [1, 1], [1, 0]])
    Q = q_statistic(np.eye(2)[1 - right], Y4)
    assert np.isnan(Q[0, 0]) and np.isnan(Q[0, 1]) and np.isnan(Q[1, 0])
    assert Q[1, 1] == 1.0


def test_cohen_kappa_hand_case():
    # labels m0: 0 0 1 1, m1: 0 1 0 1, m2: 0 0 0 1
    # (0,1): p_o = 1/2, p_e = 1/2 -> 0; (0,2), (1,2): p_o = 3/4, p_e = 1/2 -> 1/2
    np.testing.assert_allclose(cohen_kappa(P4), [[1, 0, 0.5], [0, 1, 0.5], [0.5, 0.5, 1]])


def test_cohen_kappa_constant_members_is_nan():
    P = np.eye(2)[np.zeros((3, 2), dtype=int)]          # both always predict class 0
    assert np.isnan(cohen_kappa(P)).all()


def test_wrong_with_different_labels_counts_as_agreement():
    P = np.eye(3)[[[1, 2]]]                              # y=0; one says 1, the other 2
    assert disagreement(P, [0])[0, 1] == 0.0
    assert double_fault(P, [0])[0, 1] == 1.0
    # kappa compares the labels themselves: p_o = 0, p_e = 0 -> 0 (they disagree)
    assert cohen_kappa(P)[0, 1] == 0.0


def test_identical_members_extremes():
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(3), size=30)
    y = rng.integers(0, 3, size=30)
    P = np.repeat(proba[:, None, :], 4, axis=1)
    div = pairwise_diversity(P, y)
    np.testing.assert_array_equal(div["disagreement"], np.zeros((4, 4)))
    np.testing.assert_allclose(div["cohen_kappa"], np.ones((4, 4)))
    np.testing.assert_allclose(div["q_statistic"], np.ones((4, 4)))
    assert vendi_score(P) == pytest.approx(1.0, abs=1e-9)


def test_pairwise_diversity_matches_the_single_functions():
    rng = np.random.default_rng(1)
    P = rng.dirichlet(np.ones(4), size=(40, 5))
    y = rng.integers(0, 4, size=40)
    div = pairwise_diversity(P, y)
    assert sorted(div) == ["cohen_kappa", "disagreement", "double_fault", "q_statistic"]
    np.testing.assert_array_equal(div["disagreement"], disagreement(P, y))
    np.testing.assert_array_equal(div["double_fault"], double_fault(P, y))
    np.testing.assert_array_equal(div["q_statistic"], q_statistic(P, y))
    np.testing.assert_array_equal(div["cohen_kappa"], cohen_kappa(P))
    for name, mat in div.items():
        assert mat.shape == (5, 5), name
        np.testing.assert_allclose(mat, mat.T, err_msg=name)


def _random_pool(seed, n=80, m=4, c=3):
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.ones(c) * 0.5, size=(n, m))
    return P, rng.integers(0, c, size=n)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_parity_with_deslib(seed):
    deslib = pytest.importorskip("deslib.util.diversity")
    P, y = _random_pool(seed)
    pred = P.argmax(axis=2)
    dis, df, Q = disagreement(P, y), double_fault(P, y), q_statistic(P, y)
    for i in range(4):
        for j in range(4):
            if i == j:
                continue
            a, b = pred[:, i], pred[:, j]
            assert dis[i, j] == pytest.approx(deslib.disagreement_measure(y, a, b))
            assert df[i, j] == pytest.approx(deslib.double_fault(y, a, b))
            assert Q[i, j] == pytest.approx(deslib.Q_statistic(y, a, b))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kappa_parity_with_sklearn(seed):
    P, _ = _random_pool(seed)
    pred = P.argmax(axis=2)
    K = cohen_kappa(P)
    for i in range(4):
        for j in range(4):
            assert K[i, j] == pytest.approx(skm.cohen_kappa_score(pred[:, i], pred[:, j]))


# ------------------------------------------------------------------ Vendi
def test_vendi_orthogonal_members_is_m():
    P = np.tile(np.eye(4), (5, 1, 1))                    # member m always says class m
    assert vendi_score(P) == pytest.approx(4.0)


def test_vendi_hand_case_two_members():
    # flattened: a = (1,0, 1,0), b = (1,0, 0,1): cos = 1/2, eigenvalues of K/2: 3/4, 1/4
    P = np.array([[[1.0, 0.0], [1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]]])
    expected = np.exp(-(0.75 * np.log(0.75) + 0.25 * np.log(0.25)))
    assert vendi_score(P) == pytest.approx(expected, abs=1e-12)
    assert vendi_score(P) == pytest.approx(1.7548, abs=1e-4)


def test_vendi_two_groups_of_identical_members():
    # members {0, 1} identical, {2, 3} identical, groups orthogonal: effectively 2
    P = np.tile(np.eye(2)[[0, 0, 1, 1]], (3, 1, 1))
    assert vendi_score(P) == pytest.approx(2.0)


def test_vendi_user_kernels():
    P = np.tile(np.eye(3), (5, 1, 1))
    assert vendi_score(P, kernel=np.eye(3)) == pytest.approx(3.0)
    assert vendi_score(P, kernel=np.ones((3, 3))) == pytest.approx(1.0)
    calls = []

    def always_similar(a, b):
        calls.append((a.shape, b.shape))
        return 1.0

    assert vendi_score(P, kernel=always_similar) == pytest.approx(1.0)
    assert calls and all(shape == ((5, 3), (5, 3)) for shape in calls)


@pytest.mark.parametrize(("kernel", "match"), [
    ("rbf", (r"The 'kernel' parameter of vendi_score must be 'cosine', a callable or an \[M, M\] "
            r"array\. Got 'rbf' instead\.")),
    (np.eye(2), (r"The kernel of vendi_score must give a \[M, M\] = \[3, 3\] matrix; got shape "
                r"\(2, 2\)")),
    (np.where(np.eye(3) == 1, 1.0, np.nan), (r"The kernel matrix of vendi_score has nan at "
                                            r"\(0, 1\)")),
    (np.array([[1, 0.5, 0], [0.4, 1, 0], [0, 0, 1]]),
     r"The kernel matrix of vendi_score must be symmetric; K\[0, 1\] = 0\.5 but K\[1, 0\] = 0\.4"),
    (np.diag([1.0, 2.0, 1.0]), (r"The kernel matrix of vendi_score must have K\[i, i\] = 1; "
                               r"K\[1, 1\] = 2")),
    (np.array([[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]]),
     (r"The kernel matrix of vendi_score must be positive semi-definite; its smallest "
     r"eigenvalue \(of K / M\) is -0\.\d+")),
    (lambda a, b: 2.0, r"must have K\[i, i\] = 1; K\[0, 0\] = 2"),
])
def test_vendi_bad_kernels(kernel, match):
    with pytest.raises(ValueError, match=match):
        vendi_score(np.tile(np.eye(3), (2, 1, 1)), kernel=kernel)
