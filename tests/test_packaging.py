"""The package as users get it: one version everywhere, metadata, and a wheel that works alone."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import ensel

ROOT = Path(__file__).resolve().parents[1]


def _toml_tables(text: str) -> dict[str, str]:
    """The body of each ``[table]`` of a TOML file, by name (tomllib is 3.11+ only)."""
    parts = re.split(r"^\[([^\]]+)\]$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_version_is_single_sourced():
    assert ensel.__version__ == importlib.metadata.version("ensel")
    assert re.fullmatch(r"\d+\.\d+\.\d+([ab]\d+|rc\d+)?(\.dev\d+)?", ensel.__version__)
    tables = _toml_tables((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert not re.search(r"^version\s*=", tables["project"], flags=re.MULTILINE)
    assert re.search(r'^dynamic = \[.*"version".*\]', tables["project"], flags=re.MULTILINE)
    source = 'version = { attr = "ensel._version.__version__" }'
    assert source in tables["tool.setuptools.dynamic"]


def test_changelog_lists_the_current_version():
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## \[([^\]]+)\]", changelog, flags=re.MULTILINE)
    assert headings[0] == "Unreleased"
    assert ensel.__version__ in headings


def test_metadata_declares_licence_and_python():
    meta = importlib.metadata.metadata("ensel")
    assert meta["License-Expression"] == "BSD-3-Clause"
    assert "BSD 3-Clause License" in (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert meta["Requires-Python"] == ">=3.10"
    assert "Typing :: Typed" in meta.get_all("Classifier")
