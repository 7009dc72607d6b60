"""The one place that checks tables, k, probabilities and labels, and words the errors.

Every message names the argument or member, the rule, the offending value and where it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Number, Real
from typing import Any

import numpy as np

PROBA_TOL = 1e-4
TASKS = ("classification", "regression", "outcome")


def _first(mask: np.ndarray) -> tuple[int, ...]:
    """Index of the first True entry of ``mask``."""
    return tuple(int(i) for i in np.argwhere(mask)[0])


def check_k(k: Any, n_members: int, owner: str = "topk_mask") -> int:
    """Return ``k`` as an int after checking ``1 <= k <= n_members``."""
    if isinstance(k, bool) or not isinstance(k, Integral) or not 1 <= int(k) <= n_members:
        raise ValueError(
            f"The 'k' parameter of {owner} must be an int in [1, {n_members}]. Got {k!r} instead."
        )
    return int(k)


def check_member_names(members: Sequence[str] | None, n_members: int) -> list[str]:
    """Default names ``m0, m1, ...``; otherwise unique strings, one per member."""
    if members is None:
        return [f"m{i}" for i in range(n_members)]
    members = [str(m) for m in members]
    if len(members) != n_members:
        raise ValueError(
            f"'members' has {len(members)} names but P has {n_members} members (axis 1)."
        )
    seen: set[str] = set()
    for name in members:
        if name in seen:
            raise ValueError(f"'members' has the name {name!r} twice; member names must be unique.")
        seen.add(name)
    return members


def check_finite(a: np.ndarray, what: str, members: Sequence[str] | None = None, *,
                 row_offset: int = 0) -> None:
    """Reject NaN and inf, naming the member (axis 1 of P) and the row.

    ``row_offset`` is added to the row named, for ``a`` holding rows ``row_offset..`` of a
    larger array checked in chunks.
    """
    if np.issubdtype(a.dtype, np.number) and not np.isfinite(a).all():
        bad = ~np.isfinite(a)
        pos = _first(bad)
        kind = "NaN" if np.isnan(a[pos]) else "inf"
        pos = (pos[0] + row_offset, *pos[1:])
        if members is not None and a.ndim >= 2:
            raise ValueError(f"member {members[pos[1]]!r}: {what} has {kind} in row {pos[0]}.")
        raise ValueError(f"{what} has {kind} at index {pos if len(pos) > 1 else pos[0]}.")


def proba_tolerance(dtype: np.dtype) -> float:
    """Tolerance on the sum of one probability vector: ``PROBA_TOL``, or the dtype's rounding.

    A float16 vector rounded from one that sums to 1 can be off by up to ``2**-11``; the
    tolerance is then the dtype's machine epsilon (``9.8e-4``), never less than ``PROBA_TOL``.
    """
    dtype = np.dtype(dtype)
    eps = float(np.finfo(dtype).eps) if np.issubdtype(dtype, np.floating) else 0.0
    return max(PROBA_TOL, eps)


def simplex_violation(P: np.ndarray, tol: float) -> tuple[str, tuple[int, ...], float] | None:
    """The first entry of ``P[..., C]`` outside [0, 1] (``("outside", index, value)``), else the
    first vector whose sum is off 1 by more than ``tol`` (``("sum", index, sum)``), else None.
    The one probability check: tables, pools and combined predictions all call it."""
    outside = (P < -tol) | (P > 1 + tol)
    if outside.any():
        index = _first(outside)
        return "outside", index, float(P[index])
    sums = P.sum(axis=-1, dtype=np.float64)
    off = np.abs(sums - 1.0) > tol
    if off.any():
        index = _first(off)
        return "sum", index, float(sums[index])
    return None


def check_probabilities(P: np.ndarray, members: Sequence[str], *, row_offset: int = 0) -> None:
    """``P[N, M, C]``: every ``P[n, m]`` in [0, 1] and summing to 1 within `proba_tolerance`."""
    tol = proba_tolerance(P.dtype)
    bad = simplex_violation(P, tol)
    if bad is not None and bad[0] == "outside":
        (n, m, c), value = bad[1], bad[2]
        raise ValueError(
            f"member {members[m]!r}: probability {value:.4g} in row "
            f"{n + row_offset}, class index {c} is outside [0, 1]."
        )
    if bad is not None:
        (n, m), total = bad[1], bad[2]
        raise ValueError(
            f"member {members[m]!r}: probabilities in row {n + row_offset} sum to "
            f"{total:.4f}, expected 1 (tol {tol:.2g}). For multi-output regression pass "
            f"task='regression'."
        )


def check_task(task: str | None, P: np.ndarray, y: Any) -> str:
    """Infer or check the task.

    With ``task=None``: ``P[N, M, C]`` with ``y`` absent or 1-D is classification; ``P[N, M]``,
    or ``P[N, M, D]`` with ``y[N, D]``, is regression.
    """
    if task is None:
        if P.ndim == 3 and (y is None or np.ndim(y) == 1):
            return "classification"
        return "regression"
    if task not in TASKS:
        raise ValueError(f"The 'task' parameter must be one of {TASKS}. Got {task!r} instead.")
    if task == "classification" and P.ndim != 3:
        raise ValueError(
            f"A classification table needs P of shape [N, M, C]; got a {P.ndim}-D array of "
            f"shape {P.shape}."
        )
    if task == "outcome" and P.ndim != 2:
        raise ValueError(
            f"An outcome table needs quality of shape [N, M]; got a {P.ndim}-D array of shape "
            f"{P.shape}."
        )
    return task


def check_outcomes(Q: np.ndarray, members: Sequence[str], *, row_offset: int = 0) -> None:
    """Outcomes ``Q[N, M]``: each entry in [0, 1] or NaN (not observed); no inf.

    The error names the member, the row and the value.
    """
    bad = np.isinf(Q) | (Q < 0) | (Q > 1)
    if bad.any():
        n, m = _first(bad)
        raise ValueError(
            f"member {members[m]!r}: quality {float(Q[n, m])!r} in row {n + row_offset} is "
            f"outside [0, 1] (use NaN for an outcome that was not observed)."
        )


def _is_integral(y: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(y)) and np.all(np.mod(y, 1) == 0))


def check_P(P: Any) -> np.ndarray:
    """``P`` as a float array of shape [N, M] or [N, M, D/C]; rejects empty pools."""
    P = np.asarray(P)
    if P.dtype == object or not np.issubdtype(P.dtype, np.number):
        raise ValueError(f"P must be a numeric array; got dtype {P.dtype}.")
    if P.ndim not in (2, 3):
        raise ValueError(
            f"P must have shape [N, M, C] (classification) or [N, M] / [N, M, D] (regression); "
            f"got a {P.ndim}-D array of shape {P.shape}."
        )
    if P.shape[1] == 0:
        raise ValueError(f"The pool is empty: P has shape {P.shape}, with 0 members on axis 1.")
    if P.shape[0] == 0:
        raise ValueError(f"P has no rows: shape {P.shape}.")
    if P.ndim == 3 and P.shape[2] == 0:
        raise ValueError(f"P has no classes / outputs on axis 2: shape {P.shape}.")
    if not np.issubdtype(P.dtype, np.floating):
        P = P.astype(np.float32)
    return P


def check_rows(a: Any, n_rows: int, what: str, ndim: int) -> np.ndarray:
    """An array with ``n_rows`` rows and ``ndim`` dimensions (X: 2, y: 1)."""
    a = np.asarray(a)
    if ndim == 2 and a.ndim == 1:
        raise ValueError(f"{what} must be 2-D [N, F]; got a 1-D array of shape {a.shape}.")
    if a.ndim != ndim:
        raise ValueError(f"{what} must be {ndim}-D; got shape {a.shape}.")
    if a.shape[0] != n_rows:
        raise ValueError(f"{what} has {a.shape[0]} rows but P has {n_rows}.")
    return a


def check_inputs_rows(X: Any, n_rows: int) -> np.ndarray:
    """Inputs ``X[N, ...]`` of a table: rows of features ``[N, F]`` or any ``[N, d1, d2, ...]``
    (images ``[N, 1, 28, 28]``), with ``n_rows`` rows."""
    X = np.asarray(X)
    if X.ndim < 2:
        raise ValueError(f"X must be at least 2-D: [N, F] features or [N, ...] inputs such as "
                         f"images; got a {X.ndim}-D array of shape {X.shape}.")
    if X.shape[0] != n_rows:
        raise ValueError(f"X has {X.shape[0]} rows but P has {n_rows}.")
    return X


def encode_labels(y: Any, classes: np.ndarray) -> np.ndarray:
    """Map labels ``y`` onto indices of ``classes``; unknown labels are an error."""
    y = np.asarray(y)
    if y.dtype.kind == "f" and classes.dtype.kind in "iu":
        check_finite(y, "y")
        if not _is_integral(y):
            row = int(np.argmax(np.mod(y, 1) != 0))
            raise ValueError(f"y has the non-integer label {y[row]!r} in row {row}.")
        y = y.astype(np.int64)
    order = np.argsort(classes, kind="stable")
    sorted_classes = classes[order]
    try:
        pos = np.searchsorted(sorted_classes, y)
    except TypeError as exc:
        raise ValueError(
            f"y has labels of type {y.dtype} that cannot be compared with classes {classes!r}."
        ) from exc
    pos = np.clip(pos, 0, len(classes) - 1)
    unknown = sorted_classes[pos] != y
    if unknown.any():
        row = int(np.argmax(unknown))
        labels = list(dict.fromkeys(y[unknown].tolist()))[:5]
        raise ValueError(
            f"y has labels not in classes {classes.tolist()!r}: {labels!r} (first in row {row})."
        )
    return order[pos].astype(np.int64)


def _label_kind(value: Any) -> str:
    if isinstance(value, (str, np.str_)):
        return "str"
    if isinstance(value, (bytes, np.bytes_)):
        return "bytes"
    if isinstance(value, (Number, np.number, np.bool_)):
        return "number"
    return type(value).__name__


def check_label_types(values: Any, what: str) -> None:
    """Labels must be all text or all numbers: numpy would turn ``[1, "a"]`` into strings.

    Then ``1`` and ``"1"`` would be the same label and predictions would come back as
    ``"1"``; a mix is refused instead, naming one label of each kind.
    """
    if values is None or (isinstance(values, np.ndarray) and values.dtype != object):
        return
    flat = np.asarray(values, dtype=object).ravel()
    kinds: dict[str, Any] = {}
    for value in flat:
        kinds.setdefault(_label_kind(value), value)
        if len(kinds) > 1:
            examples = ", ".join(f"{v!r} ({k})" for k, v in kinds.items())
            raise ValueError(
                f"{what} mixes label types: {examples}. Labels must all be text or all be "
                f"numbers (numpy would turn them all into strings, confusing 1 with '1')."
            )


def check_classes(classes: Any, n_classes: int) -> np.ndarray:
    """Distinct class labels, one per column of P."""
    if classes is None:
        return np.arange(n_classes)
    check_label_types(classes, "'classes'")
    classes = np.asarray(classes)
    if classes.ndim != 1 or len(classes) != n_classes:
        raise ValueError(
            f"'classes' has {classes.size} labels but P has {n_classes} classes (axis 2)."
        )
    if len(np.unique(classes)) != n_classes:
        raise ValueError(f"'classes' has repeated labels: {classes.tolist()!r}.")
    return classes


def check_same_classes(expected: np.ndarray, got: np.ndarray, who: str) -> None:
    """Class order must match exactly, not merely as sets."""
    expected, got = np.asarray(expected), np.asarray(got)
    if expected.shape != got.shape or not np.array_equal(expected, got):
        same_set = expected.shape == got.shape and set(expected.tolist()) == set(got.tolist())
        detail = "same labels in a different order" if same_set else "different labels"
        raise ValueError(
            f"{who}: class order mismatch ({detail}): expected {expected.tolist()!r}, "
            f"got {got.tolist()!r}."
        )


def check_table_like(table: Any, owner: str) -> Any:
    """The argument of ``fit``/``predict`` must be a PredictionTable."""
    from ensel.table import PredictionTable

    if not isinstance(table, PredictionTable):
        raise TypeError(
            f"{owner} expects a PredictionTable; got {type(table).__name__}. Build one with "
            f"PredictionTable.from_arrays(P, y) or PredictionTable.from_estimators(...)."
        )
    return table


def check_labelled(table: Any, owner: str) -> None:
    if table.y is None:
        raise ValueError(
            f"{owner} needs labels: the table has y=None. Pass y to PredictionTable.from_arrays."
        )


def check_compatible(table: Any, *, members: list[str], classes: Any, task: str, owner: str,
                     n_features: int | None = None) -> None:
    """A table given at predict time must match the one seen at fit."""
    if table.task != task:
        raise ValueError(f"{owner} was fitted on a {task} table; got a {table.task} table.")
    if list(table.members) != list(members):
        raise ValueError(
            f"{owner} was fitted on members {list(members)!r}; got {list(table.members)!r}."
        )
    if task == "classification":
        check_same_classes(classes, table.classes, owner)
    if n_features is not None:
        if table.X is None:
            raise ValueError(f"{owner} was fitted with inputs X; the table has X=None.")
        if table.X.shape[1] != n_features:
            raise ValueError(
                f"{owner} was fitted on X with {n_features} features; got {table.X.shape[1]}."
            )


# ---------------------------------------------------------------- combiner parameters and tables
# (added for ensel.combine; each wording follows "name the argument, the rule, the value, where")


def check_int_param(value: Any, name: str, owner: str, *, low: int,
                    high: int | None = None) -> int:
    """An int parameter in ``[low, high]`` (``high=None``: no upper bound)."""
    ok = (not isinstance(value, bool) and isinstance(value, Integral) and int(value) >= low
          and (high is None or int(value) <= high))
    if not ok:
        span = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(
            f"The {name!r} parameter of {owner} must be an int {'in ' if high is not None else ''}"
            f"{span}. Got {value!r} instead."
        )
    return int(value)


def check_budget_params(budget: Any, max_cost: Any, owner: str, where: str | None = None
                        ) -> None:
    """Exactly one of ``budget`` (a share of the pool's cost, in (0, 1]) and ``max_cost`` (a
    mean cost per input, > 0 and finite); ``where`` names the call in the error (default
    ``owner``).

    Examples
    --------
    >>> check_budget_params(0.3, None, "Cascade")
    >>> check_budget_params(None, None, "Cascade")   # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Cascade needs exactly one of 'budget' and 'max_cost'. Got budget=None, ...
    """
    if (budget is None) == (max_cost is None):
        raise ValueError(f"{where or owner} needs exactly one of 'budget' and 'max_cost'. Got "
                         f"budget={budget!r}, max_cost={max_cost!r} instead.")
    if budget is not None:
        check_real_param(budget, "budget", owner, low=0.0, high=1.0, include_low=False)
    else:
        check_real_param(max_cost, "max_cost", owner, low=0.0, high=math.inf,
                         include_low=False, include_high=False)


def check_real_param(value: Any, name: str, owner: str, *, low: float, high: float,
                     include_low: bool = True, include_high: bool = True) -> float:
    """A real parameter in the interval from ``low`` to ``high`` (ends open or closed)."""

    ok = not isinstance(value, bool) and isinstance(value, Real) and np.isfinite(value)
    if ok:
        v = float(value)
        ok = (v >= low if include_low else v > low) and (v <= high if include_high else v < high)
    if not ok:
        span = f"{'[' if include_low else '('}{low:g}, {high:g}{']' if include_high else ')'}"
        raise ValueError(
            f"The {name!r} parameter of {owner} must be a float in {span}. Got {value!r} instead."
        )
    return float(value)


def check_seconds(value: Any, name: str, owner: str) -> float:
    """A time limit: a finite number of seconds > 0 (bools, NaN, inf, 0 and negatives refused)."""
    from numbers import Real

    ok = not isinstance(value, bool) and isinstance(value, Real) and bool(np.isfinite(value)) \
        and float(value) > 0
    if not ok:
        raise ValueError(
            f"The {name!r} parameter of {owner} must be a finite number of seconds > 0. "
            f"Got {value!r} instead."
        )
    return float(value)


def check_choice(value: Any, name: str, owner: str, choices: Sequence[Any]) -> Any:
    """A parameter that must be one of ``choices``."""
    if isinstance(value, (list, dict, set)) or value not in tuple(choices):
        raise ValueError(
            f"The {name!r} parameter of {owner} must be one of {tuple(choices)!r}. "
            f"Got {value!r} instead."
        )
    return value


def check_bool_param(value: Any, name: str, owner: str) -> bool:
    """A parameter that must be a bool (not an int standing in for one)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(
            f"The {name!r} parameter of {owner} must be a bool. Got {value!r} instead."
        )
    return bool(value)


