"""The built-in benchmark suites and how long they take."""

from __future__ import annotations

from dataclasses import dataclass

from ensel.protocol import POOLS


@dataclass(frozen=True)
class Suite:
    """A built-in suite: datasets (with a row cap), pools, seeds and the sweep over ``k``.

    Parameters
    ----------
    name : str
    datasets : tuple of (str, int or None)
        Dataset name and the number of rows kept (a stratified subsample), None for all.
    pools : tuple of str
        Pools of ``ensel.protocol`` (``"specialists"``, ``"natural"``).
    seeds : int
        Default number of seeds (0 .. seeds - 1).
    ks : tuple of int
        The DifferentiableSelector is also run at each of these fixed ``k``.
    optional : tuple of str
        Datasets skipped with a note (instead of an error) when their files are missing.
    """

    name: str
    datasets: tuple[tuple[str, int | None], ...]
    pools: tuple[str, ...]
    seeds: int
    ks: tuple[int, ...]
    optional: tuple[str, ...] = ()


SUITES: dict[str, Suite] = {
    "quick": Suite(
        "quick",
        (("digits", None), ("breast_cancer", None), ("pendigits", 3000), ("letter", 4000)),
        POOLS, seeds=1, ks=(1, 3), optional=("pendigits", "letter")),
    "full": Suite(
        "full",
        (("digits", None), ("breast_cancer", None), ("pendigits", None), ("letter", None)),
        POOLS, seeds=3, ks=(1, 2, 3, 4, 5)),
}
"""Suite name → `Suite`."""

# Measured wall seconds on a 2-core machine (torch on one thread) for one seed of one
# dataset x pool: building the tables (fitting the pool), every registered combiner plus
# DESlib's four methods, and one DifferentiableSelector fit of the sweep over k.
_COST: dict[tuple[str, int | None], dict[str, tuple[float, float, float]]] = {
    # (dataset, rows) -> pool -> (tables, combiners, one sweep fit)
    ("digits", None): {"specialists": (3, 6, 1), "natural": (2, 4, 1)},
    ("breast_cancer", None): {"specialists": (4, 7, 1), "natural": (2, 3, 1)},
    ("pendigits", 3000): {"specialists": (7, 20, 6), "natural": (10, 9, 2)},
    ("letter", 4000): {"specialists": (9, 22, 6), "natural": (29, 15, 3)},
    ("pendigits", None): {"specialists": (12, 60, 25), "natural": (25, 30, 8)},
    ("letter", None): {"specialists": (20, 110, 45), "natural": (55, 70, 15)},
}


def expected_seconds(parts: list[tuple[str, str, int | None]], n_seeds: int,
                     n_ks: int) -> float | None:
    """Rough wall time of a run on 2 cores, or None when a part has no measured cost.

    Parameters
    ----------
    parts : list of (dataset, pool, rows)
    n_seeds : int
    n_ks : int
        Number of extra DifferentiableSelector fits per dataset x pool x seed (the sweep).

    Returns
    -------
    float or None
        Seconds, assuming every combiner and DESlib runs.

    Examples
    --------
    >>> expected_seconds([("digits", "natural", None)], 1, 0)
    6.0
    """
    total = 0.0
    for dataset, pool, rows in parts:
        cost = _COST.get((dataset, rows), {}).get(pool)
        if cost is None:
            return None
        tables, combiners, sweep = cost
        total += n_seeds * (tables + combiners + n_ks * sweep)
    return total
