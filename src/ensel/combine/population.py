"""Population-based ensemble selection: QO-ES and QDO-ES (Purucker et al., AutoML 2023).

GES (`GreedySelection`) grows one ensemble greedily. QO-ES and QDO-ES evolve a population of
ensembles instead, each an integer repetition vector over the members (GES's counts; weights
are the counts divided by their sum). The search starts from every member alone; each
generation proposes a batch of new ensembles — a two-point crossover of two parents (then, half
the time, a mutation) or a mutation of one parent, where a mutation adds one copy of a random
member — evaluates them on the selection table and updates the population:

- QO-ES keeps the ``population_size`` ensembles with the best loss;
- QDO-ES keeps an archive with one elite per cell of a grid over two descriptors, the ensemble
  size (members with non-zero weight) and the average loss correlation of its members. The
  cell edges are quantiles of every ensemble seen so far (the paper's sliding boundaries), so
  diverse ensembles stay in the population beside the best one.

Parents are the best ensemble of the population or, with probability one half, a random one.
An ensemble already seen (up to scaling of its counts) is never evaluated twice. The fitted
weights are those of the best ensemble seen. Members whose predictions on the selection table
repeat an earlier member's exactly are searched as one: the member listed first keeps the
weight and the copies get none.

The pure functions here (objective, descriptors, archives, proposals) take arrays and know
nothing of tables; the two classes wire them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np

from ensel import _validation as V
from ensel.combine import rules
from ensel.combine.static import _check_metric, _default_metric, _WeightedStatic
from ensel.table import PredictionTable

_EPS = 1e-15
_MAX_TRIES = 50          # proposals per wanted child before a generation gives up


# ---------------------------------------------------------------- pure functions
def distinct_members(P: np.ndarray) -> np.ndarray:
    """Positions of the members whose predictions differ from every earlier member's.

    Parameters
    ----------
    P : ndarray of shape (N, M, C), (N, M) or (N, M, D)

    Returns
    -------
    keep : ndarray of shape (K,), int
        Increasing positions; a member equal (exactly) to an earlier one is left out.

    Examples
    --------
    >>> import numpy as np
    >>> P = np.array([[[0.9, 0.1], [0.2, 0.8], [0.9, 0.1]]])
    >>> distinct_members(P).tolist()
    [0, 1]
    """
    seen: set[bytes] = set()
    keep = []
    for j in range(P.shape[1]):
        key = np.ascontiguousarray(P[:, j]).tobytes()
        if key not in seen:
            seen.add(key)
            keep.append(j)
    return np.asarray(keep, dtype=np.int64)


def ensemble_objective(P: np.ndarray, y: np.ndarray, metric: str
                       ) -> tuple[Callable[[np.ndarray], np.ndarray], np.ndarray]:
    """The loss of weighted averages of the members, and each member's loss on each row.

    Parameters
    ----------
    P : ndarray of shape (N, K, C) (classification) or (N, K) / (N, K, D) (regression)
    y : ndarray of shape (N,) (class indices or targets) or (N, D)
    metric : {"log_loss", "accuracy", "squared_error"}

    Returns
    -------
    losses : callable
        ``losses(W)`` for weights ``W[B, K]`` (rows summing to one) returns ``[B]``: the
        log-loss, the negated accuracy or the squared error of each weighted mean.
    row_losses : ndarray of shape (N, K)
        Every member's own loss on every row (for the loss-correlation descriptor).

    Examples
    --------
    >>> import numpy as np
    >>> P = np.array([[[0.8, 0.2], [0.4, 0.6]]])
    >>> losses, _ = ensemble_objective(P, np.array([0]), "log_loss")
    >>> losses(np.array([[0.5, 0.5]])).round(4).tolist()
    [0.5108]
    """
    P = np.asarray(P, dtype=np.float64)
    y = np.asarray(y)
    if metric == "log_loss":
        Q = rules.proba_of_label(P, y)                                       # [N, K]
        return (lambda W: -np.log(np.clip(Q @ W.T, _EPS, None)).mean(axis=0),
                -np.log(np.clip(Q, _EPS, None)))
    if metric == "accuracy":
        def accuracy_losses(W: np.ndarray) -> np.ndarray:
            combined = np.tensordot(W, P, axes=([1], [1]))                  # [B, N, C]
            return -(np.argmax(combined, axis=2) == y[None, :]).mean(axis=1)
        return accuracy_losses, (np.argmax(P, axis=2) != y[:, None]).astype(np.float64)
    P3 = P.reshape(len(P), P.shape[1], -1)
    Y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)

    def squared_losses(W: np.ndarray) -> np.ndarray:
        residual = np.tensordot(W, P3, axes=([1], [1])) - Y[None]           # [B, N, D]
        return (residual**2).sum(axis=2).mean(axis=1)
    return squared_losses, ((P3 - Y[:, None, :]) ** 2).sum(axis=2)


def loss_correlation(row_losses: np.ndarray) -> np.ndarray:
    """Pearson correlation ``[K, K]`` of the members' per-row losses (0 where a loss is constant).

    Examples
    --------
    >>> import numpy as np
    >>> loss_correlation(np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0]])).round(2).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        R = np.atleast_2d(np.corrcoef(np.asarray(row_losses, dtype=np.float64), rowvar=False))
    R = np.nan_to_num(R, nan=0.0)
    np.fill_diagonal(R, 1.0)
    return R


