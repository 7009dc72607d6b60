"""ensel.benchmark.runner: argument checks of plan_benchmark and of a user's tables."""

from __future__ import annotations

import json

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


def test_budgets_recalibrate_the_default_fit(tmp_path, monkeypatch):
    """A combiner with ``at_budget`` is fitted once per part: its default run's fit is
    recalibrated at every budget (equal to fitting at that budget, see Cascade.at_budget)."""
    import io

    from rich.console import Console

    from ensel.benchmark import run_benchmark
    from ensel.combine import Cascade

    fits = []
    fit = Cascade.fit
    monkeypatch.setattr(Cascade, "fit", lambda self, table: fits.append(self.budget) or
                        fit(self, table))
    plan = plan_benchmark(datasets=["digits"], pools=["natural"], combiners=["cascade"],
                          budgets=[0.2, 0.5], max_rows=400)
    paths, header = run_benchmark(plan, tmp_path, console=Console(file=io.StringIO()))
    assert header["failures"] == [] and fits == [0.3]          # the default's budget, once
    records = {r["combiner"]: r for r in json.loads(paths["results"].read_text())["records"]}
    assert set(records) == {"cascade", "cascade[budget=0.2]", "cascade[budget=0.5]"}
    assert records["cascade[budget=0.5]"]["fit_seconds"] >= records["cascade"]["fit_seconds"]
