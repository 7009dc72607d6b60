"""The ``images`` suite of ``ensel benchmark``: CNN members on MNIST, the peers on the pixels."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

pytest.importorskip("torch")

from ensel.benchmark import SUITES, plan_benchmark, run_benchmark  # noqa: E402
from ensel.benchmark.runner import _make, _Part  # noqa: E402
from ensel.benchmark.suites import ImageSettings  # noqa: E402

PEERS = ["best-single", "average", "stacking", "greedy", "knora-e", "meta-des", "e2e-cel",
         "cascade"]
TINY = ImageSettings(member_channels=(2, 4), member_epochs=2, selector_channels=(2, 4),
                     selector_epochs=2)


def test_images_plan_runs_the_peer_set_at_the_suite_budgets():
    plan = plan_benchmark(suite="images")
    assert plan.parts == [("mnist_5k", "specialists", None), ("mnist_5k", "natural", None)]
    assert plan.seeds == [0, 1, 2] and plan.ks == [3] and plan.budgets == [0.2, 0.3, 0.4]
    assert plan.combiners == PEERS and plan.peers == []
    assert plan.images == SUITES["images"].images == ImageSettings()
    assert plan.budgeted == ["e2e-cel", "cascade"]
    assert plan.names[-6:] == ["e2e-cel[budget=0.2]", "e2e-cel[budget=0.3]",
                               "e2e-cel[budget=0.4]", "cascade[budget=0.2]",
                               "cascade[budget=0.3]", "cascade[budget=0.4]"]
    assert "images [N, 1, 28, 28]" in plan.split


def test_images_plan_takes_asked_for_combiners_and_budgets():
    plan = plan_benchmark(suite="images", combiners=["average"], budgets=[0.5],
                          pools=["natural"], max_rows=300)
    assert plan.combiners == ["average"] and plan.budgets == [0.5] and plan.ks == []
    assert plan.parts == [("mnist_5k", "natural", 300)]


def test_images_selector_gets_a_cnn_and_the_images():
    from ensel.nets import ConvNet

    est = _make("e2e-cel", 4, ImageSettings(selector_channels=(4, 8), selector_epochs=10))
    assert est.network.func is ConvNet and est.network.keywords == {"channels": (4, 8)}
    assert (est.max_epochs, est.n_iter_no_change, est.random_state) == (10, 2, 4)
    assert _make("e2e-cel", 0).network is None
    part = _Part("mnist_5k", "natural", None, 0, sel="flat sel", test="flat test",
                 images=("image sel", "image test"))
    assert part.tables_for(est) == ("image sel", "image test")
    assert part.tables_for(_make("knora-e", 0)) == ("flat sel", "flat test")
    assert part.tables_for(_make("e2e-cel", 0)) == ("flat sel", "flat test")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The images suite on 600 images, 2 epochs, narrow CNNs, one budget: seconds."""
    from rich.console import Console

    root = tmp_path_factory.mktemp("images_suite")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ENSEL_CACHE", str(root / "cache"))
        plan = plan_benchmark(suite="images", max_rows=600, seeds=1, budgets=[0.3])
        plan.images = TINY
        paths, header = run_benchmark(plan, root / "out", console=Console(file=io.StringIO()))
    return paths, header


def test_tiny_images_suite_records(tiny_run):
    paths, header = tiny_run
    assert header["failures"] == [] and header["suite"] == "images"
    records = json.loads(paths["results"].read_text())["records"]
    expected = {*PEERS, "e2e-cel[k=3]", "e2e-cel[budget=0.3]", "cascade[budget=0.3]"}
    for pool in ("specialists", "natural"):
        mine = {r["combiner"]: r for r in records if r["pool"] == pool}
        assert set(mine) == expected
        assert all(r["dataset"] == "mnist_5k" and r["n_members"] == 10 for r in mine.values())
        assert all(r["n_selection"] == 150 and r["n_test"] == 150 for r in mine.values())
        assert all(0 <= r["cost_fraction"] <= 1 + 1e-9 for r in mine.values())
        assert mine["stacking"]["cost_fraction"] == pytest.approx(1.0)
        assert mine["e2e-cel"]["selected_per_input"] == 3.0
        assert mine["e2e-cel"]["cost_fraction"] < 0.6            # runs 3 of 10 members
        assert mine["e2e-cel[k=3]"]["accuracy"] == mine["e2e-cel"]["accuracy"]   # reused
        # calibrated on 30 validation rows: near the budget, not on it
        assert mine["e2e-cel[budget=0.3]"]["cost_fraction"] < 0.6
        assert mine["cascade[budget=0.3]"]["cost_fraction"] < 0.6
    # the natural pool's members learn something in 2 epochs on 300 images (seed 0: all of
    # these are 0.80-0.85); the specialists' do not (75 rows each), so no floor there
    accuracy = {r["combiner"]: r["accuracy"] for r in records if r["pool"] == "natural"}
    assert min(accuracy[name] for name in ("stacking", "e2e-cel", "knora-e", "cascade")) > 0.7


def test_tiny_images_suite_report(tiny_run):
    paths, _ = tiny_run
    text = paths["markdown"].read_text()
    assert "## mnist_5k / specialists" in text and "## mnist_5k / natural" in text
    assert "Budgeted combiners at every budget" in text
    page = paths["report"].read_text()
    assert 'id="part-mnist-5k--specialists"' in page and 'data-plot="frontier"' in page
    plots = json.loads(paths["results"].read_text())["plots"]
    assert [p["selector"] for p in plots] == ["e2e-cel", "e2e-cel"]
    assert np.asarray(plots[0]["selection_frequency"], dtype=float).shape == (10, 10)


def test_images_suite_says_how_long_it_expects():
    # 3 seeds x (specialists 13 + 17, natural 23 + 11) measured CPU seconds; k=3 costs nothing
    assert plan_benchmark(suite="images").expected_seconds() == 192.0
    assert plan_benchmark(suite="images", pools=["natural"], seeds=1).expected_seconds() == 34.0
