"""Members -> predictions (ensel.members), through PredictionTable.from_estimators."""

from __future__ import annotations

import numpy as np
import pytest

from ensel import PredictionTable

X = np.zeros((4, 2))


def test_a_tuple_must_be_a_name_estimator_pair():
    with pytest.raises(ValueError, match=r"estimators\[0\] must be a \(name, estimator\) pair; "
                                         r"got a tuple of 3 items"):
        PredictionTable.from_estimators([("a", len, "extra")], X, task="regression")


def test_a_member_that_cannot_predict_is_a_type_error():
    with pytest.raises(TypeError, match=r"member 'thing' \(object\) has no predict and is not "
                                        r"callable"):
        PredictionTable.from_estimators([("thing", object())], X, task="regression")


def test_a_member_returning_the_wrong_number_of_rows():
    with pytest.raises(ValueError, match=r"member 'short' returned 3 rows for 4 inputs"):
        PredictionTable.from_estimators([("short", lambda A: np.zeros(len(A) - 1))], X,
                                        task="regression")


def test_a_member_that_fails_is_named():
    def broken(A):
        raise ValueError("bad input")

    with pytest.raises(ValueError, match=r"member 'broken' failed to predict: bad input"):
        PredictionTable.from_estimators([("broken", broken)], X, task="regression")
