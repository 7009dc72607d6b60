"""Smoke test: benchmarks/bench_scale.py runs end to end at a tiny size and prints its table."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

# the benchmark's local cluster stays on loopback (see tests/scale/conftest.py)
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_scale.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_scale", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.ray
@pytest.mark.xdist_group("ray")
def test_bench_scale_smoke(capsys):
    pytest.importorskip("ray", reason="Ray is optional: pip install ensel[ray]")
    pytest.importorskip("ray.data", reason="Ray Data is optional: pip install ensel[ray]")
    import ray

    if ray.is_initialized():          # a cluster left by another test module
        ray.shutdown()
    bench = _load()
    assert bench.main(["--sizes", "300", "--members", "2", "--batch-size", "128",
                       "--num-cpus", "2"]) == 0
    out = capsys.readouterr().out
    assert "| rows | local s | local rows/s | Ray s | Ray rows/s | Ray marginal rows/s " in out
    rows = [line for line in out.splitlines() if line.startswith("| 300 |")]
    assert len(rows) == 1 and rows[0].rstrip().endswith("| yes |")
    assert not ray.is_initialized()   # the benchmark shuts down the cluster it started


def test_bench_scale_rejects_bad_sizes():
    bench = _load()
    with pytest.raises(SystemExit):
        bench.main(["--sizes", "10,x"])
    with pytest.raises(SystemExit):
        bench.main(["--members", "9"])
