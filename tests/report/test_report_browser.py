"""The HTML report renders in a real browser: headless Chromium, a screenshot, the DOM.

Needs Debian's ``chromium`` package (``apt-get install -y chromium``); skipped without it.
The report is built from a small results file made here, so no benchmark runs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="the report needs matplotlib (pip install ensel[report])")

from ensel.report.html import PLOT_KINDS, slug

# Debian's /usr/bin/chromium is a shell wrapper; its /etc/chromium.d/dev-shm check prints
# "[: <bytes>: unexpected operator" where findmnt lists /dev/shm twice (containers), so the
# browser binary itself is run when it is there.
BROWSER = Path("/usr/lib/chromium/chromium")
CHROMIUM = str(BROWSER) if BROWSER.is_file() else shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium is not installed; install it with: apt-get install -y chromium")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]


def _chromium(tmp_path: Path, name: str, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{name}"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def _console_errors(stderr: str) -> list[str]:
    """Console messages and uncaught errors the page produced (Chromium logs them as CONSOLE)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


@pytest.fixture(scope="module")
def report(report_file) -> Path:
    """The report of a small results file made by the test suite (see conftest)."""
    assert (report_file.parent / "results.json").is_file()
    return report_file


def test_screenshot_is_a_rendered_page(report, tmp_path):
    from matplotlib.image import imread

    shot = tmp_path / "report.png"
    run = _chromium(tmp_path, "shot", f"--screenshot={shot}", "--window-size=1280,2000",
                    report.as_uri())
    assert shot.is_file() and shot.stat().st_size > 10_000, run.stderr[-2000:]
    assert _console_errors(run.stderr) == []
    pixels = imread(shot)
    assert pixels.shape[:2] == (2000, 1280)
    rgb = pixels[..., :3].reshape(-1, 3)
    assert rgb.std(axis=0).max() > 0.05                  # not a blank single-colour image
    codes = (rgb[::7] * 255).astype(np.uint32) @ np.array([1 << 16, 1 << 8, 1], np.uint32)
    assert len(np.unique(codes)) > 50                    # figures, not only text
    top = pixels[:60, :, :3].reshape(-1, 3).mean(axis=0)
    assert top[2] > top[0]                               # the dark blue header is drawn


def test_dom_has_every_section(report, tmp_path):
    run = _chromium(tmp_path, "dom", "--dump-dom", report.as_uri())
    dom = run.stdout
    assert _console_errors(run.stderr) == []
    assert "<title>ensel benchmark — test</title>" in dom
    for section in ("contents", "summary", "run"):
        assert f'id="{section}"' in dom
    for pool in ("specialists", "natural"):
        part = re.search(rf'<section class="part" id="part-{slug("toy", pool)}".*?</section>',
                         dom, re.DOTALL)
        assert part, pool
        for kind in PLOT_KINDS:
            assert f'<figure data-plot="{kind}"><img' in part.group(0)
    assert dom.count("<img") == 2 * len(PLOT_KINDS)


def test_console_errors_would_be_caught(tmp_path):
    """The check above is not vacuous: a page that logs an error is caught."""
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>undefinedFunction();</script></body></html>")
    run = _chromium(tmp_path, "broken", "--dump-dom", page.as_uri())
    assert any("undefinedFunction" in line for line in _console_errors(run.stderr))
