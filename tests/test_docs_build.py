"""The documentation site builds with zero warnings, and its API reference is complete.

The build is exactly ``python -m sphinx -W --keep-going -b html docs <out>``: a broken
cross-reference, a malformed docstring or a guide page missing from the table of contents fails
it. The guides' code examples are run by ``tests/test_readme.py``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import ensel

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
API_PAGES = sorted(p.stem for p in (DOCS / "api").glob("*.rst"))
# exported from `ensel` but documented (once) with the other combiners
DOCUMENTED_ELSEWHERE = {"ensel.DifferentiableSelector": "ensel.combine.DifferentiableSelector",
                        "ensel.NeuralEnsembler": "ensel.combine.NeuralEnsembler"}

pytest.importorskip("sphinx")
pytest.importorskip("numpydoc")
pytest.importorskip("myst_parser")

# one build per test run: under ``pytest -n 2 --dist loadgroup`` these tests share one worker
pytestmark = pytest.mark.xdist_group("docs_build")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(out / ".doctrees"), str(DOCS), str(out / "html")],
        capture_output=True, text=True, timeout=300)
    problems = [line for line in done.stderr.splitlines() if "WARNING" in line or "ERROR" in line]
    assert done.returncode == 0 and not problems, "\n".join(problems) or done.stderr[-3000:]
    return out / "html"


def _anchors(page: Path) -> set[str]:
    return set(re.findall(r'id="([^"]+)"', page.read_text(encoding="utf-8")))


def test_every_guide_is_a_page(site):
    guides = sorted(p.stem for p in DOCS.glob("*.md") if p.stem != "index")
    assert len(guides) >= 7
    for name in guides:
        assert (site / f"{name}.html").is_file(), name
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "Thirty seconds of ensel" in index  # the README, with its examples
    changelog = (site / "project" / "changelog.html").read_text(encoding="utf-8")
    assert f"{ensel.__version__}" in changelog and "Unreleased" in changelog


def _public_modules() -> set[str]:
    """ensel's subpackages, and its modules that export what ``ensel`` itself does not."""
    found = set()
    for info in pkgutil.iter_modules(ensel.__path__):
        if info.name.startswith("_") or info.name in ("cli", "data"):
            continue
        if info.ispkg:
            found.add(f"ensel.{info.name}")
            continue
        exports = getattr(importlib.import_module(f"ensel.{info.name}"), "__all__", [])
        if set(exports) - set(ensel.__all__):
            found.add(f"ensel.{info.name}")
    return found


def test_every_public_module_has_a_reference_page():
    missing = _public_modules() - set(API_PAGES)
    assert {"ensel.combine", "ensel.ops", "ensel.metrics"} <= set(API_PAGES)
    assert not missing, f"add docs/api/<module>.rst and list it in docs/api/index.md: {missing}"


def _public(module) -> list[str]:
    """The classes and functions a module exports (its ``__all__``, else what it defines)."""
    names = getattr(module, "__all__", None) or [
        n for n, v in vars(module).items()
        if not n.startswith("_") and getattr(v, "__module__", None) == module.__name__]
    return [n for n in names if inspect.isclass(getattr(module, n))
            or inspect.isfunction(getattr(module, n))]


@pytest.mark.parametrize("page", API_PAGES)
def test_reference_documents_every_export(site, page):
    module = importlib.import_module(page)
    anchors = _anchors(site / "api" / f"{page}.html")
    missing = []
    for name in _public(module):
        full = f"{page}.{name}"
        if full in DOCUMENTED_ELSEWHERE:
            where = DOCUMENTED_ELSEWHERE[full]
            documented = where in _anchors(site / "api" / f"{where.rsplit('.', 1)[0]}.html")
        else:
            documented = full in anchors
        if not documented:
            missing.append(full)
    assert _public(module) and not missing, missing
