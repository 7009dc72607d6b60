"""Smoke test: benchmarks/bench_topk.py runs at tiny sizes and prints its table."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_topk.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_topk", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_topk_prints_table(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_bench()
    code = bench.main(["--batch", "8", "--members", "4", "--repeats", "1", "--n-samples", "5"])
    assert code == 0
    out = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(out) if line.split()[:5] == ["method", "M", "k", "ms",
                                                                          "x"])
    rows = [line.split() for line in out[header + 1:]]
    names = [r[0] for r in rows]
    assert names == ["torch.topk", "sparse", "entropic", "perturbed", "straight_through"]
    for r in rows:
        assert r[-4:-2] == ["4", "1"]          # M = 4, k = 1 (M/4 = 1)
        assert float(r[-2]) > 0 and float(r[-1]) > 0


def test_bench_topk_cpu_clock_one_thread(capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    threads = torch.get_num_threads()
    try:
        code = load_bench().main(["--batch", "4", "--members", "3", "--repeats", "1",
                                  "--threads", "1", "--clock", "cpu", "--methods", "sparse"])
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    out = capsys.readouterr().out
    assert "1 threads, cpu clock" in out and "sparse" in out


def test_bench_topk_rejects_bad_sizes() -> None:
    with pytest.raises(SystemExit):
        load_bench().main(["--batch", "0"])
