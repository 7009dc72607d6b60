"""ensel.benchmark.runner: argument checks of plan_benchmark and of a user's tables."""

from __future__ import annotations

import numpy as np
import pytest

from ensel import PredictionTable
from ensel.benchmark.runner import load_user_tables, plan_benchmark, resolve_combiners


def test_unknown_combiner():
    with pytest.raises(ValueError, match=r"Unknown combiner 'nope'; choose from \['best-single'"):
        resolve_combiners(["nope"])


def test_missing_table(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"Table .*missing does not exist"):
        load_user_tables(tmp_path / "missing")


def test_regression_table_is_refused(tmp_path):
    PredictionTable.from_arrays(np.zeros((6, 2)), y=np.zeros(6), task="regression").save(
        tmp_path / "reg")
    with pytest.raises(ValueError, match=r"reg: the benchmark scores classification tables; the "
                                         r"table table is a regression table"):
        load_user_tables(tmp_path / "reg")


def test_unlabelled_table_is_refused(tmp_path):
    PredictionTable.from_arrays(np.full((6, 2, 2), 0.5)).save(tmp_path / "t")
    with pytest.raises(ValueError, match=r"the table table has no labels y; the benchmark needs"):
        load_user_tables(tmp_path / "t")


def test_table_with_datasets_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"--table runs on the given table only; it cannot be "
                                         r"combined with --datasets or --pools"):
        plan_benchmark(table=tmp_path / "t", datasets=["digits"])


@pytest.mark.parametrize("kwargs, message", [
    ({"suite": "nope"}, r"Unknown suite 'nope'; choose one of \['full', 'images', 'quick'\]"),
    ({"datasets": ["nope"]}, r"Unknown dataset 'nope'; choose from \['digits'"),
    ({"pools": ["nope"]}, r"Unknown pool 'nope'; choose from \['specialists', 'natural'\]"),
])
def test_unknown_suite_dataset_or_pool(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plan_benchmark(**kwargs)
