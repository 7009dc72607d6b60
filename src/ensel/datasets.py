"""Built-in data: scikit-learn's bundled sets and the real datasets shipped inside the package.

The package carries, under ``ensel/data/`` (origin and licence of each in ``SOURCES.md``
there): ``letter.csv.gz``, ``pendigits.csv.gz`` and ``mnist_5k.csv.gz`` (tabular and image
classification), ``spider_dev_public/`` (text-to-SQL questions, candidates from 12 systems
and their SQLite databases) and ``routerbench/`` (LLM outcomes and costs, for routing).

Every file or folder is looked up first in the folder named by the ``ENSEL_DATASETS``
environment variable (when set), then in the package's own data, so a copy of your own
overrides the shipped one file by file.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any

import numpy as np

DATASETS = ("digits", "breast_cancer", "letter", "pendigits", "mnist_5k")
"""Names `load_dataset` accepts."""

FILES = {"letter": "letter.csv.gz", "pendigits": "pendigits.csv.gz",
         "mnist_5k": "mnist_5k.csv.gz"}
"""Dataset name → its file (the others come with scikit-learn)."""

ENV_VAR = "ENSEL_DATASETS"
_PACKAGE_DATA = Path(__file__).resolve().parent / "data"


def data_dirs() -> list[Path]:
    """The folders searched for data files, in order.

    Returns
    -------
    list of Path
        ``$ENSEL_DATASETS`` when the variable is set (whether or not the folder exists),
        then the package's own ``ensel/data`` folder.

    Examples
    --------
    >>> from ensel.datasets import data_dirs
    >>> data_dirs()[-1].name
    'data'
    """
    env = os.environ.get(ENV_VAR)
    return ([Path(env).expanduser()] if env else []) + [_PACKAGE_DATA]


def dataset_path(name: str) -> Path:
    """Path of a data file or folder, e.g. ``"letter.csv.gz"`` or ``"spider_dev_public"``.

    Parameters
    ----------
    name : str
        A path relative to a data folder: ``"pendigits.csv.gz"``, ``"spider_dev_public"``,
        ``"routerbench/mbpp_test.csv.gz"``.

    Returns
    -------
    Path
        The first of ``$ENSEL_DATASETS/<name>`` and ``<package>/data/<name>`` that exists.

    Raises
    ------
    FileNotFoundError
        When neither exists; the message lists the places tried and what to put where.

    Examples
    --------
    >>> from ensel.datasets import dataset_path
    >>> (dataset_path("spider_dev_public") / "questions.jsonl").is_file()
    True
    """
    tried = [folder / name for folder in data_dirs()]
    for path in tried:
        if path.exists():
            return path
    places = ", ".join(str(p) for p in tried)
    raise FileNotFoundError(
        f"The dataset {name!r} was not found (tried: {places}). Put {name} in a folder and set "
        f"{ENV_VAR} to that folder, or reinstall ensel (its package ships the built-in data)."
    )


def load_dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Features ``X[N, F]`` (float64) and labels ``y[N]`` of a built-in dataset.

    Parameters
    ----------
    name : {"digits", "breast_cancer", "letter", "pendigits", "mnist_5k"}
        ``digits`` (1797 x 64, 10 classes) and ``breast_cancer`` (569 x 30, 2 classes) come
        with scikit-learn; ``letter`` (20000 x 16, 26 classes ``"A"``..``"Z"``),
        ``pendigits`` (7494 x 16, 10 classes) and ``mnist_5k`` (5000 x 784 grey levels
        0-255, 10 classes, sorted by label: shuffle before splitting) ship with ensel.

    Returns
    -------
    X : ndarray of shape (N, F), float64
    y : ndarray of shape (N,)
        int64 labels, or str for ``letter``.

    Raises
    ------
    ValueError
        For an unknown name.
    FileNotFoundError
        When the dataset's file is in neither data folder (see `dataset_path`).

    Examples
    --------
    >>> from ensel.datasets import load_dataset
    >>> X, y = load_dataset("pendigits")
    >>> X.shape, sorted(set(y.tolist()))[:3]
    ((7494, 16), [0, 1, 2])
    """
    if name == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
    elif name == "breast_cancer":
        from sklearn.datasets import load_breast_cancer

        X, y = load_breast_cancer(return_X_y=True)
    elif name in FILES:
        X, y = _read_csv(dataset_path(FILES[name]), header=name != "mnist_5k")
    else:
        raise ValueError(f"Unknown dataset {name!r}; choose one of {DATASETS}.")
    return np.asarray(X, dtype=np.float64), np.asarray(y)


