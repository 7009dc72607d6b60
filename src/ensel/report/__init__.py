"""Benchmark reports: the results file, Markdown tables and a self-contained HTML page.

`load_results` / `write_results` read and write ``results.json`` (``ensel.report.results``),
`markdown` summarises it (``ensel.report.tables``), `write_report` renders the HTML page with
matplotlib figures (``ensel.report.html``, ``ensel.report.plots``; needs the ``report`` extra).
matplotlib is imported only when a figure is drawn.

Examples
--------
>>> from ensel.report import load_results, write_report    # doctest: +SKIP
>>> write_report(load_results("out/results.json"), "out/report.html")   # doctest: +SKIP
"""

from __future__ import annotations

from ensel.report.html import render_report, write_report
from ensel.report.results import check_results, load_results, write_results
from ensel.report.tables import markdown

__all__ = ["check_results", "load_results", "markdown", "render_report", "write_report",
           "write_results"]
