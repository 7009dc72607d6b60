"""Reports survive hostile names and interrupted writes (issue 14)."""

from __future__ import annotations

import os

import pytest

from ensel import _io
from ensel.report.results import load_results, write_results


def _interrupt_replace(monkeypatch):
    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)


def test_interrupted_results_write_keeps_the_old_file(tmp_path, monkeypatch, document):
    path = write_results(tmp_path / "results.json", document["header"], document["records"],
                         document["plots"])
    before = path.read_bytes()
    _interrupt_replace(monkeypatch)
    with pytest.raises(OSError, match="No space left"):
        write_results(path, {**document["header"], "suite": "other"}, document["records"][:1])
    monkeypatch.undo()
    assert path.read_bytes() == before and load_results(path)["header"]["suite"] == "test"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_interrupted_report_write_keeps_the_old_file(tmp_path, monkeypatch, make_document):
    pytest.importorskip("matplotlib")
    from ensel.report.html import write_report

    small = make_document(parts=(("toy", "natural"),), seeds=(0,))
    path = write_report(small, tmp_path / "sub" / "report.html")
    before = path.read_bytes()
    _interrupt_replace(monkeypatch)
    with pytest.raises(OSError, match="No space left"):
        write_report(small, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["report.html"]


def test_member_names_are_never_parsed_as_mathtext(make_document):
    """Issue 14: a member named with '$\\frac{' crashed 'ensel report'."""
    pytest.importorskip("matplotlib")
    from ensel.report import plots
    from ensel.report.html import render_report

    names = [r"a$\frac{$b", "$x^$", r"\frac{", "m3"]
    fig = plots.disagreement_matrix([[0, 0.5, 0, 0], [0.5, 0, 0, 0], [0] * 4, [0] * 4], names)
    assert plots.to_png(fig)[:4] == b"\x89PNG"
    doc = make_document(parts=(("toy", "natural"),), seeds=(0,))
    doc["plots"][0]["members"] = names
    doc["plots"][0]["classes"] = [r"$\frac{$", "b", "c"]
    html = render_report(doc)
    assert html.count("data:image/png;base64,") >= 3


def test_write_text_is_what_reports_use(tmp_path):
    assert _io.write_text(tmp_path / "a" / "r.md", "# x\n").read_text() == "# x\n"


def test_cli_path_errors_are_one_line_exit_2(tmp_path, capsys, make_document):
    """Issue 14: OSError paths ('--output' under a regular file) printed a traceback."""
    pytest.importorskip("matplotlib")
    from ensel.cli import main

    small = make_document(parts=(("toy", "natural"),), seeds=(0,))
    results = write_results(tmp_path / "results.json", small["header"], small["records"],
                            small["plots"])
    (tmp_path / "file").write_text("x")
    code = main(["report", str(results), "--output", str(tmp_path / "file" / "r.html")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "file is a file, not a folder" in err
