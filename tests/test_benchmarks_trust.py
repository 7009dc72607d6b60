"""Smoke test: benchmarks/bench_trust.py runs every part at tiny sizes and prints its tables."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_trust.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_trust", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_bench_trust_prints_every_table(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    out_json = tmp_path / "trust.json"
    code = load_bench().main([
        "--datasets", "digits", "--pools", "natural", "--seeds", "0", "--max-rows", "360",
        "--splits", "3", "--members", "3", "--selector-epochs", "2",
        "--guarantee-dataset", "digits", "--consistency-datasets", "digits",
        "--distill-datasets", "digits", "--students", "extra-trees", "--json", str(out_json)])
    assert code == 0
    out = capsys.readouterr().out
    for title in ("## coverage at risk", "## guarantee", "## consistency", "## distillation"):
        assert title in out
    records = json.loads(out_json.read_text())
    assert {r["method"] for r in records["coverage"]} == {"stacking", "best single", "e2e-cel"}
    assert len(records["guarantee"]) == 3 * 3                      # splits x methods
    assert {(r["M"], r["alpha"]) for r in records["consistency"]} == {
        (3, "vote"), (3, 0.05), (3, 0.01)}
    # three members can never settle a vote at 5 %: 2 ** (1 - 3) = 0.25
    assert all(r["abstain"] == 1.0 for r in records["consistency"] if r["alpha"] != "vote")
    assert {r["method"] for r in records["distill"]} == {"stacking", "best single",
                                                         "student extra-trees"}
    student = next(r for r in records["distill"] if r["method"] == "student extra-trees")
    assert 0 < student["accuracy"] <= 1 and student["predict_ms"] > 0
    for r in records["coverage"]:
        assert 0 <= r["cert@0.02"] <= r["cert@0.05"] + 0.2 and 0 <= r["aurc"] <= 1


def test_bench_trust_rejects_bad_sizes() -> None:
    with pytest.raises(SystemExit):
        load_bench().main(["--splits", "0"])
