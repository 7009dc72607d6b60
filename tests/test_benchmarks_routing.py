"""Smoke test: benchmarks/bench_routing.py runs at tiny sizes and prints its table."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_routing.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_routing", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_bench_routing_prints_the_table(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    out_json = tmp_path / "routing.json"
    code = load_bench().main(["--tasks", "mbpp", "--seeds", "1", "--max-rows", "60",
                              "--epochs", "3", "--json", str(out_json)])
    assert code == 0
    out = capsys.readouterr().out
    assert "## mbpp" in out and "| ensel learned |" in out
    records = {r["router"]: r for r in json.loads(out_json.read_text())}
    assert set(records) == {"oracle", "zero router", "knn", "predictive", "ensel learned"}
    # the oracle closes the whole gap and beats every router; the zero router is the hull
    assert records["oracle"]["aiq"] >= max(r["aiq"] for r in records.values())
    assert records["zero router"]["cost_to_match_best"] == pytest.approx(1.0)
