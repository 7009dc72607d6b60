"""PredictionTable: the members' predictions, the labels and the inputs, in one contract."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ensel import _io
from ensel import _validation as V

FORMAT = "ensel.PredictionTable"
FORMAT_VERSION = 1
HEADER = "table.json"
#: The files of a saved table; other files in its folder are kept when it is saved over.
TABLE_FILES = (HEADER, "P.npy", "y.npy", "X.npy", "costs.npy", "answers.npy")
#: Bytes of rows checked at a time when a saved table is loaded (memory-mapped tables too).
CHECK_CHUNK_BYTES = 1 << 26


class PredictionTable:
    """Predictions of a pool of members on the same inputs.

    Parameters
    ----------
    P : ndarray of shape (N, M, C) or (N, M) or (N, M, D)
        Class probabilities of every member (classification) or predicted values (regression).
    y : ndarray of shape (N,) or (N, D), optional
        Class indices into ``classes`` (classification) or targets (regression).
    X : ndarray of shape (N, F) or (N, d1, d2, ...), optional
        The raw inputs, for combiners that look at them: rows of features, or inputs of any
        shape such as images ``[N, 1, 28, 28]`` (saved and memory-mapped like ``P``).
    members : list of str
        One unique name per member.
    classes : ndarray of shape (C,), optional
        Class labels, in the column order of ``P`` (classification only).
    task : {"classification", "regression", "outcome"}
        ``"outcome"`` (`from_outcomes`): ``P[N, M]`` is each member's quality on each input,
        in [0, 1] or NaN (not observed), and ``y`` is None.
    costs : ndarray of shape (M,) or (N, M), optional
        What running each member costs (seconds, FLOPs, dollars...), per member or per input
        and member; ``None`` means one unit per member. `cost_matrix` gives ``[N, M]``.
    answers : ndarray of shape (N, M), int32, optional
        Outcome tables only: which members gave the same answer to an input (the same code
        ``>= 0`` on a row), ``-1`` where a member gave none (`from_outcomes`); what
        `ensel.combine.routing.AnswerCascade` reads to stop when members agree.

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
                 members: list[str], classes: np.ndarray | None, task: str, *,
                 costs: np.ndarray | None = None, answers: np.ndarray | None = None) -> None:
        self.P = P
        self.y = y
        self.X = X
        self.members = members
        self.classes = classes
        self.task = task
        self.costs = costs
        self.answers = answers

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_arrays(cls, P: Any, y: Any = None, X: Any = None, members: Sequence[str] | None = None,
                    classes: Any = None, task: str | None = None, *,
                    costs: Any = None) -> PredictionTable:
        """Build a table from arrays, checking every part.

        ``y`` holds labels from ``classes`` (default ``0..C-1``); they are stored as indices.
        Probabilities must lie in [0, 1] and sum to 1 within 1e-4 for every member and row.
        ``costs`` (``[M]`` or ``[N, M]``, default one unit per member) must be finite and
        ``>= 0``, and not all zero (on any row); the error names the member and the row.
        """
        if task == "outcome":
            if y is not None or classes is not None:
                raise ValueError("An outcome table has no 'y' nor 'classes' (the qualities are "
                                 "the labels); use PredictionTable.from_outcomes(quality, "
                                 "costs=...).")
            return cls.from_outcomes(P, costs=costs, X=X, members=members)
        P = V.check_P(P)
        task = V.check_task(task, P, y)
        names = V.check_member_names(members, P.shape[1])
        V.check_finite(P, "P", names)
        if task == "classification":
            V.check_probabilities(P, names)
            classes = V.check_classes(classes, P.shape[2])
            if y is not None:
                V.check_label_types(y, "y")
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
            X = V.check_inputs_rows(X, P.shape[0])
            if not np.issubdtype(X.dtype, np.number):
                raise ValueError(f"X must be numeric; got dtype {X.dtype}.")
            V.check_finite(X, "X")
        costs = V.check_costs(costs, P.shape[0], names)
        return cls(P, y, X, names, classes, task, costs=costs)

    @classmethod
    def from_outcomes(cls, quality: Any, *, costs: Any, X: Any = None,
                      members: Sequence[str] | None = None,
                      answers: Any = None) -> PredictionTable:
        """An outcome table: each member's quality on each input, and what each call cost.

        For routing (e.g. logged LLM results): ``quality[n, m]`` is how well member ``m``
        did on input ``n`` -- 0/1 correctness or a score in [0, 1]. The table's task is
        ``"outcome"``, ``P`` holds the quality and ``y`` is None (the outcomes are the
        labels).

        Missing outcomes are ``NaN`` (a member never run on that input). Policy: routers
        ignore them in training (a missing cell adds nothing to any loss or statistic), and
        evaluating a choice that lands on one is an error unless told how to count it
        (``missing=`` of `ensel.metrics.routing_quality`).

        Parameters
        ----------
        quality : array-like of shape (N, M)
            Values in [0, 1] or NaN.
        costs : array-like of shape (M,) or (N, M), or None
            The cost of each call (e.g. dollars), per member or per input and member; finite
            and ``>= 0``, not all zero on any row. None: one unit per member.
        X : array-like of shape (N, F), optional
            Input features (e.g. `ensel.text.PromptFeatures` of the prompts).
        members : list of str, optional
            One unique name per member (default ``m0, m1, ...``).
        answers : array-like of shape (N, M), optional
            The answer each member gave to each input (e.g. the letter of a multiple-choice
            answer), compared by equality; None, NaN or ``""`` for no answer. Or integer
            codes (the same code on a row: the same answer; negative: none). Stored as
            ``answers``: each row's distinct answers coded ``0, 1, ...``, ``-1`` for none.

        Returns
        -------
        PredictionTable

        Examples
        --------
        >>> import numpy as np
        >>> from ensel import PredictionTable
        >>> table = PredictionTable.from_outcomes([[1, 0], [np.nan, 1]], costs=[1.0, 10.0],
        ...                                       members=["small", "large"])
        >>> table.task, table.n_members, table.cost_matrix()[1].tolist()
        ('outcome', 2, [1.0, 10.0])
        >>> PredictionTable.from_outcomes([[1, 1], [0, 1]], costs=[1.0, 10.0],
        ...                               answers=[["B", "B"], ["A", "C"]]).answers.tolist()
        [[0, 0], [0, 1]]
        """
        Q = V.check_P(quality)
        V.check_task("outcome", Q, None)
        names = V.check_member_names(members, Q.shape[1])
        V.check_outcomes(Q, names)
        if X is not None:
            X = V.check_inputs_rows(X, Q.shape[0])
            if not np.issubdtype(X.dtype, np.number):
                raise ValueError(f"X must be numeric; got dtype {X.dtype}.")
            V.check_finite(X, "X")
        codes = None if answers is None else V.check_answers(answers, Q.shape[0], names)
        return cls(Q, None, X, names, None, "outcome",
                   costs=V.check_costs(costs, Q.shape[0], names), answers=codes)

    @classmethod
    def from_estimators(cls, estimators: Sequence[Any], X: Any, y: Any = None, *,
                        task: str | None = None, costs: Any = None) -> PredictionTable:
        """Predictions of fitted scikit-learn estimators on ``X``.

        Parameters
        ----------
        estimators : list of (name, estimator) or list of estimators
            Fitted models. Classifiers need ``predict_proba`` and the same ``classes_`` in the
            same order; regressors use ``predict``.
            ``torch.nn.Module`` members (see `ensel.members.torch_predict`: logits unless
            ``outputs_proba = True``) and callables ``f(X) -> array`` return their class
            columns in the order of the other members' ``classes_`` (``0..C-1`` without any).
        X : array-like of shape (N, F) or (N, d1, d2, ...)
            Inputs of any shape the members take (stored in the table).
        y : array-like of shape (N,), optional
            Labels (not indices) for classification, targets for regression.
        task : {"classification", "regression"}, optional
            Default: classification when every estimator has ``predict_proba``, regression when
            none is a classifier (torch modules and callables do not count, as in
            `ensel.scale.collect_predictions`: a pool of only those is regression unless
            ``task="classification"``). A pool mixing the two, or holding a classifier without
            ``predict_proba``, is refused (naming the member) rather than turned into a
            regression table of class labels.
        costs : array-like of shape (M,) or (N, M), optional
            As in `from_arrays`.
        """
        from ensel.members import named_members, predict_member

        named = named_members(estimators)
        if not named:
            raise ValueError("The pool is empty: 'estimators' has no members.")
        X_arr = np.asarray(X)
        if task is None:
            task = _pool_task(named)
        classes = None
        columns = []
        for name, est in named:
            if task == "classification":
                est_classes = getattr(est, "classes_", None)
                if est_classes is None and not _is_estimator(est):
                    pass        # a torch module or a callable: its columns are in class order
                elif est_classes is None:
                    raise ValueError(f"member {name!r} has no classes_: is it fitted?")
                elif classes is None:
                    classes = np.asarray(est_classes)
                else:
                    V.check_same_classes(classes, est_classes, f"member {name!r}")
            columns.append(predict_member(name, est, X_arr, task))
        P = np.stack(columns, axis=1)
        return cls.from_arrays(P, y=y, X=X_arr if X_arr.ndim >= 2 else None,
                               members=[n for n, _ in named], classes=classes, task=task,
                               costs=costs)

    @classmethod
    def from_frames(cls, frames: Mapping[str, Any], y: Any = None, X: Any = None, *,
                    task: str | None = None, costs: Any = None) -> PredictionTable:
        """One pandas DataFrame per member: rows are inputs (same index), columns are classes.

        For classification every frame must have the same columns in the same order (the class
        labels); for regression each frame has one column per output. ``costs`` as in
        `from_arrays`.
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
        return cls.from_arrays(P, y=y, X=X, members=names, classes=classes, task=task,
                               costs=costs)

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
        costs = self.costs
        if costs is not None and costs.ndim == 2:
            costs = costs[rows]
        return PredictionTable(
            self.P[rows],
            None if self.y is None else self.y[rows],
            None if self.X is None else self.X[rows],
            list(self.members), self.classes, self.task, costs=costs,
            answers=None if self.answers is None else self.answers[rows],
        )

    def select_members(self, members: Sequence[str] | Sequence[int]) -> PredictionTable:
        """A table with only some members (by name or position), in the given order."""
        idx = [self.members.index(m) if isinstance(m, str) else int(m) for m in members]
        costs = None if self.costs is None else self.costs[..., idx]
        return PredictionTable(self.P[:, idx], self.y, self.X,
                               [self.members[i] for i in idx], self.classes, self.task,
                               costs=costs,
                               answers=None if self.answers is None else self.answers[:, idx])

    def cost_matrix(self) -> np.ndarray:
        """``[N, M]`` float64: the cost of running each member on each input (1 by default).

        Examples
        --------
        >>> import numpy as np
        >>> from ensel import PredictionTable
        >>> table = PredictionTable.from_arrays(np.full((2, 2, 2), 0.5), costs=[1.0, 4.0])
        >>> table.cost_matrix().tolist()
        [[1.0, 4.0], [1.0, 4.0]]
        >>> table[[1]].select_members(["m1"]).cost_matrix().tolist()
        [[4.0]]
        """
        if self.costs is None:
            return np.ones((self.n_samples, self.n_members))
        return np.broadcast_to(np.asarray(self.costs, dtype=np.float64),
                               (self.n_samples, self.n_members)).copy()

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the table as a folder of ``.npy`` files and a JSON header; no pickle.

        The folder holds ``table.json`` (format, version, task, members, classes, shape) and
        ``P.npy``, plus ``y.npy``, ``X.npy``, ``costs.npy`` and ``answers.npy`` when
        present. It is written crash-consistently
        (``ensel._io.atomic_directory``): a save interrupted at any point leaves the previous
        table at ``path`` whole, or the new one.

        Parameters
        ----------
        path : str or Path
            A new or empty folder, or one holding a saved table (which is replaced; other
            files in the folder are kept). A non-empty folder without ``table.json`` is
            refused, not overwritten.

        Returns
        -------
        Path
            ``path``.

        Examples
        --------
        >>> import tempfile
        >>> import numpy as np
        >>> from ensel import PredictionTable
        >>> table = PredictionTable.from_arrays(np.full((2, 1, 2), 0.5), y=[0, 1])
        >>> folder = table.save(tempfile.mkdtemp() + "/t")
        >>> PredictionTable.load(folder).y.tolist()
        [0, 1]
        """
        with _io.atomic_directory(path, marker=HEADER, owned=TABLE_FILES) as tmp:
            for name in ("P", "y", "X", "costs", "answers"):
                value = getattr(self, name)
                if value is not None:
                    _io.write_npy(tmp / f"{name}.npy", value)
            write_header(tmp, task=self.task, members=self.members, classes=self.classes,
                         shape=self.P.shape, costs=V.cost_kind(self.costs))
        return Path(path)

    @classmethod
    def load(cls, path: str | Path, mmap: bool = True) -> PredictionTable:
        """Open a table written by `save` (or `ensel.scale.collect_predictions`).

        Every part is checked as `from_arrays` checks it -- shapes, finite values,
        probabilities summing to 1, labels within the classes -- in chunks of rows, so a table
        larger than memory is checked without being read into memory at once.

        Parameters
        ----------
        path : str or Path
            The folder.
        mmap : bool, default=True
            Memory-map the arrays read-only instead of reading them.

        Raises
        ------
        FileNotFoundError
            No ``table.json`` or ``P.npy`` in ``path``.
        ValueError
            A header of another format or version, unknown keys, a truncated array, or
            contents the constructor would refuse; the message starts with the file at fault.
        """
        path = Path(path)
        if not (path / HEADER).is_file():
            raise FileNotFoundError(f"{path} is not a saved PredictionTable: no {HEADER} in it.")
        header = _read_header(path / HEADER)
        arrays = {}
        for name in ("P", "y", "X", "costs", "answers"):
            file = path / f"{name}.npy"
            if file.exists() or name == "P":
                arrays[name] = _io.read_npy(file, mmap=mmap)
        P, y, X = arrays["P"], arrays.get("y"), arrays.get("X")
        if list(P.shape) != header["shape"]:
            raise ValueError(
                f"{path / 'P.npy'} has shape {P.shape}; the header says {header['shape']}."
            )
        members, classes = _check_loaded(path, header, P, y, X)
        costs = _check_loaded_costs(path, header, arrays.get("costs"), P, members)
        answers = arrays.get("answers")
        if answers is not None:
            try:
                if header["task"] != "outcome":
                    raise ValueError("only an outcome table has answers.")
                V.check_answer_groups(answers, P.shape[0], P.shape[1])
            except ValueError as exc:
                raise ValueError(f"{path / 'answers.npy'}: {exc}") from exc
        return cls(P, y, X, members, classes, header["task"], costs=costs, answers=answers)

    # ------------------------------------------------------------------ helpers
    def correct(self) -> np.ndarray:
        """``[N, M]`` bool: whether each member's most probable class is the label."""
        V.check_labelled(self, "PredictionTable.correct")
        if self.task != "classification":
            raise ValueError("correct() is defined for classification tables only.")
        return np.argmax(self.P, axis=2) == np.asarray(self.y)[:, None]