def check_hidden_layer_sizes(value: Any, owner: str) -> tuple[int, ...]:
    """Hidden layer widths: a tuple (or list) of ints >= 1, possibly empty."""
    if not isinstance(value, (tuple, list)) or not all(
            isinstance(h, Integral) and not isinstance(h, bool) and h >= 1 for h in value):
        raise ValueError(
            f"The 'hidden_layer_sizes' parameter of {owner} must be a tuple of ints >= 1. "
            f"Got {value!r} instead."
        )
    return tuple(int(h) for h in value)


def check_training_params(est: Any, owner: str) -> None:
    """The hyper-parameters every learned model shares, in scikit-learn's words (those of
    ``est`` that it has): ``hidden_layer_sizes``, ``learning_rate``, ``alpha`` (L2),
    ``max_epochs``, ``batch_size``, ``n_iter_no_change``, ``validation_fraction``,
    ``member_dropout``, ``random_state``."""
    params = vars(est)
    if "hidden_layer_sizes" in params:
        check_hidden_layer_sizes(est.hidden_layer_sizes, owner)
    reals = {"learning_rate": dict(low=0.0, high=np.inf, include_low=False),
             "alpha": dict(low=0.0, high=np.inf),
             "validation_fraction": dict(low=0.0, high=1.0, include_low=False,
                                         include_high=False),
             "member_dropout": dict(low=0.0, high=1.0, include_high=False)}
    for name, span in reals.items():
        if name in params:
            check_real_param(params[name], name, owner, **span)
    for name, low in (("max_epochs", 1), ("batch_size", 1), ("n_iter_no_change", 1),
                      ("random_state", 0)):
        if name in params:
            check_int_param(params[name], name, owner, low=low)


