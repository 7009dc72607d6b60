"""The HTML report: sections, embedded figures, no external assets, and `ensel report`."""

from __future__ import annotations

import base64
import re
import subprocess
import sys

import pytest

pytest.importorskip("matplotlib", reason="the report needs matplotlib (pip install ensel[report])")

from ensel.cli import main
from ensel.report.html import PLOT_KINDS, render_report, slug, write_report
from ensel.report.results import write_results


@pytest.fixture(scope="module")
def page(report_file) -> str:
    return report_file.read_text()


def test_page_has_every_section_and_figure(page):
    assert page.startswith("<!DOCTYPE html>")
    for section in ("contents", "summary", "run"):
        assert f'id="{section}"' in page
    for pool in ("specialists", "natural"):
        match = re.search(rf'<section class="part" id="part-{slug("toy", pool)}".*?</section>',
                          page, re.DOTALL)
        assert match, pool
        part = match.group(0)
        assert '<table class="results">' in part
        for kind in PLOT_KINDS:
            assert f'<figure data-plot="{kind}"><img' in part, (pool, kind)
    assert page.count('<tr class="best selector">') == 2    # e2e-cel wins both parts


def test_page_is_self_contained(page):
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()
    for attr in re.findall(r'(?:src|href)="([^"]*)"', page) + \
            re.findall(r"(?:src|href)='([^']*)'", page):
        assert attr.startswith(("data:image/png;base64,", "#")), attr
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 2 * len(PLOT_KINDS)
    for data in images:
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_plot_data_shows_placeholders(make_document):
    document = make_document(parts=(("toy", "natural"),), plots=False)
    document["records"] = [r for r in document["records"] if not r["combiner"].startswith("e2e")]
    page = render_report(document)
    assert page.count('<img') == 1                          # only the frontier
    for kind in ("reliability", "selection", "disagreement", "k"):
        assert f'<figure data-plot="{kind}" class="empty"><p class="missing">' in page


@pytest.fixture
def bare(make_document):
    """Documents without plot data or sweep: their report draws one figure (fast)."""
    def build(parts=(("toy", "natural"),)) -> dict:
        document = make_document(parts=parts, seeds=(0,), plots=False)
        document["records"] = [r for r in document["records"] if r["k"] is None]
        return document
    return build


def test_names_are_escaped(bare):
    document = bare(parts=(("<b>x</b>", "natural"),))
    page = render_report(document)
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page


def test_write_report_from_a_path(tmp_path, bare):
    document = bare()
    results = write_results(tmp_path / "results.json", document["header"], document["records"],
                            document["plots"])
    out = write_report(results, tmp_path / "sub" / "report.html")
    assert out.is_file() and "toy / natural" in out.read_text()


def test_cli_report(tmp_path, capsys, bare):
    document = bare()
    results = write_results(tmp_path / "results.json", document["header"], document["records"],
                            document["plots"])
    assert main(["report", str(results), "-o", str(tmp_path / "r.html")]) == 0
    assert (tmp_path / "r.html").is_file()
    assert main(["report", str(results)]) == 0               # default: beside the results
    assert (tmp_path / "report.html").is_file()
    assert "report:" in capsys.readouterr().out


def test_cli_report_errors(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert main(["report", str(bad)]) == 2
    assert "is not valid JSON" in capsys.readouterr().err
    other = tmp_path / "other.json"
    other.write_text('{"format": "something"}')
    assert main(["report", str(other)]) == 2
    assert "is not an ensel benchmark results file" in capsys.readouterr().err


def test_importing_report_and_benchmark_stays_light():
    code = ("import sys, ensel, ensel.report, ensel.benchmark, ensel.cli; "
            "print(sorted(m for m in ('matplotlib', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
