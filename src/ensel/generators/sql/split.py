"""The by-database split: train on half of the databases, evaluate on the other, then swap.

The protocol of ``benchmarks/bench_sql.py`` and ``ensel sql evaluate --split-by-database``:
every question is evaluated exactly once, on a database the fitted method never saw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ensel.generators.sql.data import ExecutedQuestion

__all__ = ["by_database_folds", "evaluate_by_database", "split_halves"]


def split_halves(db_counts: Mapping[str, int]) -> tuple[list[str], list[str]]:
    """Two lists of databases with about equal question counts.

    Databases are taken largest first (ties by name), each into the half with fewer questions
    so far (the first half on equal counts).

    Parameters
    ----------
    db_counts : mapping of str to int
        Number of questions of each database; at least 2 databases.

    Returns
    -------
    tuple of two lists of str

    Examples
    --------
    >>> split_halves({"w": 120, "d": 82, "s": 78, "n": 56, "p": 42})
    (['w', 'n'], ['d', 's', 'p'])
    """
    if len(db_counts) < 2:
        raise ValueError(f"A by-database split needs at least 2 databases; got "
                         f"{sorted(db_counts)}.")
    halves: tuple[list[str], list[str]] = ([], [])
    sizes = [0, 0]
    for db in sorted(db_counts, key=lambda d: (-db_counts[d], d)):
        i = 0 if sizes[0] <= sizes[1] else 1
        halves[i].append(db)
        sizes[i] += db_counts[db]
    return halves


def by_database_folds(executed: Sequence[ExecutedQuestion]
                      ) -> tuple[tuple[list[str], list[str]], list[np.ndarray]]:
    """The two halves of :func:`split_halves` and, per fold, the rows evaluated.

    Returns
    -------
    halves : tuple of two lists of str
    test_rows : list of two ndarrays of int
        Fold 0 trains on half A and evaluates on half B's questions; fold 1 the reverse.
    """
    db_ids = np.array([eq.question.db_id for eq in executed])
    names, counts = np.unique(db_ids, return_counts=True)
    halves = split_halves(dict(zip(names.tolist(), counts.tolist(), strict=True)))
    return halves, [np.flatnonzero(np.isin(db_ids, halves[1])),
                    np.flatnonzero(np.isin(db_ids, halves[0]))]


def evaluate_by_database(executed: Sequence[ExecutedQuestion], *,
                         budgets: Sequence[float] = (),
                         cascade_params: Mapping[str, Any] | None = None,
                         selector_params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Execution accuracy and generator calls on the by-database split.

    Each system, consensus of all systems and the oracle need no training; for every budget
    an :class:`~ensel.generators.sql.SQLCascade` is fitted on one half and evaluated on the
    other, then the halves swap; with ``selector_params``, so is the learned
    :class:`~ensel.generators.sql.SQLSelector`.

    Parameters
    ----------
    executed : sequence of ExecutedQuestion
        With gold results, from at least 2 databases.
    budgets : sequence of float, default=()
        Budgets (fractions of calling every system) of the cascades to evaluate.
    cascade_params : mapping, optional
        Other `SQLCascade` parameters (``costs``, ``order``, ``ties``).
    selector_params : mapping, optional
        `SQLSelector` parameters (``{}`` for the default selector); None: no selector row.

    Returns
    -------
    dict
        ``{"n_questions": N, "halves": [A, B], "accuracy": {method: a},
        "cost_fraction": {method: f}, "calibration_cost_fraction": {method: [fA, fB]},
        "threshold": {method: [tA, tB]}}`` (JSON values: an infinite threshold is the
        string ``"inf"``); the cascades are named ``"cascade (budget b)"``, with ``b`` to 3
        significant digits, the selector ``"selector"``; the cost fraction of consensus, the
        selector and the oracle is 1, of a system its share of the cost.
    """
    from ensel.generators.sql.cascade import SQLCascade
    from ensel.generators.sql.evaluate import evaluate_selection

    executed = list(executed)
    result = evaluate_selection(executed)          # checks gold; systems, consensus, oracle
    halves, test_rows = by_database_folds(executed)
    costs = SQLCascade(**dict(cascade_params or {}))._check_costs(executed[0].systems)
    cost = {name: 1.0 for name in ("oracle", "consensus")}
    cost.update({s: float(c / costs.sum()) for s, c in zip(executed[0].systems, costs,
                                                             strict=True)})
    out = {"n_questions": len(executed), "halves": [halves[0], halves[1]],
           "accuracy": dict(result["accuracy"]), "cost_fraction": cost,
           "calibration_cost_fraction": {}, "threshold": {}}
    held = [set(rows.tolist()) for rows in test_rows]
    folds = [([eq for i, eq in enumerate(executed) if i not in h], rows)
             for h, rows in zip(held, test_rows, strict=True)]
    correct = np.stack([eq.correct & eq.present for eq in executed])
    if selector_params is not None:
        out["accuracy"]["selector"] = _selector_accuracy(executed, folds, correct,
                                                         selector_params)
        out["cost_fraction"]["selector"] = 1.0
    for b in budgets:
        name = f"cascade (budget {b:.3g})"
        acc, fraction, calibration, thresholds = _cascade_row(
            executed, folds, correct, {**dict(cascade_params or {}), "budget": b})
        out["accuracy"][name], out["cost_fraction"][name] = acc, fraction
        out["calibration_cost_fraction"][name] = calibration
        out["threshold"][name] = thresholds
    return out


def _selector_accuracy(executed: list[ExecutedQuestion], folds: list, correct: np.ndarray,
                       params: Mapping[str, Any]) -> float:
    """Accuracy of an SQLSelector fitted on each half, evaluated on the other."""
    from ensel.generators.sql.selector import SQLSelector

    ok = np.zeros(len(executed), dtype=bool)
    for train, rows in folds:
        model = SQLSelector(**dict(params)).fit(train)
        ok[rows] = correct[rows, model.select([executed[i] for i in rows])]
    return float(ok.mean())


def _cascade_row(executed: list[ExecutedQuestion], folds: list, correct: np.ndarray,
                 params: dict[str, Any]) -> tuple[float, float, list[float], list[Any]]:
    """Accuracy, cost fraction, calibration cost fractions and thresholds of one cascade."""
    from ensel.generators.sql.cascade import SQLCascade, _json_float

    ok = np.zeros(len(executed), dtype=bool)
    spent, calibration, thresholds = [], [], []
    for train, rows in folds:
        model = SQLCascade(**params).fit(train)
        test = [executed[i] for i in rows]
        picks, calls = model.run_sequential(len(test), lambda j, r, t=test: [
            t[q].results[j] for q in r])
        ok[rows] = correct[rows, picks]
        spent.append(calls @ model.costs_)
        calibration.append(model.validation_cost_fraction_)
        thresholds.append(_json_float(model.threshold_))
    fraction = float(np.concatenate(spent).mean() / model.costs_.sum())
    return float(ok.mean()), fraction, calibration, thresholds
