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
