"""Smoke test: benchmarks/bench_measured_cost.py runs at a tiny size and prints its tables."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_measured_cost.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_measured_cost", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_measured_cost_tiny(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "raw.json"
    code = load_bench().main(["--datasets", "digits", "--seeds", "0", "--max-rows", "200",
                              "--budgets", "0.5", "--grid", "0.5", "1.0", "--methods",
                              "Cascade", "--repeats", "1", "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "| stacking | — |" in text and "| Cascade | 0.5" in text
    assert "| digits | Cascade |" in text
    raw = json.loads(out.read_text())["digits"]
    stacking = raw["stacking"][0]
    assert stacking["cost_fraction"] == pytest.approx(1.0)
    assert stacking["member_s_per_1000"] == pytest.approx(1000 * sum(stacking["costs"]))
    assert len(stacking["costs"]) == 10 and min(stacking["costs"]) > 0
    cascade = raw["Cascade"]["points"]["0.5"][0]
    assert cascade["cost_fraction"] == pytest.approx(cascade["account_cost_fraction"])
    assert cascade["cost_fraction"] < 1.0 and cascade["wall_s_per_1000"] > 0
    assert cascade["stacking_wall_s_per_1000"] > 0              # timed beside stacking
    assert stacking["stacking_wall_s_per_1000"] == stacking["wall_s_per_1000"]
    assert raw["Cascade"]["match"] in (0.5, 1.0, None)


@pytest.mark.parametrize("argv", [["--budgets", "0"], ["--grid", "1.5"], ["--repeats", "0"]])
def test_bench_measured_cost_rejects_bad_arguments(argv) -> None:
    with pytest.raises(SystemExit):
        load_bench().main(argv)
