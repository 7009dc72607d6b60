"""``ensel sql evaluate --split-by-database --budget``, ``train --budget``, ``select`` a cascade.

The workspace (tests/generators/conftest.py): 3 copies of one database, 6 questions each,
systems a (always right), b, c. Vote margins after calling a, b, c (hand-checked): q1
[1, 2, 1], q2 [1, 0, 1], q3 [1, 2, 3], q4 [1, 2, 2], q5 [1, 0, 1], q6 [1, 0, 1]; consensus of
all three is right on q1, q3, q4, q5 (12/18).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ensel.cli import app, main


def _run(*args: str) -> None:
    app(args=list(args), prog_name="ensel", standalone_mode=False)


def test_evaluate_split_by_database_with_budgets(sql_workspace: tuple[Path, Path],
                                                 tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    questions, databases = sql_workspace
    out = tmp_path / "r.json"
    assert main(["sql", "evaluate", "--questions", str(questions), "--databases", str(databases),
                 "--split-by-database", "--budget", "1/3", "--budget", "1", "--out",
                 str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["halves"] == [["pets_a", "pets_c"], ["pets_b"]]
    acc, cost = result["accuracy"], result["cost_fraction"]
    # one call (system a) per question at 1/3, every call at 1 (= consensus)
    assert acc["cascade (budget 0.333)"] == 1.0 and cost["cascade (budget 0.333)"] == 1 / 3
    assert acc["cascade (budget 1)"] == acc["consensus"] == pytest.approx(12 / 18)
    assert cost["cascade (budget 1)"] == cost["consensus"] == 1.0
    assert result["threshold"] == {"cascade (budget 0.333)": [1.0, 1.0],
                                   "cascade (budget 1)": ["inf", "inf"]}
    printed = capsys.readouterr().out
    assert "half A: pets_a, pets_c" in printed and "33.3%" in printed


def test_evaluate_split_by_database_trains_the_selector_per_half(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from .conftest import make_pets_db, write_questions

    names = ["pets_a", "pets_b", "pets_c", "pets_d"]       # two databases in each half
    for db in names:
        make_pets_db(tmp_path / "database" / db / f"{db}.sqlite")
    questions = write_questions(tmp_path / "q.jsonl", names)
    out = tmp_path / "r.json"
    _run("sql", "evaluate", "--questions", str(questions), "--databases",
         str(tmp_path / "database"), "--split-by-database", "--train-selector", "--budget",
         "1/3", "--out", str(out))
    result = json.loads(out.read_text())
    assert result["halves"] == [["pets_a", "pets_c"], ["pets_b", "pets_d"]]
    assert list(result["accuracy"])[-2:] == ["selector", "cascade (budget 0.333)"]
    assert 0.0 <= result["accuracy"]["selector"] <= 1.0
    assert result["cost_fraction"]["selector"] == 1.0
    assert result["accuracy"]["cascade (budget 0.333)"] == 1.0    # system a alone


def test_train_budget_then_select_calls_only_what_it_needs(
        sql_workspace: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    questions, databases = sql_workspace
    model = tmp_path / "cascade"
    assert main(["sql", "train", "--questions", str(questions), "--databases", str(databases),
                 "--budget", "0.9", "-o", str(model)]) == 0
    assert sorted(p.name for p in model.iterdir()) == ["config.json"]
    assert "call order a, b, c; stop at a vote margin of 2; calls on these questions 83.3%" \
        in capsys.readouterr().out
    from ensel.generators.sql.engine import SQLiteEngine

    executed: list[str] = []
    original = SQLiteEngine.execute
    monkeypatch.setattr(SQLiteEngine, "execute",
                        lambda self, sql: executed.append(sql) or original(self, sql))
    out = tmp_path / "chosen.jsonl"
    assert main(["sql", "select", "--questions", str(questions), "--databases", str(databases),
                 "--selector", str(model), "-o", str(out)]) == 0
    chosen = [json.loads(line) for line in out.read_text().splitlines()]
    assert [len(c["called"]) for c in chosen[:6]] == [2, 3, 2, 2, 3, 3]
    assert sum(len(c["called"]) for c in chosen) == 45 == len(executed)   # no gold, no extra
    assert {c["method"] for c in chosen} == {"cascade"}
    assert [c["system"] for c in chosen[:6]] == ["a", "b", "a", "a", "a", "b"]
    assert [c["votes"] for c in chosen[:6]] == [2, 2, 2, 2, 2, 2]
    assert main(["sql", "select", "--questions", str(questions), "--databases", str(databases),
                 "--selector", str(model), "--budget", "1/3", "-o", str(out)]) == 0
    assert all(c["called"] == ["a"] for c in map(json.loads, out.read_text().splitlines()))


def test_evaluate_a_saved_cascade(sql_workspace: tuple[Path, Path], tmp_path: Path) -> None:
    questions, databases = sql_workspace
    model, out = tmp_path / "cascade", tmp_path / "r.json"
    _run("sql", "train", "--questions", str(questions), "--databases", str(databases),
         "--budget", "1/3", "-o", str(model))
    _run("sql", "evaluate", "--questions", str(questions), "--databases", str(databases),
         "--selector", str(model), "--out", str(out))
    result = json.loads(out.read_text())
    assert result["accuracy"]["selector"] == 1.0
    assert result["cost_fraction"] == {"selector": pytest.approx(1 / 3)}


def test_train_with_costs_and_order(sql_workspace: tuple[Path, Path], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    questions, databases = sql_workspace
    costs = tmp_path / "costs.json"
    costs.write_text(json.dumps({"a": 10.0, "b": 1.0, "c": 1.0}))
    _run("sql", "train", "--questions", str(questions), "--databases", str(databases),
         "--budget", "1", "--costs", str(costs), "-o", str(tmp_path / "m"))
    assert "call order b, c, a" in capsys.readouterr().out     # accuracy per cost
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["params"]["order"] == "complementary"     # the CLI default is the library's
    _run("sql", "train", "--questions", str(questions), "--databases", str(databases),
         "--budget", "1", "--costs", str(costs), "--order", "table", "-o", str(tmp_path / "m"))
    assert "call order a, b, c" in capsys.readouterr().out


@pytest.mark.parametrize("extra, message", [
    (["evaluate", "--budget", "1/3"], "--budget needs --split-by-database"),
    (["evaluate", "--train-selector"], "--train-selector needs --split-by-database"),
    (["evaluate", "--split-by-database", "--selector", "M"],
     "--selector evaluates a model fitted elsewhere"),
    (["select", "--budget", "1/3", "-o", "out.jsonl"],
     "--budget needs --selector MODEL, a cascade saved by 'ensel sql train --budget'"),
    (["train", "--budget", "1", "--costs", "COSTS", "-o", "m"],
     r"--costs .* must hold a JSON object \{system: cost\}; got list"),
    (["train", "--budget", "1", "--costs", "MISSING", "-o", "m"], "--costs file not found"),
    (["train", "--budget", "1", "--order", "random", "-o", "m"],
     "The 'order' parameter of SQLCascade must be one of"),
])
def test_usage_errors(sql_workspace: tuple[Path, Path], tmp_path: Path, extra: list[str],
                      message: str, capsys: pytest.CaptureFixture[str]) -> None:
    questions, databases = sql_workspace
    (tmp_path / "costs.json").write_text("[1, 2, 3]")
    extra = [str(tmp_path / "costs.json") if e == "COSTS" else
             str(tmp_path / "missing.json") if e == "MISSING" else
             str(tmp_path / e) if e in ("M", "m", "out.jsonl") else e for e in extra]
    args = ["sql", extra[0], "--questions", str(questions), "--databases", str(databases),
            *extra[1:]]
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        _run(*args)
    assert main(args) == 2
    assert message.split(" ")[0].replace("\\", "") in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "1.5", "x", "1/0"])
def test_bad_budget_is_a_usage_error(sql_workspace: tuple[Path, Path], value: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    questions, databases = sql_workspace
    code = main(["sql", "evaluate", "--questions", str(questions), "--databases",
                 str(databases), "--split-by-database", "--budget", value])
    assert code == 2
    err = capsys.readouterr().err
    assert "must be a fraction of the generator calls in (0, 1], e.g. 0.25 or 1/3" in err
    assert repr(value) in err


def test_select_cascade_refuses_unknown_systems(sql_workspace: tuple[Path, Path],
                                                tmp_path: Path) -> None:
    questions, databases = sql_workspace
    model = tmp_path / "cascade"
    _run("sql", "train", "--questions", str(questions), "--databases", str(databases),
         "--budget", "1/3", "-o", str(model))
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"db_id": "pets_a", "question": "q",
                                 "candidates": {"a": "SELECT 1", "zz": "SELECT 1"}}) + "\n")
    with pytest.raises(ValueError, match=r"system\(s\) the cascade was not fitted on: zz"):
        _run("sql", "select", "--questions", str(other), "--databases", str(databases),
             "--selector", str(model), "-o", str(tmp_path / "o.jsonl"))