def _is_estimator(member: Any) -> bool:
    """A scikit-learn-like estimator (not a torch module nor a plain callable)."""
    return hasattr(member, "predict") or hasattr(member, "predict_proba")


def _pool_task(named: list[tuple[str, Any]]) -> str:
    """Classification when every member has ``predict_proba``, regression when none is a
    classifier; a mix is an error naming a member of each kind."""
    from sklearn.base import is_classifier

    named = [(n, e) for n, e in named if _is_estimator(e)]
    proba = [n for n, e in named if hasattr(e, "predict_proba")]
    if proba and len(proba) == len(named):
        return "classification"
    for name, est in named:
        if is_classifier(est) and name not in proba:
            raise ValueError(
                f"member {name!r} is a classifier without predict_proba; ensel combines class "
                f"probabilities (e.g. SVC(probability=True), or wrap it in "
                f"CalibratedClassifierCV)."
            )
    if proba:
        other = next(n for n, _ in named if n not in proba)
        raise ValueError(
            f"The pool mixes classifiers and regressors: member {proba[0]!r} has predict_proba, "
            f"member {other!r} does not. Pass task='regression' to use every member's predict."
        )
    return "regression"


# ---------------------------------------------------------------------- the table format
def write_header(folder: str | Path, *, task: str, members: Sequence[str], classes: Any,
                 shape: Sequence[int], costs: str | None = None) -> Path:
    """Write ``table.json``, the header of a saved table: the one writer of the table format.

    `PredictionTable.save` and `ensel.scale.collect_predictions` (which fills ``P.npy``
    through a memory map) both call it, inside their `ensel._io.atomic_directory`.

    Parameters
    ----------
    folder : str or Path
        The (temporary) table folder.
    task : {"classification", "regression"}
    members : list of str
    classes : array-like of shape (C,) or None
    shape : sequence of int
        The shape of ``P``.
    costs : {"member", "input"} or None, default=None
        Whether ``costs.npy`` holds costs ``[M]`` or ``[N, M]``; None: no costs (unit).

    Returns
    -------
    Path
        The header file.
    """
    header = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "task": task,
        "members": [str(m) for m in members],
        "classes": None if classes is None else np.asarray(classes).tolist(),
        "shape": [int(n) for n in shape],
    }
    if costs is not None:
        header["costs"] = costs
    return _io.write_json(Path(folder) / HEADER, header)


