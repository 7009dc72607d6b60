"""The checks of ensel._validation, reached through the public PredictionTable constructors."""

from __future__ import annotations

import numpy as np
import pytest

from ensel import PredictionTable

HALF = np.full((4, 2, 2), 0.5)          # 4 rows, 2 members, 2 classes


def test_P_without_rows():
    with pytest.raises(ValueError, match=r"P has no rows: shape \(0, 2, 2\)"):
        PredictionTable.from_arrays(np.zeros((0, 2, 2)))


def test_P_without_classes():
    with pytest.raises(ValueError, match=r"P has no classes / outputs on axis 2: shape \(3, 2, 0"):
        PredictionTable.from_arrays(np.zeros((3, 2, 0)))


def test_multi_output_regression_needs_2d_targets():
    with pytest.raises(ValueError, match=r"y must be 2-D \[N, F\]; got a 1-D array of shape"):
        PredictionTable.from_arrays(np.zeros((4, 2, 2)), y=np.zeros(4), task="regression")


def test_single_output_regression_needs_1d_targets():
    with pytest.raises(ValueError, match=r"y must be 1-D; got shape \(4, 2\)"):
        PredictionTable.from_arrays(np.zeros((4, 2)), y=np.zeros((4, 2)), task="regression")


def test_inputs_with_the_wrong_number_of_rows():
    with pytest.raises(ValueError, match="X has 3 rows but P has 4"):
        PredictionTable.from_arrays(HALF, y=[0, 1, 0, 1], X=np.zeros((3, 2)))


def test_non_integer_float_label_for_integer_classes():
    with pytest.raises(ValueError, match=r"y has the non-integer label .*1\.5.* in row 1"):
        PredictionTable.from_arrays(HALF, y=[0, 1.5, 0, 1], classes=[0, 1])


def test_labels_that_cannot_be_compared_with_the_classes():
    dates = np.array(["2020-01-01"] * 4, dtype="datetime64[D]")
    with pytest.raises(ValueError, match=r"y has labels of type datetime64\[D\] that cannot be "
                                         r"compared with classes"):
        PredictionTable.from_arrays(HALF, y=dates, classes=[0, 1])
