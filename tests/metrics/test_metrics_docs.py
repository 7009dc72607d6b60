"""Docstring examples run; the package import stays light; the API is complete."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys

import pytest

import ensel.metrics

MODULES = ["calibration", "oracle", "diversity", "uncertainty", "cost", "regression", "routing"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(f"ensel.metrics.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


def test_every_public_function_has_an_example():
    for name in ensel.metrics.__all__:
        doc = getattr(ensel.metrics, name).__doc__
        assert "Examples\n    --------" in doc, name
        assert "Parameters\n    ----------" in doc, name


def test_import_is_light():
    code = ("import sys, ensel.metrics; "
            "print(sorted(m for m in ('torch', 'matplotlib', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
