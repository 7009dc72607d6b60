"""benchmarks/bench_sql.py at tiny size, so it never rots."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_sql.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_sql", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_split_halves() -> None:
    bench = _load()
    a, b = bench.split_halves({"w": 120, "d": 82, "s": 78, "n": 56, "p": 42})
    assert a == ["w", "n"] and b == ["d", "s", "p"]   # 176 vs 202 questions


def test_bench_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _load()
    assert bench.main(["--limit", "5", "--variants", "softmax"]) == 0
    out = capsys.readouterr().out
    assert "49 questions, 12 systems" in out
    for label in ("consensus", "weighted consensus", "selector (softmax)", "oracle"):
        assert f"\n{label} " in out


def test_bench_nested_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _load()
    assert bench.main(["--nested", "--limit", "3", "--variants", "gated"]) == 0
    out = capsys.readouterr().out
    assert "nested CV inside each training half" in out
    assert "\nconsensus " in out and "\ngated " in out
    assert "selector (" not in out                  # no evaluation-half numbers
    assert "cascades in the same nested CV" in out
    rows = [line for line in out.splitlines() if line.startswith("cascade (")]
    assert len(rows) == 3 * 4                       # 3 cascades x the 4 default budgets
    assert rows[0].startswith("cascade (budget 1/6)")


def test_bench_cascade_rows(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _load()
    assert bench.main(["--limit", "5", "--variants", "softmax", "--budgets", "1/3,1"]) == 0
    out = capsys.readouterr().out
    assert "budgeted generator selection (SQLCascade)" in out
    rows = {line.split("  ")[0]: line for line in out.splitlines() if line.startswith("cascade")}
    assert set(rows) == {"cascade (budget 1/3)", "cascade (budget 1)",
                         "cascade (accuracy order, budget 1/3)",
                         "cascade (accuracy order, budget 1)",
                         "cascade (table order, budget 1/3)", "cascade (table order, budget 1)"}
    assert "next A/B" in out
    consensus = next(line for line in out.splitlines() if line.startswith("consensus "))
    assert rows["cascade (budget 1)"].split()[3] == consensus.split()[1]    # = consensus
    assert "100.0%" in rows["cascade (budget 1)"]
    calls = float(rows["cascade (budget 1/3)"].split()[7].rstrip("%"))
    assert calls <= 100 / 3


def test_bench_splits_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _load()
    assert bench.main(["--splits", "--limit", "2", "--budgets", "1"]) == 0
    out = capsys.readouterr().out
    assert "every split of the 10 databases into two halves (126 splits" in out
    rows = [line for line in out.splitlines() if line.startswith("cascade (")]
    assert len(rows) == 3
    for row in rows:                  # budget 1: every system called, exactly consensus
        assert row.split()[-4:] == ["+0.00", "+-0.00", "100.0%", "0%"]