def check_task_supported(task: str, supported: Sequence[str], owner: str) -> None:
    """A combiner fitted on a table whose task it does not handle."""
    if task not in supported:
        raise ValueError(
            f"{owner} supports {' and '.join(supported)} tables only; got a {task} table."
        )


def check_has_inputs(table: Any, owner: str) -> None:
    """Combiners that look at the inputs need ``table.X``."""
    if table.X is None:
        raise ValueError(
            f"{owner} needs the inputs X to find neighbours: the table has X=None. Pass X to "
            f"PredictionTable.from_arrays or from_estimators."
        )


# ---------------------------------------------------------------------- metric inputs
# ``ensel.metrics`` takes plain arrays: ``y`` as class indices, a combined prediction
# ``proba[N, C]`` and a pool ``P[N, M, C]``, worded without the table-building hints above.

STRATEGIES = ("uniform", "quantile")


def _numeric(a: Any, what: str) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype == bool:
        return a
    if a.dtype == object or not np.issubdtype(a.dtype, np.number):
        raise ValueError(f"{what} must be a numeric array; got dtype {a.dtype}.")
    if np.iscomplexobj(a):
        raise ValueError(f"{what} must be real; got dtype {a.dtype}.")
    return a


def check_labels(y: Any, *, what: str = "y", n_rows: int | None = None,
                 n_classes: int | None = None, against: str = "proba") -> np.ndarray:
    """``y`` as int64 class indices of shape [N], in ``[0, n_classes)`` when that is known."""
    y = _numeric(y, what)
    if y.ndim != 1:
        raise ValueError(f"{what} must be 1-D [N] class indices; got shape {y.shape}.")
    if y.shape[0] == 0:
        raise ValueError(f"{what} is empty: it must hold at least one class index.")
    if n_rows is not None and y.shape[0] != n_rows:
        raise ValueError(f"{what} has {y.shape[0]} rows but {against} has {n_rows}.")
    if y.dtype == bool:
        raise ValueError(f"{what} must hold int class indices; got dtype bool.")
    if y.dtype.kind == "f":
        check_finite(y, what)
        frac = np.mod(y, 1) != 0
        if frac.any():
            row = int(np.argmax(frac))
            raise ValueError(
                f"{what} must hold int class indices; got the non-integer value "
                f"{y[row].item()!r} in row {row}."
            )
    # range first, on the original dtype, so that huge floats cannot wrap around in the cast
    bad = (y < 0) if n_classes is None else ((y < 0) | (y >= n_classes))
    if bad.any():
        row = int(np.argmax(bad))
        if n_classes is None:
            raise ValueError(
                f"{what} must hold class indices >= 0; got {int(y[row])} in row {row}."
            )
        raise ValueError(
            f"{what} has the label {int(y[row])} in row {row}, outside the class indices "
            f"[0, {n_classes}) of {against} ({n_classes} classes)."
        )
    return y.astype(np.int64)


