"""Smoke test: benchmarks/bench_knapsack.py runs at tiny sizes and prints its table."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_knapsack.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_knapsack", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_knapsack_prints_table(capsys: pytest.CaptureFixture[str]) -> None:
    code = load_bench().main(["--batch", "8", "--members", "4", "16", "--fractions", "0.25",
                              "--repeats", "1"])
    assert code == 0
    out = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(out) if line.split()[:3] == ["method", "M", "share"])
    rows = [line.split() for line in out[header + 1:]]
    assert [r[0] for r in rows] == ["torch.topk", "sparse", "entropic", "hard"] * 2
    assert [r[-5] for r in rows] == ["4"] * 4 + ["16"] * 4            # M
    assert [r[-3] for r in rows] == ["1"] * 4 + ["4"] * 4             # k = round(0.25 M)
    assert all(float(r[-2]) > 0 and float(r[-1]) > 0 for r in rows)


def test_bench_knapsack_rejects_bad_fractions() -> None:
    with pytest.raises(SystemExit):
        load_bench().main(["--fractions", "1.5"])
