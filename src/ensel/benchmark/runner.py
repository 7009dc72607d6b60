"""Run every combiner side by side on the built-in suites or on a user's prediction table.

`plan_benchmark` checks every argument and resolves what will run (before any model is fitted);
`run_benchmark` runs the plan and writes ``results.json``, ``results.md`` and ``report.html``.
"""

from __future__ import annotations

import math
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ensel.benchmark.peers import DESLIB_METHODS, PREFIX, DESlibCombiner, deslib_available
from ensel.benchmark.suites import SUITES, ImageSettings, expected_seconds
from ensel.table import PredictionTable

SELECTOR = "e2e-cel"
"""Registry name of the DifferentiableSelector (the one swept over ``k``)."""

BUDGETS = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
"""Default budgets (mean cost per input, fraction of the whole pool) of budgeted combiners."""

USER_POOL = "user"
"""Pool name recorded for a user's table."""

_PACKAGES = ("ensel", "numpy", "scipy", "scikit-learn", "torch", "deslib", "matplotlib",
             "rich", "typer")


@dataclass
class Plan:
    """What a benchmark run will do; made by `plan_benchmark`.

    Attributes
    ----------
    suite : str
        ``"quick"``, ``"full"``, ``"images"`` or ``"table"`` (a user's table).
    parts : list of (dataset, pool, rows)
        Rows is the stratified subsample size, None for all rows.
    seeds : list of int
    combiners : list of str
        ensel registry names.
    peers : list of str
        DESlib method names (without the ``deslib:`` prefix).
    ks : list of int
        Fixed ``k`` of the DifferentiableSelector sweep (empty: no sweep).
    tables : tuple of PredictionTable or None
        ``(selection, test)`` of a user's table.
    split : str
        How selection and test data were made, in words.
    skipped : list of dict
        ``{"combiner" or "dataset", "reason"}`` for what will not run.
    budgets : list of float
        Budgets at which every budgeted combiner (one with a ``budget`` parameter, e.g.
        ``cascade``) is also run, recorded as ``name[budget=b]`` (empty: none).
    images : ImageSettings or None
        A suite on images: the settings of its CNN members and selection network.
    """

    suite: str
    parts: list[tuple[str, str, int | None]]
    seeds: list[int]
    combiners: list[str]
    peers: list[str]
    ks: list[int]
    tables: tuple[PredictionTable, PredictionTable] | None = None
    split: str = ""
    skipped: list[dict[str, Any]] = field(default_factory=list)
    budgets: list[float] = field(default_factory=list)
    images: ImageSettings | None = None

    @property
    def budgeted(self) -> list[str]:
        """The combiners of the run that take a ``budget`` (run at every budget)."""
        return [name for name in self.combiners if takes_budget(name)] if self.budgets else []

    @property
    def names(self) -> list[str]:
        """Every combiner name as recorded, sweep and budgets included."""
        return ([*self.combiners, *(PREFIX + p for p in self.peers)]
                + [f"{SELECTOR}[k={k}]" for k in self.ks]
                + [budget_name(n, b) for n in self.budgeted for b in self.budgets])

    def expected_seconds(self) -> float | None:
        """Rough wall time on 2 cores (None for a user's table or unmeasured parts)."""
        if self.tables is not None:
            return None
        return expected_seconds(self.parts, len(self.seeds), len(self.ks))


def budget_name(name: str, budget: float) -> str:
    """The record name of ``name`` run at ``budget``, e.g. ``"cascade[budget=0.3]"``."""
    return f"{name}[budget={budget:g}]"


def takes_budget(name: str) -> bool:
    """Whether the registered combiner ``name`` has a ``budget`` parameter (no import of
    torch unless the class lives with it)."""
    import inspect

    from ensel.combine import get_combiner

    return "budget" in inspect.signature(get_combiner(name)).parameters


def _check_budgets(budgets: Sequence[float] | None,
                   default: Sequence[float] | None = None) -> list[float]:
    if budgets is None:
        return list(BUDGETS if default is None else default)
    out = []
    for b in budgets:
        if isinstance(b, bool) or not isinstance(b, (int, float)) or not 0 < b <= 1:
            raise ValueError(f"The 'budgets' parameter of plan_benchmark must hold floats in "
                             f"(0, 1]. Got {b!r} instead.")
        out.append(float(b))
    return sorted(set(out))


def _check_int(value: Any, name: str, low: int, where: str = "plan_benchmark") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"The '{name}' parameter of {where} must be an int >= {low}. "
                         f"Got {value!r} instead.")
    return int(value)


def _parse_names(combiners: Sequence[str] | None) -> list[str] | None:
    if combiners is None:
        return None
    names: list[str] = []
    for item in combiners:
        names += [part.strip() for part in str(item).split(",") if part.strip()]
    return names or None


