"""Built-in data: scikit-learn's bundled sets and the UCI copies in ``../shared/datasets``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

DATASETS = ("digits", "breast_cancer", "letter", "pendigits")


def shared_datasets_dir() -> Path:
    """The folder with the shared UCI data.

    Looked up in order: the ``ENSEL_DATASETS`` environment variable, then
    ``<repository root>/../shared/datasets`` (the repository root being the folder with
    ``pyproject.toml`` above this file), then ``./../shared/datasets`` from the working directory.
    """
    env = os.environ.get("ENSEL_DATASETS")
    candidates = [Path(env)] if env else []
    for parent in Path(__file__).resolve().parents:
        if (parent / "pyproject.toml").is_file():
            candidates.append(parent.parent / "shared" / "datasets")
            break
    candidates.append(Path.cwd().parent / "shared" / "datasets")
    candidates = list(dict.fromkeys(candidates))
    for path in candidates:
        if path.is_dir():
            return path
    tried = ", ".join(str(p) for p in candidates)
    raise FileNotFoundError(
        f"The shared datasets folder was not found (tried: {tried}). Set ENSEL_DATASETS to the "
        f"folder holding letter.csv.gz and pendigits.csv.gz."
    )


def load_dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Features ``X[N, F]`` (float64) and labels ``y[N]`` of a built-in dataset.

    Parameters
    ----------
    name : {"digits", "breast_cancer", "letter", "pendigits"}
        ``digits`` and ``breast_cancer`` come with scikit-learn; ``letter`` (20000 x 16, 26
        classes) and ``pendigits`` (7494 x 16, 10 classes) are UCI copies in the shared folder.
    """
    if name == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
    elif name == "breast_cancer":
        from sklearn.datasets import load_breast_cancer

        X, y = load_breast_cancer(return_X_y=True)
    elif name in ("letter", "pendigits"):
        path = shared_datasets_dir() / f"{name}.csv.gz"
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing; see SOURCES.md in that folder.")
        data = np.genfromtxt(path, delimiter=",", names=True, dtype=None, encoding="utf-8")
        columns = data.dtype.names
        X = np.column_stack([data[c] for c in columns if c != "label"]).astype(np.float64)
        y = np.asarray(data["label"])
    else:
        raise ValueError(f"Unknown dataset {name!r}; choose one of {DATASETS}.")
    return np.asarray(X, dtype=np.float64), np.asarray(y)
