"""``ensel benchmark``: a tiny end-to-end run, user tables, and every error path."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ensel import PredictionTable
from ensel.benchmark import deslib_available, plan_benchmark
from ensel.cli import main
from ensel.report.results import HEADER_KEYS, RECORD_KEYS

HAVE_DESLIB = deslib_available()


def _table(n: int = 160, *, with_X: bool = True, seed: int = 0) -> PredictionTable:
    """Four members, three classes; member m is good where X[:, 0] falls in its quarter."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = rng.integers(0, 3, n)
    region = np.digitize(X[:, 0], [-0.7, 0.0, 0.7])
    P = rng.dirichlet(np.ones(3), size=(n, 4))
    for m in range(4):
        good = region == m
        P[good, m] = 0.1 / 2 + 0.85 * np.eye(3)[y[good]]
    labels = np.array(["a", "b", "c"])[y]
    return PredictionTable.from_arrays(P, y=labels, X=X if with_X else None,
                                       members=[f"m{i}" for i in range(4)],
                                       classes=["a", "b", "c"])


# ---------------------------------------------------------------- smoke: a real tiny suite
@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    combiners = "average,stacking,knora-e,e2e-cel,oracle" + (",deslib:knora-e"
                                                             if HAVE_DESLIB else "")
    code = main(["benchmark", "--suite", "quick", "--datasets", "digits", "--max-rows", "200",
                 "--combiners", combiners, "--ks", "1,3", "--budgets", "none",
                 "--out", str(out)])
    return code, out


