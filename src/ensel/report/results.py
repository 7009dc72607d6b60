"""The results file of ``ensel benchmark``: its layout, writing and checked reading.

A results file is one JSON object::

    {
      "format": "ensel.benchmark-results", "version": 1,
      "header":  {...},    # suite, command, date, python, platform, cpu_count, packages, ...
      "records": [...],    # one per dataset x pool x combiner x seed
      "plots":   [...]     # per dataset x pool (first seed): what plots cannot recompute
    }

Every record holds at least `RECORD_KEYS`. A record of the DifferentiableSelector sweep over
``k`` is named ``"e2e-cel[k=2]"`` and carries ``"k": 2``; other records have ``"k": null``.
Floats are rounded (`round_floats`) and NaN is written as ``null``, so the file is strict JSON.

A ``plots`` entry holds ``dataset``, ``pool``, ``seed``, ``members`` (names), ``classes``
(labels as strings), ``disagreement`` (``[M, M]``), ``selector`` (the combiner whose selection
is shown, or null), ``selection_frequency`` (``[M, C]``: share of the test inputs of each true
class for which the selector picks each member, or null) and ``reliability`` (combiner name →
``{"confidence", "accuracy", "counts"}`` per confidence bin).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "ensel.benchmark-results"
VERSION = 1

RECORD_KEYS = (
    "dataset", "pool", "combiner", "seed", "accuracy", "log_loss", "ece", "oracle_accuracy",
    "gap_closed", "members_per_input", "fit_seconds", "predict_seconds",
)
"""Keys every record must have."""

HEADER_KEYS = ("suite", "command", "date", "python", "platform", "cpu_count", "packages")
"""Keys the header must have."""

PLOT_KEYS = ("dataset", "pool", "seed", "members", "disagreement")
"""Keys every ``plots`` entry must have."""


def round_floats(value: Any, digits: int = 5) -> Any:
    """``value`` with every float rounded to ``digits`` significant places, NaN/inf as None.

    Parameters
    ----------
    value : object
        Nested dicts, lists, tuples, numpy arrays and scalars.
    digits : int, default=5
        Significant digits kept.

    Returns
    -------
    object
        The same structure made of plain Python types, ready for ``json.dumps``.

    Examples
    --------
    >>> round_floats({"a": [0.123456789, float("nan")], "b": 3})
    {'a': [0.12346, None], 'b': 3}
    """
    if isinstance(value, np.ndarray):
        return round_floats(value.tolist(), digits)
    if isinstance(value, Mapping):
        return {str(k): round_floats(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [round_floats(v, digits) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        x = float(value)
        if not math.isfinite(x):
            return None
        return float(f"{x:.{digits}g}")
    return value


def write_results(path: str | Path, header: Mapping[str, Any],
                  records: Sequence[Mapping[str, Any]],
                  plots: Sequence[Mapping[str, Any]] = ()) -> Path:
    """Write a results file (rounded floats, NaN as null).

    Parameters
    ----------
    path : str or Path
        Where to write ``results.json``.
    header : mapping
        Run metadata; see ``ensel.report.results.HEADER_KEYS``.
    records : sequence of mapping
        One per dataset x pool x combiner x seed; see ``ensel.report.results.RECORD_KEYS``.
    plots : sequence of mapping, default=()
        Per dataset x pool plot data; see the module docstring.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    document = {"format": FORMAT, "version": VERSION, "header": round_floats(header),
                "records": round_floats(list(records)), "plots": round_floats(list(plots))}
    check_results(document, source=str(path))
    from ensel._io import write_text

    return write_text(path, dumps(document))      # atomic: a crash keeps the previous file


def dumps(document: Mapping[str, Any]) -> str:
    """JSON text of a results document: the header indented, one line per record and entry.

    Compact enough to keep large runs small, and still readable and diff-able line by line.
    """
    def line(value: Any) -> str:
        return json.dumps(value, allow_nan=False, separators=(",", ":"))

    parts = ["{", f'"format": {line(document["format"])},',
             f'"version": {line(document["version"])},',
             '"header": ' + json.dumps(document["header"], indent=1, allow_nan=False) + ","]
    for key in ("records", "plots"):
        items = document.get(key, [])
        body = ",\n".join(line(item) for item in items)
        end = "," if key == "records" else ""
        parts.append(f'"{key}": [\n{body}\n]{end}' if items else f'"{key}": []{end}')
    parts.append("}")
    return "\n".join(parts) + "\n"


