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
