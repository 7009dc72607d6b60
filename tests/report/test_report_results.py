"""The results file: rounding, strict JSON, checked reading, and the Markdown summary."""

from __future__ import annotations

import json
import math

import pytest

from ensel.report.results import load_results, round_floats, write_results
from ensel.report.tables import markdown, summarise, winner


def _write(tmp_path, document):
    return write_results(tmp_path / "results.json", document["header"], document["records"],
                         document["plots"])


def test_round_floats_makes_plain_strict_json():
    import numpy as np

    value = {"a": np.float32(0.1234567), "b": [float("nan"), float("inf"), 1e-9],
             "c": np.arange(3), "d": np.bool_(True), "e": (1.0, "x")}
    out = round_floats(value, digits=3)
    assert out == {"a": 0.123, "b": [None, None, 1e-9], "c": [0, 1, 2], "d": True,
                   "e": [1.0, "x"]}
    json.dumps(out, allow_nan=False)


def test_write_then_load_round_trips(tmp_path, document):
    document["records"][0]["gap_closed"] = float("nan")
    path = _write(tmp_path, document)
    text = path.read_text()
    assert "NaN" not in text
    json.loads(text)                      # strict JSON
    loaded = load_results(path)
    assert loaded["records"][0]["gap_closed"] is None
    assert len(loaded["records"]) == len(document["records"])
    assert loaded["plots"][0]["members"] == ["m0", "m1", "m2", "m3"]
    assert load_results(tmp_path)["header"]["suite"] == "test"     # a directory works too


def test_summarise_means_over_seeds_and_ranks(document):
    rows = summarise(document["records"], "toy", "specialists")
    assert [r["combiner"] for r in rows][:2] == ["oracle", "e2e-cel"]
    sel = next(r for r in rows if r["combiner"] == "e2e-cel")
    assert sel["accuracy"] == pytest.approx(0.885)             # seeds 0 and 1: 0.88, 0.89
    assert sel["accuracy_std"] == pytest.approx(0.005)
    assert sel["n_seeds"] == 2
    assert all(r["k"] is None for r in rows)
    sweep = summarise(document["records"], "toy", "specialists", sweep=True)
    assert [r["k"] for r in sweep] == [1, 2, 3]


def test_winner_never_the_oracle_and_reports_margin(document):
    w = winner(summarise(document["records"], "toy", "natural"))
    assert w["best"]["combiner"] == "e2e-cel"
    assert w["runner_up"]["combiner"] == "stacking"
    assert w["margin"] == pytest.approx(0.02)
    assert winner([]) is None


def test_markdown_has_summary_sections_and_sweep(document):
    text = markdown(document)
    assert "## Who wins where" in text
    assert "| toy | specialists | e2e-cel | 0.8850 | +2.00 pts | stacking |" in text
    assert "## toy / specialists" in text and "## toy / natural" in text
    assert "| **e2e-cel** | 0.8850 ± 0.0050 |" in text
    assert "| oracle (uses labels) |" in text
    assert "## DifferentiableSelector against k" in text
    assert "| toy | natural | 0.8150 | 0.8450 | **0.8750** |" in text


def test_markdown_lists_skipped_and_failed(document):
    document["header"]["skipped"] = [{"combiner": "knora-e", "reason": "needs X"}]
    document["header"]["failures"] = [{"combiner": "lca", "dataset": "toy", "pool": "natural",
                                       "seed": 0, "error": "ValueError: boom"}]
    text = markdown(document)
    assert "- knora-e: skipped — needs X" in text
    assert "- lca on toy/natural seed 0: failed — ValueError: boom" in text


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist; run 'ensel benchmark"):
        load_results(tmp_path / "nope.json")
    with pytest.raises(FileNotFoundError, match="is a directory without results.json"):
        load_results(tmp_path)


@pytest.mark.parametrize("mutate, match", [
    (lambda d: "not json {", "is not valid JSON"),
    (lambda d: [1, 2], "expected a JSON object, got list"),
    (lambda d: {**d, "format": "other"}, "'format' is 'other'"),
    (lambda d: {**d, "version": 99}, "has results version 99; this ensel reads up to 1"),
    (lambda d: {**d, "header": {"suite": "x"}}, "the header lacks command, date"),
    (lambda d: {**d, "records": {}}, "'records' must be a list"),
    (lambda d: {**d, "records": [{"dataset": "x", "pool": "p", "combiner": "c"}]},
     r"record 0 \(x/p/c\) lacks seed, accuracy"),
    (lambda d: {**d, "records": [{**d["records"][0], "accuracy": 1.5}]},
     "record 0 has accuracy 1.5; expected a number in"),
    (lambda d: {**d, "plots": [{**d["plots"][0], "disagreement": [[0.0]]}]},
     r"disagreement matrix of shape \(1, 1\); expected \(4, 4\)"),
    (lambda d: {**d, "plots": [{**d["plots"][0], "selection_frequency": [[0.1, 0.2]]}]},
     r"selection_frequency of shape \(1, 2\); expected \(4, 3\)"),
    (lambda d: {**d, "plots": [{"dataset": "x"}]}, "plots entry 0 lacks pool, seed"),
])
def test_load_invalid_file(tmp_path, document, mutate, match):
    bad = mutate(document)
    path = tmp_path / "bad.json"
    path.write_text(bad if isinstance(bad, str) else json.dumps(bad))
    with pytest.raises(ValueError, match=match):
        load_results(path)


def test_write_refuses_an_invalid_document(tmp_path, document):
    with pytest.raises(ValueError, match="lacks seed"):
        write_results(tmp_path / "r.json", document["header"], [{"dataset": "x", "pool": "p",
                                                                   "combiner": "c"}])
    assert not (tmp_path / "r.json").exists()
    assert math.isfinite(document["records"][0]["accuracy"])
