"""The learned SQL candidate selector: features of executed candidates -> listwise scorer."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ensel.generators.selector import ListwiseSelector
from ensel.generators.sql.data import ExecutedQuestion
from ensel.generators.sql.features import UNPENALIZED, feature_names, group_features

__all__ = ["SQLSelector", "database_folds", "system_accuracies"]


def system_accuracies(executed: Sequence[ExecutedQuestion]) -> dict[str, float]:
    """Execution accuracy of every system on ``executed`` (which must have gold results).

    A system that is absent from a question counts as wrong there.
    """
    _check_gold(executed, "system_accuracies")
    systems = executed[0].systems
    correct = np.array([eq.correct & eq.present for eq in executed])
    return {s: float(correct[:, j].mean()) for j, s in enumerate(systems)}


def _check_gold(executed: Sequence[ExecutedQuestion], where: str) -> None:
    if not executed:
        raise ValueError(f"{where} needs at least one executed question.")
    for eq in executed:
        if eq.correct is None:
            raise ValueError(f"{where}: question {eq.question.id!r} has no gold SQL; training and "
                             f"accuracy need it.")


def database_folds(db_ids: Sequence[str], n_splits: int) -> list[np.ndarray]:
    """Split questions into ``n_splits`` held-out masks by database, balanced by size.

    Databases are assigned largest first to the currently smallest fold (deterministic);
    with fewer databases than ``n_splits``, one fold per database.

    Returns
    -------
    list of ndarray of shape (Q,), bool
        Held-out mask of each fold.
    """
    ids = np.asarray(db_ids)
    names, counts = np.unique(ids, return_counts=True)
    if len(names) < 2:
        raise ValueError(f"Cross-validation by database needs at least 2 databases, got "
                         f"{names.tolist()}.")
    n = min(n_splits, len(names))
    folds: list[list[str]] = [[] for _ in range(n)]
    sizes = [0] * n
    for i in sorted(range(len(names)), key=lambda i: (-counts[i], names[i])):
        f = sizes.index(min(sizes))
        folds[f].append(str(names[i]))
        sizes[f] += int(counts[i])
    return [np.isin(ids, f) for f in folds]


class SQLSelector:
    """Pick one SQL candidate per question with a learned scorer (XiYan-SQL-style selection).

    Candidates that execute to the same result are equivalent, so the selector scores a
    question's result groups, each described by
    :func:`~ensel.generators.sql.features.group_features` (the vote, which systems proposed
    it and their training accuracy, the result's shape, duplicates and NULLs, SQL structure,
    question/SQL overlap), with a :class:`~ensel.generators.selector.ListwiseSelector`
    trained by a k = 1 listwise loss over the groups. The vote share and the consensus tie
    order are not penalised, so a strong penalty gives back consensus and a weaker one lets
    the other features in; the penalty is chosen by cross-validation across the training
    databases. Train on some databases, apply to others.

    Parameters
    ----------
    hidden : sequence of int, default=()
        Hidden layers of the scorer; ``()`` is a linear scorer (the default: a few hundred
        training questions do not support more, see ``docs/sql.md``).
    method : {"softmax", "sparse", "entropic", "perturbed", "straight_through"}, \