def check_proba(proba: Any, *, what: str = "proba") -> np.ndarray:
    """A combined prediction ``proba[N, C]``: finite, in [0, 1], rows summing to 1.

    Returns a float64 copy clipped to [0, 1] (values may be outside by at most ``PROBA_TOL``).
    """
    proba = _numeric(proba, what)
    if proba.ndim != 2:
        hint = (" For a binary problem pass both columns, e.g. np.column_stack([1 - p, p])."
                if proba.ndim == 1 else "")
        raise ValueError(
            f"{what} must be 2-D [N, C] class probabilities; got shape {proba.shape}.{hint}"
        )
    if proba.shape[0] == 0 or proba.shape[1] == 0:
        raise ValueError(f"{what} must have at least one row and one class; got shape "
                         f"{proba.shape}.")
    proba = proba.astype(np.float64)
    check_finite(proba, what)
    bad = simplex_violation(proba, PROBA_TOL)
    if bad is not None and bad[0] == "outside":
        (n, c), value = bad[1], bad[2]
        raise ValueError(
            f"{what}: probability {value:.4g} in row {n}, class index {c} is outside [0, 1]."
        )
    if bad is not None:
        (n,), total = bad[1], bad[2]
        raise ValueError(
            f"{what}: probabilities in row {n} sum to {total:.4f}, expected 1 "
            f"(tol {PROBA_TOL:g})."
        )
    return np.clip(proba, 0.0, 1.0)


