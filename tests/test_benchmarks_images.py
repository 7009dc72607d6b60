"""Smoke test: benchmarks/bench_images.py at a tiny size prints its tables, reuses its cache."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_images.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_images", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_images_tiny(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--pools", "natural", "--seeds", "0", "--max-rows", "200", "--member-epochs", "1",
            "--selector-epochs", "1", "--budgets", "0.5", "--cache", str(tmp_path / "cache")]
    bench = load_bench()
    assert bench.main([*args, "--out", str(tmp_path / "raw.json")]) == 0
    text = capsys.readouterr().out
    rows = {line.split("|")[1].strip() for line in text.splitlines()
            if line.startswith("| ") and not line.startswith("| method")}
    assert rows == {"best single", "average", "stacking", "GES", "KNORA-E", "META-DES",
                    "selector CNN k=3", "selector CNN b=0.5", "Cascade b=0.5"}
    assert "natural / selector CNN: cost to reach stacking" in text
    raw = json.loads((tmp_path / "raw.json").read_text())["natural"][0]
    assert raw["info"]["cached"] == 0 and raw["scores"]["stacking"]["cost_fraction"] == 1.0
    assert raw["scores"]["selector CNN k=3"]["members"] == 3.0
    assert bench.main([*args, "--out", str(tmp_path / "again.json")]) == 0
    again = json.loads((tmp_path / "again.json").read_text())["natural"][0]
    assert again["info"]["cached"] == 10                        # every member from the cache
    assert again["scores"]["stacking"]["accuracy"] == raw["scores"]["stacking"]["accuracy"]
