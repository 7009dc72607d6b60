"""The frontier plot draws one curve per budgeted combiner (rows named ``base[budget=b]``)."""

from __future__ import annotations

import pytest

pytest.importorskip("matplotlib")


def test_frontier_plot_draws_budget_curves() -> None:
    from ensel.report.plots import frontier

    rows = [{"combiner": "stacking", "accuracy": 0.95, "members_per_input": 10.0},
            {"combiner": "cascade[budget=1]", "accuracy": 0.95, "members_per_input": 10.0},
            {"combiner": "cascade[budget=0.2]", "accuracy": 0.93, "members_per_input": 2.0},
            {"combiner": "cascade[budget=0.5]", "accuracy": 0.95, "members_per_input": 5.0}]
    fig = frontier(rows, [], oracle=0.99, best_single=0.9, n_members=10)
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    curve = lines["cascade, budget = …"]
    assert list(curve.get_xdata()) == [2.0, 5.0, 10.0]
    assert list(curve.get_ydata()) == [0.93, 0.95, 0.95]
    assert "stacking, budget = …" not in lines