def check_pool(P: Any, *, what: str = "P") -> np.ndarray:
    """A pool ``P[N, M, C]`` of class probabilities, as a float64 array clipped to [0, 1]."""
    P = check_P(P)
    if P.ndim != 3:
        raise ValueError(
            f"{what} must be 3-D [N, M, C] class probabilities of every member; got shape "
            f"{P.shape}."
        )
    P = P.astype(np.float64)
    check_finite(P, what)
    bad = simplex_violation(P, PROBA_TOL)
    if bad is not None and bad[0] == "outside":
        (n, m, c), value = bad[1], bad[2]
        raise ValueError(
            f"{what}: probability {value:.4g} of member {m} in row {n}, class index {c} "
            f"is outside [0, 1]."
        )
    if bad is not None:
        (n, m), total = bad[1], bad[2]
        raise ValueError(
            f"{what}: probabilities of member {m} in row {n} sum to {total:.4f}, "
            f"expected 1 (tol {PROBA_TOL:g})."
        )
    return np.clip(P, 0.0, 1.0)


def check_n_bins(n_bins: Any, owner: str) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, Integral) or n_bins < 1:
        raise ValueError(
            f"The 'n_bins' parameter of {owner} must be an int >= 1. Got {n_bins!r} instead."
        )
    return int(n_bins)


