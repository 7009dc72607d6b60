"""The benchmark protocol (docs/benchmark.md): a 50/25/25 split and the two pools of members.

Used by ``ensel demo``, ``ensel benchmark`` and the scripts in ``benchmarks/``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ensel.table import PredictionTable

POOLS = ("specialists", "natural")


@dataclass(frozen=True)
class Split:
    """Base-train / selection / test parts, features standardised on base-train."""

    X_base: np.ndarray
    y_base: np.ndarray
    X_sel: np.ndarray
    y_sel: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def split_protocol(X: np.ndarray, y: np.ndarray, *, random_state: int = 0) -> Split:
    """Stratified 50/25/25 split into base-train, selection and test; standardise on base."""
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X_base, X_rest, y_base, y_rest = train_test_split(
        X, y, train_size=0.5, stratify=y, random_state=random_state)
    X_sel, X_test, y_sel, y_test = train_test_split(
        X_rest, y_rest, train_size=0.5, stratify=y_rest, random_state=random_state)
    scaler = StandardScaler().fit(X_base)
    return Split(scaler.transform(X_base), y_base, scaler.transform(X_sel), y_sel,
                 scaler.transform(X_test), y_test)


def specialist_rows(y: np.ndarray, member: int, *, n_members: int = 10,
                    other_share: float = 0.15, min_per_class: int = 3,
                    rng: np.random.Generator) -> np.ndarray:
    """Training rows of specialist ``member``: its focus classes plus a few of the others.

    Member ``i`` focuses on ``ceil(2C / n_members)`` consecutive classes starting at
    ``floor(i C / n_members)`` (wrapping), so every class has about two experts. Its rows are all
    rows of its focus classes plus rows of the other classes making up ``other_share`` of the
    subset, with at least ``min_per_class`` rows of every class.
    """
    classes = np.unique(y)
    n_classes = len(classes)
    width = math.ceil(2 * n_classes / n_members)
    start = (member * n_classes) // n_members
    focus = classes[[(start + j) % n_classes for j in range(width)]]
    in_focus = np.isin(y, focus)
    focus_rows = np.flatnonzero(in_focus)
    other_rows = np.flatnonzero(~in_focus)
    n_other = int(round(other_share / (1 - other_share) * len(focus_rows)))
    chosen = rng.choice(other_rows, size=min(n_other, len(other_rows)), replace=False)
    extra = []
    for c in classes:
        if c in focus:
            continue
        have = np.count_nonzero(y[chosen] == c)
        if have < min_per_class:
            pool = np.setdiff1d(np.flatnonzero(y == c), chosen)
            extra.append(rng.choice(pool, size=min(min_per_class - have, len(pool)),
                                    replace=False))
    return np.sort(np.concatenate([focus_rows, chosen, *extra]).astype(np.int64))


def specialists_pool(X: np.ndarray, y: np.ndarray, *, n_members: int = 10,
                     random_state: int = 0) -> list[tuple[str, Any]]:
    """Fit the specialists pool: ``n_members`` small MLPs, each expert on a few classes."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    rng = np.random.default_rng(random_state)
    pool = []
    for i in range(n_members):
        rows = specialist_rows(y, i, n_members=n_members, rng=rng)
        model = MLPClassifier(hidden_layer_sizes=(32,), max_iter=300,
                              random_state=random_state * 1000 + i)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X[rows], y[rows])
        pool.append((f"specialist{i}", model))
    return pool


def natural_pool(X: np.ndarray, y: np.ndarray, *,
                 random_state: int = 0) -> list[tuple[str, Any]]:
    """Fit the natural pool: ten ordinary scikit-learn classifiers on all of base-train."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression, Perceptron
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    rs = random_state
    models = [
        ("logreg", LogisticRegression(max_iter=1000)),
        ("gaussian_nb", GaussianNB()),
        ("knn7", KNeighborsClassifier(n_neighbors=7)),
        ("tree", DecisionTreeClassifier(random_state=rs)),
        ("random_forest", RandomForestClassifier(n_estimators=30, random_state=rs)),
        ("extra_trees", ExtraTreesClassifier(n_estimators=30, random_state=rs)),
        ("svc", CalibratedClassifierCV(SVC(random_state=rs), ensemble=False)),
        ("mlp", MLPClassifier(hidden_layer_sizes=(64,), max_iter=300, random_state=rs)),
        ("perceptron", CalibratedClassifierCV(Perceptron(random_state=rs), cv=3)),
        ("lda", LinearDiscriminantAnalysis()),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _, model in models:
            model.fit(X, y)
    return models


POOL_BUILDERS: dict[str, Callable[..., list[tuple[str, Any]]]] = {
    "specialists": specialists_pool,
    "natural": natural_pool,
}


def make_tables(dataset: str, pool: str, *, seed: int = 0,
                max_rows: int | None = None) -> tuple[PredictionTable, PredictionTable, list]:
    """Selection and test prediction tables for ``dataset`` × ``pool`` × ``seed``.

    Returns ``(selection_table, test_table, members)``; both tables carry the standardised
    inputs ``X`` and labels. ``max_rows`` subsamples the dataset first (stratified), for smoke
    runs.
    """
    from ensel.datasets import load_dataset

    if pool not in POOL_BUILDERS:
        raise ValueError(f"Unknown pool {pool!r}; choose one of {POOLS}.")
    X, y = load_dataset(dataset)
    if max_rows is not None and max_rows < len(y):
        from sklearn.model_selection import train_test_split

        X, _, y, _ = train_test_split(X, y, train_size=max_rows, stratify=y, random_state=seed)
    split = split_protocol(X, y, random_state=seed)
    members = POOL_BUILDERS[pool](split.X_base, split.y_base, random_state=seed)
    sel = PredictionTable.from_estimators(members, split.X_sel, split.y_sel)
    test = PredictionTable.from_estimators(members, split.X_test, split.y_test)
    return sel, test, members


def cached_tables(dataset: str, pool: str, seed: int, cache: str | Path | None = None,
                  max_rows: int | None = None) -> tuple[PredictionTable, PredictionTable]:
    """`make_tables`' selection and test tables, kept in ``cache`` between runs.

    The folder ``<cache>/<dataset>-<pool>-<seed>-<max_rows|all>/`` holds ``sel/`` and
    ``test/`` (`PredictionTable.save`); it is written beside its place and renamed in whole,
    so an interrupted run leaves no half folder and two runs writing at once keep one.
    ``cache=None`` builds the tables without keeping them. Every benchmark script uses this.

    Examples
    --------
    >>> import tempfile
    >>> sel, test = cached_tables("digits", "natural", 0, tempfile.mkdtemp(), max_rows=300)
    >>> sel.n_members, sel.n_samples + test.n_samples
    (10, 150)
    """
    import os
    import shutil

    where = None if cache is None else Path(cache) / f"{dataset}-{pool}-{seed}-{max_rows or 'all'}"
    if where is not None and (where / "test" / "table.json").is_file():
        return (PredictionTable.load(where / "sel", mmap=False),
                PredictionTable.load(where / "test", mmap=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sel, test, _ = make_tables(dataset, pool, seed=seed, max_rows=max_rows)
    if where is not None and not where.exists():
        tmp = where.with_name(f".{where.name}.tmp{os.getpid()}")
        sel.save(tmp / "sel")
        test.save(tmp / "test")
        try:
            tmp.rename(where)
        except OSError:                       # written meanwhile by another run: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
    return sel, test