def ensemble_descriptors(counts: np.ndarray, correlation: np.ndarray) -> np.ndarray:
    """QDO-ES's descriptors of ensembles ``counts[B, K]``: size and average loss correlation.

    Returns
    -------
    descriptors : ndarray of shape (B, 2)
        Column 0: members with a non-zero count; column 1: mean pairwise loss correlation of
        those members (1 for an ensemble of one member).

    Examples
    --------
    >>> import numpy as np
    >>> R = np.array([[1.0, 0.2, 0.6], [0.2, 1.0, 0.4], [0.6, 0.4, 1.0]])
    >>> ensemble_descriptors(np.array([[2, 1, 0], [1, 1, 1], [0, 0, 3]]), R).round(2).tolist()
    [[2.0, 0.2], [3.0, 0.4], [1.0, 1.0]]
    """
    used = (np.asarray(counts) > 0).astype(np.float64)
    size = used.sum(axis=1)
    pairs = size * (size - 1)
    pair_sum = np.einsum("bi,ij,bj->b", used, correlation, used) - size
    alc = np.where(pairs > 0, pair_sum / np.maximum(pairs, 1), 1.0)
    return np.stack([size, alc], axis=1)


def quality_archive(losses: np.ndarray, size: int) -> np.ndarray:
    """QO-ES's population: positions of the ``size`` lowest losses, best first (ties: earliest)."""
    return np.argsort(losses, kind="stable")[:size]


def grid_archive(losses: np.ndarray, descriptors: np.ndarray, n_bins: int) -> np.ndarray:
    """QDO-ES's archive: the best solution per cell of a grid over the descriptors, best first.

    Each descriptor is cut into ``n_bins`` bins at the quantiles of its values over every
    solution given (sliding boundaries); ties go to the solution seen first.

    Parameters
    ----------
    losses : ndarray of shape (S,)
    descriptors : ndarray of shape (S, D)
    n_bins : int

    Returns
    -------
    elites : ndarray of shape (E,), int
        Positions into ``losses``, at most ``n_bins ** D``, sorted by loss.

    Examples
    --------
    >>> import numpy as np
    >>> d = np.array([[1.0], [1.0], [3.0], [3.0]])
    >>> grid_archive(np.array([0.5, 0.4, 0.9, 0.1]), d, n_bins=2).tolist()
    [3, 1]
    """
    cells = np.zeros(len(losses), dtype=np.int64)
    for d in range(descriptors.shape[1]):
        edges = np.quantile(descriptors[:, d], np.arange(1, n_bins) / n_bins)
        cells = cells * n_bins + np.searchsorted(edges, descriptors[:, d], side="right")
    order = np.argsort(losses, kind="stable")
    _, first = np.unique(cells[order], return_index=True)
    elites = order[first]
    return elites[np.argsort(losses[elites], kind="stable")]