def check_strategy(strategy: Any, owner: str) -> str:
    if strategy not in STRATEGIES:
        raise ValueError(
            f"The 'strategy' parameter of {owner} must be one of {STRATEGIES}. "
            f"Got {strategy!r} instead."
        )
    return str(strategy)


def check_real(value: Any, name: str, owner: str) -> float:
    """A finite real number (python or numpy scalar)."""
    if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(value):
        raise ValueError(
            f"The '{name}' argument of {owner} must be a finite real number. "
            f"Got {value!r} instead."
        )
    return float(value)


# ---------------------------------------------------------------- member costs (issue 11)
COST_KINDS = ("member", "input")


def cost_kind(costs: np.ndarray | None) -> str | None:
    """``"member"`` for costs ``[M]``, ``"input"`` for ``[N, M]``, None for unit costs."""
    return None if costs is None else COST_KINDS[np.ndim(costs) - 1]


def check_costs(costs: Any, n_rows: int, members: Sequence[str], *, row_offset: int = 0,
                what: str = "costs") -> np.ndarray | None:
    """Member costs ``[M]`` or per input and member ``[N, M]``: finite, ``>= 0``, not all 0.

    For ``[N, M]`` no row may be all zero (running the whole pool must cost something on
    every input). Returns float64 (None stays None: one unit per member).
    """
    if costs is None:
        return None
    arr = np.asarray(costs)
    m = len(members)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number)
                                   and not np.issubdtype(arr.dtype, np.complexfloating)):
        raise ValueError(f"'{what}' must be a numeric array; got dtype {arr.dtype}.")
    if arr.shape not in ((m,), (n_rows, m)):
        raise ValueError(
            f"'{what}' must have shape ({m},) (one cost per member) or ({n_rows}, {m}) (one per "
            f"input and member); got shape {arr.shape}."
        )
    arr = arr.astype(np.float64, copy=False)
    rows = arr.reshape(-1, m)
    bad = ~np.isfinite(rows) | (rows < 0)
    if bad.any():
        r, j = _first(bad)
        value = float(rows[r, j])
        rule = "must be >= 0" if np.isfinite(value) else "must be finite"
        where = "" if arr.ndim == 1 else f" in row {r + row_offset}"
        raise ValueError(f"member {members[j]!r}: cost {value!r}{where} {rule}.")
    free = ~(rows > 0).any(axis=1)
    if free.any():
        if arr.ndim == 1:
            raise ValueError(f"'{what}' are all zero; at least one member must cost more than 0.")
        r = int(np.argmax(free))
        raise ValueError(f"'{what}' of row {r + row_offset} are all zero; on every input at "
                         f"least one member must cost more than 0.")
    return arr


