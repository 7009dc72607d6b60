"""The routing cost-quality figure: log cost axis, labelled single models, one curve a router."""

from __future__ import annotations

import pytest

pytest.importorskip("matplotlib", reason="the report needs matplotlib (pip install ensel[report])")

from ensel.report import plots as P

EVALUATION = {
    "single_models": {"org/small": {"cost": 0.001, "quality": 0.5},
                      "big": {"cost": 0.1, "quality": 0.9}},
    "best_single": "big",
    "results": {
        "best single": {"kind": "single", "cost": [0.1], "quality": [0.9], "aiq": 0.0},
        "zero router": {"kind": "zero", "cost": [0.001, 0.1], "quality": [0.5, 0.9],
                        "aiq": 0.7},
        "oracle": {"kind": "router", "cost": [0.002, 0.05], "quality": [0.8, 0.95],
                   "aiq": 0.9},
        "ensel learned": {"kind": "router", "cost": [0.001, 0.01, 0.1],
                          "quality": [0.5, 0.85, 0.9], "aiq": float("nan")},
    },
}


def test_axes_labels_and_curves():
    fig = P.routing_cost_quality(EVALUATION, title="t")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_title() == "t"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["zero router", "oracle (AIQ 0.900)", "ensel learned"]
    assert sorted(t.get_text() for t in ax.texts) == ["big", "small"]     # org/ cut off
    # every curve runs from the router's cheapest point to the dearest single model
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert lines["oracle (AIQ 0.900)"].get_xdata()[0] == pytest.approx(0.002)
    assert lines["ensel learned"].get_xdata()[-1] == pytest.approx(0.1)
    assert lines["ensel learned"].get_ydata().max() == pytest.approx(0.9)
    png = P.to_png(fig)
    assert png[:4] == b"\x89PNG"
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert labels and not any("$" in text for text in labels)      # no raw mathtext


def test_zero_or_negative_costs_fall_back_to_a_linear_axis():
    ev = {**EVALUATION, "single_models": {"a": {"cost": 0.0, "quality": 0.5},
                                          "big": {"cost": 1.0, "quality": 0.9}},
          "results": {}}
    fig = P.routing_cost_quality(ev)
    assert fig.axes[0].get_xscale() == "linear"
