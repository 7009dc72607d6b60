"""The examples of docs/ops.md and of the ensel.ops docstrings run as written."""

from __future__ import annotations

import doctest
import importlib
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "ops.md"


def test_ops_md_python_blocks_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    assert blocks
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), {})  # noqa: S102 -- our own docs


@pytest.mark.parametrize("module", ["ensel.ops.topk", "ensel.ops.sparse", "ensel.ops.entropic",
                                    "ensel.ops.perturbed", "ensel.ops.straight_through",
                                    "ensel.ops.knapsack"])
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