def resolve_combiners(combiners: Sequence[str] | None, *, deslib: bool | None = None,
                      ) -> tuple[list[str], list[str]]:
    """Split and check combiner names into ensel registry names and DESlib methods.

    Parameters
    ----------
    combiners : sequence of str or None
        Registry names (`ensel.combine.COMBINERS`), ``"deslib:<method>"`` for a DESlib method,
        ``"deslib"`` for all four; items may be comma-separated. None means every registered
        combiner and (when installed) every DESlib method.
    deslib : bool or None, default=None
        Force DESlib on or off; None runs it when installed.

    Returns
    -------
    combiners : list of str
    peers : list of str

    Raises
    ------
    ValueError
        For an unknown name, or a DESlib method asked for when DESlib is not installed.
    """
    from ensel.combine import COMBINERS

    names = _parse_names(combiners)
    have_deslib = deslib_available()
    if names is None:
        peers = list(DESLIB_METHODS) if (have_deslib if deslib is None else deslib) else []
        if peers and not have_deslib:
            raise ValueError("DESlib's methods were asked for but DESlib is not installed; "
                             "install it with: pip install ensel[peers]")
        return list(COMBINERS), peers
    known = [*COMBINERS, "deslib", *(PREFIX + m for m in DESLIB_METHODS)]
    ours: list[str] = []
    peers = []
    for name in names:
        if name in COMBINERS:
            ours.append(name)
        elif name == "deslib":
            peers += list(DESLIB_METHODS)
        elif name.startswith(PREFIX) and name[len(PREFIX):] in DESLIB_METHODS:
            peers.append(name[len(PREFIX):])
        else:
            raise ValueError(f"Unknown combiner {name!r}; choose from {known}.")
    if deslib is False:
        peers = []
    if peers and not have_deslib:
        verb = "needs" if len(peers) == 1 else "need"
        raise ValueError(f"{', '.join(PREFIX + p for p in peers)} {verb} DESlib, which is not "
                         f"installed; install it with: pip install ensel[peers]")
    return list(dict.fromkeys(ours)), list(dict.fromkeys(peers))


