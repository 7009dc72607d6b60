"""PredictionTable: the members' predictions, the labels and the inputs, in one contract."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ensel import _validation as V

FORMAT_VERSION = 1


class PredictionTable:
    """Predictions of a pool of members on the same inputs.

    Parameters
    ----------
    P : ndarray of shape (N, M, C) or (N, M) or (N, M, D)
        Class probabilities of every member (classification) or predicted values (regression).
    y : ndarray of shape (N,) or (N, D), optional
        Class indices into ``classes`` (classification) or targets (regression).
    X : ndarray of shape (N, F), optional
        The raw inputs, for combiners that look at them.
    members : list of str
        One unique name per member.
    classes : ndarray of shape (C,), optional
        Class labels, in the column order of ``P`` (classification only).
    task : {"classification", "regression"}

    Use the constructors (`from_arrays`, `from_estimators`, `from_frames`, `load`): they
    validate. The constructor itself trusts its arguments.

    Examples
    --------
    >>> import numpy as np
    >>> from ensel import PredictionTable
    >>> P = np.array([[[0.9, 0.1], [0.4, 0.6]], [[0.2, 0.8], [0.5, 0.5]]])
    >>> table = PredictionTable.from_arrays(P, y=[0, 1], members=["a", "b"])
    >>> table.n_samples, table.n_members, table.n_classes
    (2, 2, 2)
    >>> table[[1]].P.shape
    (1, 2, 2)
    """

    def __init__(self, P: np.ndarray, y: np.ndarray | None, X: np.ndarray | None,
                 members: list[str], classes: np.ndarray | None, task: str) -> None:
        self.P = P
        self.y = y
        self.X = X
        self.members = members
        self.classes = classes
        self.task = task

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_arrays(cls, P: Any, y: Any = None, X: Any = None, members: Sequence[str] | None = None,
                    classes: Any = None, task: str | None = None) -> PredictionTable:
        """Build a table from arrays, checking every part.

        ``y`` holds labels from ``classes`` (default ``0..C-1``); they are stored as indices.
        Probabilities must lie in [0, 1] and sum to 1 within 1e-4 for every member and row.
        """
        P = V.check_P(P)
        task = V.check_task(task, P, y)
        names = V.check_member_names(members, P.shape[1])
        V.check_finite(P, "P", names)
        if task == "classification":
            V.check_probabilities(P, names)
            classes = V.check_classes(classes, P.shape[2])
            if y is not None:
                y = V.encode_labels(V.check_rows(y, P.shape[0], "y", 1), classes)
        else:
            if classes is not None:
                raise ValueError("'classes' is only meaningful for classification tables.")
            if y is not None:
                y = np.asarray(y)
                want = 1 if P.ndim == 2 else 2
                y = V.check_rows(y, P.shape[0], "y", want)
                if not np.issubdtype(y.dtype, np.number):
                    raise ValueError(f"Regression targets y must be numeric; got dtype {y.dtype}.")
                y = y.astype(np.float64, copy=False)
                V.check_finite(y, "y")
                if P.ndim == 3 and y.shape[1] != P.shape[2]:
                    raise ValueError(
                        f"y has {y.shape[1]} outputs but P has {P.shape[2]} (axis 2)."
                    )
        if X is not None:
            X = V.check_rows(X, P.shape[0], "X", 2)
            if not np.issubdtype(X.dtype, np.number):
                raise ValueError(f"X must be numeric; got dtype {X.dtype}.")
            V.check_finite(X, "X")
        return cls(P, y, X, names, classes, task)

    @classmethod
    def from_estimators(cls, estimators: Sequence[Any], X: Any, y: Any = None, *,
                        task: str | None = None) -> PredictionTable:
        """Predictions of fitted scikit-learn estimators on ``X``.

        Parameters
        ----------
        estimators : list of (name, estimator) or list of estimators
            Fitted models. Classifiers need ``predict_proba`` and the same ``classes_`` in the
            same order; regressors use ``predict``.
        X : array-like of shape (N, F)
        y : array-like of shape (N,), optional
            Labels (not indices) for classification, targets for regression.
        """
        from ensel.members import named_members, predict_member

        named = named_members(estimators)
        if not named:
            raise ValueError("The pool is empty: 'estimators' has no members.")
        X_arr = np.asarray(X)
        if task is None:
            task = "classification" if all(hasattr(e, "predict_proba") for _, e in named) \
                else "regression"
        classes = None
        columns = []
        for name, est in named:
            if task == "classification":
                est_classes = getattr(est, "classes_", None)
                if est_classes is None:
                    raise ValueError(f"member {name!r} has no classes_: is it fitted?")
                if classes is None:
                    classes = np.asarray(est_classes)
                else:
                    V.check_same_classes(classes, est_classes, f"member {name!r}")
            columns.append(predict_member(name, est, X_arr, task))
        P = np.stack(columns, axis=1)
        return cls.from_arrays(P, y=y, X=X_arr if X_arr.ndim == 2 else None,
                               members=[n for n, _ in named], classes=classes, task=task)

    @classmethod
    def from_frames(cls, frames: Mapping[str, Any], y: Any = None, X: Any = None, *,
                    task: str | None = None) -> PredictionTable:
        """One pandas DataFrame per member: rows are inputs (same index), columns are classes.

        For classification every frame must have the same columns in the same order (the class
        labels); for regression each frame has one column per output.
        """
        if not frames:
            raise ValueError("The pool is empty: 'frames' has no members.")
        names = list(frames)
        first = frames[names[0]]
        columns = list(first.columns)
        index = first.index
        for name in names[1:]:
            frame = frames[name]
            if list(frame.columns) != columns:
                V.check_same_classes(np.asarray(columns, dtype=object),
                                     np.asarray(list(frame.columns), dtype=object),
                                     f"member {name!r}")
            if not frame.index.equals(index):
                raise ValueError(
                    f"member {name!r}: its rows (index) differ from member {names[0]!r}'s; "
                    f"align the frames on the same inputs first."
                )
        P = np.stack([frames[n].to_numpy() for n in names], axis=1)
        if task is None and len(columns) == 1 and (y is None or np.ndim(y) == 1):
            task = "regression"
        if task == "regression" and len(columns) == 1:
            P = P[:, :, 0]
        classes = np.asarray(columns) if task != "regression" else None
        return cls.from_arrays(P, y=y, X=X, members=names, classes=classes, task=task)

    # ------------------------------------------------------------------ shape
    @property
    def n_samples(self) -> int:
        return int(self.P.shape[0])

    @property
    def n_members(self) -> int:
        return int(self.P.shape[1])

    @property
    def n_classes(self) -> int:
        """Number of classes (classification) or outputs (regression; 1 for ``P[N, M]``)."""
        return int(self.P.shape[2]) if self.P.ndim == 3 else 1

    @property
    def y_labels(self) -> np.ndarray | None:
        """``y`` as class labels (classification) or the targets (regression)."""
        if self.y is None or self.task == "regression":
            return self.y
        return np.asarray(self.classes)[self.y]

    def __len__(self) -> int:
        return self.n_samples

    def __repr__(self) -> str:
        parts = [f"task={self.task!r}", f"n_samples={self.n_samples}",
                 f"n_members={self.n_members}"]
        if self.task == "classification":
            parts.append(f"n_classes={self.n_classes}")
        parts.append(f"labelled={self.y is not None}")
        parts.append(f"inputs={'none' if self.X is None else self.X.shape[1]}")
        return f"PredictionTable({', '.join(parts)})"

    def __getitem__(self, rows: Any) -> PredictionTable:
        """Rows of the table (int array, boolean mask or slice); slices stay views."""
        if isinstance(rows, (int, np.integer)):
            rows = slice(int(rows), int(rows) + 1)
        if not isinstance(rows, slice):
            rows = np.asarray(rows)
            if rows.dtype == bool and rows.shape != (self.n_samples,):
                raise IndexError(
                    f"Boolean row mask has shape {rows.shape}; the table has {self.n_samples} rows."
                )
        return PredictionTable(
            self.P[rows],
            None if self.y is None else self.y[rows],
            None if self.X is None else self.X[rows],
            list(self.members), self.classes, self.task,
        )

    def select_members(self, members: Sequence[str] | Sequence[int]) -> PredictionTable:
        """A table with only some members (by name or position), in the given order."""
        idx = [self.members.index(m) if isinstance(m, str) else int(m) for m in members]
        return PredictionTable(self.P[:, idx], self.y, self.X,
                               [self.members[i] for i in idx], self.classes, self.task)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write a directory of ``.npy`` files and a JSON header (``table.json``); no pickle."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for name in ("P", "y", "X"):
            value = getattr(self, name)
            target = path / f"{name}.npy"
            if value is not None:
                np.save(target, np.ascontiguousarray(value), allow_pickle=False)
            elif target.exists():
                target.unlink()
        header = {
            "format": "ensel.PredictionTable",
            "version": FORMAT_VERSION,
            "task": self.task,
            "members": list(self.members),
            "classes": None if self.classes is None else np.asarray(self.classes).tolist(),
            "shape": list(self.P.shape),
        }
        (path / "table.json").write_text(json.dumps(header, indent=2))
        return path

    @classmethod
    def load(cls, path: str | Path, mmap: bool = True) -> PredictionTable:
        """Open a table written by `save`; arrays are memory-mapped read-only when ``mmap``."""
        path = Path(path)
        header_path = path / "table.json"
        if not header_path.is_file():
            raise FileNotFoundError(f"{path} is not a saved PredictionTable: no table.json in it.")
        header = json.loads(header_path.read_text())
        if header.get("format") != "ensel.PredictionTable":
            raise ValueError(f"{header_path} is not an ensel.PredictionTable header.")
        if header.get("version", 0) > FORMAT_VERSION:
            raise ValueError(
                f"{header_path} has format version {header['version']}; this ensel reads up to "
                f"{FORMAT_VERSION}. Upgrade ensel."
            )
        mode = "r" if mmap else None

        def read(name: str) -> np.ndarray | None:
            file = path / f"{name}.npy"
            return np.load(file, mmap_mode=mode, allow_pickle=False) if file.exists() else None

        P = read("P")
        if P is None:
            raise FileNotFoundError(f"{path} has a header but no P.npy.")
        if list(P.shape) != header["shape"]:
            raise ValueError(
                f"{path / 'P.npy'} has shape {P.shape}; the header says {header['shape']}."
            )
        classes = None if header["classes"] is None else np.asarray(header["classes"])
        y, X = read("y"), read("X")
        members = V.check_member_names(header["members"], P.shape[1])
        if y is not None and y.shape[0] != P.shape[0]:
            raise ValueError(f"{path / 'y.npy'} has {y.shape[0]} rows but P has {P.shape[0]}.")
        if X is not None and X.shape[0] != P.shape[0]:
            raise ValueError(f"{path / 'X.npy'} has {X.shape[0]} rows but P has {P.shape[0]}.")
        return cls(P, y, X, members, classes, header["task"])

    # ------------------------------------------------------------------ helpers
    def correct(self) -> np.ndarray:
        """``[N, M]`` bool: whether each member's most probable class is the label."""
        V.check_labelled(self, "PredictionTable.correct")
        if self.task != "classification":
            raise ValueError("correct() is defined for classification tables only.")
        return np.argmax(self.P, axis=2) == np.asarray(self.y)[:, None]
