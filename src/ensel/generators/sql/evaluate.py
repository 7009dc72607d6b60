"""Execution accuracy of every way to pick a candidate: each system, consensus, selector, oracle."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ensel.generators.sql.data import ExecutedQuestion

__all__ = ["evaluate_selection", "method_picks"]


def method_picks(executed: Sequence[ExecutedQuestion], *, selector: Any = None
                 ) -> dict[str, np.ndarray]:
    """The candidate index each method picks per question.

    Parameters
    ----------
    executed : sequence of ExecutedQuestion
    selector : SQLSelector, optional

    Returns
    -------
    dict of str to ndarray of shape (Q,), int
        ``"consensus"`` (largest result group; ties to the earliest candidate),
        ``"selector"`` when given.
    """
    picks = {"consensus": np.array([eq.groups.consensus() for eq in executed], dtype=np.int64)}
    if selector is not None:
        picks["selector"] = np.asarray(selector.select(executed), dtype=np.int64)
    return picks


def evaluate_selection(executed: Sequence[ExecutedQuestion], *, selector: Any = None
                       ) -> dict[str, Any]:
    """Execution accuracy of each system, consensus, the selector (if any) and the oracle.

    Parameters
    ----------
    executed : sequence of ExecutedQuestion
        With gold results.
    selector : SQLSelector, optional

    Returns
    -------
    dict
        ``{"n_questions": N, "accuracy": {"oracle": a, "consensus": a, "selector": a,
        "<system>": a, ...}}`` (``"selector"`` only with a selector), accuracies in [0, 1]. A
        pick is right iff its execution result matches the gold result (candidates with the
        same result are equivalent).
    """
    executed = list(executed)
    if not executed:
        raise ValueError("evaluate_selection needs at least one executed question.")
    missing = [eq.question.id for eq in executed if eq.correct is None]
    if missing:
        raise ValueError(f"evaluate_selection needs gold SQL; question {missing[0]!r} has none "
                         f"({len(missing)} in all).")
    correct = np.stack([eq.correct & eq.present for eq in executed])     # [Q, K]
    rows = np.arange(len(executed))
    accuracy: dict[str, float] = {"oracle": float(correct.any(axis=1).mean())}
    for name, pick in method_picks(executed, selector=selector).items():
        accuracy[name] = float(correct[rows, pick].mean())
    for j, system in enumerate(executed[0].systems):
        accuracy[system] = float(correct[:, j].mean())
    return {"n_questions": len(executed), "accuracy": accuracy}
