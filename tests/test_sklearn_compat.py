"""ensel._sklearn_compat: the one module touching scikit-learn private API."""

from __future__ import annotations

import sys

import pytest
from sklearn.base import BaseEstimator

from ensel import _sklearn_compat


def test_patch_deslib_without_deslib_names_the_extra(monkeypatch):
    if hasattr(BaseEstimator, "_validate_data"):
        pytest.skip("this scikit-learn still has _validate_data: nothing to patch")
    monkeypatch.setattr(_sklearn_compat, "_PATCHED", [])
    monkeypatch.setitem(sys.modules, "deslib.base", None)      # import deslib.base fails
    with pytest.raises(ImportError, match=r"DESlib is not installed .*pip install ensel\[peers\]"):
        _sklearn_compat.patch_deslib()
