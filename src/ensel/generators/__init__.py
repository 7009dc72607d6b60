"""Candidate selection for generators: several models propose, a selector picks per input.

``ensel.generators.candidates`` groups candidates by an equivalence and takes the consensus;
``ensel.generators.selector`` is the listwise (k = 1) learned scorer; ``ensel.generators.sql``
applies both to text-to-SQL on real databases (after XiYan-SQL). Nothing heavy loads here.
"""

from __future__ import annotations

from typing import Any

from ensel.generators.candidates import Groups, group_candidates

__all__ = ["Groups", "ListwiseSelector", "group_candidates"]


def __getattr__(name: str) -> Any:
    if name == "ListwiseSelector":
        from ensel.generators.selector import ListwiseSelector

        return ListwiseSelector
    raise AttributeError(f"module 'ensel.generators' has no attribute {name!r}")


def __dir__() -> list[str]:  # the lazy names too, for dir(), completion and the API reference
    return sorted(set(globals()) | set(__all__))
