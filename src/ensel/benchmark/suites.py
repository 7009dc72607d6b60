"""The built-in benchmark suites and how long they take."""

from __future__ import annotations

from dataclasses import dataclass

from ensel.protocol import POOLS


@dataclass(frozen=True)
class ImageSettings:
    """How a suite on images (``ensel.images``) trains its CNN members and selection network.

    Parameters
    ----------
    member_channels : tuple of int
        Conv channels of the specialists pool's members (the natural pool's widths are
        ``ensel.images.NATURAL_CNNS``).
    member_epochs : int
        Most epochs of every CNN member (early stopping with a patience of 3).
    selector_channels : tuple of int
        Conv channels of the selectors' `~ensel.nets.ConvNet` selection network.
    selector_epochs : int
        Most epochs of a selector (``ensel.images.selector_params``).

    Examples
    --------
    >>> from ensel.benchmark import SUITES
    >>> SUITES["images"].images.member_epochs, SUITES["images"].images.selector_channels
    (12, (8, 16))
    """

    member_channels: tuple[int, ...] = (8, 16)
    member_epochs: int = 12
    selector_channels: tuple[int, ...] = (8, 16)
    selector_epochs: int = 30


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
    combiners : tuple of str or None
        The combiners run when none are asked for (None: every registered one and DESlib's).
    budgets : tuple of float or None
        The budgets when none are asked for (None: ``ensel.benchmark.runner.BUDGETS``).
    images : ImageSettings or None
        Set for a suite on images: its tables come from ``ensel.images.make_image_tables``,
        the selectors get a CNN selection network on the images, and every other combiner
        sees the flattened pixels (``ensel.images.flat_table``).
    """

    name: str
    datasets: tuple[tuple[str, int | None], ...]
    pools: tuple[str, ...]
    seeds: int
    ks: tuple[int, ...]
    optional: tuple[str, ...] = ()
    combiners: tuple[str, ...] | None = None
    budgets: tuple[float, ...] | None = None
    images: ImageSettings | None = None


SUITES: dict[str, Suite] = {
    "quick": Suite(
        "quick",
        (("digits", None), ("breast_cancer", None), ("pendigits", 3000), ("letter", 4000)),
        POOLS, seeds=1, ks=(1, 3), optional=("pendigits", "letter")),
    "full": Suite(
        "full",
        (("digits", None), ("breast_cancer", None), ("pendigits", None), ("letter", None)),
        POOLS, seeds=3, ks=(1, 2, 3, 4, 5)),
    # issue 16: the paper's regime, CNN members on MNIST 5k and a CNN selection network; the
    # peers of benchmarks/bench_images.py (ensel's KNORA-E and META-DES, on the pixels)
    "images": Suite(
        "images", (("mnist_5k", None),), POOLS, seeds=3, ks=(3,),
        combiners=("best-single", "average", "stacking", "greedy", "knora-e", "meta-des",
                   "e2e-cel", "cascade"),
        budgets=(0.2, 0.3, 0.4),
        images=ImageSettings(member_channels=(8, 16), member_epochs=12,
                             selector_channels=(8, 16), selector_epochs=30)),
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
    # the images suite (its 8 combiners, e2e-cel and cascade at 3 budgets; k=3 reuses e2e-cel):
    # CPU seconds of one thread (BLAS/OpenMP on one too), from the 205 s / 96 s of CPU of a
    # first run and a run from the cache with --jobs 2 (about 14 s of it start-up and report);
    # tables = first run, members trained (from the member cache: under 1 s)
    ("mnist_5k", None): {"specialists": (13, 17, 0), "natural": (23, 11, 0)},
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
