"""Dynamic selection: OLA, LCA, KNORA-E, KNORA-U and META-DES on prediction tables.

The region of competence of a test row is its ``n_neighbors`` nearest rows of the selection
table, by Euclidean distance on ``X`` (scikit-learn's ``NearestNeighbors``, ``algorithm="auto"``,
as DESlib uses). Every method is vectorised over all test rows at once and follows DESlib 0.3.7's
defaults (no dynamic frienemy pruning, no instance-hardness switch, ``k=7``): its predictions
agree with DESlib's on the same pool and neighbours. Like DESlib, `predict` searches neighbours
only for the rows where the members disagree (elsewhere every selection gives the common
label); `select` always covers every row. One deliberate difference: where DESlib's
KNORA-U gives every member zero weight (no member right on any neighbour) it returns NaN
probabilities and predicts the first class; here every member then votes with weight one.

Examples
--------
>>> import numpy as np
>>> from ensel import PredictionTable
>>> from ensel.combine import KNORAE
>>> rng = np.random.default_rng(0)
>>> P = rng.dirichlet(np.ones(3), size=(40, 4))
>>> X = rng.normal(size=(40, 2))
>>> y = rng.integers(0, 3, size=40)
>>> table = PredictionTable.from_arrays(P, y=y, X=X)
>>> knora = KNORAE(n_neighbors=5).fit(table[:30])
>>> knora.select(table[30:]).shape
(10, 4)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ensel import _validation as V
from ensel.combine import competence as comp
from ensel.combine import rules
from ensel.combine.base import Combiner
from ensel.table import PredictionTable

RULES = ("vote", "average")


class DynamicCombiner(Combiner):
    """Base of the dynamic-selection combiners: neighbours on ``X`` and a combination rule.

    Subclasses implement ``_selection(table, region) -> [N, M]`` (mask or weights).
    The rule ``"vote"`` is DESlib's ``voting="hard"`` (its default): the selected members vote
    with their most probable class, weighted by the selection; ``"average"`` is the
    (weighted) mean of their probabilities (DESlib's ``voting="soft"``).
    """

    _needs_inputs = True
    _rule = "average"            # fixed rule of the classes without a 'rule' parameter

    def _check_params(self, table: PredictionTable) -> None:
        name = type(self).__name__
        V.check_int_param(self.n_neighbors, "n_neighbors", name, low=1,
                          high=table.n_samples - self._extra_rows)
        if "rule" in self.get_params():
            V.check_choice(self.rule, "rule", name, RULES)

    _extra_rows = 0              # METADES needs one more row than neighbours (itself)

    def _fit(self, table: PredictionTable) -> None:
        from sklearn.neighbors import NearestNeighbors

        self.correct_ = table.correct()
        self.y_sel_ = np.asarray(table.y)
        self.neighbors_ = NearestNeighbors(n_neighbors=self.n_neighbors).fit(table.X)

    def regions(self, table: PredictionTable) -> np.ndarray:
        """Indices of the ``n_neighbors`` nearest selection rows of every row, ``[N, K]``.

        Nearest first; indices point into the table given to `fit`.
        """
        table = self._check_predict_table(table, "regions")
        return self.neighbors_.kneighbors(table.X, return_distance=False)

    def predict(self, table: PredictionTable) -> np.ndarray:
        """Class labels; rows where every member predicts the same class skip the search.

        Whatever the selection, the selected members then agree, so the label is that class;
        only the other rows are searched (DESlib does the same). Equal to
        ``classes_[argmax(predict_proba(table))]``.

        Parameters
        ----------
        table : PredictionTable

        Returns
        -------
        y_pred : ndarray of shape (N,)
        """
        table = self._check_predict_table(table, "predict")
        top = np.argmax(table.P, axis=2)
        out = top[:, 0].copy()
        rest = np.flatnonzero((top != top[:, :1]).any(axis=1))
        if rest.size:
            sub = table[rest]
            out[rest] = np.argmax(self._combine(sub, self._select(sub)), axis=1)
        return self.classes_[out]

    def predict_proba(self, table: PredictionTable) -> np.ndarray:
        """Probabilities of the combined prediction, ``[N, C]``.

        With ``rule="vote"``, rows where every member predicts the same class are one-hot
        without a neighbour search (every selection gives that).
        """
        if getattr(self, "rule", self._rule) != "vote":
            return super().predict_proba(table)
        table = self._check_predict_table(table, "predict_proba")
        top = np.argmax(table.P, axis=2)
        proba = np.zeros((table.n_samples, table.n_classes))
        proba[np.arange(table.n_samples), top[:, 0]] = 1.0
        rest = np.flatnonzero((top != top[:, :1]).any(axis=1))
        if rest.size:
            sub = table[rest]
            proba[rest] = self._combine(sub, self._select(sub))
        return proba

    def _select(self, table: PredictionTable) -> np.ndarray:
        region = self.neighbors_.kneighbors(table.X, return_distance=False)
        return self._selection(table, region).astype(np.float64)

    def _selection(self, table: PredictionTable, region: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _combine(self, table: PredictionTable, selection: np.ndarray) -> np.ndarray:
        rule = getattr(self, "rule", self._rule)
        if rule == "vote":
            return rules.vote(table.P, selection)
        return rules.average(table.P, selection)


class OLA(DynamicCombiner):
    """Overall Local Accuracy (Woods et al., 1997): the member most accurate on the region.

    Dynamic classifier selection: for each input, the one member with the highest accuracy on
    the ``n_neighbors`` nearest selection rows; ties go to the member listed first (DESlib's
    ``selection_method="best"``). Its probabilities are the prediction.

    Parameters
    ----------
    n_neighbors : int, default=7
        Size of the region of competence.

    Examples
    --------
    >>> import numpy as np
    >>> from ensel import PredictionTable
    >>> from ensel.combine import OLA
    >>> rng = np.random.default_rng(0)
    >>> table = PredictionTable.from_arrays(rng.dirichlet(np.ones(3), size=(40, 4)),
    ...                                     y=rng.integers(0, 3, 40), X=rng.normal(size=(40, 2)))
    >>> OLA().fit(table).select(table[:2]).sum(axis=1).tolist()
    [1.0, 1.0]
    """

    _selection_from_inputs = True

    def __init__(self, n_neighbors: int = 7) -> None:
        self.n_neighbors = n_neighbors

    def _selection(self, table: PredictionTable, region: np.ndarray) -> np.ndarray:
        return comp.best_mask(comp.local_accuracy(region, self.correct_))


class LCA(DynamicCombiner):
    """Local Class Accuracy (Woods et al., 1997): the member most accurate on its own class.

    For each input and member, the member's accuracy on those neighbours whose label is the
    class the member predicts for the input (0 if there are none); the best member is selected,
    ties to the member listed first, as in DESlib.

    Parameters
    ----------
    n_neighbors : int, default=7

    Examples
    --------
    >>> import numpy as np
    >>> from ensel import PredictionTable
    >>> from ensel.combine import LCA
    >>> rng = np.random.default_rng(0)
    >>> table = PredictionTable.from_arrays(rng.dirichlet(np.ones(3), size=(40, 4)),
    ...                                     y=rng.integers(0, 3, 40), X=rng.normal(size=(40, 2)))
    >>> LCA().fit(table).predict(table[:3]).shape
    (3,)
    """

    def __init__(self, n_neighbors: int = 7) -> None:
        self.n_neighbors = n_neighbors

    def _selection(self, table: PredictionTable, region: np.ndarray) -> np.ndarray:
        predicted = np.argmax(table.P, axis=2)
        return comp.best_mask(
            comp.class_local_accuracy(region, self.correct_, self.y_sel_, predicted))


class KNORAE(DynamicCombiner):
    """k-Nearest Oracles Eliminate (Ko et al., 2008): the oracles of the largest clean region.

    The members right on all ``n_neighbors`` nearest selection rows are selected; if there are
    none, the farthest neighbour is dropped and the test repeated. When no member is right even
    on the nearest neighbour, all members are selected (as DESlib does).

    Parameters
    ----------
    n_neighbors : int, default=7
    rule : {"vote", "average"}, default="vote"
        How the selected members are combined: plurality vote (DESlib's default,
        ``voting="hard"``) or mean probabilities (``voting="soft"``).

    Examples
    --------
    >>> import numpy as np
    >>> from ensel import PredictionTable
    >>> from ensel.combine import KNORAE
    >>> rng = np.random.default_rng(0)
    >>> table = PredictionTable.from_arrays(rng.dirichlet(np.ones(3), size=(40, 4)),
    ...                                     y=rng.integers(0, 3, 40), X=rng.normal(size=(40, 2)))
    >>> mask = KNORAE().fit(table).select(table)
    >>> bool(mask.any(axis=1).all())
    True
    """

    _selection_from_inputs = True

    def __init__(self, n_neighbors: int = 7, *, rule: str = "vote") -> None:
        self.n_neighbors = n_neighbors
        self.rule = rule

    def _selection(self, table: PredictionTable, region: np.ndarray) -> np.ndarray:
        return comp.knora_e_mask(region, self.correct_)


class KNORAU(DynamicCombiner):
    """k-Nearest Oracles Union (Ko et al., 2008): one vote per correctly classified neighbour.

    Each member's weight for an input is the number of its ``n_neighbors`` nearest selection
    rows it gets right (`select` returns these counts). A row where every count is zero gives
    every member weight one.

    Parameters
    ----------
    n_neighbors : int, default=7
    rule : {"vote", "average"}, default="vote"
        Weighted vote of the members' classes (DESlib's default) or weighted mean of their
        probabilities (same predictions as DESlib's ``voting="soft"``, whose probabilities are
        a softmax of the weighted mean instead).

    Examples
    --------
    >>> import numpy as np
    >>> from ensel import PredictionTable
    >>> from ensel.combine import KNORAU
    >>> rng = np.random.default_rng(0)
    >>> table = PredictionTable.from_arrays(rng.dirichlet(np.ones(3), size=(40, 4)),
    ...                                     y=rng.integers(0, 3, 40), X=rng.normal(size=(40, 2)))
    >>> weights = KNORAU(n_neighbors=5).fit(table).select(table)
    >>> float(weights.max()) <= 5
    True
    """

    _selection_from_inputs = True

    def __init__(self, n_neighbors: int = 7, *, rule: str = "vote") -> None:
        self.n_neighbors = n_neighbors
        self.rule = rule

    def _selection(self, table: PredictionTable, region: np.ndarray) -> np.ndarray:
        return comp.positive_or_all(comp.local_correct_counts(region, self.correct_))


class METADES(DynamicCombiner):
    """META-DES (Cruz et al., 2015): a meta-classifier decides which members are competent.

    For every (input, member) pair, five groups of meta-features (``competence.meta_features``)
    describe the member's behaviour near the input: its hits on the ``n_neighbors`` nearest
    selection rows, its probability of their true classes, its local accuracy, its hits on the
    ``n_profile_neighbors`` rows whose output profiles (all members' probabilities) are nearest,
    and its confidence on the input. The meta-classifier, trained on the selection rows (each
    row's neighbours exclude itself), predicts the probability that the member is right;
    members above ``selection_threshold`` are selected, all members if none is. Defaults are
    DESlib's: a multinomial naive Bayes on the features cut into 10 bins.

    Parameters
    ----------
    n_neighbors : int, default=7
        ``k`` in DESlib.
    n_profile_neighbors : int, default=5
        ``Kp`` in DESlib.
    consensus_threshold : float in [0.5, 1], default=1.0
        ``Hc`` in DESlib: meta-training uses the selection rows on which the members' agreement
        (share right) is below it or above ``1 - consensus_threshold``; 1.0 keeps every row.
    selection_threshold : float in [0, 1), default=0.5
    meta_classifier : classifier with predict_proba, optional
        Cloned and fitted on the meta-features; ``None`` is a ``MultinomialNB`` on binned
        features (DESlib's default).
    rule : {"vote", "average"}, default="vote"

    Examples
    --------
    >>> import numpy as np
    >>> from ensel import PredictionTable
    >>> from ensel.combine import METADES
    >>> rng = np.random.default_rng(0)
    >>> table = PredictionTable.from_arrays(rng.dirichlet(np.ones(3), size=(60, 4)),
    ...                                     y=rng.integers(0, 3, 60), X=rng.normal(size=(60, 2)))
    >>> METADES().fit(table[:40]).predict_proba(table[40:]).shape
    (20, 3)
    """

    _extra_rows = 1

    def __init__(self, n_neighbors: int = 7, *, n_profile_neighbors: int = 5,
                 consensus_threshold: float = 1.0, selection_threshold: float = 0.5,
                 meta_classifier: Any = None, rule: str = "vote") -> None:
        self.n_neighbors = n_neighbors
        self.n_profile_neighbors = n_profile_neighbors
        self.consensus_threshold = consensus_threshold
        self.selection_threshold = selection_threshold
        self.meta_classifier = meta_classifier
        self.rule = rule

    def _check_params(self, table: PredictionTable) -> None:
        super()._check_params(table)
        name = type(self).__name__
        V.check_int_param(self.n_profile_neighbors, "n_profile_neighbors", name, low=1,
                          high=table.n_samples - 1)
        V.check_real_param(self.consensus_threshold, "consensus_threshold", name, low=0.5,
                           high=1.0)
        V.check_real_param(self.selection_threshold, "selection_threshold", name, low=0.0,
                           high=1.0, include_high=False)
        if self.meta_classifier is not None and not hasattr(self.meta_classifier,
                                                            "predict_proba"):
            raise ValueError(
                f"The 'meta_classifier' parameter of {name} must have predict_proba. Got "
                f"{type(self.meta_classifier).__name__} instead."
            )

    @staticmethod
    def _profiles(P: np.ndarray) -> np.ndarray:
        # two classes: one column per member (the other is its complement), as DESlib does
        return P[:, :, 0] if P.shape[2] == 2 else P.reshape(len(P), -1)

    def _meta_input(self, features: np.ndarray) -> np.ndarray:
        flat = features.reshape(-1, features.shape[-1])
        if self.meta_classifier is None:
            flat = np.digitize(flat, np.linspace(0.1, 1, 10))
        return flat

    def _fit(self, table: PredictionTable) -> None:
        from sklearn.base import clone
        from sklearn.naive_bayes import MultinomialNB
        from sklearn.neighbors import NearestNeighbors

        super()._fit(table)
        P = table.P
        self.true_class_proba_ = rules.proba_of_label(P, self.y_sel_)
        profiles = self._profiles(P)
        self.profile_neighbors_ = NearestNeighbors(
            n_neighbors=self.n_profile_neighbors).fit(profiles)
        agreement = self.correct_.mean(axis=1)
        hc = self.consensus_threshold
        rows = np.flatnonzero((hc > agreement) | (agreement > 1 - hc))
        # each row's own neighbours, without itself (the nearest)
        region = self.neighbors_.kneighbors(table.X[rows], n_neighbors=self.n_neighbors + 1,
                                            return_distance=False)[:, 1:]
        profile_region = self.profile_neighbors_.kneighbors(
            profiles[rows], n_neighbors=self.n_profile_neighbors + 1,
            return_distance=False)[:, 1:]
        features = comp.meta_features(region, profile_region, self.correct_,
                                      self.true_class_proba_, P[rows])
        target = self.correct_[rows].reshape(-1)
        meta = MultinomialNB() if self.meta_classifier is None else clone(self.meta_classifier)
        self.meta_classifier_ = meta.fit(self._meta_input(features), target)

    def competence(self, table: PredictionTable) -> np.ndarray:
        """The meta-classifier's probability that each member is right on each row, ``[N, M]``."""
        table = self._check_predict_table(table, "competence")
        region = self.neighbors_.kneighbors(table.X, return_distance=False)
        return self._competence(table, region)

    def _competence(self, table: PredictionTable, region: np.ndarray) -> np.ndarray:
        profile_region = self.profile_neighbors_.kneighbors(self._profiles(table.P),
                                                            return_distance=False)
        features = comp.meta_features(region, profile_region, self.correct_,
                                      self.true_class_proba_, table.P)
        classes = list(self.meta_classifier_.classes_)
        if True not in classes:           # every selection row wrong for every member
            return np.zeros(features.shape[:2])
        proba = self.meta_classifier_.predict_proba(self._meta_input(features))
        return proba[:, classes.index(True)].reshape(features.shape[:2])

    def _selection(self, table: PredictionTable, region: np.ndarray) -> np.ndarray:
        return comp.threshold_mask(self._competence(table, region), self.selection_threshold)