def check_answers(answers: Any, n_rows: int, members: Sequence[str]) -> np.ndarray:
    """Answer groups ``[N, M]`` int32 from the members' answers (outcome tables).

    ``answers`` holds, per input and member, the answer given: any values compared by
    equality (strings, numbers), with None, NaN or ``""`` for no answer -- or integer codes
    already (members with the same code ``>= 0`` on a row agree; negative: no answer). The
    result codes each row's distinct answers ``0, 1, ...`` in member order, ``-1`` for none.
    """
    arr = np.asarray(answers)
    if arr.shape != (n_rows, len(members)):
        raise ValueError(f"'answers' must have shape ({n_rows}, {len(members)}) (one per input "
                         f"and member); got shape {arr.shape}.")
    if arr.dtype.kind in "iu":
        none = arr < 0
    else:
        arr = arr.astype(object)
        none = np.array([[a is None or (isinstance(a, float) and a != a) or
                          (isinstance(a, str) and not a) for a in row] for row in arr],
                        dtype=bool).reshape(arr.shape)
    codes = np.full(arr.shape, -1, dtype=np.int32)
    for n in range(n_rows):
        seen: dict[Any, int] = {}
        for m in np.flatnonzero(~none[n]):
            try:
                codes[n, m] = seen.setdefault(arr[n, m], len(seen))
            except TypeError:
                raise ValueError(f"member {members[m]!r}: the answer in row {n} is a "
                                 f"{type(arr[n, m]).__name__}, which cannot be compared; give "
                                 f"strings, numbers or integer codes.") from None
    return codes


def check_answer_groups(codes: np.ndarray, n_rows: int, n_members: int) -> None:
    """Saved answer groups: an integer ``[N, M]`` array, every code ``>= -1``."""
    if not np.issubdtype(codes.dtype, np.integer) or codes.shape != (n_rows, n_members):
        raise ValueError(f"answer groups must be an integer array of shape ({n_rows}, "
                         f"{n_members}); got {codes.dtype} of shape {codes.shape}.")
    if codes.size and int(codes.min()) < -1:
        raise ValueError(f"answer groups must be >= -1 (-1: no answer); got "
                         f"{int(codes.min())}.")