def _read_csv(path: Path, *, header: bool) -> tuple[np.ndarray, np.ndarray]:
    """Features (all columns but the last) and labels (the last) of a gzipped CSV file."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        lines = fh.read().splitlines()[1 if header else 0:]
    n_columns = lines[0].count(",") + 1
    X = np.loadtxt(lines, delimiter=",", usecols=range(n_columns - 1), ndmin=2)
    labels = np.loadtxt(lines, delimiter=",", usecols=n_columns - 1, dtype=str, ndmin=1)
    y = labels.astype(np.int64) if np.char.isdigit(labels).all() else labels
    return X, y


ROUTERBENCH_TASKS = ("arc_challenge", "mbpp")
"""The RouterBench tasks shipped in ``routerbench/`` (each with a train and a test split)."""


def load_routerbench(name: str | Path, split: str = "train", *,
                     answer: Any = None) -> tuple[Any, list[str]]:
    """An outcome table of logged LLM results, and the prompts, from the RouterBench CSV layout.

    Parameters
    ----------
    name : str or Path
        A shipped task (``"arc_challenge"``, ``"mbpp"``), or the path of a CSV (optionally
        gzipped) in the same layout: a ``prompt`` column, then for each model
        ``MODEL|correct`` (quality in [0, 1], empty when not observed) and ``MODEL|cost``.
    split : {"train", "test"}, default="train"
        For a shipped task; ignored for a path.
    answer : callable, optional
        ``answer(response) -> str``: the answer in a logged response, equal for responses
        that say the same (``""``: none). Default `response_answer` (the response's text,
        normalised); for long responses pass your own, e.g. the last number of a worked
        solution.

    Returns
    -------
    table : PredictionTable
        Task ``"outcome"``: quality ``[N, M]`` (NaN where the file is empty), costs ``[N, M]``
        (the file's cost of each call), no ``X`` (features come from the prompts), and
        ``answers`` when the file has a ``MODEL|response`` column for every model (each
        response's `response_answer`; the shipped tasks have them).
    prompts : list of str, length N

    Raises
    ------
    ValueError
        A file without a ``prompt`` column or ``MODEL|correct`` columns, a model without its
        ``|cost`` column, or a value that is not a number (naming the file, line and column).

    Examples
    --------
    >>> from ensel.datasets import load_routerbench
    >>> table, prompts = load_routerbench("mbpp", "test")
    >>> table.task, table.n_samples, table.n_members, len(prompts)
    ('outcome', 128, 11, 128)
    """
    from ensel.table import PredictionTable

    if isinstance(name, str) and name in ROUTERBENCH_TASKS:
        if split not in ("train", "test"):
            raise ValueError(f"The 'split' parameter of load_routerbench must be 'train' or "
                             f"'test'. Got {split!r} instead.")
        path = dataset_path(f"routerbench/{name}_{split}.csv.gz")
    else:
        path = Path(name)
        if not path.is_file():
            raise ValueError(f"load_routerbench: {str(name)!r} is neither a shipped task "
                             f"{ROUTERBENCH_TASKS} nor a CSV file.")
    header, rows = _read_rows(path)
    members = [c[:-len("|correct")] for c in header if c.endswith("|correct")]
    missing = [c for c in ("prompt",) if c not in header] + [
        f"{m}|cost" for m in members if f"{m}|cost" not in header]
    if missing or not members:
        raise ValueError(f"{path}: not the RouterBench layout: missing column(s) "
                         f"{', '.join(missing) or 'MODEL|correct'}.")
    quality = _number_columns(path, header, rows, [f"{m}|correct" for m in members], True)
    costs = _number_columns(path, header, rows, [f"{m}|cost" for m in members], False)
    prompts = [row[header.index("prompt")] for row in rows]
    answers = None
    if all(f"{m}|response" in header for m in members):
        idx = [header.index(f"{m}|response") for m in members]
        extract = response_answer if answer is None else answer
        if not callable(extract):
            raise ValueError(f"The 'answer' parameter of load_routerbench must be a callable "
                             f"response -> str. Got {answer!r} instead.")
        answers = [[extract(row[k] if k < len(row) else "") for k in idx] for row in rows]
    return PredictionTable.from_outcomes(quality, costs=costs, members=members,
                                         answers=answers), prompts


def response_answer(text: str) -> str:
    """The answer in a logged response, normalised so that equal answers compare equal.

    RouterBench logs a response as the repr of a list of strings (``"['B\\n']"``); its
    first string is taken. Then surrounding whitespace, quotes and trailing ``)``, ``.``,
    ``:`` are stripped and the case folded, so ``"B)"``, ``" b\\n"`` and ``"B."`` agree.
    An empty result means no answer.

    Parameters
    ----------
    text : str

    Returns
    -------
    str

    Examples
    --------
    >>> from ensel.datasets import response_answer
    >>> [response_answer(t) for t in ["['B\\\\n']", "['B)']", "b.", "['']"]]
    ['b', 'b', 'b', '']
    """
    import ast

    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        try:
            value = ast.literal_eval(text)         # literals only: never runs code
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            value = [text[1:-1]]                  # not a list literal: drop the brackets
        if isinstance(value, list):
            text = str(value[0]) if value else ""
    return text.strip().strip("'\"").rstrip(").:").strip().casefold()


def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    import csv

    csv.field_size_limit(1 << 30)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        return header, list(reader)


def _number_columns(path: Path, header: list[str], rows: list[list[str]], columns: list[str],
                    empty_is_nan: bool) -> np.ndarray:
    """``[N, len(columns)]`` float64 from text cells; an empty cell is NaN when allowed."""
    idx = [header.index(c) for c in columns]
    out = np.empty((len(rows), len(idx)))
    for i, row in enumerate(rows):
        for j, k in enumerate(idx):
            cell = row[k] if k < len(row) else ""
            try:
                out[i, j] = float("nan") if (cell == "" and empty_is_nan) else float(cell)
            except ValueError:
                raise ValueError(f"{path}, line {i + 2}, column {columns[j]!r}: {cell!r} is not "
                                 f"a number.") from None
    return out
