"""The cost/accuracy figure names every combiner; reference lines never hide one another."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="the report needs matplotlib (pip install ensel[report])")

from ensel.report import plots as P


def _row(name: str, accuracy: float, cost: float) -> dict:
    return {"combiner": name, "accuracy": accuracy, "members_per_input": cost}


# breast_cancer / natural of a real quick run: eight combiners share (10, 0.972)
ROWS = [_row("oracle", 0.993, 10), _row("qo-es", 0.979, 3), _row("e2e-cel", 0.979, 3),
        _row("knora-e", 0.979, 8.43), _row("knora-u", 0.979, 10), _row("neural", 0.979, 10),
        _row("ola", 0.972, 1), _row("best-single", 0.972, 1), _row("qdo-es", 0.972, 2),
        _row("greedy", 0.972, 4), _row("weighted-average", 0.972, 9)] + [
        _row(n, 0.972, 10) for n in ("stacking", "average", "lca", "meta-des", "vote",
                                     "deslib:ola", "deslib:meta-des")]
SWEEP = [_row("e2e-cel[k=1]", 0.958, 1), _row("e2e-cel[k=3]", 0.979, 3)]


@pytest.fixture(scope="module")
def figure():
    fig = P.frontier(ROWS, SWEEP, oracle=0.993, best_single=0.979, n_members=10)
    P.to_png(fig)                                   # lay it out as the report does
    return fig


def _numbers(fig):
    return [t for t in fig.axes[0].texts if t.get_text().isdigit()]


def _boxes(fig):
    """Window extents of the numbers' text alone (an annotation's own extent adds its line)."""
    from matplotlib.text import Text

    renderer = fig.canvas.get_renderer()
    return [Text.get_window_extent(t, renderer) for t in _numbers(fig)]


def test_every_combiner_is_named_once_in_the_key(figure):
    key = " ".join(" ".join(t.get_text().split()) for t in figure.legends[0].get_texts())
    names = [r["combiner"] for r in ROWS + SWEEP if r["combiner"] != "oracle"]
    for name in names:
        assert f" {name}," in key or f" {name}:" in key, name
    assert "8 stacking, average, lca, meta-des, vote, deslib:ola," in key    # shared point
    assert "oracle 0.993" in key and "best single 0.979" in key


def test_one_number_per_distinct_point(figure):
    numbers = _numbers(figure)
    distinct = {(round(r["members_per_input"], 2), r["accuracy"]) for r in ROWS[1:] + SWEEP}
    assert sorted(int(t.get_text()) for t in numbers) == list(range(1, len(distinct) + 1))
    assert len(distinct) == 9
    first = next(t for t in numbers if t.get_text() == "1")
    assert first.xy == (3.0, 0.979) and first.get_fontweight() == "bold"   # on the frontier


def test_numbers_do_not_overlap(figure):
    boxes = _boxes(figure)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), (a, b)


def test_crowded_column_of_points_stays_readable():
    rows = [_row(f"c{i}", 0.95 + 0.001 * i, 10) for i in range(9)]
    fig = P.frontier(rows, [], oracle=0.99, best_single=0.7, n_members=10)
    P.to_png(fig)
    boxes = _boxes(fig)
    assert len(boxes) == 9
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    axes = fig.axes[0].get_window_extent()
    assert all(axes.y0 <= b.y0 and b.y1 <= axes.y1 for b in boxes)


@pytest.mark.parametrize("values, gap", [
    ([0.5, 0.5, 0.5], 0.1), ([0.1, 0.9], 0.1), ([0.94, 0.95, 0.96, 0.97], 0.05),
    (list(np.random.default_rng(0).uniform(0, 1, 12)), 0.06)])
def test_spread_keeps_order_and_gap(values, gap):
    values = np.array(values)
    out = P._spread(values, gap)
    order = np.argsort(values, kind="stable")
    assert np.all(np.diff(out[order]) >= gap - 1e-9)
    if len(values) * gap <= 0.92:
        assert out.min() >= 0.03 - 1e-9 and out.max() <= 0.95 + 1e-9


def test_spread_leaves_separate_labels_alone_and_centres_a_block():
    np.testing.assert_allclose(P._spread(np.array([0.2, 0.6]), 0.1), [0.2, 0.6])
    np.testing.assert_allclose(P._spread(np.array([0.5, 0.5, 0.5]), 0.1), [0.4, 0.5, 0.6])


def test_equal_reference_lines_share_one_labelled_line():
    sweep = [{"k": 1, "accuracy": 0.965, "accuracy_std": 0.0},
             {"k": 3, "accuracy": 0.958, "accuracy_std": 0.0}]
    fig = P.accuracy_vs_k(sweep, {"stacking": 0.958, "average": 0.958, "best single": 0.979})
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert sorted(labels) == ["best single 0.979", "e2e-cel at fixed k",
                              "stacking = average 0.958"]
    fig = P.accuracy_vs_k(sweep, {"stacking": 0.959, "average": 0.958})
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "stacking 0.959" in labels and "average 0.958" in labels