def _key(counts: np.ndarray) -> tuple[int, ...]:
    """Counts up to scaling: ``[2, 4, 0]`` and ``[1, 2, 0]`` are the same ensemble."""
    return tuple((counts // np.gcd.reduce(counts)).tolist())


def _parent(rng: np.random.Generator, n: int, other_than: int = -1) -> int:
    """The best (position 0) or, with probability 1/2, a random parent; not ``other_than``."""
    skip = 0 <= other_than < n
    i = 0 if rng.random() < 0.5 else int(rng.integers(n - skip))
    return i + int(skip and i >= other_than)


def propose(rng: np.random.Generator, parents: np.ndarray, seen: set[tuple[int, ...]],
            n_children: int, crossover_probability: float) -> np.ndarray:
    """New ensembles ``[B, K]`` (B <= n_children) bred from ``parents[E, K]`` (best first).

    With probability ``crossover_probability`` (and two parents or more) a child is the
    two-point crossover of two parents, then mutated half the time; otherwise it is one parent
    mutated. A mutation adds one copy of a uniformly random member. Children already in
    ``seen`` (which is updated) or empty are dropped; after ``50 * n_children`` proposals the
    batch is returned as it is.
    """
    k = parents.shape[1]
    children: list[np.ndarray] = []
    for _ in range(_MAX_TRIES * n_children):
        if len(children) == n_children:
            break
        first = _parent(rng, len(parents))
        child = parents[first].copy()
        mutate = True
        if len(parents) > 1 and rng.random() < crossover_probability:
            a, b = int(rng.integers(k + 1)), int(rng.integers(k))
            lo, hi = min(a, b + (b >= a)), max(a, b + (b >= a))      # two distinct points
            child[lo:hi] = parents[_parent(rng, len(parents), other_than=first)][lo:hi]
            mutate = rng.random() < 0.5
        if mutate:
            child[rng.integers(k)] += 1
        if child.sum() == 0:
            continue
        key = _key(child)
        if key not in seen:
            seen.add(key)
            children.append(child)
    return np.asarray(children, dtype=np.int64).reshape(-1, k)


def evolve(losses_of: Callable[[np.ndarray], np.ndarray],
           archive: Callable[[np.ndarray, np.ndarray], np.ndarray],
           describe: Callable[[np.ndarray], np.ndarray], n_members: int, *, n_evaluations: int,
           batch_size: int, crossover_probability: float, rng: np.random.Generator
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The population search; returns ``(counts[S, K], losses[S], elites[E], history[G])``.

    Starts from the ``n_members`` single-member ensembles and proposes ``batch_size`` children
    per generation until ``n_evaluations`` ensembles were evaluated (or no new child can be
    found). ``archive(losses, descriptors)`` picks the population (best first) from every
    solution seen; ``describe(counts)`` gives their descriptors. ``history[g]`` is the best
    loss in the population after generation ``g`` (0: the members alone).
    """
    counts = np.eye(n_members, dtype=np.int64)
    seen = {_key(c) for c in counts}
    losses = losses_of(counts / counts.sum(axis=1, keepdims=True))
    descriptors = describe(counts)
    elites = archive(losses, descriptors)
    history = [float(losses[elites[0]])]
    while len(losses) < n_evaluations:
        wanted = min(batch_size, n_evaluations - len(losses))
        children = propose(rng, counts[elites], seen, wanted, crossover_probability)
        if len(children) == 0:
            break
        counts = np.vstack([counts, children])
        losses = np.concatenate([losses,
                                 losses_of(children / children.sum(axis=1, keepdims=True))])
        descriptors = np.vstack([descriptors, describe(children)])
        elites = archive(losses, descriptors)
        history.append(float(losses[elites[0]]))
    return counts, losses, elites, np.asarray(history)


# ---------------------------------------------------------------- combiners
class _PopulationSelection(_WeightedStatic):
    """Shared fit of QO-ES and QDO-ES; subclasses give the archive and the descriptors."""

    _describes: ClassVar[bool] = False

    def _check_params(self, table: PredictionTable) -> None:
        name = type(self).__name__
        V.check_int_param(self.n_iterations, "n_iterations", name, low=1)
        V.check_int_param(self.batch_size, "batch_size", name, low=1)
        V.check_real_param(self.crossover_probability, "crossover_probability", name,
                           low=0.0, high=1.0)
        _check_metric(self.metric, table.task, name)
        if self.random_state is not None:
            V.check_int_param(self.random_state, "random_state", name, low=0)

    def _archive(self) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        raise NotImplementedError

    def _fit(self, table: PredictionTable) -> None:
        metric = _default_metric(self.metric, table.task)
        members = distinct_members(np.asarray(table.P))
        losses_of, row_losses = ensemble_objective(table.P[:, members], table.y, metric)
        correlation = loss_correlation(row_losses) if self._describes else None

        def describe(counts: np.ndarray) -> np.ndarray:
            if correlation is None:
                return np.zeros((len(counts), 0))
            return ensemble_descriptors(counts, correlation)

        counts, losses, elites, history = evolve(
            losses_of, self._archive(), describe, len(members),
            n_evaluations=self.n_iterations * len(members), batch_size=self.batch_size,
            crossover_probability=self.crossover_probability,
            rng=np.random.default_rng(self.random_state))
        self.population_ = np.zeros((len(elites), table.n_members), dtype=np.int64)
        self.population_[:, members] = counts[elites]
        self.population_loss_ = losses[elites]
        self.counts_ = self.population_[0].copy()
        self.weights_ = self.counts_ / self.counts_.sum()
        self.loss_ = float(losses[elites[0]])
        self.history_ = history
        self.n_evaluations_ = len(losses)
        if self._describes:
            self.population_descriptors_ = describe(counts[elites])


class QOES(_PopulationSelection):
    """Quality-optimisation ensemble selection, QO-ES (Purucker et al., AutoML 2023).

    A population of the ``population_size`` best ensembles (integer repetition vectors over the
    members) evolved by crossover and mutation on the selection table; the best ensemble seen
    gives the weights. See ``ensel.combine.population`` for the search.

    Parameters
    ----------
    n_iterations : int, default=50
        Budget: ``n_iterations * M`` ensembles are evaluated in all (the members alone
        included; ``M`` counts members with distinct predictions), as many as GES with
        ``n_iterations`` additions.
    population_size : int, default=16
        Ensembles kept from one generation to the next.
    batch_size : int, default=20
        Ensembles proposed per generation.
    crossover_probability : float in [0, 1], default=0.5
        Share of children bred by crossover of two parents.
    metric : {"log_loss", "accuracy", "squared_error"} or None, default=None
        The selection table's loss to minimise; ``None`` is log-loss for classification and
        squared error for regression.
    random_state : int or None, default=0
        Seeds the search (same seed, same table: same weights).

    Attributes
    ----------
    weights_ : ndarray of shape (M,)
        The best ensemble's counts divided by their sum.
    counts_ : ndarray of shape (M,), int
    loss_ : float
        The best ensemble's loss on the selection table (accuracy negated).
    history_ : ndarray of shape (G,)
        Best loss in the population after each generation (0: the members alone); it never
        increases.
    population_ : ndarray of shape (E, M), int
        Counts of the final population, best first; ``population_loss_`` their losses.
    n_evaluations_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from ensel import PredictionTable
    >>> from ensel.combine import QOES
    >>> rng = np.random.default_rng(0)
    >>> table = PredictionTable.from_arrays(rng.dirichlet(np.ones(3), size=(50, 4)),
    ...                                     y=rng.integers(0, 3, 50))
    >>> qo = QOES(n_iterations=10).fit(table)
    >>> float(qo.weights_.sum()), bool(np.all(np.diff(qo.history_) <= 0))
    (1.0, True)
    """

    def __init__(self, n_iterations: int = 50, *, population_size: int = 16,
                 batch_size: int = 20, crossover_probability: float = 0.5,
                 metric: str | None = None, random_state: int | None = 0) -> None:
        self.n_iterations = n_iterations
        self.population_size = population_size
        self.batch_size = batch_size
        self.crossover_probability = crossover_probability
        self.metric = metric
        self.random_state = random_state

    def _check_params(self, table: PredictionTable) -> None:
        super()._check_params(table)
        V.check_int_param(self.population_size, "population_size", type(self).__name__, low=1)

    def _archive(self) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        return lambda losses, _: quality_archive(losses, self.population_size)


class QDOES(_PopulationSelection):
    """Quality-diversity-optimisation ensemble selection, QDO-ES (Purucker et al., AutoML 2023).

    Like `QOES`, but the population is an archive with one elite per cell of an
    ``n_bins x n_bins`` grid over the ensemble size and the average loss correlation of its
    members (cell edges at the quantiles of all ensembles seen), so that diverse ensembles
    keep breeding. See ``ensel.combine.population`` for the search.

    Parameters
    ----------
    n_iterations : int, default=50
        Budget: ``n_iterations * M`` ensembles are evaluated in all (the members alone
        included; ``M`` counts members with distinct predictions), as many as GES with
        ``n_iterations`` additions.
    n_bins : int, default=4
        Bins per descriptor (at most ``n_bins ** 2`` elites).
    batch_size : int, default=20
        Ensembles proposed per generation.
    crossover_probability : float in [0, 1], default=0.5
        Share of children bred by crossover of two parents.
    metric : {"log_loss", "accuracy", "squared_error"} or None, default=None
        The selection table's loss to minimise; ``None`` is log-loss for classification and
        squared error for regression.
    random_state : int or None, default=0
        Seeds the search (same seed, same table: same weights).

    Attributes
    ----------
    weights_ : ndarray of shape (M,)
        The best ensemble's counts divided by their sum.
    counts_ : ndarray of shape (M,), int
    loss_ : float
        The best ensemble's loss on the selection table (accuracy negated).
    history_ : ndarray of shape (G,)
        Best loss in the population after each generation (0: the members alone); it never
        increases.
    population_ : ndarray of shape (E, M), int
        Counts of the final population, best first; ``population_loss_`` their losses.
    n_evaluations_ : int
    population_descriptors_ : ndarray of shape (E, 2)
        Size and average loss correlation of the final population.

    Examples
    --------
    >>> import numpy as np
    >>> from ensel import PredictionTable
    >>> from ensel.combine import QDOES
    >>> rng = np.random.default_rng(0)
    >>> table = PredictionTable.from_arrays(rng.dirichlet(np.ones(3), size=(50, 4)),
    ...                                     y=rng.integers(0, 3, 50))
    >>> qdo = QDOES(n_iterations=10).fit(table)
    >>> float(qdo.weights_.sum()), qdo.population_descriptors_.shape[1]
    (1.0, 2)
    """

    _describes = True

    def __init__(self, n_iterations: int = 50, *, n_bins: int = 4, batch_size: int = 20,
                 crossover_probability: float = 0.5, metric: str | None = None,
                 random_state: int | None = 0) -> None:
        self.n_iterations = n_iterations
        self.n_bins = n_bins
        self.batch_size = batch_size
        self.crossover_probability = crossover_probability
        self.metric = metric
        self.random_state = random_state

    def _check_params(self, table: PredictionTable) -> None:
        super()._check_params(table)
        V.check_int_param(self.n_bins, "n_bins", type(self).__name__, low=1)

    def _archive(self) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        return lambda losses, descriptors: grid_archive(losses, descriptors, self.n_bins)
