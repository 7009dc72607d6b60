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


# ---------------------------------------------------------------- answers
ANSWERS = [["A", "A", "b"], [None, "x", ""], [1.5, float("nan"), 1.5]]


def test_answers_are_coded_per_row_and_follow_slicing():
    table = _table(answers=ANSWERS)
    assert table.answers.dtype == np.int32
    assert table.answers.tolist() == [[0, 0, 1], [-1, 0, -1], [0, -1, 0]]
    sub = table[[2, 0]].select_members(["c", "a"])
    assert sub.answers.tolist() == [[0, 0], [1, 0]]
    codes = _table(answers=np.array([[7, 7, -3], [0, 1, 2], [5, 5, 5]])).answers
    assert codes.tolist() == [[0, 0, -1], [0, 1, 2], [0, 0, 0]]     # codes given: re-coded
    assert _table().answers is None


def test_bad_answers_are_refused():
    with pytest.raises(ValueError, match=r"'answers' must have shape \(3, 3\)"):
        _table(answers=[["A", "B"]])
    bad = [["A", "A", "b"], [["list"], "x", "y"], ["a", "b", "c"]]
    with pytest.raises(ValueError, match="member 'a': the answer in row 1 is a list"):
        _table(answers=np.array(bad, dtype=object))


def test_answers_save_load_and_corrupt_file(tmp_path):
    table = _table(answers=ANSWERS)
    folder = table.save(tmp_path / "t")
    back = PredictionTable.load(folder)
    assert back.answers.tolist() == table.answers.tolist()
    _table().save(folder)                               # saved over: answers.npy goes
    assert PredictionTable.load(folder).answers is None and not (folder / "answers.npy").exists()
    table.save(folder)
    np.save(folder / "answers.npy", np.full((3, 3), -2))
    with pytest.raises(ValueError, match=r"answers\.npy: answer groups must be >= -1"):
        PredictionTable.load(folder)
    np.save(folder / "answers.npy", np.zeros((2, 3), dtype=np.int32))
    with pytest.raises(ValueError, match=r"answers\.npy: answer groups must be an integer "
                                         r"array of shape \(3, 3\)"):
        PredictionTable.load(folder)


def test_classification_table_with_answers_file_is_refused(tmp_path):
    table = PredictionTable.from_arrays(np.full((2, 2, 2), 0.5), y=[0, 1])
    folder = table.save(tmp_path / "c")
    np.save(folder / "answers.npy", np.zeros((2, 2), dtype=np.int32))
    with pytest.raises(ValueError, match="only an outcome table has answers"):
        PredictionTable.load(folder)


def test_routerbench_answers_from_responses():
    from ensel.datasets import response_answer

    table, _ = load_routerbench("arc_challenge", "test")
    assert table.answers.shape == (445, 11) and (table.answers >= 0).all()
    # at most five distinct answers on a row (four letters, the odd refusal); all eleven
    # models agree on 145 of the 445 questions once "A\n", "A)" and "A" are one answer
    assert int(table.answers.max()) == 4 and int((table.answers.max(axis=1) == 0).sum()) == 145
    assert [response_answer(t) for t in ["['A\\n']", "['A)']", " a. ", "[]", "['']"]] == [
        "a", "a", "a", "", ""]
    assert response_answer("['I don\\'t know']") == "i don't know"


def test_routerbench_answer_extractor_is_pluggable():
    table, _ = load_routerbench("mbpp", "test")
    assert (table.answers == np.arange(11)).all()          # free-form code: no two agree
    first_word = load_routerbench("mbpp", "test", answer=lambda r: r.split()[0])[0]
    assert (first_word.answers.max(axis=1) < 10).all()      # now some responses agree
    with pytest.raises(ValueError, match="'answer' parameter of load_routerbench must be a "
                                         "callable"):
        load_routerbench("mbpp", "test", answer="first")
