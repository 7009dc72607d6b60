"""Smoke test: benchmarks/bench_auto.py runs end to end at a tiny size and prints its tables."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_auto.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_auto", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_auto_smoke(capsys, tmp_path):
    bench = _load()
    argv = ["--datasets", "digits", "--pools", "specialists", "--seeds", "0", "--max-rows", "300",
            "--cv", "3", "--cache", str(tmp_path)]
    assert bench.main([*argv, "--budget", "0.3"]) == 0
    out = capsys.readouterr().out
    assert "### digits / specialists (1 seeds)" in out
    for label in ("| GES | ", "| QO-ES | ", "| QDO-ES | ", "| AutoCombiner | ", "| stacking",
                  "| best single"):
        assert label in out
    assert "hindsight best" in out and "AutoCombiner chose: " in out
    budget_row = next(line for line in out.splitlines()
                      if line.startswith("| AutoCombiner (budget) (test cost "))
    assert float(budget_row.split("test cost ")[1].split(")")[0]) <= 0.5
    row = next(line for line in out.splitlines() if line.startswith("| GES | "))
    assert row.endswith("| +0.00 | +0.0000 |")                # GES against itself
    assert (tmp_path / "digits-specialists-0-300" / "test" / "table.json").is_file()
    assert bench.main(argv) == 0                               # second run reads the cache
    assert capsys.readouterr().out.count("### Targets") == 1
