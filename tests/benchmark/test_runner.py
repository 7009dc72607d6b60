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


def test_parts_in_two_processes_give_the_same_records(tmp_path):
    import io

    from rich.console import Console

    from ensel.benchmark import run_benchmark

    plan = plan_benchmark(datasets=["digits"], combiners=["average", "stacking", "knora-e"],
                          max_rows=200, seeds=2, budgets=[])
    runs = {}
    for jobs in (1, 2):
        paths, header = run_benchmark(plan, tmp_path / str(jobs), jobs=jobs,
                                      console=Console(file=io.StringIO()))
        document = json.loads(paths["results"].read_text())
        runs[jobs] = document
        assert header["jobs"] == jobs and paths["report"].is_file()
    untimed = [[{k: v for k, v in r.items() if not k.endswith("_seconds")} for r in d["records"]]
               for d in runs.values()]
    assert untimed[0] == untimed[1] and len(untimed[0]) == 2 * 2 * 3   # pools x seeds x 3
    assert [p["pool"] for p in runs[2]["plots"]] == ["specialists", "natural"]


def test_jobs_must_be_a_positive_int(tmp_path):
    from ensel.benchmark import run_benchmark

    with pytest.raises(ValueError, match=r"The 'jobs' parameter of run_benchmark must be an "
                                         r"int >= 1. Got 0 instead."):
        run_benchmark(plan_benchmark(datasets=["digits"], combiners=["average"]), tmp_path,
                      jobs=0)


def test_cli_jobs(tmp_path, capsys):
    from ensel.cli import main

    out = tmp_path / "out"
    assert main(["benchmark", "--datasets", "digits", "--pools", "natural", "--combiners",
                 "average", "--budgets", "none", "--max-rows", "100", "--jobs", "2",
                 "--out", str(out)]) == 0
    header = json.loads((out / "results.json").read_text())["header"]
    assert header["jobs"] == 2 and "--jobs 2" in header["command"]
    assert main(["benchmark", "--jobs", "0", "--out", str(tmp_path / "no")]) == 2
    assert "Invalid value for '--jobs': must be an int >= 1. Got 0 instead." in \
        capsys.readouterr().err


def test_a_part_that_raises_in_a_process_stops_the_run(tmp_path):
    """A table that cannot be built raises from run_benchmark with jobs=2 as with 1."""
    from ensel.benchmark import run_benchmark

    plan = plan_benchmark(datasets=["digits"], combiners=["average"], budgets=[])
    plan.parts = [("no-such-dataset", "natural", None), *plan.parts]
    with pytest.raises(ValueError, match=r"no-such-dataset"):
        run_benchmark(plan, tmp_path, jobs=2)


def test_one_thread_limits_torch_blas_and_openmp_and_restores_them():
    torch = pytest.importorskip("torch")
    from threadpoolctl import threadpool_info

    from ensel.benchmark.runner import one_thread

    torch.set_num_threads(2)
    try:
        with one_thread():
            assert torch.get_num_threads() == 1
            pools = threadpool_info()
            assert {p["internal_api"] for p in pools} >= {"openmp", "openblas"}
            assert all(p["num_threads"] == 1 for p in pools)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)


def test_selector_budgets_come_from_one_fit_budgets_call(tmp_path, monkeypatch):
    """The budgeted selector is fitted at every budget by one ``fit_budgets`` call (each copy
    as fitted alone); if that call raises, the budgets are fitted one by one."""
    import io

    from rich.console import Console
    from sklearn.base import clone

    from ensel.benchmark import run_benchmark
    from ensel.benchmark import runner as R
    from ensel.combine import DifferentiableSelector

    fast = DifferentiableSelector(max_epochs=3, hidden_layer_sizes=(8,), n_iter_no_change=2)
    monkeypatch.setattr(R, "_make", lambda name, seed, images=None: clone(fast))
    calls = []
    joint = DifferentiableSelector.fit_budgets
    monkeypatch.setattr(DifferentiableSelector, "fit_budgets", lambda self, table, budgets:
                        calls.append(list(budgets)) or joint(self, table, budgets))
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(160, 3)), rng.integers(0, 3, 160)
    P = np.stack([np.where((X[:, j] > 0)[:, None], np.eye(3)[y] * 0.7 + 0.1,
                           rng.dirichlet(np.ones(3), 160)) for j in range(3)], axis=1)
    PredictionTable.from_arrays(P, y=y, X=X, costs=[1.0, 2.0, 3.0]).save(tmp_path / "t")
    plan = plan_benchmark(table=tmp_path / "t", combiners=["e2e-cel"], budgets=[0.3, 0.6],
                          ks=[])
    paths, header = run_benchmark(plan, tmp_path / "a", console=Console(file=io.StringIO()))
    records = {r["combiner"]: r for r in json.loads(paths["results"].read_text())["records"]}
    assert header["failures"] == [] and calls == [[0.3, 0.6]]
    sel, test = load_user_tables(tmp_path / "t")[:2]
    for b in (0.3, 0.6):
        alone = clone(fast).set_params(budget=b).fit(sel)
        assert records[f"e2e-cel[budget={b:g}]"]["accuracy"] == pytest.approx(
            float((alone.predict(test) == test.y).mean()), abs=5e-6)   # records: 5 digits

    def broken(self, table, budgets):
        raise RuntimeError("no")

    monkeypatch.setattr(DifferentiableSelector, "fit_budgets", broken)
    paths, header = run_benchmark(plan, tmp_path / "b", console=Console(file=io.StringIO()))
    again = {r["combiner"]: r for r in json.loads(paths["results"].read_text())["records"]}
    assert header["failures"] == []
    assert again["e2e-cel[budget=0.3]"]["accuracy"] == records["e2e-cel[budget=0.3]"]["accuracy"]
