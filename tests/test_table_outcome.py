"""Outcome tables: PredictionTable.from_outcomes, save/load, slicing, the RouterBench loader."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from ensel import PredictionTable
from ensel.datasets import load_routerbench

Q = np.array([[1.0, 0.0, 0.5], [np.nan, 1.0, 1.0], [0.0, 0.0, np.nan]])


def _table(**kw):
    return PredictionTable.from_outcomes(Q, costs=[1.0, 2.0, 10.0], members=["a", "b", "c"],
                                         **kw)


def test_from_outcomes_keeps_nan_and_costs():
    table = _table(X=np.eye(3))
    assert table.task == "outcome" and table.y is None
    assert np.isnan(table.P).sum() == 2
    assert table.cost_matrix()[2].tolist() == [1.0, 2.0, 10.0]
    sub = table[[1, 2]].select_members(["c", "a"])
    assert sub.P.shape == (2, 2) and np.isnan(sub.P[0, 1]) and sub.costs.tolist() == [10.0, 1.0]


def test_from_arrays_with_outcome_task_is_from_outcomes():
    table = PredictionTable.from_arrays(Q, task="outcome", costs=[1.0, 2.0, 3.0])
    assert table.task == "outcome" and np.isnan(table.P[1, 0])
    with pytest.raises(ValueError, match="An outcome table has no 'y'"):
        PredictionTable.from_arrays(Q, y=[0, 1, 0], task="outcome")


@pytest.mark.parametrize("value, match", [
    (1.5, r"member 'b': quality 1.5 in row 2 is outside \[0, 1\]"),
    (-0.1, r"member 'b': quality -0.1 in row 2"),
    (np.inf, r"member 'b': quality inf in row 2"),
])
def test_bad_quality_names_member_and_row(value, match):
    bad = Q.copy()
    bad[2, 1] = value
    with pytest.raises(ValueError, match=match):
        PredictionTable.from_outcomes(bad, costs=None, members=["a", "b", "c"])


def test_outcome_table_needs_two_dimensions():
    with pytest.raises(ValueError, match=r"An outcome table needs quality of shape \[N, M\]"):
        PredictionTable.from_outcomes(np.zeros((2, 2, 2)), costs=None)


def test_bad_costs_are_refused():
    with pytest.raises(ValueError, match="member 'c': cost -1.0 must be >= 0"):
        PredictionTable.from_outcomes(Q, costs=[1.0, 1.0, -1.0], members=["a", "b", "c"])


def test_save_load_round_trip_and_corrupt_file(tmp_path):
    table = _table()
    folder = table.save(tmp_path / "t")
    back = PredictionTable.load(folder)
    assert back.task == "outcome" and back.members == ["a", "b", "c"]
    np.testing.assert_array_equal(back.P, table.P)              # NaN in the same places
    assert back.costs.tolist() == [1.0, 2.0, 10.0]
    P = np.load(folder / "P.npy")
    P[0, 0] = 2.0
    np.save(folder / "P.npy", P)
    with pytest.raises(ValueError, match=r"P.npy: member 'a': quality 2.0 in row 0"):
        PredictionTable.load(folder)


def test_routerbench_shipped_tasks():
    table, prompts = load_routerbench("arc_challenge", "test")
    assert (table.n_samples, table.n_members) == (445, 11) and len(prompts) == 445
    assert int(np.isnan(table.P).sum()) == 62
    gpt4 = table.members.index("gpt-4-1106-preview")
    assert np.nanmean(table.P[:, gpt4]) == pytest.approx(0.957, abs=5e-4)
    assert table.cost_matrix()[:, gpt4].mean() * 1000 == pytest.approx(5.06, abs=0.01)


def test_routerbench_csv_layout_and_errors(tmp_path):
    good = tmp_path / "r.csv.gz"
    with gzip.open(good, "wt", encoding="utf-8") as fh:
        fh.write('prompt,x|correct,x|cost,y|correct,y|cost\n"a, b",1,0.5,,2\nc,0,0.5,1,2\n')
    table, prompts = load_routerbench(good)
    assert prompts == ["a, b", "c"] and table.members == ["x", "y"]
    assert np.isnan(table.P[0, 1]) and table.cost_matrix()[1].tolist() == [0.5, 2.0]
    bad = tmp_path / "bad.csv"
    bad.write_text("prompt,x|correct,x|cost\np,yes,1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 2, column 'x\|correct': 'yes' is not a number"):
        load_routerbench(bad)
    bad.write_text("prompt,x|correct\np,1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"missing column\(s\) x\|cost"):
        load_routerbench(bad)
    with pytest.raises(ValueError, match="neither a shipped task"):
        load_routerbench("nope")
    with pytest.raises(ValueError, match="'split' parameter of load_routerbench"):
        load_routerbench("mbpp", "dev")
