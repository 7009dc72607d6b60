"""Smoke test: benchmarks/bench_peers.py runs end to end at a tiny size and prints its tables."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_peers.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_peers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_peers_smoke(capsys):
    pytest.importorskip("deslib", reason="DESlib is an optional peer (pip install ensel[peers])")
    bench = _load()
    assert bench.main(["--dataset", "digits", "--max-rows", "300", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    for pool in ("natural", "specialists"):
        assert f"### digits / {pool}" in out
    assert "| knora-e |" in out and "| oracle |" in out
    assert "DESlib predict s (members run)" in out
    peer_rows = [line for line in out.splitlines()
                 if line.startswith(("| knora-e | 0", "| ola | 0")) and line.count("|") == 10]
    assert len(peer_rows) == 4                   # 2 methods x 2 pools in the DESlib table
    for line in peer_rows:
        agree = float(line.split("|")[4])
        assert agree >= 0.99


def test_bench_peers_without_deslib(capsys):
    bench = _load()
    assert bench.main(["--dataset", "digits", "--max-rows", "300", "--pools", "specialists",
                       "--combiners", "average,knora-e", "--no-deslib", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "| knora-e |" in out and "DESlib predict s" not in out


def test_bench_peers_rejects_unknown_combiner():
    bench = _load()
    with pytest.raises(SystemExit):
        bench.main(["--combiners", "nope"])
