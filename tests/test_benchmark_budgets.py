"""Budgeted combiners in ``ensel benchmark``: the plan, the records, the frontier summary."""

from __future__ import annotations

import io
import json
import math

import pytest

from ensel.benchmark import plan_benchmark, run_benchmark
from ensel.benchmark.runner import BUDGETS
from ensel.cli import main
from ensel.report.tables import frontier, markdown


def test_plan_runs_budgeted_combiners_at_every_budget() -> None:
    plan = plan_benchmark(datasets=["digits"], combiners=["stacking", "cascade"])
    assert plan.budgets == list(BUDGETS) == [0.1, 0.2, 0.3, 0.5, 0.7, 1.0]
    assert plan.budgeted == ["cascade"]
    assert plan.names[2:] == [f"cascade[budget={b:g}]" for b in BUDGETS]
    assert plan_benchmark(datasets=["digits"], combiners=["cascade"], budgets=[]).names == \
        ["cascade"]
    assert plan_benchmark(datasets=["digits"], combiners=["cascade"],
                          budgets=[1.0, 0.25, 0.25]).budgets == [0.25, 1.0]


@pytest.mark.parametrize("budgets", [[0.0], [1.5], [True], ["0.3"]])
def test_plan_budget_errors(budgets) -> None:
    with pytest.raises(ValueError, match=r"The 'budgets' parameter of plan_benchmark must hold "
                                         r"floats in \(0, 1\]\. Got"):
        plan_benchmark(datasets=["digits"], combiners=["cascade"], budgets=budgets)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from rich.console import Console

    out = tmp_path_factory.mktemp("budgets")
    plan = plan_benchmark(datasets=["digits"], pools=["natural"], max_rows=240, deslib=False,
                          combiners=["best-single", "stacking", "cascade"], budgets=[0.3, 1.0])
    run_benchmark(plan, out, console=Console(file=io.StringIO()))
    return json.loads((out / "results.json").read_text()), out


def test_every_record_has_a_cost_fraction(run) -> None:
    records = run[0]["records"]
    by_name = {r["combiner"]: r for r in records}
    assert set(by_name) == {"best-single", "stacking", "cascade", "cascade[budget=0.3]",
                            "cascade[budget=1]"}
    assert by_name["best-single"]["cost_fraction"] == pytest.approx(0.1)
    assert by_name["stacking"]["cost_fraction"] == 1.0
    assert by_name["cascade[budget=1]"]["cost_fraction"] == 1.0
    assert by_name["cascade[budget=0.3]"]["cost_fraction"] <= 0.4
    assert by_name["cascade[budget=0.3]"]["budget"] == 0.3
    assert by_name["cascade[budget=0.3]"]["budget_of"] == "cascade"
    assert "cost" not in by_name["stacking"]             # unit costs: no absolute cost
    # the recalibrated budget keeps the shared fit's time
    assert by_name["cascade[budget=1]"]["fit_seconds"] >= \
        by_name["cascade[budget=0.3]"]["fit_seconds"] * 0.5


def test_markdown_has_the_frontier(run) -> None:
    text = (run[1] / "results.md").read_text()
    assert "## Accuracy against cost" in text
    assert "| digits / natural | cascade | 0.3: " in text


def _record(combiner, accuracy, budget=None, seed=0):
    r = {"dataset": "d", "pool": "p", "seed": seed, "combiner": combiner, "accuracy": accuracy,
         "log_loss": 0.1, "cost_fraction": budget if budget is not None else 1.0}
    if budget is not None:
        r.update(budget=budget, budget_of="cascade")
    return r


def test_frontier_hand_case() -> None:
    records = [_record("stacking", 0.95), _record("stacking", 0.97, seed=1),
               _record("cascade[budget=0.1]", 0.90, 0.1),
               _record("cascade[budget=0.5]", 0.958, 0.5),
               _record("cascade[budget=0.5]", 0.962, 0.5, seed=1),
               _record("cascade[budget=1]", 0.96, 1.0)]
    (row,) = frontier(records, "d", "p")
    assert row["budgets"] == [0.1, 0.5, 1.0]
    assert row["accuracy"] == pytest.approx([0.90, 0.96, 0.96])
    assert row["cost_to_reach"] == 0.5                  # 0.96 >= 0.96 - 0.001
    assert row["auc"] == pytest.approx((0.4 * 0.93 + 0.5 * 0.96) / 0.9)
    (row,) = frontier([r for r in records if r["combiner"] != "stacking"], "d", "p")
    assert math.isnan(row["cost_to_reach"])
    doc = {"header": {}, "records": records}
    assert "| d / p | cascade | 0.1: 0.9000 (0.10), 0.5: 0.9600 (0.50)" in markdown(doc)


@pytest.mark.parametrize("value", ["0", "1.5", "a,b"])
def test_cli_budgets_errors(tmp_path, capsys, value) -> None:
    assert main(["benchmark", "--budgets", value, "--out", str(tmp_path / "o")]) == 2
    assert "--budgets takes numbers in (0, 1], comma-separated, or 'none'" in \
        capsys.readouterr().err
