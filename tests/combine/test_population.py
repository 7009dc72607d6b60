"""QO-ES and QDO-ES: hand cases, the search's invariants, the pure functions, bad parameters."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ensel import PredictionTable
from ensel.combine import QDOES, QOES, BestSingle
from ensel.combine.population import (
    distinct_members,
    ensemble_descriptors,
    ensemble_objective,
    grid_archive,
    loss_correlation,
    propose,
    quality_archive,
)
from ensel.combine.rules import log_loss

from .conftest import synthetic_arrays

CLASSES_ = (QOES, QDOES)


def _table(m: int = 4, n: int = 120, seed: int = 0) -> PredictionTable:
    P, y, X = synthetic_arrays(n=n, m=m, seed=seed)
    return PredictionTable.from_arrays(P, y=y, X=X)


# ---------------------------------------------------------------- hand cases
@pytest.mark.parametrize("cls", CLASSES_)
@pytest.mark.parametrize("metric", ["log_loss", "accuracy"])
@pytest.mark.parametrize("where", [1, 2, 4])
def test_a_copy_never_gains_weight_over_the_original_alone(cls, metric, where):
    table = _table()
    P = np.asarray(table.P)
    copy = np.insert(P, where, P[:, 0], axis=1)            # member 0 again, at position `where`
    with_copy = PredictionTable.from_arrays(copy, y=table.y)
    alone = cls(n_iterations=20, metric=metric, random_state=3).fit(table)
    both = cls(n_iterations=20, metric=metric, random_state=3).fit(with_copy)
    assert both.weights_[where] == 0.0
    np.testing.assert_array_equal(np.delete(both.weights_, where), alone.weights_)
    assert both.loss_ == alone.loss_


@pytest.mark.parametrize("cls", CLASSES_)
@pytest.mark.parametrize("metric", ["log_loss", "accuracy"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_population_best_never_gets_worse_and_is_what_is_returned(cls, metric, seed):
    table = _table(m=6, seed=seed)
    est = cls(n_iterations=15, metric=metric, random_state=seed).fit(table)
    assert len(est.history_) >= 3
    assert np.all(np.diff(est.history_) <= 0)
    singles = BestSingle(metric=metric).fit(table).scores_        # losses of members alone
    assert est.history_[0] == pytest.approx(singles.min())
    assert est.loss_ == est.history_[-1] == est.population_loss_[0]
    proba = est.predict_proba(table)
    recomputed = (log_loss(proba, table.y) if metric == "log_loss"
                  else -np.mean(proba.argmax(axis=1) == table.y))
    assert recomputed == pytest.approx(est.loss_, abs=1e-12)
    np.testing.assert_array_equal(est.population_[0], est.counts_)
    assert est.n_evaluations_ == 15 * 6


def test_reaches_the_brute_force_best_small_ensemble():
    P, y, _ = synthetic_arrays(n=60, m=3, seed=4)
    table = PredictionTable.from_arrays(P, y=y)
    losses, _ = ensemble_objective(P, y, "log_loss")
    grid = [c for c in itertools.product(range(5), repeat=3) if 0 < sum(c) <= 4]
    W = np.array(grid, dtype=float)
    brute = losses(W / W.sum(axis=1, keepdims=True)).min()
    for cls in CLASSES_:
        assert cls(n_iterations=30).fit(table).loss_ <= brute + 1e-12


@pytest.mark.parametrize("cls", CLASSES_)
def test_seeded(cls):
    table = _table(m=6)
    a, b = cls(n_iterations=10, random_state=5).fit(table), cls(n_iterations=10,
                                                                 random_state=5).fit(table)
    np.testing.assert_array_equal(a.population_, b.population_)
    np.testing.assert_array_equal(a.history_, b.history_)
    others = [cls(n_iterations=10, random_state=s).fit(table).population_ for s in range(4)]
    assert any(o.shape != others[0].shape or (o != others[0]).any() for o in others[1:])


@pytest.mark.parametrize("cls", CLASSES_)
def test_one_member_stops_when_nothing_new_can_be_proposed(cls):
    P, y, _ = synthetic_arrays(n=30, m=1)
    est = cls().fit(PredictionTable.from_arrays(P, y=y))
    assert est.weights_.tolist() == [1.0]
    assert est.n_evaluations_ == 1 and est.history_.shape == (1,)


@pytest.mark.parametrize("cls", CLASSES_)
def test_regression_beats_the_best_member(cls, reg_tables):
    sel, _ = reg_tables
    est = cls(n_iterations=20).fit(sel)
    mse = np.mean((sel.P - sel.y[:, None]) ** 2, axis=0)
    assert est.loss_ <= mse.min()
    assert est.weights_[0] == est.weights_.max()                # the least noisy member


def test_qdoes_keeps_diverse_elites():
    est = QDOES(n_iterations=30).fit(_table(m=8))
    d = est.population_descriptors_
    assert 1 < len(est.population_) <= 16
    assert len(np.unique(d[:, 0])) >= 2                        # several ensemble sizes survive
    np.testing.assert_array_equal(d[:, 0], (est.population_ > 0).sum(axis=1))


# ---------------------------------------------------------------- pure functions
def test_distinct_members_keeps_the_first_of_equal_ones():
    P = np.array([[[0.5, 0.5], [0.9, 0.1], [0.5, 0.5], [0.9, 0.1], [0.2, 0.8]]])
    assert distinct_members(P).tolist() == [0, 1, 4]


def test_objective_by_hand():
    P = np.array([[[0.8, 0.2], [0.4, 0.6]], [[0.3, 0.7], [0.1, 0.9]]])
    y = np.array([0, 1])
    losses, rows = ensemble_objective(P, y, "log_loss")
    np.testing.assert_allclose(losses(np.array([[0.5, 0.5], [1.0, 0.0]])),
                               [-(np.log(0.6) + np.log(0.8)) / 2, -(np.log(0.8) + np.log(0.7)) / 2])
    np.testing.assert_allclose(rows, -np.log([[0.8, 0.4], [0.7, 0.9]]))
    acc, errors = ensemble_objective(P, y, "accuracy")
    np.testing.assert_allclose(acc(np.array([[0.0, 1.0], [0.75, 0.25]])), [-0.5, -1.0])
    np.testing.assert_array_equal(errors, [[0.0, 1.0], [0.0, 0.0]])
    sq, sq_rows = ensemble_objective(np.array([[1.0, 3.0], [2.0, 2.0]]), np.array([2.0, 1.0]),
                                     "squared_error")
    np.testing.assert_allclose(sq(np.array([[0.5, 0.5]])), [(0.0 + 1.0) / 2])
    np.testing.assert_allclose(sq_rows, [[1.0, 1.0], [1.0, 1.0]])


def test_loss_correlation_extremes():
    rows = np.array([[0.0, 0.0, 5.0, 1.0], [1.0, 2.0, 5.0, 0.0], [2.0, 4.0, 5.0, -1.0]])
    R = loss_correlation(rows)
    assert R[0, 1] == pytest.approx(1.0) and R[0, 3] == pytest.approx(-1.0)
    assert R[0, 2] == 0.0 and R[2, 2] == 1.0                   # constant loss: 0, diagonal 1
    assert loss_correlation(rows[:, :1]).tolist() == [[1.0]]


def test_descriptors_by_hand():
    R = np.array([[1.0, 0.5, -0.5], [0.5, 1.0, 0.0], [-0.5, 0.0, 1.0]])
    d = ensemble_descriptors(np.array([[3, 0, 0], [1, 1, 1], [0, 2, 5]]), R)
    np.testing.assert_allclose(d, [[1.0, 1.0], [3.0, 0.0], [2.0, 0.0]])


def test_archives_by_hand():
    losses = np.array([0.3, 0.1, 0.1, 0.5, 0.2, 0.4])
    assert quality_archive(losses, 3).tolist() == [1, 2, 4]
    d = np.array([[1, 0.0], [1, 0.9], [2, 0.1], [3, 0.8], [3, 0.2], [2, 0.7]])
    # size edge at its median 2 -> bins {1} and {2, 3}; correlation edge at 0.45
    assert grid_archive(losses, d, n_bins=2).tolist() == [1, 2, 0, 5]
    assert grid_archive(losses, d, n_bins=1).tolist() == [1]


@pytest.mark.parametrize("crossover", [0.0, 0.5, 1.0])
def test_propose_gives_new_nonempty_children(crossover):
    rng = np.random.default_rng(0)
    parents = np.array([[2, 0, 1, 0], [0, 1, 0, 0], [1, 1, 1, 1]])
    seen = {(2, 0, 1, 0), (0, 1, 0, 0), (1, 1, 1, 1)}
    children = propose(rng, parents, seen, 10, crossover)
    assert children.shape == (10, 4) and (children.sum(axis=1) > 0).all()
    keys = {tuple((c // np.gcd.reduce(c)).tolist()) for c in children}
    assert len(keys) == 10 and keys <= seen
    assert not keys & {(2, 0, 1, 0), (0, 1, 0, 0), (1, 1, 1, 1)}
    if crossover == 0.0:                       # mutation only: one parent plus one copy
        assert all(any((c - p).min() >= 0 and (c - p).sum() == 1 for p in parents)
                   for c in children)


def test_propose_gives_up_when_everything_was_seen():
    rng = np.random.default_rng(0)
    assert propose(rng, np.array([[1]]), {(1,)}, 5, 0.5).shape == (0, 1)


# ---------------------------------------------------------------- bad parameters
@pytest.mark.parametrize("cls", CLASSES_)
@pytest.mark.parametrize("params, match", [
    ({"n_iterations": 0}, r"'n_iterations' parameter of Q\w+ES must be an int >= 1. Got 0"),
    ({"batch_size": 0}, r"'batch_size' parameter of Q\w+ES must be an int >= 1. Got 0"),
    ({"crossover_probability": 1.5}, r"'crossover_probability' .* in \[0, 1\]. Got 1.5"),
    ({"metric": "squared_error"}, r"'metric' parameter of Q\w+ES must be one of \(None, "
                                  r"'accuracy', 'log_loss'\)"),
    ({"random_state": -1}, r"'random_state' parameter of Q\w+ES must be an int >= 0. Got -1"),
])
def test_bad_parameters(cls, params, match, clf_tables):
    with pytest.raises(ValueError, match=match):
        cls(**params).fit(clf_tables[0])


def test_bad_population_size_and_bins(clf_tables):
    with pytest.raises(ValueError, match="'population_size' parameter of QOES must be an int >= 1"):
        QOES(population_size=0).fit(clf_tables[0])
    with pytest.raises(ValueError, match="'n_bins' parameter of QDOES must be an int >= 1"):
        QDOES(n_bins=0).fit(clf_tables[0])


def test_regression_metric_is_squared_error(reg_tables):
    with pytest.raises(ValueError, match=r"must be one of \(None, 'squared_error'\)"):
        QOES(metric="log_loss").fit(reg_tables[0])