def load_results(path: str | Path) -> dict[str, Any]:
    """Read and check a results file written by ``ensel benchmark``.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    dict
        With ``"header"``, ``"records"`` and ``"plots"``.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist or is a directory.
    ValueError
        When the file is not JSON or not a results file (the message names what is wrong).
    """
    path = Path(path)
    if path.is_dir():
        candidate = path / "results.json"
        if not candidate.is_file():
            raise FileNotFoundError(
                f"{path} is a directory without results.json; pass the results file written "
                f"by 'ensel benchmark'.")
        path = candidate
    if not path.is_file():
        raise FileNotFoundError(
            f"Results file {path} does not exist; run 'ensel benchmark --out DIR' first.")
    try:
        document = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}.") from exc
    check_results(document, source=str(path))
    document.setdefault("plots", [])
    return document


def check_results(document: Any, *, source: str = "results") -> None:
    """Raise ValueError unless ``document`` is a results object of a known version.

    Parameters
    ----------
    document : object
        The parsed JSON.
    source : str, default="results"
        Named in the error messages (usually the file path).
    """
    if not isinstance(document, dict):
        raise ValueError(  # noqa: TRY004 - a bad file, not a bad call
            f"{source} is not an ensel benchmark results file: expected a JSON object, got "
            f"{type(document).__name__}.")
    if document.get("format") != FORMAT:
        raise ValueError(
            f"{source} is not an ensel benchmark results file: 'format' is "
            f"{document.get('format')!r}, expected {FORMAT!r}.")
    version = document.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise ValueError(
            f"{source} has results version {version!r}; this ensel reads up to {VERSION}. "
            f"Upgrade ensel.")
    header = document.get("header")
    if not isinstance(header, dict):
        raise ValueError(f"{source}: 'header' must be an object.")  # noqa: TRY004 - a bad file, not a bad call
    missing = [k for k in HEADER_KEYS if k not in header]
    if missing:
        raise ValueError(f"{source}: the header lacks {', '.join(missing)}.")
    records = document.get("records")
    if not isinstance(records, list):
        raise ValueError(f"{source}: 'records' must be a list.")  # noqa: TRY004 - a bad file, not a bad call
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise ValueError(f"{source}: record {i} is not an object.")  # noqa: TRY004 - a bad file, not a bad call
        missing = [k for k in RECORD_KEYS if k not in record]
        if missing:
            raise ValueError(
                f"{source}: record {i} ({record.get('dataset')}/{record.get('pool')}/"
                f"{record.get('combiner')}) lacks {', '.join(missing)}.")
        acc = record["accuracy"]
        if acc is not None and (not isinstance(acc, (int, float)) or not 0 <= acc <= 1):
            raise ValueError(
                f"{source}: record {i} has accuracy {acc!r}; expected a number in [0, 1].")
    plots = document.get("plots", [])
    if not isinstance(plots, list):
        raise ValueError(f"{source}: 'plots' must be a list.")  # noqa: TRY004 - a bad file, not a bad call
    for i, entry in enumerate(plots):
        if not isinstance(entry, dict):
            raise ValueError(f"{source}: plots entry {i} is not an object.")  # noqa: TRY004 - a bad file, not a bad call
        missing = [k for k in PLOT_KEYS if k not in entry]
        if missing:
            raise ValueError(f"{source}: plots entry {i} lacks {', '.join(missing)}.")
        m = len(entry["members"])
        D = np.asarray(entry["disagreement"], dtype=object)
        if D.shape != (m, m):
            raise ValueError(
                f"{source}: plots entry {i} ({entry['dataset']}/{entry['pool']}) has a "
                f"disagreement matrix of shape {D.shape}; expected ({m}, {m}).")
        freq = entry.get("selection_frequency")
        if freq is not None:
            F = np.asarray(freq, dtype=object)
            n_classes = len(entry.get("classes") or [])
            if F.shape != (m, n_classes):
                raise ValueError(
                    f"{source}: plots entry {i} ({entry['dataset']}/{entry['pool']}) has a "
                    f"selection_frequency of shape {F.shape}; expected ({m}, {n_classes}).")
