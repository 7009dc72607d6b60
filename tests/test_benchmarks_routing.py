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
    assert "## mbpp" in out and "| ensel learned |" in out and "| ensel selector |" in out
    assert "- mbpp: max_cost = 0.5 x " in out                # the budgeted selector's line
    assert "Answer cascade (committee " in out               # ... and the cascade's
    records = {r["router"]: r for r in json.loads(out_json.read_text())}
    assert set(records) == {"best single", "cheapest", "oracle", "zero router", "knn",
                            "predictive", "ensel learned", "ensel selector",
                            "ensel answer cascade"}
    assert "| best single (claude-instant-v1) |" in out    # the best on the 60 train rows
    # the oracle closes the whole gap and beats every router; the zero router is the hull
    assert records["oracle"]["aiq"] >= max(r["aiq"] for r in records.values())
    assert records["zero router"]["cost_to_match_best"] == pytest.approx(1.0)


def test_scale_table_pairs_distinct_prompts_with_their_outcomes() -> None:
    from ensel.datasets import load_routerbench

    table, prompts = load_bench().scale_table(3000)
    assert table.n_samples == len(set(prompts)) == 3000 and table.n_members == 11
    mbpp, mbpp_prompts = load_routerbench("mbpp", "test")
    # find a row whose two halves are both MBPP test prompts; its outcomes are their mean
    index = {p: i for i, p in enumerate(mbpp_prompts)}
    for row, text in enumerate(prompts):
        a, _, b = text.partition("\n\n")
        if a in index and b in index:
            i, j = index[a], index[b]
            assert table.P[row] == pytest.approx((mbpp.P[i] + mbpp.P[j]) / 2, nan_ok=True)
            assert table.costs[row] == pytest.approx(mbpp.costs[i] + mbpp.costs[j])
            break
    else:
        pytest.fail("no MBPP-test pair among 3000 rows")
    with pytest.raises(ValueError, match=r"--scale must be in \[1, "):
        load_bench().scale_table(0)