default="softmax"
        Relaxed 1-of-K selection used in training (see :class:`ListwiseSelector`).
    method_params : dict, optional
    alphas : sequence of float, default=(0.1, 0.3, 1.0, 3.0, 10.0)
        L2 penalties tried; the one with the best cross-validated score is refitted on all
        training questions (ties: the larger penalty).
    cv : int, default=5
        Folds by database for choosing ``alpha`` (fewer when there are fewer databases). With
        one value in ``alphas`` no cross-validation runs.
    scoring : {"accuracy", "loss"}, default="accuracy"
        Cross-validation criterion: selection error, or the listwise log-loss.
    solver : {"lbfgs", "adam"}, default="lbfgs"
    max_iter : int, default=100
    random_state : int, default=0

    Attributes
    ----------
    systems_ : list of str
        Candidate systems, in the order the features assume.
    system_accuracy_ : dict of str to float
        Each system's accuracy on the training questions (a feature at inference).
    feature_names_ : list of str
    alpha_ : float
        The chosen penalty.
    cv_results_ : dict of float to float
        Cross-validated error (``1 - accuracy``) or loss of every ``alpha``.
    scorer_ : ListwiseSelector

    Examples
    --------
    >>> from ensel.generators.sql import (SQLiteDatabases, execute_questions,
    ...                                   load_questions)        # doctest: +SKIP
    >>> qs = load_questions("questions.jsonl")                    # doctest: +SKIP
    >>> ex = execute_questions(qs, SQLiteDatabases("database"))   # doctest: +SKIP
    >>> train = [e for e in ex if e.question.db_id != "world_1"]  # doctest: +SKIP
    >>> sel = SQLSelector().fit(train)                            # doctest: +SKIP
    >>> picks = sel.select([e for e in ex if e.question.db_id == "world_1"])  # doctest: +SKIP
    """

    def __init__(self, hidden: Sequence[int] = (), *, method: str = "softmax",
                 method_params: dict[str, Any] | None = None,
                 alphas: Sequence[float] = (0.1, 0.3, 1.0, 3.0, 10.0), cv: int = 5,
                 scoring: str = "accuracy", solver: str = "lbfgs", max_iter: int = 100,
                 random_state: int = 0) -> None:
        self.hidden = hidden
        self.method = method
        self.method_params = method_params
        self.alphas = alphas
        self.cv = cv
        self.scoring = scoring
        self.solver = solver
        self.max_iter = max_iter
        self.random_state = random_state

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters (JSON-serialisable)."""
        return {"hidden": list(self.hidden), "method": self.method,
                "method_params": dict(self.method_params or {}),
                "alphas": [float(a) for a in self.alphas], "cv": self.cv, "scoring": self.scoring,
                "solver": self.solver, "max_iter": self.max_iter,
                "random_state": self.random_state}

    def _scorer(self, alpha: float) -> ListwiseSelector:
        return ListwiseSelector(self.hidden, method=self.method, method_params=self.method_params,
                                alpha=alpha, solver=self.solver, max_iter=self.max_iter,
                                random_state=self.random_state)

    def _features(self, executed: Sequence[ExecutedQuestion],
                  accuracy: Sequence[dict[str, float]] | dict[str, float]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Group features ``X[Q, G, F]``, group mask ``[Q, G]`` and group correctness."""
        accs = [accuracy] * len(executed) if isinstance(accuracy, dict) else accuracy
        n_groups = max(max(eq.groups.n_groups for eq in executed), 1)
        n_feat = len(feature_names(executed[0].systems))
        X = np.zeros((len(executed), n_groups, n_feat), dtype=np.float32)
        mask = np.zeros((len(executed), n_groups), dtype=bool)
        correct = np.zeros((len(executed), n_groups), dtype=bool)
        for q, (eq, acc) in enumerate(zip(executed, accs)):
            g = eq.groups.n_groups
            if g == 0:          # every candidate failed: one dummy unit, never right
                mask[q, 0] = True
                continue
            X[q, :g] = group_features(eq, acc)
            mask[q, :g] = True
            if eq.correct is not None:
                correct[q, :g] = [bool(eq.correct[m[0]]) for m in eq.groups.members]
        return X, mask, correct

    def _check_systems(self, executed: Sequence[ExecutedQuestion]) -> None:
        for eq in executed:
            if list(eq.systems) != self.systems_:
                raise ValueError(
                    f"question {eq.question.id!r} was executed with systems {list(eq.systems)} "
                    f"but the selector was trained on {self.systems_}; pass "
                    f"systems=selector.systems_ to execute_questions.")

    def fit(self, executed: Sequence[ExecutedQuestion]) -> SQLSelector:
        """Train on executed questions that have gold SQL.

        The system-accuracy feature of a training question is computed without that
        question's database (leave one database out), as it will be on unseen databases.

        Parameters
        ----------
        executed : sequence of ExecutedQuestion
            All with the same ``systems``; from at least 2 databases when more than one
            ``alphas`` value is to be compared.

        Returns
        -------
        self
        """
        _check_gold(executed, "SQLSelector.fit")
        alphas = [float(a) for a in self.alphas]
        if not alphas or any(a < 0 for a in alphas):
            raise ValueError(f"The 'alphas' parameter of SQLSelector must be a non-empty "
                             f"sequence of floats >= 0. Got {self.alphas!r} instead.")
        executed = list(executed)
        self.systems_ = list(executed[0].systems)
        self._check_systems(executed)
        self.system_accuracy_ = system_accuracies(executed)
        self.feature_names_ = feature_names(self.systems_)
        db_ids = np.array([eq.question.db_id for eq in executed])
        loo: dict[str, dict[str, float]] = {}
        for db in sorted(set(db_ids.tolist())):
            others = [eq for eq, d in zip(executed, db_ids) if d != db]
            loo[db] = system_accuracies(others) if others else self.system_accuracy_
        X, mask, correct = self._features(executed, [loo[d] for d in db_ids])
        penalty = np.array([0.0 if n in UNPENALIZED else 1.0 for n in self.feature_names_])
        if self.scoring not in ("accuracy", "loss"):
            raise ValueError(f"The 'scoring' parameter of SQLSelector must be 'accuracy' or "
                             f"'loss'. Got {self.scoring!r} instead.")
        self.cv_results_: dict[float, float] = {}
        if len(alphas) > 1:
            folds = [h for h in database_folds(db_ids, self.cv) if correct[~h].any()]
            for a in alphas:
                errors, weights = [], []
                for held in folds:
                    s = self._scorer(a).fit(X[~held], mask[~held], correct[~held],
                                            penalty=penalty)
                    if self.scoring == "loss":
                        n_ok = int(correct[held].any(axis=1).sum())
                        if n_ok:
                            errors.append(s.loss(X[held], mask[held], correct[held]))
                            weights.append(n_ok)
                    else:
                        pick = s.predict(X[held], mask[held])
                        errors.append(1.0 - correct[held][np.arange(len(pick)), pick].mean())
                        weights.append(int(held.sum()))
                self.cv_results_[a] = float(np.average(errors, weights=weights))
            best = min(self.cv_results_.values())
            self.alpha_ = max(a for a, v in self.cv_results_.items() if v <= best + 1e-9)
        else:
            self.alpha_ = alphas[0]
        self.scorer_ = self._scorer(self.alpha_).fit(X, mask, correct, penalty=penalty)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "scorer_"):
            raise RuntimeError("This SQLSelector is not fitted yet: call fit() or load() first.")

    def decision_function(self, executed: Sequence[ExecutedQuestion]) -> np.ndarray:
        """Candidate scores, shape ``(Q, K)``: each candidate gets its result group's score.

        Higher is better; ``-inf`` for failed or absent candidates (they cannot be right).
        """
        self._check_fitted()
        executed = list(executed)
        if not executed:
            return np.zeros((0, len(self.systems_)), dtype=np.float32)
        self._check_systems(executed)
        X, mask, _ = self._features(executed, self.system_accuracy_)
        group_scores = self.scorer_.decision_function(X, mask)
        out = np.full((len(executed), len(self.systems_)), -np.inf, dtype=np.float32)
        for q, eq in enumerate(executed):
            for g, members in enumerate(eq.groups.members):
                out[q, members] = group_scores[q, g]
        return out

    def select(self, executed: Sequence[ExecutedQuestion]) -> np.ndarray:
        """Index (into ``systems_``) of the chosen candidate per question, shape ``(Q,)``.

        The first candidate of the best-scored result group; among equal scores, the
        earliest candidate wins (as in consensus). Candidate 0 when every candidate failed.
        """
        scores = self.decision_function(executed)
        return np.argmax(np.where(np.isfinite(scores), scores, -np.finfo(np.float32).max),
                         axis=1)

    def save(self, path: str | Path) -> Path:
        """Save to the folder ``path``: ``config.json`` + ``model.safetensors`` (no pickle)."""
        self._check_fitted()
        meta = {"kind": "SQLSelector", "systems": self.systems_,
                "system_accuracy": self.system_accuracy_, "feature_names": self.feature_names_,
                "alpha": self.alpha_, "params": self.get_params()}
        return self.scorer_.save(path, metadata=meta)

    @classmethod
    def load(cls, path: str | Path) -> SQLSelector:
        """Read a selector written by :meth:`save`."""
        scorer = ListwiseSelector.load(path)
        meta = scorer.metadata_
        if meta.get("kind") != "SQLSelector":
            raise ValueError(f"{str(path)!r} holds a ListwiseSelector, not a SQLSelector "
                             f"(metadata kind {meta.get('kind')!r}).")
        params = dict(meta["params"])
        self = cls(tuple(params.pop("hidden")), **params)
        self.systems_ = list(meta["systems"])
        self.system_accuracy_ = {k: float(v) for k, v in meta["system_accuracy"].items()}
        self.feature_names_ = list(meta["feature_names"])
        if self.feature_names_ != feature_names(self.systems_):
            raise ValueError(f"{str(path)!r} was saved with a different feature set than this "
                             f"version of ensel computes; retrain it.")
        self.alpha_ = float(meta["alpha"])
        self.scorer_ = scorer
        return self
