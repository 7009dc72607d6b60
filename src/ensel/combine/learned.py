"""e2e-CEL: end-to-end learned per-input selection of k members (Kotary et al., IJCAI 2023),
or of a variable number under an average cost budget (``budget=`` / ``max_cost=``).

With ``neural.py`` and ``_selection.py`` (its objectives and selection rules), the only
combiner modules that import torch.
"""

from __future__ import annotations

import functools
import json
import math
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ensel import _validation as V
from ensel._training import Fit, Job, TrainOptions, engine_names, mlp, run_jobs
from ensel.combine._selection import (
    _MIN_PROBA,
    _BudgetObjective,
    _OutcomeObjective,
    _SelectionObjective,
    _SequentialObjective,
    _SharedSequential,
    calibrate_sequential,
    combine,
    cost_share,
    exit_confidence,
    first_member,
    gate_threshold,
    hard_gates,
    in_float64,
    member_costs,
    price_for,
    priced_choice,
    sequential_exits,
)
from ensel.combine.base import BOTH_TASKS, Combiner
from ensel.ops import hard_topk_mask
from ensel.table import PredictionTable

FEATURES = ("inputs", "predictions", "both", "first")
AGGREGATIONS = ("auto", "mean", "weighted", "stacked")
POLICIES = ("auto", "gates", "sequential", "fixed")


class _SelectionNet(nn.Module):
    """Selection features to member scores ``[B, M]`` (and weight logits): an MLP on
    ``F[B, n_in]``, or the module ``network(n_in, M)`` builds on inputs ``[B, *n_in]``
    (``n_in`` is then the input shape) whose output ``[B, H]`` feeds the same linear heads."""

    def __init__(self, n_in: Any, n_members: int, hidden: tuple[int, ...], dropout: float,
                 weighted: bool, n_classes: int = 0, subset: bool = False,
                 network: Any = None) -> None:
        super().__init__()
        if network is None:
            self.body = mlp(n_in, hidden, None, dropout=dropout)
            width = hidden[-1] if hidden else n_in
        else:
            self.body = network(tuple(n_in), n_members)
            width = _output_width(self.body, tuple(n_in))
        self.scores = nn.Linear(width, n_members)
        self.weights = nn.Linear(width, n_members) if weighted else None
        head = _SubsetHead if subset else _StackedHead
        self.head = head(n_members, n_classes) if n_classes else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.body(x)
        return self.scores(h), None if self.weights is None else self.weights(h)


