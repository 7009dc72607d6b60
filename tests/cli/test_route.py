"""``ensel route evaluate`` on small slices of the shipped RouterBench MBPP files."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest

from ensel.cli import main
from ensel.cli.route import check_splits, load_split, parse_budgets
from ensel.datasets import dataset_path

TWO = ("gpt-3.5-turbo-1106", "gpt-4-1106-preview")


def _rows(split: str) -> list[list[str]]:
    with gzip.open(dataset_path(f"routerbench/mbpp_{split}.csv.gz"), "rt", encoding="utf-8",
                   newline="") as fh:
        return list(csv.reader(fh))


def _write(path: Path, rows: list[list[str]], n: int, models: tuple[str, ...] | None = None,
           drop: str | None = None) -> Path:
    header = rows[0]
    keep = [i for i, c in enumerate(header) if c != drop and (
        models is None or "|" not in c or c.split("|")[0] in models)]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([[r[i] for i in keep] for r in rows[:n + 1]])
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("route")
    train, test = _rows("train"), _rows("test")
    return {"train": _write(folder / "train.csv", train, 120),
            "test": _write(folder / "test.csv", test, 60),
            "train2": _write(folder / "train2.csv", train, 120, TWO),
            "test2": _write(folder / "test2.csv", test, 60, TWO),
            "no_prompt": _write(folder / "no_prompt.csv", test, 10, drop="prompt"),
            "no_cost": _write(folder / "no_cost.csv", test, 10, drop="claude-v1|cost"),
            "folder": folder}


def _run(files, train, test, out, *extra):
    return main(["route", "evaluate", "--train", str(files[train]), "--test", str(files[test]),
                 "--output", str(out), "--max-epochs", "3", *extra])


def _table_rows(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if cells and cells[0]:
            rows[cells[0]] = cells[1:]
    return rows


def test_evaluate_prints_the_table_and_writes_results_and_plot(files, tmp_path, capsys):
    out = tmp_path / "out"
    assert _run(files, "train", "test", out, "--budgets", "0.25,0.5") == 0
    text = capsys.readouterr().out
    assert max(map(len, text.splitlines())) <= 100          # captured: 100 columns
    rows = _table_rows(text)
    names = ["best single", "cheapest", "zero router", "oracle", "knn", "predictive",
             "ensel learned"]
    assert [n for n in rows if n in names] == names
    order = list(rows)                     # the single models' names under their rows
    assert order[order.index("best single") + 1] == "gpt-4-1106-preview"
    assert order[order.index("cheapest") + 1] == "mistral-7b-chat"
    assert all(len(cells) == 7 for name, cells in rows.items() if name in names)   # no APGR
    doc = json.loads((out / "results.json").read_text())
    assert doc["format"] == "ensel.route.evaluate" and doc["n_test"] == 60
    res = doc["results"]
    assert res["oracle"]["aiq"] >= max(r["aiq"] for r in res.values())
    zero, best = res["zero router"], doc["single_models"][doc["best_single"]]
    assert doc["best_single"] == "claude-instant-v1"
    assert zero["cost_to_match_best"] == pytest.approx(1.0)
    assert zero["quality_at_best_cost"] == pytest.approx(best["quality"])
    assert rows["zero router"][0] == f"{zero['aiq']:.4f}" and rows["oracle"][1] == "100.0%"
    assert len(res["knn"]["quality_at_budgets"]) == 2 and "apgr" not in res["knn"]
    assert res["cheapest"]["cost_to_match_best"] is None           # NaN in JSON: null
    assert (out / "cost_quality.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_two_models_add_apgr_and_cpt(files, tmp_path, capsys):
    assert _run(files, "train2", "test2", tmp_path / "o", "--budgets", "none") == 0
    rows = _table_rows(capsys.readouterr().out)
    res = json.loads((tmp_path / "o" / "results.json").read_text())["results"]
    # the zero router mixes the two at random: PGR linear in the strong share, APGR 1/2
    assert res["zero router"]["apgr"] == pytest.approx(0.5)
    assert res["zero router"]["cpt"] == pytest.approx(0.5)
    assert res["oracle"]["apgr"] > 0.9 and res["oracle"]["cpt"] < 0.2
    assert rows["zero router"][-3:-1] == ["0.500", "0.500"]        # APGR, CPT columns


def test_missing_outcomes_need_a_policy(files, tmp_path, capsys):
    rows = _rows("test")
    rows[3][rows[0].index("claude-v1|correct")] = ""
    path = _write(tmp_path / "holes.csv", rows, 60)
    table, _ = load_split(path, "--test")
    train, _ = load_split(files["train"], "--train")
    with pytest.raises(ValueError, match=r"has 1 missing outcomes .* --missing zero"):
        check_splits(train, table, (files["train"], path), None)
    check_splits(train, table, (files["train"], path), "zero")
    code = main(["route", "evaluate", "--train", str(files["train"]), "--test", str(path),
                 "--output", str(tmp_path / "o")])
    assert code == 2 and "missing outcomes" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()                     # refused before any work


def test_errors_name_the_flag_and_the_file(files, tmp_path, capsys):
    with pytest.raises(ValueError, match=r"--train .*nope\.csv: no such file"):
        load_split(tmp_path / "nope.csv", "--train")
    with pytest.raises(ValueError, match=r"no_prompt\.csv: not the RouterBench layout: "
                                         r"missing column\(s\) prompt"):
        load_split(files["no_prompt"], "--test")
    with pytest.raises(ValueError, match=r"missing column\(s\) claude-v1\|cost"):
        load_split(files["no_cost"], "--test")
    train, _ = load_split(files["train"], "--train")
    test2, _ = load_split(files["test2"], "--test")
    with pytest.raises(ValueError, match=r"must have the same models .* only in train: "
                                         r"\['WizardLM"):
        check_splits(train, test2, (files["train"], files["test2"]), None)
    for bad in ("0", "-1,2", "a", "inf"):
        with pytest.raises(ValueError, match="--budgets takes positive numbers"):
            parse_budgets(bad)
    assert main(["route", "evaluate", "--train", str(tmp_path / "nope.csv"), "--test",
                 str(files["test"])]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    cases = [(["--missing", "drop"], "--missing takes 'zero' or 'ignore'"),
             (["--output", str(tmp_path / "file")], "is a file; give a folder"),
             (["--budgets", "x"], "--budgets takes positive numbers")]
    for extra, message in cases:
        assert main(["route", "evaluate", "--train", str(files["train"]), "--test",
                     str(files["test"]), *extra]) == 2
        assert message in capsys.readouterr().err


def test_help_lists_route(capsys):
    assert main(["--help"]) == 0
    assert "route" in capsys.readouterr().out
    assert main(["route", "evaluate", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--train" in text and "--budgets" in text and "--max-epochs" not in text
    assert "--missing" in text and "Required when the test file" in text
