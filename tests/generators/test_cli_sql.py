"""``ensel sql evaluate`` and ``ensel sql train``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from ensel.cli import app, main


def test_evaluate_writes_the_documented_json(sql_workspace: tuple[Path, Path], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    questions, databases = sql_workspace
    out = tmp_path / "out" / "result.json"
    code = main(["sql", "evaluate", "--questions", str(questions), "--databases",
                 str(databases), "--out", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    assert set(result) == {"n_questions", "accuracy"} and result["n_questions"] == 18
    assert list(result["accuracy"]) == ["oracle", "consensus", "a", "b", "c"]
    assert result["accuracy"]["oracle"] == 1.0
    assert all(0.0 <= v <= 1.0 for v in result["accuracy"].values())
    printed = capsys.readouterr().out
    assert "consensus" in printed and "66.7%" in printed and "12/18" in printed


def test_train_then_evaluate_with_selector(sql_workspace: tuple[Path, Path], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    questions, databases = sql_workspace
    model = tmp_path / "selector"
    assert main(["sql", "train", "--questions", str(questions), "--databases", str(databases),
                 "-o", str(model), "--cv", "3"]) == 0
    assert (model / "config.json").is_file() and (model / "model.safetensors").is_file()
    assert "trained on 18 questions from 3 databases" in capsys.readouterr().out
    out = tmp_path / "r.json"
    assert main(["sql", "evaluate", "--questions", str(questions), "--databases",
                 str(databases), "--selector", str(model), "--out", str(out)]) == 0
    accuracy = json.loads(out.read_text())["accuracy"]
    assert list(accuracy)[:3] == ["oracle", "consensus", "selector"]


def test_evaluate_refuses_unknown_systems(sql_workspace: tuple[Path, Path], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    questions, databases = sql_workspace
    model = tmp_path / "selector"
    assert main(["sql", "train", "--questions", str(questions), "--databases", str(databases),
                 "-o", str(model), "--cv", "3"]) == 0
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"db_id": "pets_a", "question": "q", "gold": "SELECT 1",
                                 "candidates": {"a": "SELECT 1", "zz": "SELECT 1"}}) + "\n")
    capsys.readouterr()
    code = main(["sql", "evaluate", "--questions", str(other), "--databases", str(databases),
                 "--selector", str(model)])
    assert code == 2
    assert "system(s) the selector was not trained on: zz" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"has candidates from system\(s\) the selector was not "
                                         r"trained on: zz\. Known: "):
        app(args=["sql", "evaluate", "--questions", str(other), "--databases", str(databases),
                  "--selector", str(model)], prog_name="ensel", standalone_mode=False)


def test_missing_files_give_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    code = main(["sql", "evaluate", "--questions", str(tmp_path / "q.jsonl"), "--databases",
                 str(tmp_path)])
    assert code == 2 and "Questions file not found" in capsys.readouterr().err


def test_train_over_an_existing_selector_replaces_it(sql_workspace: tuple[Path, Path],
                                                     tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from ensel.generators.sql import SQLSelector

    questions, databases = sql_workspace
    model = tmp_path / "selector"
    args = ["sql", "train", "--questions", str(questions), "--databases", str(databases),
            "-o", str(model), "--cv", "3"]
    assert main(args) == 0
    first = json.loads((model / "config.json").read_text())
    assert main([*args, "--method", "entropic"]) == 0
    assert SQLSelector.load(model).method == "entropic"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries
    import safetensors.torch

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", broken)
    capsys.readouterr()
    assert main([*args, "--method", "softmax"]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert SQLSelector.load(model).method == "entropic"                  # the old one, whole
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert first["params"]["method"] == "softmax"                         # the first run


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text("x"), "is a file; give a folder"),
    (lambda p: (p.mkdir(), (p / "notes.txt").write_text("mine")),
     r"is a non-empty folder without a saved selector \(config.json\); refusing to replace it"),
])
def test_train_refuses_an_output_it_would_destroy(sql_workspace: tuple[Path, Path],
                                                  tmp_path: Path, make: Any, message: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    questions, databases = sql_workspace
    out = tmp_path / "out"
    make(out)
    code = main(["sql", "train", "--questions", str(questions), "--databases", str(databases),
                 "-o", str(out)])
    assert code == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (out.is_dir() and (out / "config.json").exists())
    with pytest.raises(ValueError, match=message):     # the command itself raises; main -> 2
        app(args=["sql", "train", "--questions", str(questions), "--databases", str(databases),
                  "-o", str(out)], prog_name="ensel", standalone_mode=False)


def test_select_writes_one_choice_per_question_without_gold(
        sql_workspace: tuple[Path, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    questions, databases = sql_workspace
    records = [json.loads(line) for line in questions.read_text().splitlines()]
    no_gold = tmp_path / "new.jsonl"
    no_gold.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "gold"}) + "\n"
                               for r in records), encoding="utf-8")
    out = tmp_path / "chosen.jsonl"
    assert main(["sql", "select", "--questions", str(no_gold), "--databases", str(databases),
                 "-o", str(out)]) == 0
    assert "chose SQL for 18 questions by consensus" in capsys.readouterr().out
    chosen = [json.loads(line) for line in out.read_text().splitlines()]
    assert [c["id"] for c in chosen] == [r.get("id") for r in records]
    assert all(c["method"] == "consensus" and c["sql"] == records[i]["candidates"][c["system"]]
               for i, c in enumerate(chosen))
    # consensus picks agree with `sql evaluate`'s: 12 of 18 right (66.7%) on this workspace
    from ensel.generators.sql import SQLiteDatabases, execute_questions, load_questions

    dbs = SQLiteDatabases(databases)
    executed = execute_questions(load_questions(questions), dbs)
    dbs.close()
    right = [bool(eq.correct[eq.systems.index(c["system"])])
             for eq, c in zip(executed, chosen, strict=True)]
    assert sum(right) == 12
    assert all(c["votes"] >= 1 for c in chosen)


def test_select_with_a_selector_and_gold_is_ignored(sql_workspace: tuple[Path, Path],
                                                     tmp_path: Path) -> None:
    questions, databases = sql_workspace
    model = tmp_path / "selector"
    assert main(["sql", "train", "--questions", str(questions), "--databases", str(databases),
                 "-o", str(model), "--cv", "3"]) == 0
    out = tmp_path / "chosen.jsonl"
    assert main(["sql", "select", "--questions", str(questions), "--databases", str(databases),
                 "--selector", str(model), "-o", str(out)]) == 0
    chosen = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(chosen) == 18 and {c["method"] for c in chosen} == {"selector"}


def test_select_missing_questions_file_exits_2(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sql", "select", "--questions", str(tmp_path / "none.jsonl"), "--databases",
                 str(tmp_path), "-o", str(tmp_path / "o.jsonl")])
    assert code == 2
    assert "Questions file not found" in capsys.readouterr().err