def _read_header(file: Path) -> dict[str, Any]:
    keys = ("task", "members", "classes", "shape")
    header = _io.read_json(file, format=FORMAT, versions=(FORMAT_VERSION,),
                           keys=(*keys, "costs"), required=keys)
    if header.setdefault("costs", None) not in (None, *V.COST_KINDS):
        raise ValueError(f"{file}: 'costs' must be one of {V.COST_KINDS} or null; got "
                         f"{header['costs']!r}.")
    if header["task"] not in V.TASKS:
        raise ValueError(f"{file}: 'task' must be one of {V.TASKS}; got {header['task']!r}.")
    members, shape = header["members"], header["shape"]
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        raise ValueError(f"{file}: 'members' must be a list of names; got {members!r}.")
    if not isinstance(shape, list) or not all(
            isinstance(n, int) and not isinstance(n, bool) for n in shape):
        raise ValueError(f"{file}: 'shape' must be a list of ints; got {shape!r}.")
    if header["classes"] is not None and not isinstance(header["classes"], list):
        raise ValueError(f"{file}: 'classes' must be a list or null; got {header['classes']!r}.")
    return header


def _row_chunks(a: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """``(start, a[start:stop])`` blocks of about `CHECK_CHUNK_BYTES` each."""
    row_bytes = max(1, a.itemsize * int(np.prod(a.shape[1:], dtype=np.int64)))
    step = max(1, CHECK_CHUNK_BYTES // row_bytes)
    for start in range(0, a.shape[0], step):
        yield start, np.asarray(a[start:start + step])


def _check_loaded(path: Path, header: dict[str, Any], P: np.ndarray, y: np.ndarray | None,
                  X: np.ndarray | None) -> tuple[list[str], np.ndarray | None]:
    """The checks of `PredictionTable.from_arrays`, on saved arrays; errors name the file."""
    where = path / "P.npy"
    try:
        V.check_P(P[:1])
        if not np.issubdtype(P.dtype, np.floating):
            raise ValueError(f"P must hold floats; got dtype {P.dtype}.")
        where = path / HEADER
        task = header["task"]
        V.check_task(task, P[:1], None)
        members = V.check_member_names(header["members"], P.shape[1])
        classes = None
        if task == "classification":
            classes = V.check_classes(header["classes"], P.shape[2])
        elif header["classes"] is not None:
            raise ValueError("'classes' is only meaningful for classification tables.")
        where = path / "P.npy"
        for start, block in _row_chunks(P):
            if task == "outcome":
                V.check_outcomes(block, members, row_offset=start)
                continue
            V.check_finite(block, "P", members, row_offset=start)
            if task == "classification":
                V.check_probabilities(block, members, row_offset=start)
        if y is not None and task == "outcome":
            raise ValueError("an outcome table has no y, but there is a y.npy.")
        if y is not None:
            where = path / "y.npy"
            _check_loaded_y(y, P, task)
        if X is not None:
            where = path / "X.npy"
            V.check_inputs_rows(X, P.shape[0])
            if not np.issubdtype(X.dtype, np.number):
                raise ValueError(f"X must be numeric; got dtype {X.dtype}.")
            for start, block in _row_chunks(X):
                V.check_finite(block, "X", row_offset=start)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc
    return members, classes


def _check_loaded_costs(path: Path, header: dict[str, Any], costs: np.ndarray | None,
                        P: np.ndarray, members: list[str]) -> np.ndarray | None:
    """``costs.npy`` checked as `from_arrays` checks ``costs``, and against the header."""
    kind = header["costs"]
    if kind is None:
        if costs is not None:
            raise ValueError(f"{path / HEADER}: there is a costs.npy but the header has no "
                             f"'costs' entry.")
        return None
    file = path / "costs.npy"
    if costs is None:
        raise ValueError(f"{path / HEADER}: the header says costs per {kind} but there is no "
                         f"{file.name}.")
    want = 1 if kind == "member" else 2
    if costs.ndim != want:
        raise ValueError(f"{file}: costs per {kind} need a {want}-D array; got shape "
                         f"{costs.shape}.")
    try:
        V.check_costs(np.asarray(costs), P.shape[0], members)
    except ValueError as exc:
        raise ValueError(f"{file}: {exc}") from exc
    return costs


def _check_loaded_y(y: np.ndarray, P: np.ndarray, task: str) -> None:
    if task == "classification":
        V.check_rows(y, P.shape[0], "y", 1)
        if not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"y must hold class indices (ints); got dtype {y.dtype}.")
        for start, block in _row_chunks(y):
            bad = (block < 0) | (block >= P.shape[2])
            if bad.any():
                row = int(np.argmax(bad))
                raise ValueError(
                    f"y has the class index {int(block[row])} in row {start + row}; the table "
                    f"has {P.shape[2]} classes (indices 0..{P.shape[2] - 1})."
                )
        return
    V.check_rows(y, P.shape[0], "y", 1 if P.ndim == 2 else 2)
    if not np.issubdtype(y.dtype, np.number):
        raise ValueError(f"Regression targets y must be numeric; got dtype {y.dtype}.")
    if P.ndim == 3 and y.shape[1] != P.shape[2]:
        raise ValueError(f"y has {y.shape[1]} outputs but P has {P.shape[2]} (axis 2).")
    for start, block in _row_chunks(y):
        V.check_finite(block, "y", row_offset=start)
