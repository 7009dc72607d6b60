"""Smoke test: benchmarks/bench_frontier.py runs at a tiny size and prints its tables."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_frontier.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_frontier", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_frontier_tiny(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "raw.json"
    code = load_bench().main(["--datasets", "digits", "--pools", "natural", "--seeds", "0",
                              "--max-rows", "200", "--budgets", "1.0", "0.5",
                              "--no-selector", "--cache", str(tmp_path / "tables"),
                              "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): line for line in text.splitlines()
            if line.startswith("| ") and not line.startswith("| method")}
    for name in ("best single", "average", "stacking", "GES", "KNORA-E", "META-DES",
                 "Cascade b=0.5", "Cascade b=1"):
        assert name in rows, name
    assert "| digits / natural | Cascade |" in text
    raw = json.loads(out.read_text())["digits/natural"][0]
    assert raw["stacking"]["cost_fraction"] == 1.0
    assert raw["Cascade b=1"]["cost_fraction"] == 1.0
    assert raw["Cascade b=0.5"]["validation_cost"] <= 0.5
    assert (tmp_path / "tables" / "digits-natural-0-200" / "test" / "table.json").is_file()


def test_bench_frontier_rejects_bad_budgets() -> None:
    with pytest.raises(SystemExit):
        load_bench().main(["--budgets", "0"])