class _StackedHead(nn.Module):
    """A linear map per member over its probabilities, summed over the selected members.

    ``logits = b + sum_i z_i p_i W_i / k`` with ``W = 10 I + 30 delta`` (``delta[M, C, C]``
    starts at 0: the plain average, sharpened) and ``b[C]``; members with ``z_i = 0`` do not
    contribute. The factor 30 lets Adam move the head as far as a converged stacker's weights
    within a few epochs (measured: with factor 1, k = M reached 0.937 on letter where
    stacking reaches 0.959; with 30, 0.958).
    """

    def __init__(self, n_members: int, n_classes: int, scale: float = 10.0,
                 step: float = 30.0) -> None:
        super().__init__()
        self.step = step  # the head's weights live on a larger scale than the network's
        self.register_buffer("base", torch.eye(n_classes) * scale)
        self.delta = nn.Parameter(torch.zeros(n_members, n_classes, n_classes))
        self.bias = nn.Parameter(torch.zeros(n_classes))

    def forward(self, P: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        weight = self.base + self.step * self.delta
        logits = torch.einsum("bm,bmc,mcd->bd", z, P, weight) / z.sum(-1, keepdim=True).clamp_min(1)
        return torch.softmax(logits + self.bias, dim=-1)


def _warm_started(build: Any, weight: np.ndarray, bias: np.ndarray,
                  P: np.ndarray) -> _SelectionNet:
    """``build()`` with its `_SubsetHead` started at the stacker (see ``start_at``)."""
    net = build()
    net.head.start_at(weight, bias, P)
    return net


def _output_width(body: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Width ``H`` of a selection network's output ``[B, H]``, from one blank input."""
    was_training = body.training
    body.eval()
    with torch.no_grad():
        out = body(torch.zeros((1, *input_shape)))
    body.train(was_training)
    if out.ndim != 2:
        raise ValueError(f"The selection network built by 'network' must map inputs "
                         f"[B, *{input_shape}] to features [B, H]; it returned shape "
                         f"{tuple(out.shape)} for B = 1.")
    return int(out.shape[1])


def network_spec(network: Any) -> dict[str, Any] | None:
    """``config.json``'s description of a ``network`` factory (None for the MLP)."""
    from ensel.nets import factory_spec

    return None if network is None else factory_spec(network)


def network_from_spec(spec: Any, where: Path) -> Any:
    """The factory `network_spec` described; errors name the file ``where``."""
    from ensel.nets import factory_from_spec

    return factory_from_spec(spec, str(where))


def stacker_weights(P: np.ndarray, y: np.ndarray, n_classes: int) -> tuple[np.ndarray,
                                                                             np.ndarray]:
    """Stacking's multinomial logistic regression (``C=1``) on ``P[N, M, C]``, as the
    stacked head's weights ``[M, C, C]`` and bias ``[C]``."""
    from sklearn.linear_model import LogisticRegression

    n, m, c = P.shape
    lr = LogisticRegression(max_iter=1000).fit(P.reshape(n, m * c), y)
    coef = np.zeros((n_classes, m * c))
    bias = np.zeros(n_classes)
    if len(lr.classes_) == 2:                     # one logit: class 1 against class 0
        coef[lr.classes_[1]], bias[lr.classes_[1]] = lr.coef_[0], lr.intercept_[0]
    else:
        coef[lr.classes_], bias[lr.classes_] = lr.coef_, lr.intercept_
    return coef.reshape(n_classes, m, c).transpose(1, 2, 0), bias


class _SubsetHead(nn.Module):
    """Stacking over any subset: ``logits = b + sum_i z_i p_i W_i + sum_i (1 - z_i) v_i``.

    With every member selected it is stacking's logistic regression; a member left out
    contributes its learned stand-in ``v_i[C]`` (started at its mean contribution, as if its
    prediction were imputed by its mean), so the logits keep their scale whatever the count.
    ``W = step * delta`` as in `_StackedHead`.
    """

    def __init__(self, n_members: int, n_classes: int, step: float = 30.0) -> None:
        super().__init__()
        self.step = step
        self.delta = nn.Parameter(torch.eye(n_classes).repeat(n_members, 1, 1) / step)
        self.missing = nn.Parameter(torch.zeros(n_members, n_classes))
        self.bias = nn.Parameter(torch.zeros(n_classes))

    def forward(self, P: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        present = torch.einsum("bm,bmc,mcd->bd", z, P, self.step * self.delta)
        absent = (1 - z) @ (self.step * self.missing)
        return torch.softmax(present + absent + self.bias, dim=-1)

    @torch.no_grad()
    def start_at(self, weight: np.ndarray, bias: np.ndarray, P: np.ndarray) -> None:
        """Start at the stacker ``weight[M, C, C]``, ``bias[C]``; stand-ins from ``P[N, M, C]``."""
        w = torch.from_numpy(weight.astype(np.float32))
        self.delta.copy_(w / self.step)
        mean = torch.einsum("mc,mcd->md", torch.from_numpy(P.mean(0).astype(np.float32)), w)
        self.missing.copy_(mean / self.step)
        self.bias.copy_(torch.from_numpy(bias.astype(np.float32)))


class _Data(NamedTuple):
    """What training reads: features ``F[N, F]``, predictions ``P[N, M, C]``, targets, and
    the row indices of the training and validation parts."""

    F: torch.Tensor
    P: torch.Tensor
    target: torch.Tensor
    train: np.ndarray
    val: np.ndarray
    costs: torch.Tensor | None = None     # [N, M], the table's costs (unit by default)


class DifferentiableSelector(Combiner):
    """Differentiable model selection (e2e-CEL): learn which k members to trust per input.

    A selection network scores the members from the input's features, a differentiable top-k
    layer (`ensel.ops.topk_mask`) turns the scores into a relaxed k-subset ``z``, and the combined
    prediction ``sum_i z_i p_i / k`` is trained end to end on its negative log-likelihood
    (classification) or squared error (regression). At prediction the hard top-k is used, so only
    k of the M members matter for each input.

    On an outcome table (`PredictionTable.from_outcomes`: quality ``[N, M]``, NaN = not
    observed, costs; routing LLMs) it routes: the network scores each member's quality on the
    input ``X`` (starting from each member's mean, as `~ensel.combine.routing.LearnedRouter`)
    and is trained end to end for the expected quality of a relaxed choice minus the cost's
    Lagrange term, ``-(E[q] - price E[c])`` (``_OutcomeObjective`` in
    ``ensel.combine._selection``): the
    choice is the softmax of ``(score - price * cost) / epsilon`` over the observed members
    (``k = 1``) or the relaxed top-k of ``score - price * cost`` (``k > 1``, for a downstream
    step that picks among the answers: a set is worth the best quality among its members),
    plus an outcome term (the cross-entropy of each observed outcome against its score) so
    the scores stay qualities. NaN outcomes are left out of the choice and the loss. With
    ``budget``/``max_cost`` the price is solved on each minibatch so that its expected mean
    cost is the budget, and at inference ``price_`` is calibrated on the validation part to
    meet it: each input runs the k members of largest ``score - price_ * c / max(c)``, ``c``
    the members' mean costs at `fit` (a call's actual cost is known only afterwards). Without
    a budget, ``price_ = 0``: each input goes to the k members of largest expected quality.
    `select` is the one-hot choice ``[N, M]`` (k ones per row), `predict` the chosen
    member's name (for ``k > 1``, the best-scored one run), `route` the index at any price
    (one fit traces a quality-cost curve); `predict_proba` is for classification only.

    Parameters
    ----------
    k : int, "auto" or None, default=None
        Members selected per input. ``None`` means ``min(3, M)`` (k = 3 was the best fixed k
        on the benchmark); ``"auto"`` trains one selector per k in ``1..min(M, 5)`` and keeps
        the best on the validation part. Must be None with ``budget`` or ``max_cost``, except
        on an outcome table, where it is the number of members run per input (None: 1).
    budget : float in (0, 1], optional
        Select per input which members and how many, so that the *mean* cost over inputs is
        at most this share of running the whole pool (the table's ``costs``; unit costs by
        default). Trained with the gates of all rows of a minibatch as one knapsack
        (`ensel.ops.knapsack_mask`) spending exactly the budget; at inference the gates are
        ``1[score >= threshold_]`` plus each row's top member, ``threshold_`` calibrated on
        the validation part to meet the budget there. ``1.0`` is stacking. None (default):
        the fixed ``k``.
    max_cost : float > 0, optional
        The same budget as a mean cost per input in the table's units (``budget_`` =
        ``max_cost / mean full cost``, at most 1). Give ``budget`` or ``max_cost``, not both.
    policy : {"auto", "gates", "sequential"}, default="auto"
        How members are picked under a budget. ``"gates"``: all at once from the selection
        features (above). ``"sequential"`` (classification): the members run one by one in
        the order of the network's scores for that input, and an input stops at the first
        member after which the combination of those run is confident enough (top probability
        ``p`` with ``-log(1 - p) >= threshold_``, calibrated on the validation part to meet
        the budget), so it sees
        the predictions it has paid for; trained so that every prefix of the order is a good
        subset (each step a top-k loss at a random ``k``). ``"auto"`` trains both and keeps
        the better on the validation part (``"gates"`` only for regression or
        ``features="first"``). ``"fixed"`` (members of equal cost): the top
        ``floor(budget * M)`` members on every input, the fixed-k selector within the budget;
        ``"auto"`` trains it too when it spends the budget within 0.02 (e.g. 0.3 of 10
        members, not 0.25). ``"auto"`` keeps the candidate with the best
        validation accuracy at its calibrated cost. Only with ``budget`` or ``max_cost``.
    method : {"sparse", "entropic", "perturbed", "straight_through"}, default="sparse"
        The top-k relaxation used in training (see `ensel.ops`).
    features : {"inputs", "predictions", "both", "first"} or None, default=None
        What the selection network sees: the inputs ``X``, the members' predictions, or both.
        ``None`` means inputs when the table has ``X``, else predictions. Only with ``"inputs"``
        can a deployed ensemble skip running the unselected members. ``"first"`` (with a
        budget): the inputs and the predictions of ``first_member_`` (the most accurate of the
        cheapest members), which then runs on every input and counts in the cost.
    aggregation : {"auto", "mean", "weighted", "stacked"}, default="auto"
        How the selected members' predictions are combined. ``"auto"`` trains ``"mean"`` and
        ``"stacked"`` (classification; ``"mean"`` for regression) and keeps the better on the
        validation part. ``"mean"`` averages the selected members (the paper); ``"weighted"``
        also learns per-input positive weights over the selected members; ``"stacked"``
        (classification)
        feeds the selected members' probabilities to a learned linear head, one C x C map per
        member, like stacking restricted to the k selected members.
    hidden_layer_sizes : tuple of int, default=(128, 128)
        The MLP selection network's hidden widths (unused with ``network``).
    network : callable, optional
        A factory ``network(input_shape, n_members) -> torch.nn.Module`` for a selection
        network of your own, e.g. a CNN on images ``X[N, 1, 28, 28]``: the module maps a batch
        of raw inputs ``[B, *input_shape]`` (standardised by one mean and scale over all
        values) to features ``[B, H]`` (any ``H``; ``n_members`` is natural), on which the
        selector's linear score head (and weight head) sits. ``None`` (the default): the MLP
        on ``X[N, F]``. Needs ``features="inputs"`` (or None) and a table with ``X``; tables
        with ``X`` of more than 2 dimensions need it. Use a module-level class or function or
        a ``functools.partial`` of one (``functools.partial(ensel.nets.ConvNet,
        channels=(8, 16))``): it pickles for ``engine="ray"``, and `save` stores its import
        path and keyword arguments in ``config.json``.
    dropout : float, default=0.1
    learning_rate : float, default=1e-3
        Adam's step size.
    alpha : float, default=1e-4
        L2 penalty on the network's weights (Adam's ``weight_decay``).
    max_epochs : int, default=200
    batch_size : int, default=128
    validation_fraction : float, default=0.2
        Share of the fitting rows held out for early stopping, ``k="auto"`` and calibration.
    early_stopping : bool, default=True
        Stop when the validation loss (hard top-k) has not improved for ``n_iter_no_change``
        epochs and keep the best epoch's weights; ``False`` trains ``max_epochs`` epochs and
        keeps the last ones.
    n_iter_no_change : int, default=20
        Patience in epochs of the early stopping.
    member_dropout : float, default=0.1
        Probability of hiding each member from the selector during a training step (at least
        k stay visible); a cheap regulariser against collapsing onto one member.
    refit : bool, default=True
        After choosing k, the aggregation and the number of epochs on the validation part,
        train once more on all rows for that many epochs (the temperature stays the one fitted
        on the validation part). Not for the sequential policy, whose exit threshold must be
        calibrated on confidences of rows it was not trained on (measured: after a refit the
        test cost overshot the budget, 0.31 at 0.25 on digits/specialists), nor for routing an
        outcome table under a budget, whose price is calibrated the same way (measured on
        ARC-challenge at half GPT-4's cost, seeds 0-2: test cost 0.68 of GPT-4's after a
        refit, 0.57 without).
    calibrate : bool, default=True
        Fit a temperature and a small uniform smoothing on the validation part so that the
        combined probabilities are calibrated and never zero (labels do not change).
    method_options : dict, optional
        Passed to the relaxation (e.g. ``{"epsilon": 0.5}`` or ``{"sigma": 1.0}``). On an
        outcome table with ``k = 1``: ``"epsilon"`` (default 0.1), the softmax temperature in
        quality units, and ``"outcome_weight"`` (default 1.0), the weight of the outcome term
        (0: the pure Lagrangian; measured ARC-challenge AIQ 0.9149 against 0.9223 with 1).
    engine : {"local", "ray"}, default="local"
        Where training runs: in this process, or data-parallel on a Ray cluster through Ray
        Train (`ensel.scale`; needs the ``ray`` extra). The fitted model is the same kind.
    engine_options : dict, optional
        Options of the engine; for ``"ray"`` the fields of `ensel.scale.RayTrainConfig`
        (e.g. ``{"num_workers": 4}``). A constructor parameter, so `sklearn.base.clone`
        keeps it.
    random_state : int, default=0
    verbose : bool, default=False
        Print epoch, training loss and validation score.

    Attributes
    ----------
    k_ : int
    members_ : list of str
    classes_ : ndarray of shape (C,)
    features_ : str
    temperature_ : float
    smoothing_ : float
        Share of the uniform distribution mixed into the calibrated probabilities.
    history_ : list of dict
        One record per epoch of the kept model (``epoch``, ``train_loss``, ``val_loss``,
        ``val_score``).
    best_epoch_ : int
        The epoch whose weights were kept (the refit trains that many on all rows).
    k_scores_ : dict
        Validation score per k tried when ``k="auto"``.
    budget_ : float or None
        The budget as a share of the pool's cost (None for a fixed k).
    threshold_ : float or None
        The gates' threshold under a budget (``-inf``: every member; ``inf``: only each
        row's top member), or the sequential policy's exit confidence ``-log(1 - p)`` of the
        top probability ``p`` (``inf``: every member runs; ``-inf``: only the first).
    validation_cost_ : float
        Mean cost share of the hard gates on the validation part (at most ``budget_``).
    first_member_ : int or None
        The member that always runs with ``features="first"``.
    price_ : float
        The sequential policy runs members in the order of ``score - price_ * cost`` (0 when
        the members cost the same); chosen with ``threshold_`` on the validation part. On an
        outcome table: the price of the routing rule, in quality per the dearest member's
        mean cost (0 without a budget).
    member_costs_ : ndarray of shape (M,)
        Mean cost of each member on the fitting table (the order `run_sequential` uses).
    policy_ : str
        ``"gates"``, ``"sequential"`` or ``"fixed"``: the policy kept under a budget
        (``"gates"`` without one, where it means the fixed top-k).

    Examples
    --------
    >>> import numpy as np
    >>> from ensel import PredictionTable, DifferentiableSelector
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(400, 2))
    >>> y = (X[:, 1] > 0).astype(int)
    >>> right, wrong = np.eye(2)[y] * 0.9 + 0.05, np.eye(2)[1 - y] * 0.9 + 0.05
    >>> left = (X[:, 0] < 0)[:, None]
    >>> P = np.stack([np.where(left, right, wrong), np.where(left, wrong, right)], axis=1)
    >>> table = PredictionTable.from_arrays(P, y=y, X=X)
    >>> sel = DifferentiableSelector(k=1, max_epochs=60).fit(table)
    >>> bool((sel.predict(table) == y).mean() > 0.95)
    True
    >>> half = DifferentiableSelector(budget=0.5, max_epochs=30).fit(table)
    >>> bool(half.validation_cost_ <= 0.5)
    True

    Routing on an outcome table: the cheap member is right where ``X[:, 0] < 0``, the dear
    one everywhere; at a mean cost of 5.5 per input the dear one runs where it is needed.

    >>> Q = np.stack([left[:, 0], np.ones(400)], axis=1).astype(float)
    >>> outcomes = PredictionTable.from_outcomes(Q, costs=[1.0, 10.0], X=X)
    >>> router = DifferentiableSelector(max_cost=5.5, max_epochs=60).fit(outcomes)
    >>> chosen = router.predict(outcomes)
    >>> bool((chosen == np.where(left[:, 0], "m0", "m1")).mean() > 0.9)
    True
    """

    _tasks = (*BOTH_TASKS, "outcome")

    def __init__(self, k: int | str | None = None, *, budget: float | None = None,
                 max_cost: float | None = None, policy: str = "auto", method: str = "sparse",
                 features: str | None = None, aggregation: str = "auto",
                 hidden_layer_sizes: tuple[int, ...] = (128, 128), network: Any = None,
                 dropout: float = 0.1, learning_rate: float = 1e-3, alpha: float = 1e-4,
                 max_epochs: int = 200,
                 batch_size: int = 128, validation_fraction: float = 0.2,
                 early_stopping: bool = True, n_iter_no_change: int = 20,
                 member_dropout: float = 0.1, refit: bool = True, calibrate: bool = True,
                 method_options: dict[str, Any] | None = None, engine: str = "local",
                 engine_options: dict[str, Any] | None = None, random_state: int = 0,
                 verbose: bool = False) -> None:
        self.k = k
        self.budget = budget
        self.max_cost = max_cost
        self.policy = policy
        self.method = method
        self.features = features
        self.aggregation = aggregation
        self.hidden_layer_sizes = hidden_layer_sizes
        self.network = network
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.alpha = alpha
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.n_iter_no_change = n_iter_no_change
        self.member_dropout = member_dropout
        self.refit = refit
        self.calibrate = calibrate
        self.method_options = method_options
        self.engine = engine
        self.engine_options = engine_options
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, table: PredictionTable) -> DifferentiableSelector:
        """Learn the selection from a labelled table, or the routing from an outcome table.

        Parameters
        ----------
        table : PredictionTable
            ``P[N, M, C]`` (or ``[N, M]`` / ``[N, M, D]`` for regression) with labels
            ``y[N]``; or an outcome table (`PredictionTable.from_outcomes`: quality ``[N, M]``,
            NaN = not observed, costs) with the inputs ``X[N, F]``.

        Returns
        -------
        self : DifferentiableSelector
        """
        if getattr(table, "task", None) != "outcome":
            return super().fit(table)
        V.check_table_like(table, f"{type(self).__name__}.fit")
        self._check_params(table)
        self.members_, self.classes_, self.task_ = list(table.members), None, table.task
        self.n_members_ = table.n_members
        self._fit(table)
        return self

    def fit_budgets(self, table: PredictionTable, budgets: Any
                    ) -> list[DifferentiableSelector]:
        """Fitted copies of this selector at several budgets, trained together where exact.

        Copy ``i`` is what ``clone(self).set_params(budget=budgets[i], max_cost=None)
        .fit(table)`` returns (same candidates, choice, weights and calibration), but the
        sequential policy's network, whose training loss does not depend on the budget (only
        its early stopping does), is trained once for every budget, each keeping its own
        best epoch (``_SharedSequential``); the gates are trained per budget as in `fit`.
        Each copy's ``fit_seconds_`` counts that shared training in full. With an engine other
        than ``"local"`` the copies are fitted one by one.

        Parameters
        ----------
        table : PredictionTable
            A labelled table, as in `fit`.
        budgets : sequence of float
            Budgets in (0, 1], as the ``budget`` parameter.

        Returns
        -------
        list of DifferentiableSelector
            One fitted copy per budget, in order; this selector is left unfitted.

        Examples
        --------
        >>> import numpy as np
        >>> from ensel import PredictionTable, DifferentiableSelector
        >>> rng = np.random.default_rng(0)
        >>> P = rng.dirichlet(np.ones(3), size=(200, 4))
        >>> table = PredictionTable.from_arrays(P, y=P[:, 0].argmax(1), X=rng.normal(size=(200, 2)))
        >>> two = DifferentiableSelector(max_epochs=5).fit_budgets(table, [0.25, 0.5])
        >>> [s.budget_ for s in two], [s.policy_ in ("gates", "sequential", "fixed") for s in two]
        ([0.25, 0.5], [True, True])
        """
        from sklearn.base import clone

        owner = f"{type(self).__name__}.fit_budgets"
        if isinstance(budgets, (str, bytes)) or not hasattr(budgets, "__len__") \
                or len(budgets) == 0:
            raise ValueError(f"The 'budgets' parameter of {owner} must be a non-empty sequence "
                             f"of floats in (0, 1]. Got {budgets!r} instead.")
        budgets = [V.check_real_param(b, "budgets", owner, low=0.0, high=1.0,
                                      include_low=False) for b in budgets]
        copies = [clone(self).set_params(budget=b, max_cost=None) for b in budgets]
        if self.engine != "local":
            return [c.fit(table) for c in copies]
        group = {"budgets": sorted({b for b in budgets if b < 1.0}), "fits": {}, "seconds": {},
                 "stackers": {}}
        try:
            for c in copies:
                c._budget_group = group
                c.fit(table)
        finally:
            for c in copies:
                c.__dict__.pop("_budget_group", None)
        return copies

    # ------------------------------------------------------------------ checks
    def _check_params(self, table: PredictionTable) -> None:
        from ensel.ops import METHODS

        name = type(self).__name__
        if table.task == "outcome":
            self._check_outcome(table)
        if self.k is not None and self.k != "auto":
            V.check_k(self.k, table.n_members, name)
        self._check_budget(outcome=table.task == "outcome")
        V.check_choice(self.method, "method", name, METHODS)
        self._check_policy(table)
        if self.features is not None:
            V.check_choice(self.features, "features", name, FEATURES)
        V.check_choice(self.aggregation, "aggregation", name, AGGREGATIONS)
        if self.aggregation == "stacked" and table.task != "classification":
            raise ValueError(
                f"aggregation='stacked' of {name} needs a classification table; use 'mean' or "
                f"'weighted' for regression.")
        V.check_training_params(self, name)
        V.check_real_param(self.dropout, "dropout", name, low=0.0, high=1.0,
                           include_high=False)
        V.check_bool_param(self.early_stopping, "early_stopping", name)
        V.check_choice(self.engine, "engine", name, engine_names())
        self._features_mode(table)
        self._check_network(table)
        if table.n_samples < 2:
            raise ValueError(f"{name}.fit needs at least 2 labelled rows.")

    def _check_outcome(self, table: PredictionTable) -> None:
        """What routing on an outcome table allows: inputs only (the outcomes are not known
        before the calls), a fixed k, no combination of predictions, no policy."""
        name = type(self).__name__
        if table.X is None:
            raise ValueError(f"{name} routes an outcome table from its inputs: the table has "
                             f"X=None. Pass X (e.g. ensel.text.PromptFeatures of the prompts) "
                             f"to PredictionTable.from_outcomes.")
        if self.features not in (None, "inputs"):
            raise ValueError(f"On an outcome table {name} sees only the inputs (the outcomes "
                             f"are known only after the calls): 'features' must be None or "
                             f"'inputs'. Got {self.features!r} instead.")
        if self.k == "auto":
            raise ValueError(f"k='auto' of {name} is not for outcome tables (a larger set is "
                             f"always at least as good); pass an int k.")
        if self.aggregation not in ("auto", "mean") or self.policy != "auto":
            raise ValueError(f"On an outcome table {name} combines no predictions: "
                             f"'aggregation' and 'policy' must stay 'auto'. Got aggregation="
                             f"{self.aggregation!r}, policy={self.policy!r}.")

    def _check_network(self, table: PredictionTable) -> None:
        name = type(self).__name__
        nd = table.X is not None and table.X.ndim > 2
        if self.network is None:
            if nd and self._features_mode(table) != "predictions":
                raise ValueError(
                    f"The table's X has shape {table.X.shape}: inputs of more than 2 dimensions "
                    f"need a selection network for them. Pass network= to {name} (e.g. "
                    f"functools.partial(ensel.nets.ConvNet, channels=(8, 16))) or "
                    f"features='predictions'.")
            return
        if not callable(self.network):
            raise ValueError(f"The 'network' parameter of {name} must be None or a factory "
                             f"network(input_shape, n_members) -> torch.nn.Module. Got "
                             f"{self.network!r} instead.")
        if self._features_mode(table) != "inputs":
            raise ValueError(f"The 'network' parameter of {name} is a selection network on the "
                             f"inputs X: it needs features='inputs' (or None). Got features="
                             f"{self.features!r} instead.")

    def _check_budget(self, outcome: bool = False) -> None:
        name = type(self).__name__
        if self.budget is not None and self.max_cost is not None:
            raise ValueError(f"{name} takes one of 'budget' (a share of the pool's cost) and "
                             f"'max_cost' (a mean cost per input), not both. Got budget="
                             f"{self.budget!r} and max_cost={self.max_cost!r}.")
        if self.budget is not None:
            V.check_real_param(self.budget, "budget", name, low=0.0, high=1.0,
                               include_low=False)
        if self.max_cost is not None:
            V.check_real_param(self.max_cost, "max_cost", name, low=0.0, high=math.inf,
                               include_low=False)
        if self._budgeted and self.k is not None and not outcome:
            raise ValueError(f"{name} chooses how many members to run per input under a "
                             f"budget: 'k' must be None with budget or max_cost. Got "
                             f"k={self.k!r} instead.")
        if self._budgeted and self.method not in ("sparse", "entropic") and not outcome:
            raise ValueError(f"{name} under a budget trains sigmoid gates; the 'method' "
                             f"parameter must be 'sparse' or 'entropic' there. Got "
                             f"{self.method!r} instead.")

    def _check_policy(self, table: PredictionTable) -> None:
        name = type(self).__name__
        V.check_choice(self.policy, "policy", name, POLICIES)
        if self.policy == "auto":
            return
        if not self._budgeted:
            raise ValueError(f"The 'policy' parameter of {name} chooses how members are picked "
                             f"under a budget; pass budget or max_cost, or leave policy="
                             f"'auto'. Got policy={self.policy!r} without a budget.")
        if self.policy == "sequential" and (table.task != "classification"
                                            or self.features == "first"):
            raise ValueError(f"policy='sequential' of {name} exits on the confidence of the "
                             f"combined probabilities: it needs a classification table and "
                             f"features other than 'first'. Got a {table.task} table and "
                             f"features={self.features!r}.")

    @property
    def _budgeted(self) -> bool:
        return self.budget is not None or self.max_cost is not None

    def _features_mode(self, table: PredictionTable) -> str:
        if self.features is None:
            return "inputs" if table.X is not None else "predictions"
        if self.features == "first" and not self._budgeted:
            raise ValueError(
                f"features='first' (the predictions of a first member that always runs) "
                f"needs a budget: pass budget or max_cost to {type(self).__name__}.")
        if self.features in ("inputs", "both") and table.X is None:
            raise ValueError(
                f"features={self.features!r} needs inputs, but the table has X=None. Pass X to "
                f"the table or use features='predictions'.")
        return self.features

    # ------------------------------------------------------------------ fit, step by step
    def _fit(self, table: PredictionTable) -> None:
        group = getattr(self, "_budget_group", None)
        self._stackers = {} if group is None else group["stackers"]    # rows -> (W, b)
        try:
            self._fit_candidates(table)
        finally:
            del self._stackers

    def _fit_candidates(self, table: PredictionTable) -> None:
        start = time.perf_counter()
        data = self._prepare(table)
        if (self.budget_ is not None and self.budget_ >= 1.0 and self.features_ != "first"
                and self.task_ != "outcome"):
            self._fit_everything(data, table)
            self.fit_seconds_ = time.perf_counter() - start
            return
        self._borrowed_seconds = 0.0
        chosen = self._choose(self._train(data, self._candidates(table)))
        self._calibrate_budget(data, data.val)
        self._calibrate(data)
        self._refit(data, chosen)
        if self.refit and chosen.epoch:
            self._calibrate_budget(data, data.val)
        self.fit_seconds_ = time.perf_counter() - start + self._borrowed_seconds

    def _train(self, data: _Data, candidates: list[tuple[int | None, str, str]]) -> list[Fit]:
        """One `Fit` per candidate (`run_jobs`); within `fit_budgets`, the sequential
        policy's from the one training of it for every budget (`_shared_fit`)."""
        group = getattr(self, "_budget_group", None)
        shared = [group is not None and policy == "sequential" for _, _, policy in candidates]
        jobs = [self._job(data, *c) for c, s in zip(candidates, shared, strict=True) if not s]
        trained = iter(run_jobs(jobs, self.engine, self.engine_options))
        return [self._shared_fit(data, c, group) if s else next(trained)
                for c, s in zip(candidates, shared, strict=True)]

    def _shared_fit(self, data: _Data, candidate: tuple[int | None, str, str],
                    group: dict[str, Any]) -> Fit:
        """The sequential candidate at ``budget_``: the first selector of a `fit_budgets`
        group that needs it trains it once for all the group's budgets (`_SharedSequential`);
        the others take theirs, its seconds counted in their ``fit_seconds_``."""
        import copy
        import dataclasses

        aggregation = candidate[1]
        if aggregation in group["fits"]:
            self._borrowed_seconds += group["seconds"][aggregation]
            return group["fits"][aggregation][self.budget_]
        start = time.perf_counter()
        job = self._job(data, *candidate)
        objectives = []
        for b in group["budgets"]:
            objectives.append(copy.copy(job.objective))
            objectives[-1].budget = b
        shared = _SharedSequential(objectives, job.options.n_iter_no_change)
        fit = run_jobs([dataclasses.replace(job, objective=shared)])[0]
        fits = shared.fits(fit, job.options.restore_best)
        group["fits"][aggregation] = dict(zip(group["budgets"], fits, strict=True))
        group["seconds"][aggregation] = time.perf_counter() - start
        return group["fits"][aggregation][self.budget_]

    def _prepare(self, table: PredictionTable) -> _Data:
        """Features, split and tensors; sets the fitted preprocessing attributes."""
        self.features_ = self._features_mode(table)
        self.n_features_in_ = (None if self.features_ == "predictions" or table.X is None
                               else int(table.X.shape[1]))
        train, val = self._split(table)
        self.first_member_ = (first_member(table, train) if self.features_ == "first"
                              else None)
        raw = self._raw_features(table)
        self.input_shape_ = None if table.X is None else tuple(int(n) for n in table.X.shape[1:])
        if self.network is None:
            self.feature_mean_ = raw[train].mean(0).astype(np.float32)
            self.feature_scale_ = np.maximum(raw[train].std(0), 1e-6).astype(np.float32)
        else:           # images: one mean and scale for every pixel (borders are constant)
            self.feature_mean_ = np.array([raw[train].mean()], dtype=np.float32)
            self.feature_scale_ = np.array([max(raw[train].std(), 1e-6)], dtype=np.float32)
        F, P = self._tensors(table)
        self.target_scale_ = 1.0
        if self.task_ == "outcome":     # P: the qualities (NaN as 0), target: 1 = observed
            Q = np.asarray(table.P, dtype=np.float32)
            P, target = torch.from_numpy(np.nan_to_num(Q, nan=0.0)), torch.from_numpy(
                (~np.isnan(Q)).astype(np.float32))
        elif self.task_ == "classification":
            target = torch.from_numpy(np.asarray(table.y, dtype=np.int64))
        else:
            y = np.asarray(table.y, dtype=np.float32)
            target = torch.from_numpy(y.reshape(len(y), -1))
            self.target_scale_ = float(max(np.var(y[train], axis=0).sum(), 1e-12))
        costs = member_costs(table)
        self.member_costs_ = costs.mean(0).astype(np.float64)
        self.price_ = 0.0
        self.budget_ = None
        if self._budgeted:
            full = float(costs.sum(1).mean())
            self.budget_ = (float(self.budget) if self.budget is not None
                            else min(float(self.max_cost) / full, 1.0))
        return _Data(F, P, target, train, val, torch.from_numpy(costs))

    def _candidates(self, table: PredictionTable) -> list[tuple[int | None, str, str]]:
        """The ``(k, aggregation, policy)`` triples to train, simplest first."""
        m = table.n_members
        if self.task_ == "outcome":
            return [(1 if self.k is None else int(self.k), "mean", "route")]
        if self._budgeted:
            ks = [None]
        elif self.k is None:
            ks = [min(3, m)]
        elif self.k == "auto":
            ks = list(range(1, min(m, 5) + 1))
        else:
            ks = [int(self.k)]
        if self.aggregation != "auto":
            aggregations = [self.aggregation]
        else:
            aggregations = ["mean", "stacked"] if self.task_ == "classification" else ["mean"]
        if not self._budgeted:
            return [(k, a, "gates") for a in aggregations for k in ks]
        policies = [self.policy] if self.policy != "auto" else ["gates", "sequential", "fixed"]
        if self.task_ != "classification" or self.features_ == "first":
            policies = [p for p in policies if p != "sequential"]
        fixed = self._fixed_k(table)
        if self.policy == "fixed" and (fixed is None or self.features_ == "first"):
            raise ValueError(
                f"policy='fixed' of {type(self).__name__} runs the same number of members on "
                f"every input: it needs members of equal cost on each row, a budget of at "
                f"least one member (1/M = {1 / table.n_members:.3g}) and features other than "
                f"'first'. Got budget_={self.budget_:.3g}, features={self.features!r}.")
        if (fixed is None or self.features_ == "first"
                or fixed < (self.budget_ - 0.02) * table.n_members):
            # "auto" tries the fixed k only where it spends the budget (within 0.02)
            policies = [p for p in policies if p != "fixed"]
        # the sequential policy with the plain mean was worse than with the stacked head
        # wherever measured (letter/specialists 0.885 against 0.908 at 0.3, letter/natural
        # 0.938 against 0.954, seed 0): "auto" leaves it out
        return [(fixed if p == "fixed" else None, a, p) for p in policies for a in aggregations
                if not (p == "sequential" and a == "mean" and self.aggregation == "auto"
                        and len(aggregations) > 1)]

    def _fixed_k(self, table: PredictionTable) -> int | None:
        """``policy="fixed"``: the k members of equal cost that every input runs within the
        budget, ``floor(budget * M)``; None unless every row's members cost the same."""
        costs = table.cost_matrix()
        k = int(math.floor(self.budget_ * table.n_members + 1e-9))
        return k if (costs == costs[:, :1]).all() and k >= 1 else None

    def _objective(self, data: _Data, k: int | None, policy: str = "gates"
                   ) -> _SelectionObjective:
        """The loss of a candidate: relaxed top-k, or under the budget (k None) the gates or
        the sequential policy."""
        common = dict(member_dropout=self.member_dropout,
                      classification=self.task_ == "classification",
                      target_scale=self.target_scale_)
        options = dict(self.method_options or {})
        if policy == "route":
            return self._outcome_objective(data, k, options)
        if k is None and policy == "sequential":
            return _SequentialObjective(data.F, data.P, data.target, costs=data.costs,
                                        budget=self.budget_, method=self.method,
                                        method_options=options,
                                        classification=common["classification"],
                                        target_scale=self.target_scale_)
        if k is None:
            return _BudgetObjective(data.F, data.P, data.target, costs=data.costs,
                                    budget=self.budget_, method=self.method,
                                    always=self.first_member_,
                                    epsilon=float(options.get("epsilon", 1.0)), **common)
        return _SelectionObjective(data.F, data.P, data.target, k=k, method=self.method,
                                   method_options=options, **common)

    def _unit_costs(self) -> torch.Tensor:
        """Each member's mean cost over the dearest member's ``[M]`` (the routing prices'
        unit: a price of 1 gives up one unit of quality to save the dearest member's cost)."""
        costs = np.asarray(self.member_costs_, dtype=np.float64)
        return torch.from_numpy((costs / max(costs.max(), 1e-300)).astype(np.float32))

    def _outcome_objective(self, data: _Data, k: int, options: dict[str, Any]
                           ) -> _OutcomeObjective:
        """Routing's loss (``_OutcomeObjective``); the budget as a mean cost in price units."""
        costs = self._unit_costs()
        target = None if self.budget_ is None else self.budget_ * float(costs.sum())
        epsilon = float(options.pop("epsilon", OUTCOME_EPSILON)) if k == 1 else 0.0
        return _OutcomeObjective(data.F, data.P, data.target, costs=costs, target=target, k=k,
                                 method=self.method, method_options=options, epsilon=epsilon,
                                 member_dropout=self.member_dropout,
                                 outcome_weight=float(options.pop("outcome_weight",
                                                                  OUTCOME_WEIGHT)))

    def _job(self, data: _Data, k: int | None, aggregation: str, policy: str = "gates", *,
             rows: np.ndarray | None = None, n_epochs: int | None = None) -> Job:
        """One network to train for ``(k, aggregation)`` on ``rows`` (default: the training
        part, early stopping on the validation part; ``n_epochs``: exactly that many)."""
        F, P = data.F, data.P
        subset = aggregation == "stacked" and k is None
        build = functools.partial(
            _SelectionNet, F.shape[1] if self.network is None else tuple(F.shape[1:]),
            P.shape[1], tuple(self.hidden_layer_sizes), self.dropout, aggregation == "weighted",
            P.shape[2] if aggregation == "stacked" else 0, subset, self.network)
        objective = self._objective(data, k, policy)
        if subset:
            fit_rows = data.train if rows is None else rows
            part = P[fit_rows].numpy()
            cache, key = getattr(self, "_stackers", {}), np.asarray(fit_rows).tobytes()
            if key not in cache:        # the same rows give the same stacker: fitted once
                cache[key] = stacker_weights(part, data.target[fit_rows].numpy(), P.shape[2])
            weight, bias = cache[key]
            build = functools.partial(_warm_started, build, weight, bias, part)
        if policy == "route":
            fit_rows = data.train if rows is None else rows
            build = functools.partial(_prior_started, build,
                                      _observed_means(data.P[fit_rows], data.target[fit_rows]))
        options = TrainOptions(
            learning_rate=self.learning_rate, alpha=self.alpha, max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            n_iter_no_change=self.n_iter_no_change if self.early_stopping else None,
            restore_best=self.early_stopping, random_state=self.random_state,
            verbose=self.verbose, name=type(self).__name__)
        return Job(build, objective, data.train if rows is None else rows,
                   None if n_epochs else data.val, options, n_epochs,
                   info={"k": k, "aggregation": aggregation, "policy": policy})

    def _choose(self, fits: list[Fit]) -> Fit:
        """The best validation score; ties go to the simpler model (plain mean, then smaller
        k, then the lower validation loss) for a fixed k, and under a budget to the lower
        validation loss (on ~100 validation rows, candidates often tie on accuracy: measured
        on digits/specialists at 0.5, three tied and the mean's gates, kept, had a test NLL
        of 0.28 against 0.16-0.17 for the stacked ones)."""
        ks = sorted({f.info["k"] for f in fits if f.info["k"] is not None})
        self.k_scores_ = {k: max(f.val_score for f in fits if f.info["k"] == k) for k in ks}
        self.validation_scores_ = {(f.info["aggregation"], f.info["k"]): f.val_score
                                   for f in fits if f.info["policy"] != "sequential"}
        self.validation_scores_.update({(f.info["aggregation"], "sequential"): f.val_score
                                        for f in fits if f.info["policy"] == "sequential"})
        if self._budgeted:
            chosen = max(fits, key=lambda f: (f.val_score, -f.val_loss))
        else:
            chosen = max(fits, key=lambda f: (f.val_score, f.info["aggregation"] == "mean",
                                              -(f.info["k"] or 0), -f.val_loss))
        self.policy_ = chosen.info["policy"]
        self.net_ = chosen.net
        self.k_ = None if chosen.info["k"] is None else int(chosen.info["k"])
        self.aggregation_ = chosen.info["aggregation"]
        self.history_ = chosen.history
        self.best_epoch_ = chosen.epoch
        return chosen

    def _fit_everything(self, data: _Data, table: PredictionTable) -> None:
        """Budget 1: every member runs on every input, so there is nothing to select; the
        combination is stacking's logistic regression on all rows (classification) or the
        mean (regression), uncalibrated. Measured: fine-tuning it on the selection part
        raised the NLL (pendigits/natural: 0.154 against stacking's 0.030)."""
        self.aggregation_ = "stacked" if self.task_ == "classification" else "mean"
        if self.aggregation != "auto":
            self.aggregation_ = self.aggregation
        rows = np.sort(np.concatenate([data.train, data.val]))
        job = self._job(data, None, self.aggregation_, rows=rows, n_epochs=1)
        torch.manual_seed(self.random_state)
        self.net_ = job.build().eval()
        self.k_, self.history_, self.best_epoch_, self.policy_ = None, [], 0, "gates"
        self.k_scores_, self.validation_scores_ = {}, {}
        self.threshold_, self.validation_cost_ = -math.inf, 1.0
        self.temperature_, self.smoothing_ = 1.0, 0.0

    def _calibrate_budget(self, data: _Data, rows: np.ndarray) -> None:
        """The gates' threshold meeting the budget on ``rows`` (as a router calibrates its
        threshold); sets ``threshold_`` and ``validation_cost_``."""
        self.threshold_ = None
        if self.task_ == "outcome":
            self._calibrate_price(data, rows)
            return
        if not self._budgeted:
            return
        idx = torch.from_numpy(rows)
        with torch.no_grad():
            scores, w = self.net_(data.F[idx])
            if self.policy_ == "fixed":
                mask = hard_topk_mask(scores, self.k_)
                self.validation_cost_ = cost_share(mask.numpy(), data.costs[idx].numpy())
                return
            if self.policy_ == "sequential":
                P, costs = data.P[idx], data.costs[idx]
                self.threshold_, self.price_ = calibrate_sequential(
                    P, scores, w, self.net_.head, costs, data.target[idx], self.budget_)
                gates, _ = sequential_exits(P, scores, w, self.net_.head, costs,
                                            self.threshold_, self.price_)
                self.validation_cost_ = cost_share(gates.numpy(), costs.numpy())
                return
        costs = data.costs[idx].numpy()
        self.threshold_ = gate_threshold(scores.numpy(), costs, self.budget_, self.first_member_)
        gates = hard_gates(scores, self.threshold_, self.first_member_, data.costs[idx])
        self.validation_cost_ = cost_share(gates.numpy(), costs)

    def _calibrate_price(self, data: _Data, rows: np.ndarray) -> None:
        """Routing: the smallest price ``price_`` whose choices' mean cost on ``rows`` (the
        table's actual costs) is within the budget (0 without one); ``validation_cost_`` is
        that cost as a share of running every member."""
        idx = torch.from_numpy(rows)
        with torch.no_grad():
            scores = torch.sigmoid(self.net_(data.F[idx])[0])
        costs, unit = data.costs[idx].double(), self._unit_costs()
        full = float(costs.sum(1).mean())

        def spend(price: float) -> float:
            return float((priced_choice(scores, unit, price, self.k_) * costs).sum(1).mean())

        self.price_ = 0.0 if self.budget_ is None else price_for(spend, self.budget_ * full)
        self.validation_cost_ = spend(self.price_) / full

    def _calibrate(self, data: _Data) -> None:
        """Temperature ``T`` and uniform smoothing ``a`` minimising the validation NLL of
        ``(1 - a) softmax(log p / T) + a / C``; ``(1, 0)`` unless that improves it."""
        from scipy.optimize import minimize

        self.temperature_, self.smoothing_ = 1.0, 0.0
        if not self.calibrate or self.task_ != "classification":
            return
        val = torch.from_numpy(data.val)
        out, _ = self._raw_output(data.F[val], data.P[val], data.costs[val])
        logp = torch.log(out.clamp_min(_MIN_PROBA)).double()
        target, n_classes = data.target[val], logp.shape[1]

        def nll(x: np.ndarray) -> float:
            q = torch.softmax(logp / math.exp(x[0]), 1) * (1 - x[1]) + x[1] / n_classes
            return float(-torch.log(q.gather(1, target[:, None])).mean())

        res = minimize(nll, x0=np.array([0.0, 1e-3]), bounds=[(-3.0, 3.0), (0.0, 0.5)],
                       method="L-BFGS-B")
        if res.fun < nll(np.zeros(2)):
            self.temperature_, self.smoothing_ = float(math.exp(res.x[0])), float(res.x[1])

    def _refit(self, data: _Data, chosen: Fit) -> None:
        """Train the chosen candidate once more on every row, for its best number of epochs
        (the calibration stays the one fitted on the validation part)."""
        if (not self.refit or not chosen.epoch or self.policy_ == "sequential"
                or (self.policy_ == "route" and self._budgeted)):
            return          # sequential, routing under a budget: see the `refit` parameter
        everything = np.sort(np.concatenate([data.train, data.val]))
        job = self._job(data, self.k_, self.aggregation_, self.policy_, rows=everything,
                        n_epochs=chosen.epoch)
        self.net_ = run_jobs([job], self.engine, self.engine_options)[0].net

    def _split(self, table: PredictionTable) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.model_selection import train_test_split

        idx = np.arange(table.n_samples)
        stratify = None
        if table.task == "classification":
            counts = np.bincount(table.y)
            if counts[counts > 0].min() >= 2:
                stratify = table.y
        n_val = max(1, int(round(self.validation_fraction * len(idx))))
        if stratify is not None and n_val < len(np.unique(stratify)):
            stratify = None
        train, val = train_test_split(idx, test_size=n_val, stratify=stratify,
                                      random_state=self.random_state)
        return np.sort(train), np.sort(val)

    # ------------------------------------------------------------------ features
    def _raw_features(self, table: PredictionTable) -> np.ndarray:
        parts = []
        if self.features_ in ("inputs", "both") or (self.features_ == "first"
                                                    and self.n_features_in_ is not None):
            parts.append(np.asarray(table.X, dtype=np.float32))
        if self.features_ == "first":
            first = np.asarray(table.P[:, self.first_member_], dtype=np.float32)
            parts.append(first.reshape(len(first), -1))
        if self.features_ in ("predictions", "both"):
            P = np.asarray(table.P, dtype=np.float32)
            parts.append(P.reshape(len(P), -1))
        return np.concatenate(parts, axis=1)

    def _tensors(self, table: PredictionTable) -> tuple[torch.Tensor, torch.Tensor]:
        F = (self._raw_features(table) - self.feature_mean_) / self.feature_scale_
        P = np.asarray(table.P, dtype=np.float32)
        if P.ndim == 2:
            P = P[:, :, None]
        return torch.from_numpy(np.ascontiguousarray(F, dtype=np.float32)), torch.from_numpy(
            np.ascontiguousarray(P))

    def _hard_mask(self, scores: torch.Tensor, costs: torch.Tensor | None = None,
                   P: torch.Tensor | None = None, w: torch.Tensor | None = None
                   ) -> torch.Tensor:
        """The 0/1 selection ``[B, M]`` from the scores (and the costs ``[B, M]``, default 1):
        top-k, the budget's gates, or the members the sequential policy runs (from the
        predictions ``P``), or on an outcome table the k members of largest
        ``score - price_ * cost`` (`priced_choice`, the fitted mean costs)."""
        if self.task_ == "outcome":
            return priced_choice(torch.sigmoid(scores), self._unit_costs(), self.price_,
                                 self.k_)
        if getattr(self, "policy_", "gates") == "sequential":
            if costs is None:
                costs = torch.ones_like(scores)
            return sequential_exits(P, scores, w, self.net_.head, costs, self.threshold_,
                                    self.price_)[0]
        if self.k_ is None:
            return hard_gates(scores, self.threshold_, self.first_member_, costs)
        return hard_topk_mask(scores, self.k_)

    @torch.no_grad()
    def _raw_output(self, F: torch.Tensor, P: torch.Tensor, costs: torch.Tensor | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        scores, w = self.net_(F)
        z = self._hard_mask(scores, costs, P, w)
        return combine(P, z, w, self.net_.head), z

    @property
    def selection_needs_predictions_(self) -> bool:
        """Whether selecting needs the members' predictions (False only for inputs-only)."""
        return self.features_ != "inputs"

    @property
    def sequential_(self) -> bool:
        """Whether the members run stage by stage (`run_sequential`): the sequential policy
        with inputs-only features, so only the members run are ever evaluated."""
        return getattr(self, "policy_", "gates") == "sequential" and self.features_ == "inputs"

    def run_sequential(self, n_samples: int, fetch: Any, X: Any = None
                       ) -> tuple[np.ndarray, np.ndarray]:
        """Run the sequential policy, asking ``fetch`` for the predictions each input needs.

        Parameters
        ----------
        n_samples : int
            Number of inputs.
        fetch : callable
            ``fetch(member_index, rows) -> ndarray of shape (len(rows), C)``: a member's
            probabilities on those rows (``rows`` indexes the inputs); called at each stage
            once per member that runs there, only for the inputs still running.
        X : array-like of shape (n_samples, n_features)
            The inputs, from which the network orders the members.

        Returns
        -------
        proba : ndarray of shape (n_samples, C)
            As `predict_proba` on a table of those predictions.
        selection : ndarray of shape (n_samples, M)
            1 for every member run on each input, 0 elsewhere (equal to `select`).
        """
        check_is_fitted(self, "net_")
        if not self.sequential_:
            raise ValueError(f"{type(self).__name__}.run_sequential needs the sequential policy "
                             f"on features='inputs'; this selector has policy_="
                             f"{getattr(self, 'policy_', 'gates')!r}, features_="
                             f"{self.features_!r}.")
        X = None if X is None else np.asarray(X, dtype=np.float32)
        if X is None or X.shape != (n_samples, self.n_features_in_):
            raise ValueError(f"{type(self).__name__}.run_sequential needs the inputs X of shape "
                             f"({n_samples}, {self.n_features_in_}); got "
                             f"{None if X is None else X.shape}.")
        if not np.isfinite(X).all():
            raise ValueError(f"{type(self).__name__}.run_sequential: X has NaN or infinite "
                             f"values (first in row {int(np.argwhere(~np.isfinite(X))[0, 0])}).")
        F = torch.from_numpy((X - self.feature_mean_) / self.feature_scale_)
        with torch.no_grad():
            scores, w = self.net_(F)
        P, selection = self._run_stages(scores, w, fetch)
        table = PredictionTable.from_arrays(P, X=X, members=self.members_,
                                            classes=self.classes_)
        return self._combine(table, selection), selection

    def _run_stages(self, scores: torch.Tensor, w: torch.Tensor | None, fetch: Any
                    ) -> tuple[np.ndarray, np.ndarray]:
        """The stages of `run_sequential`: predictions ``[N, M, C]`` (uniform where not run)
        and the members run ``[N, M]``."""
        n, m, c = len(scores), self.n_members_, len(self.classes_)
        keys = scores - self.price_ * torch.as_tensor(self.member_costs_, dtype=scores.dtype)
        order = torch.argsort(-keys, dim=1, stable=True).numpy()
        P = torch.full((n, m, c), 1.0 / c, dtype=torch.float64)
        z = torch.zeros(n, m, dtype=torch.float64)
        _, w, head = in_float64(P, w, self.net_.head)
        active = np.arange(n)
        for stage in range(m):
            for j in np.unique(order[active, stage]):
                rows = active[order[active, stage] == j]
                # float32 first: the values the table path (`select`) sees
                P[rows, j] = torch.as_tensor(np.asarray(fetch(int(j), rows)),
                                             dtype=torch.float32).double()
                z[rows, j] = 1.0
            idx = torch.from_numpy(active)
            with torch.no_grad():
                out = combine(P[idx], z[idx], None if w is None else w[idx], head)
            done = exit_confidence(out) >= self.threshold_
            active = active[~done] if stage < m - 1 else active[:0]
            if not len(active):
                break
        return P.numpy().astype(np.float64), z.numpy().astype(np.float64)

    def _check_predict_table(self, table: Any, method: str) -> PredictionTable:
        table = super()._check_predict_table(table, method)
        if self.features_ != "predictions":
            V.check_compatible(table, members=self.members_, classes=self.classes_,
                               task=self.task_, owner=type(self).__name__,
                               n_features=self.n_features_in_)
        shape = getattr(self, "input_shape_", None)
        if self.network is not None and tuple(table.X.shape[1:]) != tuple(shape):
            raise ValueError(f"{type(self).__name__} was fitted on inputs X[N, *{tuple(shape)}]; "
                             f"got X of shape {table.X.shape}.")
        return table

    def _select(self, table: PredictionTable) -> np.ndarray:
        """The hard per-input selection: a 0/1 mask ``[N, M]`` with k ones per row."""
        F, P = self._tensors(table)
        with torch.no_grad():
            scores, w = self.net_(F)
            costs = torch.from_numpy(member_costs(table))
            return self._hard_mask(scores, costs, P, w).numpy().astype(np.float64)

    def _combine(self, table: PredictionTable, selection: np.ndarray) -> np.ndarray:
        if self.task_ == "outcome":     # the chosen member (of several, the best-scored one)
            with torch.no_grad():
                scores = self.net_(self._tensors(table)[0])[0].double().numpy()
            best = np.where(np.asarray(selection) > 0, scores, -np.inf).argmax(1)
            return np.asarray(self.members_, dtype=object)[best]
        F, P = self._tensors(table)
        z = torch.from_numpy(np.asarray(selection, dtype=np.float32))
        with torch.no_grad():
            w = self.net_(F)[1] if self.aggregation_ == "weighted" else None
            out = combine(P, z, w, self.net_.head)
            if self.task_ == "regression":
                out = out.numpy().astype(np.float64)
                return out[:, 0] if np.asarray(table.P).ndim == 2 else out
            if self.temperature_ != 1.0:
                out = torch.softmax(torch.log(out.clamp_min(_MIN_PROBA)) / self.temperature_, 1)
            out = out * (1 - self.smoothing_) + self.smoothing_ / out.shape[1]
        out = out.numpy().astype(np.float64)
        return out / out.sum(1, keepdims=True)

    def route(self, table: PredictionTable, *, price: float | None = None) -> np.ndarray:
        """On an outcome table (k = 1): the chosen member's index per input at a price.

        Parameters
        ----------
        table : PredictionTable
            An outcome table with the members and inputs seen at `fit`.
        price : float >= 0, optional
            Quality given up to save the dearest member's mean cost (the routers'
            ``cost_weight``); default ``price_``, the one meeting the budget. Sweeping it
            traces the selector's quality-cost curve from one fit.

        Returns
        -------
        ndarray of shape (N,), int
            ``argmax_m score[n, m] - price * c[m] / max(c)``, ``c`` the fitted mean costs.
        """
        table = self._check_predict_table(table, "route")
        name = type(self).__name__
        if self.task_ != "outcome" or self.k_ != 1:
            raise ValueError(f"{name}.route sends each input to one member: it needs a "
                             f"selector fitted on an outcome table with k=1; this one has "
                             f"task_={self.task_!r}, k_={self.k_!r}. Use select.")
        price = self.price_ if price is None else V.check_real(price, "price", f"{name}.route")
        if not price >= 0:
            raise ValueError(f"The 'price' parameter of {name}.route must be >= 0. Got "
                             f"{price!r} instead.")
        with torch.no_grad():
            scores = torch.sigmoid(self.net_(self._tensors(table)[0])[0])
            return priced_choice(scores, self._unit_costs(), price).argmax(1).numpy()

    def selection_weights(self, table: PredictionTable) -> np.ndarray:
        """Weights ``[N, M]`` each selected member gets in the combination (rows sum to 1)."""
        table = self._check_predict_table(table, "selection_weights")
        F, P = self._tensors(table)
        with torch.no_grad():
            scores, w = self.net_(F)
            z = self._hard_mask(scores, torch.from_numpy(member_costs(table)), P, w)
            a = z if w is None else z * torch.exp(w - w.max(-1, keepdim=True).values)
            return (a / a.sum(-1, keepdim=True)).numpy().astype(np.float64)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write ``config.json`` and ``model.safetensors`` into the folder ``path``.

        The folder is written beside ``path`` and swapped in whole: an interrupted save leaves
        the old model (or nothing) at ``path``, never a mix.
        """
        from safetensors.torch import save_file

        from ensel._io import atomic_directory, write_json

        check_is_fitted(self, "net_")
        params = self.get_params()
        params["hidden_layer_sizes"] = list(params["hidden_layer_sizes"])
        params["network"] = network_spec(self.network)
        config = {
            "format": _FORMAT, "version": _FORMAT_VERSION, "params": params,
            "k_": self.k_, "aggregation_": self.aggregation_, "features_": self.features_,
            "policy_": getattr(self, "policy_", "gates"), "price_": getattr(self, "price_", 0.0),
            "member_costs_": np.asarray(getattr(self, "member_costs_",
                                                np.ones(self.n_members_))).tolist(),
            "members_": self.members_, "task_": self.task_,
            "classes_": None if self.classes_ is None else self.classes_.tolist(),
            "n_features_in_": self.n_features_in_, "temperature_": self.temperature_,
            "smoothing_": self.smoothing_, "target_scale_": self.target_scale_,
            "n_inputs": int(self.feature_mean_.shape[0]),
            "input_shape_": getattr(self, "input_shape_", None),
            "n_outputs": int(self.net_.scores.out_features),
            "n_head_classes": 0 if self.net_.head is None else int(self.net_.head.bias.shape[0]),
            "subset_head": isinstance(self.net_.head, _SubsetHead),
            "first_member_": getattr(self, "first_member_", None),
            "budget_": getattr(self, "budget_", None),
            "validation_cost_": getattr(self, "validation_cost_", None),
        }
        tensors = {f"net.{n}": t.contiguous() for n, t in self.net_.state_dict().items()}
        tensors["feature_mean"] = torch.from_numpy(self.feature_mean_)
        tensors["feature_scale"] = torch.from_numpy(self.feature_scale_)
        if getattr(self, "threshold_", None) is not None:     # may be +-inf: not JSON
            tensors["threshold"] = torch.tensor([self.threshold_], dtype=torch.float64)
        with atomic_directory(path, marker="config.json") as tmp:
            save_file(tensors, str(tmp / WEIGHTS))
            write_json(tmp / "config.json", config)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> DifferentiableSelector:
        """Load a selector written by `save` (no pickle involved); checked as `save` wrote it.

        Models saved by ensel 0.1 (``weights.safetensors``, ``weight_decay``, an int
        ``early_stopping``) load with a FutureWarning.
        """
        from safetensors.torch import load_file

        path = Path(path)
        config = _read_config(path)
        params = _current_params(dict(config["params"]), path / "config.json")
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
        params["network"] = network_from_spec(params.get("network"), path / "config.json")
        self = cls(**params)
        weights = path / (WEIGHTS if config["version"] >= 2 else "weights.safetensors")
        if not weights.is_file():
            raise FileNotFoundError(f"{path} is not a whole saved selector: {weights.name} is "
                                    f"missing.")
        tensors = load_file(str(weights))
        self.feature_mean_ = tensors.pop("feature_mean").numpy()
        self.feature_scale_ = tensors.pop("feature_scale").numpy()
        threshold = tensors.pop("threshold", None)
        self.threshold_ = None if threshold is None else float(threshold[0])
        self.budget_ = config.get("budget_")
        self.first_member_ = config.get("first_member_")
        self.policy_, self.price_, self.member_costs_ = _read_policy(config, path)
        self.validation_cost_ = config.get("validation_cost_")
        if (self.budget_ is not None and self.threshold_ is None
                and self.policy_ not in ("fixed", "route")):
            raise ValueError(f"{weights} has no 'threshold' for the budgeted selector "
                             f"described by {path / 'config.json'}.")
        shape = config.get("input_shape_")
        self.input_shape_ = None if shape is None else tuple(shape)
        net = _SelectionNet(config["n_inputs"] if params["network"] is None else self.input_shape_,
                            config["n_outputs"],
                            tuple(params["hidden_layer_sizes"]), params["dropout"],
                            config["aggregation_"] == "weighted", config["n_head_classes"],
                            bool(config.get("subset_head", False)), params["network"])
        try:
            net.load_state_dict({n[len("net."):]: t for n, t in tensors.items()})
        except RuntimeError as error:
            raise ValueError(f"{weights} does not match {path / 'config.json'}: "
                             f"{str(error).splitlines()[0]}") from None
        net.eval()
        self.net_ = net
        for name in ("k_", "aggregation_", "features_", "members_", "task_", "n_features_in_",
                     "temperature_", "smoothing_", "target_scale_"):
            setattr(self, name, config[name])
        self.n_members_ = len(self.members_)
        self.classes_ = None if config["classes_"] is None else np.asarray(config["classes_"])
        return self


def _observed_means(Q: torch.Tensor, seen: torch.Tensor) -> np.ndarray:
    """Each member's mean observed quality ``[M]`` (0.5 where none is observed)."""
    count = seen.sum(0)
    means = (Q * seen).sum(0) / count.clamp_min(1)
    return torch.where(count > 0, means, torch.full_like(means, 0.5)).numpy()


def _prior_started(build: Any, prior: np.ndarray) -> _SelectionNet:
    """``build()`` whose scores start at each member's mean quality ``prior[M]`` (the zero
    router's estimate) with a tenth of the usual initial weights, so the network learns
    where an input departs from each member's average."""
    net = build()
    with torch.no_grad():
        net.scores.weight.mul_(0.1)
        p = np.clip(np.asarray(prior, dtype=np.float64), 1e-3, 1 - 1e-3)
        net.scores.bias.copy_(torch.from_numpy(np.log(p / (1 - p)).astype(np.float32)))
    return net


OUTCOME_EPSILON = 0.1
"""The routing softmax's temperature in quality units (``method_options["epsilon"]``)."""
OUTCOME_WEIGHT = 1.0
"""Weight of the outcome term (``method_options["outcome_weight"]``; measured on ARC AIQ over
seeds 0-2: 0 gives 0.9149, 1 gives 0.9223; MBPP 0.688 and 0.690)."""
WEIGHTS = "model.safetensors"
_FORMAT, _FORMAT_VERSION = "ensel.DifferentiableSelector", 2
_RENAMED = {"weight_decay": "alpha"}     # ensel 0.1 name -> current name


def _read_config(path: Path) -> dict[str, Any]:
    config_path = path / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{path} is not a saved selector: no config.json in it.")
    try:
        config = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{config_path} is not valid JSON: {error}.") from None
    if not isinstance(config, dict) or config.get("format") != _FORMAT:
        raise ValueError(f"{config_path} is not an {_FORMAT} config.")
    if config.get("version") not in (1, _FORMAT_VERSION):
        raise ValueError(f"{config_path} has format version {config.get('version')!r}; this "
                         f"ensel reads versions 1 and {_FORMAT_VERSION}.")
    return config


def _read_policy(config: dict[str, Any], path: Path) -> tuple[str, float, np.ndarray]:
    """``policy_``, ``price_`` and ``member_costs_`` of a saved selector, checked (older saves
    have none: the gates, price 0, unit costs)."""
    where = path / "config.json"
    policy = config.get("policy_", "gates")
    kept = (*POLICIES[1:], "route")                  # "route": fitted on an outcome table
    if policy not in kept:
        raise ValueError(f"{where}: 'policy_' must be one of {kept}; got {policy!r}.")
    price = config.get("price_", 0.0)
    if isinstance(price, bool) or not isinstance(price, (int, float)) or not (
            math.isfinite(price) and price >= 0):
        raise ValueError(f"{where}: 'price_' must be a finite number >= 0; got {price!r}.")
    n = len(config["members_"])
    costs = config.get("member_costs_")
    costs = np.ones(n) if costs is None else np.asarray(costs, dtype=np.float64)
    if costs.shape != (n,) or not np.isfinite(costs).all() or (costs < 0).any():
        raise ValueError(f"{where}: 'member_costs_' must be {n} finite costs >= 0 (one per "
                         f"member); got {config.get('member_costs_')!r}.")
    return policy, float(price), costs


def _current_params(params: dict[str, Any], where: Path) -> dict[str, Any]:
    """Saved constructor parameters in today's names (FutureWarning for the old ones)."""
    import warnings

    for old, new in _RENAMED.items():
        if old in params:
            warnings.warn(f"{where}: the parameter {old!r} is now called {new!r}; save the "
                          f"model again to update it (the old name stops loading in ensel "
                          f"0.3).", FutureWarning, stacklevel=3)
            params[new] = params.pop(old)
    if isinstance(params.get("early_stopping"), int) and not isinstance(
            params["early_stopping"], bool):
        warnings.warn(f"{where}: 'early_stopping' was a patience in epochs; it is now a bool "
                      f"and the patience is 'n_iter_no_change'.", FutureWarning, stacklevel=3)
        params["n_iter_no_change"] = params.pop("early_stopping")
        params["early_stopping"] = True
    return params
