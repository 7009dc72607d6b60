"""Checks of command-line options, run while the command line is parsed (before any work).

The errors name the flag as typed: ``Invalid value for '--k': must be an int in [1, 10].
Got -2 instead.``
"""

from __future__ import annotations

from collections.abc import Callable

import typer


def int_range(low: int, high: int | None = None) -> Callable[[int | None], int | None]:
    """A typer option callback accepting ints in ``[low, high]`` (no upper bound when None).

    Examples
    --------
    >>> check = int_range(1, 10)
    >>> check(3)
    3
    """
    rule = f"an int >= {low}" if high is None else f"an int in [{low}, {high}]"

    def check(value: int | None) -> int | None:
        if value is not None and (value < low or (high is not None and value > high)):
            raise typer.BadParameter(f"must be {rule}. Got {value} instead.")
        return value

    return check


def parse_budgets(value: str, *, high: float = 1.0, unit: str = "") -> list[float]:
    """``"0.1,0.5,1"`` → [0.1, 0.5, 1.0]; ``"none"`` or ``""`` → []: the ``--budgets`` of
    every command, each in ``(0, high]`` (``high=inf``: any positive number; ``unit`` names
    what they are multiples of in the error).

    Examples
    --------
    >>> parse_budgets("0.25, 0.5"), parse_budgets("none")
    ([0.25, 0.5], [])
    """
    import math

    if value.strip().lower() in ("none", ""):
        return []
    try:
        out = [float(part) for part in value.split(",")]
    except ValueError:
        out = [0.0]
    if not all(0 < b <= high and b < math.inf for b in out):
        what = f"numbers in (0, {high:g}]" if high < math.inf else "positive numbers"
        raise ValueError(f"--budgets takes {what}{unit}, comma-separated, or 'none'. Got "
                         f"{value!r}.")
    return out
