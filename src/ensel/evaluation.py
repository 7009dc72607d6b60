"""Fit a combiner on a selection table and measure it on a test table (one record)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ensel.table import PredictionTable


def members_evaluated(combiner: Any, selection: np.ndarray) -> np.ndarray:
    """Members that must run per input ``[N]``: all of them when the combiner needs the
    members' predictions to select, otherwise the non-zero entries of its selection."""
    selection = np.asarray(selection)
    if getattr(combiner, "selection_needs_predictions_", True):
        return np.full(selection.shape[0], selection.shape[1], dtype=np.float64)
    return (np.abs(selection) > 0).sum(1).astype(np.float64)


def cost_record(combiner: Any, selection: np.ndarray, test: PredictionTable,
                ) -> dict[str, float]:
    """``cost_fraction`` of the members run (`members_evaluated`'s rule) weighted by the test
    table's costs, and the mean absolute ``cost`` per input when the table has costs.

    Examples
    --------
    >>> import numpy as np
    >>> from ensel import PredictionTable
    >>> from ensel.combine import BestSingle
    >>> table = PredictionTable.from_arrays(np.full((2, 2, 2), 0.5), y=[0, 1], costs=[1.0, 3.0])
    >>> best = BestSingle().fit(table)
    >>> cost_record(best, best.select(table), table)
    {'cost_fraction': 0.25, 'cost': 1.0}
    """
    from ensel.metrics import cost_fraction, cost_per_input

    selection = np.asarray(selection)
    run = np.abs(selection) > 0
    if getattr(combiner, "selection_needs_predictions_", True):
        run = np.ones_like(run)
    out = {"cost_fraction": cost_fraction(run, costs=test.costs)}
    if test.costs is not None:
        out["cost"] = float(cost_per_input(run, test.costs).mean())
    return out


def evaluate_combiner(combiner: Any, selection: PredictionTable, test: PredictionTable,
                      ) -> dict[str, float]:
    """Fit ``combiner`` on ``selection`` and score it on ``test``.

    Returns a dict with ``accuracy``, ``log_loss``, ``brier``, ``ece``, ``oracle_accuracy``,
    ``best_single``, ``gap_closed``, ``members_per_input``, ``selected_per_input``,
    ``cost_fraction`` (and ``cost`` when ``test`` has costs; see `cost_record`),
    ``fit_seconds``, ``predict_seconds`` and ``ece_quantile`` (ECE with equal-mass bins)
    (regression: ``mse`` and ``r2`` instead of the classification scores).
    """
    return evaluate_combiner_outputs(combiner, selection, test)[0]


def evaluate_combiner_outputs(combiner: Any, selection: PredictionTable, test: PredictionTable,
                              ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Like `evaluate_combiner`, and also return what the combiner produced on ``test``.

    Parameters
    ----------
    combiner : Combiner
        Any object with ``fit(table)``, ``predict_proba(table)`` (classification) or
        ``predict(table)`` (regression) and ``select(table)``.
    selection, test : PredictionTable
        Labelled tables of the same members: ``combiner`` is fitted on ``selection`` and
        scored on ``test``.

    Returns
    -------
    record : dict of str to float
        As returned by `evaluate_combiner`.
    outputs : dict of str to ndarray
        ``"proba"`` ``[N, C]`` (classification) or ``"prediction"`` (regression), and
        ``"selection"`` ``[N, M]``, the combiner's per-input selection on ``test``.
    """
    from ensel import metrics

    start = time.perf_counter()
    combiner.fit(selection)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    if test.task == "classification":
        proba = combiner.predict_proba(test)
    else:
        pred = combiner.predict(test)
    predict_seconds = time.perf_counter() - start
    chosen = np.asarray(combiner.select(test))
    record: dict[str, float] = {
        "fit_seconds": fit_seconds,
        "predict_seconds": predict_seconds,
        "members_per_input": float(members_evaluated(combiner, chosen).mean()),
        "selected_per_input": float((np.abs(chosen) > 0).sum(1).mean()),
        **cost_record(combiner, chosen, test),
    }
    if test.task == "classification":
        y = np.asarray(test.y)
        P = np.asarray(test.P)
        best = max(metrics.accuracy_score(y, P[:, m]) for m in range(P.shape[1]))
        oracle = metrics.oracle_accuracy(P, y)
        accuracy = metrics.accuracy_score(y, proba)
        record.update(
            accuracy=accuracy,
            log_loss=metrics.log_loss(y, proba),
            brier=metrics.brier_score_loss(y, proba),
            ece=metrics.expected_calibration_error(y, proba),
            oracle_accuracy=oracle,
            best_single=best,
            gap_closed=metrics.gap_closed(accuracy, best, oracle),
        )
        record["ece_quantile"] = metrics.expected_calibration_error(y, proba,
                                                                    strategy="quantile")
        outputs = {"proba": np.asarray(proba), "selection": chosen}
    else:
        y = np.asarray(test.y, dtype=np.float64)
        record.update(mse=metrics.mean_squared_error(y, np.asarray(pred).reshape(y.shape)),
                      r2=metrics.r2_score(y, np.asarray(pred).reshape(y.shape)))
        outputs = {"prediction": np.asarray(pred), "selection": chosen}
    return record, outputs