def load_user_tables(path: str | Path, *, split_seed: int = 0, test_size: float = 0.5,
                     ) -> tuple[PredictionTable, PredictionTable, str]:
    """A user's saved table as ``(selection, test, description of the split)``.

    When ``path`` holds ``selection/`` and ``test/`` sub-tables they are used as they are;
    otherwise the table at ``path`` is split, stratified, into selection and test parts.

    Parameters
    ----------
    path : str or Path
        A directory written by `ensel.PredictionTable.save`, or one with ``selection/`` and
        ``test/`` sub-directories so written.
    split_seed : int, default=0
        Seed of the split.
    test_size : float, default=0.5
        Share of rows in the test part.

    Raises
    ------
    FileNotFoundError
        When ``path`` is missing or holds no saved table.
    ValueError
        For an unlabelled or regression table, or selection and test parts that disagree.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Table {path} does not exist.")
    if (path / "selection").is_dir() and (path / "test").is_dir():
        sel = PredictionTable.load(path / "selection")
        test = PredictionTable.load(path / "test")
        how = f"selection and test parts as saved in {path}"
        if sel.members != test.members:
            raise ValueError(f"{path}: the selection and test tables have different members "
                             f"({sel.members} vs {test.members}).")
        sel_classes = None if sel.classes is None else np.asarray(sel.classes).tolist()
        test_classes = None if test.classes is None else np.asarray(test.classes).tolist()
        if sel_classes != test_classes:
            raise ValueError(f"{path}: the selection and test tables have different classes "
                             f"({sel_classes} vs {test_classes}).")
        tables = [("selection", sel), ("test", test)]
    else:
        table = PredictionTable.load(path)
        tables = [("table", table)]
    for part, t in tables:
        if t.task != "classification":
            raise ValueError(f"{path}: the benchmark scores classification tables; the {part} "
                             f"table is a {t.task} table.")
        if t.y is None:
            raise ValueError(f"{path}: the {part} table has no labels y; the benchmark needs "
                             f"them to fit and score the combiners.")
    if len(tables) == 2:
        return sel, test, how
    from sklearn.model_selection import train_test_split

    y = np.asarray(table.y)
    counts = np.bincount(y)
    stratify = y if counts[counts > 0].min() >= 2 else None
    idx = np.arange(table.n_samples)
    sel_idx, test_idx = train_test_split(idx, test_size=test_size, stratify=stratify,
                                         random_state=split_seed)
    how = (f"{path} split {100 * (1 - test_size):.0f}/{100 * test_size:.0f} into selection/"
           f"test, {'stratified, ' if stratify is not None else ''}seed {split_seed}")
    return table[np.sort(sel_idx)], table[np.sort(test_idx)], how


def plan_benchmark(*, suite: str = "quick", table: str | Path | None = None,
                   combiners: Sequence[str] | None = None, seeds: int | None = None,
                   ks: Sequence[int] | None = None, datasets: Sequence[str] | None = None,
                   pools: Sequence[str] | None = None, max_rows: int | None = None,
                   deslib: bool | None = None, split_seed: int = 0,
                   budgets: Sequence[float] | None = None) -> Plan:
    """Check the arguments of a benchmark run and resolve what will run.

    Parameters
    ----------
    suite : {"quick", "full", "images"}, default="quick"
        Built-in suite (ignored with ``table``); ``"images"`` is CNN members on MNIST 5k
        (docs/images.md).
    table : str or Path, optional
        A user's saved PredictionTable (see `load_user_tables`) instead of a suite.
    combiners : sequence of str, optional
        Names to run (see `resolve_combiners`); default every combiner and DESlib method (a
        suite with its own ``combiners``, e.g. images: those, and DESlib's with
        ``deslib=True``).
    seeds : int, optional
        Seeds 0 .. seeds - 1; default the suite's (1 for quick and a table, 3 for full and
        images).
    ks : sequence of int, optional
        Fixed ``k`` at which the DifferentiableSelector is also run (only when ``"e2e-cel"``
        runs); default the suite's, ``[]`` for none.
    datasets, pools : sequence of str, optional
        Restrict the suite to these datasets / pools.
    max_rows : int, optional
        Cap on the rows of every dataset (stratified subsample), for smoke runs.
    deslib : bool, optional
        Force DESlib's methods on or off (default: on when installed).
    split_seed : int, default=0
        Seed of the selection/test split of a user's table.
    budgets : sequence of float, optional
        Budgets in (0, 1] at which every budgeted combiner of the run is also run (default
        the suite's, else ``ensel.benchmark.runner.BUDGETS``; ``[]`` for none).

    Returns
    -------
    Plan

    Raises
    ------
    ValueError
        Unknown suite, combiner, dataset or pool; bad numbers; inconsistent options.
    FileNotFoundError
        A missing table or built-in dataset file.
    """
    spec = SUITES.get(suite) if table is None else None
    if spec is not None and spec.combiners is not None and _parse_names(combiners) is None:
        combiners = [*spec.combiners, *(["deslib"] if deslib else [])]
    ours, peers = resolve_combiners(combiners, deslib=deslib)
    if max_rows is not None:
        max_rows = _check_int(max_rows, "max_rows", 20)
    split_seed = _check_int(split_seed, "split_seed", 0)
    if table is not None:
        if datasets or pools:
            raise ValueError("--table runs on the given table only; it cannot be combined "
                             "with --datasets or --pools.")
        plan = _plan_table(table, ours, peers, seeds=seeds, split_seed=split_seed)
        default_ks = SUITES["quick"].ks
    else:
        plan = _plan_suite(suite, ours, peers, seeds=seeds, datasets=datasets, pools=pools,
                           max_rows=max_rows)
        default_ks = SUITES[suite].ks
    k_list = list(default_ks) if ks is None else [_check_int(k, "ks", 1) for k in ks]
    plan.ks = sorted(set(k_list)) if SELECTOR in plan.combiners else []
    plan.budgets = _check_budgets(budgets, None if spec is None else spec.budgets)
    return plan


def _plan_table(table: str | Path, ours: list[str], peers: list[str], *, seeds: int | None,
                split_seed: int) -> Plan:
    """The plan (without ``ks``) of a run on a user's table."""
    sel, test, how = load_user_tables(table, split_seed=split_seed)
    n_seeds = 1 if seeds is None else _check_int(seeds, "seeds", 1)
    skipped: list[dict[str, Any]] = []
    if sel.X is None or test.X is None:
        from ensel.combine import COMBINERS

        reason = "needs the inputs X; the table has none"
        for name in list(ours):
            if getattr(COMBINERS[name], "_needs_inputs", False):
                ours.remove(name)
                skipped.append({"combiner": name, "reason": reason})
        skipped += [{"combiner": PREFIX + name, "reason": reason} for name in peers]
        peers = []
    name = Path(table).resolve().name or "table"
    return Plan(suite="table", parts=[(name, USER_POOL, None)], seeds=list(range(n_seeds)),
                combiners=ours, peers=peers, ks=[], tables=(sel, test), split=how,
                skipped=skipped)


def _plan_suite(suite: str, ours: list[str], peers: list[str], *, seeds: int | None,
                datasets: Sequence[str] | None, pools: Sequence[str] | None,
                max_rows: int | None) -> Plan:
    """The plan (without ``ks``) of a run on a built-in suite."""
    from ensel.datasets import DATASETS
    from ensel.protocol import POOLS

    if suite not in SUITES:
        raise ValueError(f"Unknown suite {suite!r}; choose one of {sorted(SUITES)}.")
    spec = SUITES[suite]
    n_seeds = spec.seeds if seeds is None else _check_int(seeds, "seeds", 1)
    caps = dict(spec.datasets)
    chosen = list(caps) if not datasets else list(dict.fromkeys(datasets))
    for name in chosen:
        if name not in DATASETS:
            raise ValueError(f"Unknown dataset {name!r}; choose from {list(DATASETS)}.")
    chosen_pools = list(spec.pools) if not pools else list(dict.fromkeys(pools))
    for pool in chosen_pools:
        if pool not in POOLS:
            raise ValueError(f"Unknown pool {pool!r}; choose from {list(POOLS)}.")
    parts: list[tuple[str, str, int | None]] = []
    skipped: list[dict[str, Any]] = []
    for name in chosen:
        if not _dataset_file_present(name):
            if name in spec.optional and not datasets:
                skipped.append({"dataset": name,
                                "reason": "its file is missing (set ENSEL_DATASETS)"})
                continue
            from ensel.datasets import load_dataset

            load_dataset(name)   # raises FileNotFoundError with the paths tried
        rows = caps.get(name)
        if max_rows is not None:
            rows = max_rows if rows is None else min(rows, max_rows)
        parts += [(name, pool, rows) for pool in chosen_pools]
    how = ("benchmark protocol of docs/benchmark.md: stratified 50/25/25 "
           "base-train/selection/test, seed = run seed")
    if spec.images is not None:
        how = ("images protocol of docs/images.md: images [N, 1, 28, 28], stratified 50/25/25 "
               "base-train/selection/test, seed = run seed; CNN members cached by content hash "
               "($ENSEL_CACHE or ~/.cache/ensel)")
    return Plan(suite=suite, parts=parts, seeds=list(range(n_seeds)), combiners=ours,
                peers=peers, ks=[], split=how, skipped=skipped, images=spec.images)


def _dataset_file_present(name: str) -> bool:
    """False when a file-backed dataset's file cannot be found (built-in ones: always True)."""
    from ensel.datasets import FILES, dataset_path

    if name not in FILES:
        return True
    try:
        dataset_path(FILES[name])
    except FileNotFoundError:
        return False
    return True


def package_versions() -> dict[str, str | None]:
    """Installed versions of ensel and the packages a benchmark depends on (None: absent)."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def _header(plan: Plan, command: str) -> dict[str, Any]:
    return {
        "suite": plan.suite,
        "command": command,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": 1,
        "packages": package_versions(),
        "seeds": plan.seeds,
        "parts": [{"dataset": d, "pool": p, "max_rows": r} for d, p, r in plan.parts],
        "combiners": plan.names,
        "ks": plan.ks,
        "split": plan.split,
        "skipped": list(plan.skipped),
        "failures": [],
        "expected_seconds": plan.expected_seconds(),
    }


def _make(name: str, seed: int, images: ImageSettings | None = None) -> Any:
    """The registered combiner ``name`` at ``seed``; on images, the selector gets its CNN."""
    from ensel.combine import get_combiner

    est = get_combiner(name)()
    if "random_state" in est.get_params():
        est.set_params(random_state=seed)
    if images is not None and name == SELECTOR:
        from ensel.images import selector_params

        est.set_params(**selector_params(max_epochs=images.selector_epochs,
                                         channels=images.selector_channels))
    return est


def _selection_frequency(selection: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    """``[M, C]``: share of the inputs of each true class for which each member is picked."""
    chosen = (np.abs(np.asarray(selection)) > 0).astype(np.float64)
    freq = np.full((chosen.shape[1], n_classes), np.nan)
    for c in range(n_classes):
        rows = y == c
        if rows.any():
            freq[:, c] = chosen[rows].mean(axis=0)
    return freq


class _Prefitted:
    """A fitted combiner whose ``fit`` does nothing (a budget recalibrated by ``at_budget``)."""

    def __init__(self, est: Any) -> None:
        self.est = est

    def fit(self, table: Any) -> _Prefitted:
        return self

    def __getattr__(self, name: str) -> Any:
        return getattr(self.est, name)


@dataclass
class _Part:
    """One (dataset, pool, seed) of a run and what its steps found so far."""

    dataset: str
    pool: str
    rows: int | None
    seed: int
    sel: Any = None                       # PredictionTable, selection part
    test: Any = None                      # PredictionTable, test part
    base: dict[str, Any] = field(default_factory=dict)     # fields shared by every record
    tables_seconds: float = 0.0
    probas: dict[str, np.ndarray] = field(default_factory=dict)
    selector: tuple[str, np.ndarray] | None = None   # (name, selection [N, M]) for the plots
    default_selector: Any = None          # (estimator, (record, outputs)) of SELECTOR
    fitted: dict[str, tuple[Any, float]] = field(default_factory=dict)  # at_budget-able fits
    peer_members: Any = None              # DESlib's view of the members (needs X)
    images: Any = None                    # (selection, test) with images X; sel/test flat

    @property
    def label(self) -> str:
        return f"{self.dataset}/{self.pool} seed {self.seed}"

    def tables_for(self, est: Any) -> tuple[PredictionTable, PredictionTable]:
        """``(selection, test)`` for ``est``: the images for a combiner with a selection
        network of its own, else ``sel`` and ``test`` (on images: the flattened pixels)."""
        if self.images is not None and getattr(est, "network", None) is not None:
            return self.images
        return self.sel, self.test


class _Runner:
    """One run of a plan: the loop, progress, records, plot data and failures."""

    def __init__(self, plan: Plan, out: Path, command: str, console: Any) -> None:
        self.plan = plan
        self.out = out
        self.console = console
        self.header = _header(plan, command)
        self.records: list[dict[str, Any]] = []
        self.plots: list[dict[str, Any]] = []
        self._sizes: dict[str, int] = {}

    # ------------------------------------------------------------------ tables
    def _tables(self, dataset: str, pool: str, rows: int | None, seed: int,
                ) -> tuple[PredictionTable, PredictionTable, int]:
        if self.plan.tables is not None:
            sel, test = self.plan.tables
            return sel, test, sel.n_samples + test.n_samples
        if self.plan.images is not None:
            return self._image_tables(pool, rows, seed)
        from ensel.datasets import load_dataset
        from ensel.protocol import make_tables

        if dataset not in self._sizes:
            self._sizes[dataset] = len(load_dataset(dataset)[1])
        n_available = self._sizes[dataset]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sel, test, _ = make_tables(dataset, pool, seed=seed, max_rows=rows)
        return sel, test, n_available

    def _image_tables(self, pool: str, rows: int | None, seed: int,
                      ) -> tuple[PredictionTable, PredictionTable, int]:
        """MNIST 5k images and the pool of `ensel.images` (members trained or cached)."""
        from ensel.images import CNNRecipe, cache_dir, load_images, make_image_tables

        settings = self.plan.images
        if "images" not in self._sizes:
            self._sizes["images"] = len(load_images(cache=cache_dir())[1])
        recipe = CNNRecipe(channels=settings.member_channels, max_epochs=settings.member_epochs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sel, test, _ = make_image_tables(pool, seed=seed, max_rows=rows, recipe=recipe)
        return sel, test, self._sizes["images"]

    # ------------------------------------------------------------------ one combiner
    def _evaluate(self, name: str, make: Any, part: _Part, base: dict[str, Any],
                  ) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
        """Fit ``make()`` on the part's selection table, score it on its test table."""
        from ensel.evaluation import evaluate_combiner_outputs

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est = make()
                record, outputs = evaluate_combiner_outputs(est, *part.tables_for(est))
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - one failure must not lose the others
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            self.header["failures"].append({"dataset": base["dataset"], "pool": base["pool"],
                                            "seed": base["seed"], "combiner": name,
                                            "error": error})
            from rich.markup import escape

            self.console.print(f"[red]{escape(base['dataset'])}/{escape(base['pool'])} seed "
                               f"{base['seed']}: {escape(name)} failed: {escape(error)}[/red]",
                               soft_wrap=True)
            return None
        full = {**base, "combiner": name, **record}
        self.records.append(full)
        if not self.console.is_terminal:   # logs get a line per result (no live progress bar)
            self.console.print(
                f"  {base['dataset']}/{base['pool']} seed {base['seed']}: {name}: accuracy "
                f"{full.get('accuracy', float('nan')):.4f}, fit {full['fit_seconds']:.2f} s, "
                f"predict {full['predict_seconds']:.3f} s", markup=False, soft_wrap=True)
        return full, outputs

    # ------------------------------------------------------------------ one part x seed
    def run_part(self, dataset: str, pool: str, rows: int | None, seed: int,
                 progress: Any = None, task: Any = None) -> None:
        """Run every step of one (dataset, pool, seed), showing each on ``progress``.

        ``progress`` is a ``rich.progress.Progress`` with ``task`` (one advance per step) or
        None; the steps themselves know nothing of it.
        """
        part = _Part(dataset, pool, rows, seed)
        start = time.perf_counter()
        n_before = len(self.records)
        for name, step in self._steps(part):
            if progress is not None:
                progress.update(task, description=f"{part.label}: {name}")
            step()
            if progress is not None:
                progress.advance(task)
        if seed == self.plan.seeds[0]:
            self.plots.append(self._plot_data(part))
        self.console.print(f"{part.label}: tables {part.tables_seconds:.1f} s, "
                           f"{len(self.records) - n_before} results in "
                           f"{time.perf_counter() - start:.1f} s", markup=False, soft_wrap=True)

    def _steps(self, part: _Part) -> Iterator[tuple[str, Callable[[], None]]]:
        """``(name, step)`` in run order: the tables, each combiner, each peer, each fixed k.

        Lazy: a step may use what the steps before it found.
        """
        yield "building tables", lambda: self._build_tables(part)
        for name in self.plan.combiners:
            yield name, lambda name=name: self._run_combiner(part, name)
        for method in self.plan.peers:
            yield PREFIX + method, lambda method=method: self._run_peer(part, method)
        for k in self.plan.ks:
            yield f"{SELECTOR}[k={k}]", lambda k=k: self._run_sweep(part, k)
        for name in self.plan.budgeted:
            yield f"{name}[budgets]", lambda name=name: self._run_budgets(part, name)

    def _build_tables(self, part: _Part) -> None:
        start = time.perf_counter()
        part.sel, part.test, n_available = self._tables(part.dataset, part.pool, part.rows,
                                                        part.seed)
        if self.plan.images is not None:
            from ensel.images import flat_table

            part.images = (part.sel, part.test)
            part.sel, part.test = flat_table(part.sel), flat_table(part.test)
        part.tables_seconds = time.perf_counter() - start
        sel, test, rows = part.sel, part.test, part.rows
        if self.plan.tables is not None:
            n_rows = sel.n_samples + test.n_samples
        else:
            n_rows = rows if rows is not None and rows < n_available else n_available
        part.base = {"dataset": part.dataset, "pool": part.pool, "seed": part.seed, "k": None,
                     "n_members": sel.n_members, "n_classes": sel.n_classes,
                     "n_selection": sel.n_samples, "n_test": test.n_samples,
                     "n_rows": n_rows, "n_rows_available": n_available}

    def _run_combiner(self, part: _Part, name: str) -> None:
        holder: dict[str, Any] = {}

        def make() -> Any:
            holder["est"] = _make(name, part.seed, self.plan.images)
            return holder["est"]

        done = self._evaluate(name, make, part, {**part.base, "family": "ensel"})
        if done is None:
            return
        part.probas[name] = done[1]["proba"]
        if hasattr(holder["est"], "at_budget"):
            part.fitted[name] = (holder["est"], done[0]["fit_seconds"])
        if name == SELECTOR:
            part.default_selector = (holder["est"], done)
            part.selector = (name, done[1]["selection"])

    def _run_peer(self, part: _Part, method: str) -> None:
        if part.peer_members is None and part.sel.X is not None:
            from ensel._sklearn_compat import table_members

            part.peer_members = table_members(part.sel, part.test)
        name = PREFIX + method
        done = self._evaluate(
            name, lambda: DESlibCombiner(method, part.peer_members, random_state=part.seed),
            part, {**part.base, "family": "deslib"})
        if done is not None:
            part.probas[name] = done[1]["proba"]

    def _run_budgets(self, part: _Part, name: str) -> None:
        """``name`` at every budget; a fitted combiner with ``at_budget`` (its default run's
        fit, else the first budget's) is recalibrated, its fit seconds counted in each; one
        with ``fit_budgets`` fits every budget in one call (`_run_budgets_jointly`)."""
        if name not in part.fitted and self._run_budgets_jointly(part, name):
            return
        base: dict[str, Any] = {}
        if name in part.fitted:
            base["est"], base["fit_seconds"] = part.fitted[name]
        for b in self.plan.budgets:
            record = {**part.base, "family": "budget", "budget": b, "budget_of": name}
            if "est" in base:
                est = base["est"].at_budget(b)
                done = self._evaluate(budget_name(name, b), lambda est=est: _Prefitted(est),
                                      part, record)
                if done is not None:
                    done[0]["fit_seconds"] += base["fit_seconds"]
                continue

            def make(b: float = b) -> Any:
                est = _make(name, part.seed, self.plan.images)
                est.set_params(budget=b)
                if hasattr(est, "at_budget"):
                    base["est"] = est
                return est

            done = self._evaluate(budget_name(name, b), make, part, record)
            if done is None:
                base.pop("est", None)
            elif "est" in base:
                base["fit_seconds"] = done[0]["fit_seconds"]

    def _run_budgets_jointly(self, part: _Part, name: str) -> bool:
        """``name`` at every budget from one ``fit_budgets`` call (each copy as fitted alone,
        what does not depend on the budget trained once; its ``fit_seconds_`` counts that in
        full). False, with nothing recorded, when ``name`` has no ``fit_budgets`` or the call
        raised: the budgets are then fitted one by one, each failure recorded."""
        est = _make(name, part.seed, self.plan.images)
        if not hasattr(est, "fit_budgets"):
            return False
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fitted = est.fit_budgets(part.tables_for(est)[0], self.plan.budgets)
        except KeyboardInterrupt:
            raise
        except Exception:  # noqa: BLE001 - recorded by the one-by-one fits
            return False
        for b, one in zip(self.plan.budgets, fitted, strict=True):
            record = {**part.base, "family": "budget", "budget": b, "budget_of": name}
            done = self._evaluate(budget_name(name, b), lambda one=one: _Prefitted(one), part,
                                  record)
            if done is not None:
                done[0]["fit_seconds"] = float(one.fit_seconds_)
        return True

    def _run_sweep(self, part: _Part, k: int) -> None:
        name = f"{SELECTOR}[k={k}]"
        n_members = part.sel.n_members
        if k > n_members:
            note = {"combiner": name, "reason": f"k={k} exceeds the {n_members} members"}
            if note not in self.header["skipped"]:
                self.header["skipped"].append(note)
            return
        reused = self._reuse(part.default_selector, k, part.seed)
        if reused is not None:
            self.records.append({**reused, "combiner": name, "k": k, "family": "sweep"})
            return
        done = self._evaluate(
            name, lambda: _make(SELECTOR, part.seed, self.plan.images).set_params(k=k),
            part, {**part.base, "k": k, "family": "sweep"})
        if done is not None and part.selector is None and k == 3:
            part.selector = (name, done[1]["selection"])

    def _plot_data(self, part: _Part) -> dict[str, Any]:
        """Disagreement, selection frequency and reliability curves of one part (first seed)."""
        from ensel import metrics

        test, selector = part.test, part.selector
        y = np.asarray(test.y)
        reliability = {}
        for name, proba in part.probas.items():
            curve = metrics.reliability_curve(y, proba, n_bins=10)
            reliability[name] = {key: curve[key] for key in ("confidence", "accuracy", "counts")}
        return {
            "dataset": part.dataset, "pool": part.pool, "seed": part.seed,
            "members": list(test.members),
            "classes": [str(c) for c in np.asarray(test.classes).tolist()],
            "disagreement": metrics.disagreement(np.asarray(test.P), y),
            "selector": None if selector is None else selector[0],
            "selection_frequency": None if selector is None else
            _selection_frequency(selector[1], y, test.n_classes),
            "reliability": reliability,
        }

    def _reuse(self, default: Any, k: int, seed: int) -> dict[str, Any] | None:
        """The default selector's record when it is exactly the sweep's selector at ``k``."""
        if default is None:
            return None
        est, (record, _) = default
        if est.k == "auto" or getattr(est, "k_", None) != k:
            return None
        same = _make(SELECTOR, seed, self.plan.images).set_params(k=k).get_params()
        mine = {**est.get_params(), "k": k}
        return dict(record) if same == mine else None

    # ------------------------------------------------------------------ output
    def write(self, *, final: bool, wall: float) -> dict[str, Path]:
        from ensel._io import write_text
        from ensel.report.results import load_results, write_results
        from ensel.report.tables import markdown

        self.header["wall_seconds"] = wall
        self.header["complete"] = final
        self.out.mkdir(parents=True, exist_ok=True)
        paths = {"results": write_results(self.out / "results.json", self.header,
                                          self.records, self.plots)}
        document = load_results(paths["results"])
        paths["markdown"] = self.out / "results.md"
        write_text(paths["markdown"], markdown(document) + "\n")
        if final:
            try:
                import matplotlib  # noqa: F401
            except ImportError:
                self.console.print("report.html not written: matplotlib is missing "
                                   "(pip install ensel[report]).", markup=False)
                return paths
            from ensel.report.html import write_report

            paths["report"] = write_report(document, self.out / "report.html")
        return paths


def run_benchmark(plan: Plan, out: str | Path, *, command: str = "", console: Any = None,
                  jobs: int = 1) -> tuple[dict[str, Path], dict[str, Any]]:
    """Run ``plan`` and write ``results.json``, ``results.md`` and ``report.html`` to ``out``.

    Every (dataset, pool, seed) builds its tables once (the benchmark protocol of
    docs/benchmark.md, or the user's table), then fits every combiner on the selection part
    and scores it on the test part.
    Torch, BLAS and OpenMP run on one thread (``one_thread``), in this process or in each
    worker. ``results.json``
    and ``results.md`` are rewritten
    after every (dataset, pool, seed), so an interrupted run keeps what it finished.

    Parameters
    ----------
    plan : Plan
        From `plan_benchmark`.
    out : str or Path
        Output directory (created).
    command : str, default=""
        The command line, recorded in the header.
    console : rich.console.Console, optional
        Where progress goes (default: standard error).
    jobs : int, default=1
        Run this many (dataset, pool, seed) parts at once, each in its own process (torch,
        BLAS and OpenMP on one thread in each, ``one_thread``); the records are the same and in
        the same order as with 1.

    Returns
    -------
    paths : dict of str to Path
        ``"results"``, ``"markdown"`` and (with matplotlib) ``"report"``.
    header : dict
        The run's header, with ``failures`` (combiners that raised) and ``wall_seconds``.
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    jobs = _check_int(jobs, "jobs", 1, "run_benchmark")
    console = console or Console(stderr=True)
    runner = _Runner(plan, Path(out), command, console)
    runner.header["jobs"] = jobs
    per_part = 1 + len(plan.combiners) + len(plan.peers) + len(plan.ks) + len(plan.budgeted)
    total = per_part * len(plan.parts) * len(plan.seeds)
    start = time.perf_counter()
    # with jobs > 1 the workers compute (each under one_thread); this process only waits
    with (one_thread() if jobs == 1 else nullcontext()), Progress(
            SpinnerColumn(), TextColumn("{task.description}", markup=False), BarColumn(),
            MofNCompleteColumn(), TimeElapsedColumn(), console=console,
            transient=True) as progress:
        task = progress.add_task("starting", total=total)

        def part_done() -> float:
            """Advance the bar by one part; the seconds so far."""
            progress.advance(task, per_part)
            return time.perf_counter() - start

        if jobs > 1:
            progress.update(task, description=f"{len(plan.parts) * len(plan.seeds)} parts "
                                              f"in {jobs} processes")
            _run_in_processes(runner, jobs, part_done)
        else:
            for dataset, pool, rows in plan.parts:
                for seed in plan.seeds:
                    runner.run_part(dataset, pool, rows, seed, progress, task)
                    runner.write(final=False, wall=time.perf_counter() - start)
        paths = runner.write(final=True, wall=time.perf_counter() - start)
    return paths, runner.header


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch, BLAS and OpenMP (scikit-learn's, scipy's) on one thread each, restoring
    them afterwards: the benchmark's setting, whose parts are small problems. Measured on 2
    shared cores: stacking's logistic regression on MNIST's 10 members took 1.4 s with two
    OpenMP/BLAS threads and 0.03 s with one; the images suite's CPU time from the cache fell
    from 141 s to 98 s.

    Examples
    --------
    >>> import torch
    >>> from ensel.benchmark.runner import one_thread
    >>> with one_thread():
    ...     torch.get_num_threads()
    1
    """
    import sklearn  # noqa: F401 - loads its OpenMP and scipy's BLAS, so that the limit holds
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(before)


def _run_part_alone(plan: Plan, dataset: str, pool: str, rows: int | None, seed: int,
                    ) -> tuple[list, list, list, list, str]:
    """One part in a worker process: its records, plot data, failures, skipped notes and
    what it printed."""
    import io

    from rich.console import Console

    buffer = io.StringIO()
    runner = _Runner(plan, Path("."), "", Console(file=buffer, width=150))
    with one_thread():
        runner.run_part(dataset, pool, rows, seed)
    return (runner.records, runner.plots, runner.header["failures"], runner.header["skipped"],
            buffer.getvalue())


def _run_in_processes(runner: _Runner, jobs: int, part_done: Callable[[], float]) -> None:
    """Every part of ``runner.plan`` in ``jobs`` worker processes (spawned); as each ends,
    its results join the others' in plan order and the files are rewritten."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    plan = runner.plan
    work = [(d, p, r, s) for d, p, r in plan.parts for s in plan.seeds]
    done: dict[int, tuple] = {}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as executor:
        futures = {executor.submit(_run_part_alone, plan, *w): i for i, w in enumerate(work)}
        for future in as_completed(futures):
            if future.exception() is not None:    # a part that raised stops the run, as with 1
                executor.shutdown(wait=True, cancel_futures=True)
                raise future.exception()
            done[futures[future]] = future.result()
            runner.console.print(done[futures[future]][4], end="", markup=False,
                                 highlight=False, soft_wrap=True)
            parts = [done[i] for i in sorted(done)]
            runner.records = [r for part in parts for r in part[0]]
            runner.plots = [p for part in parts for p in part[1]]
            runner.header["failures"] = [f for part in parts for f in part[2]]
            for note in (n for part in parts for n in part[3]):
                if note not in runner.header["skipped"]:
                    runner.header["skipped"].append(note)
            runner.write(final=False, wall=part_done())


def format_duration(seconds: float | None) -> str:
    """``"about 4 min"`` / ``"about 40 s"`` / ``"unknown"``.

    Examples
    --------
    >>> format_duration(250), format_duration(42), format_duration(None)
    ('about 4 min', 'about 42 s', 'unknown')
    """
    if seconds is None or not math.isfinite(seconds):
        return "unknown"
    if seconds < 90:
        return f"about {seconds:.0f} s"
    if seconds < 5400:
        return f"about {seconds / 60:.0f} min"
    return f"about {seconds / 3600:.1f} h"


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command as typed: ``ensel`` followed by the arguments."""
    import shlex

    args = list(sys.argv[1:] if argv is None else argv)
    return " ".join(["ensel", *(shlex.quote(a) for a in args)])
