"""oracle_accuracy and gap_closed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ensel.metrics import accuracy_score, gap_closed, oracle_accuracy


def test_oracle_hand_case():
    P = np.array([
        [[0.9, 0.1], [0.4, 0.6]],    # y=0: member 0 right
        [[0.8, 0.2], [0.3, 0.7]],    # y=1: member 1 right
        [[0.2, 0.8], [0.1, 0.9]],    # y=0: both wrong
    ])
    assert oracle_accuracy(P, [0, 1, 0]) == pytest.approx(2 / 3)


def test_oracle_is_at_least_every_member():
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(3), size=(50, 4))
    y = rng.integers(0, 3, size=50)
    oracle = oracle_accuracy(P, y)
    assert all(oracle >= accuracy_score(y, P[:, m]) for m in range(4))


def test_oracle_of_identical_members_is_their_accuracy():
    proba = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    P = np.repeat(proba[:, None, :], 3, axis=1)
    assert oracle_accuracy(P, [0, 1, 1]) == accuracy_score([0, 1, 1], proba)


def test_gap_closed_hand_cases():
    assert gap_closed(0.95, 0.73, 0.99) == pytest.approx(0.22 / 0.26)
    assert gap_closed(0.99, 0.73, 0.99) == pytest.approx(1.0)
    assert gap_closed(0.73, 0.73, 0.99) == 0.0
    assert gap_closed(0.7, 0.8, 0.9) == pytest.approx(-1.0)         # worse than the best member
    assert gap_closed(0.3, 0.5, 0.1) == pytest.approx(0.5)          # a loss: lower is better
    assert gap_closed(np.float32(0.9), 0.8, 1) == pytest.approx(0.5)


def test_gap_closed_nan_without_gap():
    assert math.isnan(gap_closed(0.9, 0.9, 0.9))
    assert math.isnan(gap_closed(0.95, 0.9, 0.9))


@pytest.mark.parametrize(("args", "name", "shown"), [
    ((float("nan"), 0.8, 0.9), "score", "nan"),
    ((0.9, float("inf"), 0.9), "best_single", "inf"),
    ((0.9, 0.8, "0.9"), "oracle", "'0.9'"),
    ((0.9, 0.8, None), "oracle", "None"),
    ((True, 0.8, 0.9), "score", "True"),
])
def test_gap_closed_bad_numbers(args, name, shown):
    with pytest.raises(ValueError, match=rf"The '{name}' argument of gap_closed must be a finite "
                                         rf"real number\. Got {shown} instead\."):
        gap_closed(*args)