def test_smoke_writes_the_three_files(smoke):
    code, out = smoke
    assert code == 0
    for name in ("results.json", "results.md", "report.html"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0


def test_smoke_json_has_header_records_and_plot_data(smoke):
    _, out = smoke
    document = json.loads((out / "results.json").read_text())
    header, records, plots = document["header"], document["records"], document["plots"]
    for key in (*HEADER_KEYS, "seeds", "combiners", "wall_seconds", "split"):
        assert key in header, key
    assert header["suite"] == "quick" and header["seeds"] == [0]
    assert header["command"].startswith("ensel benchmark --suite quick --combiners average,")
    assert "--datasets digits" in header["command"] and "--max-rows 200" in header["command"]
    assert header["packages"]["ensel"] and header["packages"]["numpy"]
    assert header["failures"] == []
    names = {"average", "stacking", "knora-e", "e2e-cel", "oracle", "e2e-cel[k=1]",
             "e2e-cel[k=3]"} | ({"deslib:knora-e"} if HAVE_DESLIB else set())
    for pool in ("specialists", "natural"):
        mine = [r for r in records if r["dataset"] == "digits" and r["pool"] == pool]
        assert {r["combiner"] for r in mine} == names
        for r in mine:
            for key in RECORD_KEYS:
                assert key in r, (r["combiner"], key)
            assert 0 <= r["accuracy"] <= 1 and r["seed"] == 0
            assert r["n_rows"] == 200 and r["n_rows_available"] == 1797
        by = {r["combiner"]: r for r in mine}
        assert by["e2e-cel[k=1]"]["k"] == 1 and by["e2e-cel"]["k"] is None
        assert by["e2e-cel[k=1]"]["members_per_input"] == 1.0
        # the default selector is k=3: its record is reused for the sweep, not refitted
        assert by["e2e-cel[k=3]"]["accuracy"] == by["e2e-cel"]["accuracy"]
        assert by["oracle"]["accuracy"] >= max(r["accuracy"] for r in mine)
    assert len(plots) == 2
    for entry in plots:
        assert entry["selector"] == "e2e-cel"
        assert np.asarray(entry["selection_frequency"], dtype=float).shape == (10, 10)
        D = np.asarray(entry["disagreement"], dtype=float)
        assert D.shape == (10, 10) and np.allclose(D, D.T) and np.all(np.diag(D) == 0)
        assert {"average", "stacking", "e2e-cel"} <= set(entry["reliability"])
        curve = entry["reliability"]["average"]
        assert len(curve["counts"]) == 10 and sum(curve["counts"]) == 50   # test rows


def test_smoke_markdown_and_report(smoke):
    _, out = smoke
    text = (out / "results.md").read_text()
    assert "## Who wins where" in text and "## digits / specialists" in text
    assert "## DifferentiableSelector against k" in text
    assert "stratified subsample of 200 of 1,797 rows" in text
    page = (out / "report.html").read_text()
    assert 'id="part-digits--specialists"' in page and 'id="part-digits--natural"' in page
    assert page.count('<figure data-plot="') == 10


# ---------------------------------------------------------------- a user's table
def test_user_table_is_split_with_a_stated_seed(tmp_path, capsys):
    path = _table().save(tmp_path / "mytable")
    out = tmp_path / "out"
    code = main(["benchmark", "--table", str(path), "--combiners", "average,knora-e,e2e-cel",
                 "--ks", "none", "--budgets", "none", "--split-seed", "3", "--out", str(out)])
    assert code == 0
    err = capsys.readouterr().err
    assert "split 50/50 into selection/test, stratified, seed 3" in err
    document = json.loads((out / "results.json").read_text())
    assert document["header"]["suite"] == "table"
    assert "seed 3" in document["header"]["split"]
    records = document["records"]
    assert {r["combiner"] for r in records} == {"average", "knora-e", "e2e-cel"}
    assert {(r["dataset"], r["pool"]) for r in records} == {("mytable", "user")}
    assert all(r["n_selection"] == 80 and r["n_test"] == 80 for r in records)
    assert (out / "report.html").is_file()


def test_user_table_with_selection_and_test_parts(tmp_path):
    root = tmp_path / "parts"
    _table(seed=0).save(root / "selection")
    _table(n=60, seed=1).save(root / "test")
    plan = plan_benchmark(table=root, combiners=["average"])
    sel, test = plan.tables
    assert (sel.n_samples, test.n_samples) == (160, 60)
    assert "as saved" in plan.split


def test_user_table_without_inputs_skips_dynamic_combiners(tmp_path, capsys):
    path = _table(with_X=False).save(tmp_path / "noX")
    out = tmp_path / "out"
    combiners = "average,knora-e,e2e-cel" + (",deslib:ola" if HAVE_DESLIB else "")
    code = main(["benchmark", "--table", str(path), "--combiners", combiners, "--ks", "none",
                 "--budgets", "none", "--out", str(out)])
    assert code == 0
    err = capsys.readouterr().err
    assert "skipped knora-e: needs the inputs X; the table has none" in err
    document = json.loads((out / "results.json").read_text())
    assert {r["combiner"] for r in document["records"]} == {"average", "e2e-cel"}
    skipped = {s["combiner"] for s in document["header"]["skipped"]}
    assert "knora-e" in skipped and (not HAVE_DESLIB or "deslib:ola" in skipped)
    assert "knora-e: skipped — needs the inputs X" in (out / "results.md").read_text()


def test_a_failing_combiner_is_recorded_and_exits_1(tmp_path, capsys, monkeypatch):
    from ensel.combine.static import Vote

    def broken(self, table):
        raise RuntimeError("deliberately broken")

    monkeypatch.setattr(Vote, "fit", broken)
    path = _table().save(tmp_path / "t")
    code = main(["benchmark", "--table", str(path), "--combiners", "average,vote",
                 "--out", str(tmp_path / "out")])
    assert code == 1
    assert "vote failed: RuntimeError: deliberately broken" in capsys.readouterr().err
    document = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [r["combiner"] for r in document["records"]] == ["average"]
    assert document["header"]["failures"][0]["combiner"] == "vote"


def test_full_suite_says_how_long_it_expects(tmp_path, capsys, monkeypatch):
    from ensel.benchmark import runner

    def stop(*args, **kwargs):
        raise ValueError("stopped before running")

    monkeypatch.setattr(runner, "run_benchmark", stop)
    assert main(["benchmark", "--suite", "full", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "expected duration: about" in err and "stopped before running" in err
    plan = plan_benchmark(suite="full", deslib=False)
    assert plan.seeds == [0, 1, 2] and plan.ks == [1, 2, 3, 4, 5]
    assert len(plan.parts) == 8 and plan.expected_seconds() > 600
    assert not (tmp_path / "results.json").exists()


# ---------------------------------------------------------------- error paths
@pytest.mark.parametrize("args, message", [
    (["--suite", "huge"], "Unknown suite 'huge'; choose one of ['full', 'images', 'quick']"),
    (["--combiners", "average,nope"], "Unknown combiner 'nope'; choose from"),
    (["--combiners", "deslib:nope"], "Unknown combiner 'deslib:nope'"),
    (["--datasets", "mnist"], "Unknown dataset 'mnist'"),
    (["--pools", "weird"], "Unknown pool 'weird'"),
    (["--seeds", "0"], "Invalid value for '--seeds': must be an int >= 1. Got 0 instead."),
    (["--split-seed", "-1"], "Invalid value for '--split-seed': must be an int >= 0. Got -1"),
    (["--ks", "one"], "--ks takes ints >= 1, ranges like 1-5, or 'none'. Got 'one'."),
    (["--ks", "0"], "--ks takes ints >= 1, ranges like 1-5, or 'none'. Got '0'."),
    (["--ks", "2-x"], "--ks takes ints >= 1, ranges like 1-5, or 'none'. Got '2-x'."),
    (["--max-rows", "5"], "Invalid value for '--max-rows': must be an int >= 20. Got 5 instead."),
    (["--table", "/nonexistent/table"], "Table /nonexistent/table does not exist."),
])
def test_bad_arguments_exit_2_with_a_message(tmp_path, capsys, args, message):
    assert main(["benchmark", *args, "--out", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_table_errors(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["benchmark", "--table", str(tmp_path / "empty")]) == 2
    assert "is not a saved PredictionTable: no table.json" in capsys.readouterr().err

    t = _table()
    PredictionTable.from_arrays(t.P, X=t.X).save(tmp_path / "unlabelled")
    assert main(["benchmark", "--table", str(tmp_path / "unlabelled")]) == 2
    assert "the table table has no labels y" in capsys.readouterr().err

    rng = np.random.default_rng(0)
    PredictionTable.from_arrays(rng.normal(size=(20, 3)), y=rng.normal(size=20),
                                task="regression").save(tmp_path / "reg")
    assert main(["benchmark", "--table", str(tmp_path / "reg")]) == 2
    assert "scores classification tables; the table table is a regression" in \
        capsys.readouterr().err

    assert main(["benchmark", "--table", str(tmp_path / "reg"), "--datasets", "digits"]) == 2
    assert "cannot be combined with --datasets" in capsys.readouterr().err


def test_selection_and_test_parts_must_match(tmp_path):
    root = tmp_path / "parts"
    _table().save(root / "selection")
    t = _table(seed=1)
    t.select_members(["m1", "m0", "m2", "m3"]).save(root / "test")
    with pytest.raises(ValueError, match="selection and test tables have different members"):
        plan_benchmark(table=root)


def test_deslib_asked_for_but_missing(monkeypatch):
    from ensel.benchmark import runner

    monkeypatch.setattr(runner, "deslib_available", lambda: False)
    with pytest.raises(ValueError, match=r"deslib:ola, deslib:knora-u need DESlib, which is not"):
        plan_benchmark(combiners=["deslib:ola,deslib:knora-u"])
    with pytest.raises(ValueError, match=r"deslib:knora-e needs DESlib, which is not installed; "
                                         r"install it with: pip install ensel\[peers\]"):
        plan_benchmark(combiners=["deslib:knora-e"])
    with pytest.raises(ValueError, match="DESlib's methods were asked for"):
        plan_benchmark(deslib=True)
    plan = plan_benchmark(datasets=["digits"])             # default: DESlib quietly left out
    assert plan.peers == []


def test_quick_runs_every_built_in_dataset(monkeypatch):
    monkeypatch.delenv("ENSEL_DATASETS", raising=False)
    plan = plan_benchmark(suite="quick", deslib=False)
    assert [d for d, _, _ in plan.parts[::2]] == ["digits", "breast_cancer", "pendigits", "letter"]
    assert plan.skipped == []


def test_quick_skips_missing_optional_datasets(monkeypatch, tmp_path):
    from ensel import datasets

    monkeypatch.setenv("ENSEL_DATASETS", str(tmp_path))     # an empty folder
    monkeypatch.setattr(datasets, "_PACKAGE_DATA", tmp_path / "stripped")   # no package data
    plan = plan_benchmark(suite="quick", deslib=False)
    assert {d for d, _, _ in plan.parts} == {"digits", "breast_cancer"}
    assert {s["dataset"] for s in plan.skipped} == {"pendigits", "letter"}
    with pytest.raises(FileNotFoundError,
                       match=r"The dataset '(pendigits|letter)\.csv\.gz' was not found"):
        plan_benchmark(suite="full", deslib=False)


def test_missing_matplotlib_hint_is_printed_literally(tmp_path, monkeypatch):
    import io
    import sys

    from rich.console import Console

    from ensel.benchmark.runner import _Runner

    monkeypatch.setitem(sys.modules, "matplotlib", None)        # import matplotlib fails
    console = Console(file=io.StringIO(), width=200)
    plan = plan_benchmark(datasets=["digits"], combiners=["average"], deslib=False)
    paths = _Runner(plan, tmp_path, "ensel benchmark", console).write(final=True, wall=0.0)
    assert "report" not in paths and (tmp_path / "results.json").is_file()
    assert "(pip install ensel[report])" in console.file.getvalue()


def test_selection_and_test_parts_must_share_classes(tmp_path):
    root = tmp_path / "parts"
    _table().save(root / "selection")
    t = _table(seed=1)
    PredictionTable.from_arrays(t.P, y=np.array(["x", "y", "z"])[t.y], X=t.X,
                                members=t.members, classes=["x", "y", "z"]).save(root / "test")
    with pytest.raises(ValueError, match=r"different classes \(\['a', 'b', 'c'\] vs "
                                         r"\['x', 'y', 'z'\]\)"):
        plan_benchmark(table=root)


@pytest.mark.parametrize("kwargs, message", [
    ({"seeds": 0}, "The 'seeds' parameter of plan_benchmark must be an int >= 1. Got 0"),
    ({"max_rows": 5}, "The 'max_rows' parameter of plan_benchmark must be an int >= 20. Got 5"),
    ({"split_seed": -1}, "The 'split_seed' parameter of plan_benchmark must be an int >= 0"),
    ({"ks": [2, 0]}, "The 'ks' parameter of plan_benchmark must be an int >= 1. Got 0"),
    ({"seeds": True}, "The 'seeds' parameter of plan_benchmark must be an int >= 1. Got True"),
])
def test_plan_benchmark_number_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plan_benchmark(datasets=["digits"], combiners=["average", "e2e-cel"], **kwargs)


def test_deslib_combiner_errors_before_importing_deslib():
    from ensel.benchmark import DESlibCombiner

    with pytest.raises(ValueError, match=r"The 'method' parameter of DESlibCombiner must be one "
                                         r"of \[.*'knora-e'.*\]. Got 'nope' instead"):
        DESlibCombiner("nope", None).fit(_table())
    with pytest.raises(ValueError, match="DESlib's knora-e needs the inputs X; the table has none"):
        DESlibCombiner("knora-e", None).fit(_table(with_X=False))
