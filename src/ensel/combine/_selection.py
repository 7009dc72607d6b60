"""How `DifferentiableSelector` selects and what it is trained on.

The combination of a selection (`combine`), the e2e-CEL objective under a relaxed top-k
(`_SelectionObjective`), and the two policies under an average budget: gates over the
members, all chosen from the inputs at once (`hard_gates`, `gate_threshold`, `batch_knapsack`,
`_BudgetObjective`), and the sequential policy that runs the members in the order of their
scores and stops once the combination of those run is confident (`run_order`,
`stage_outputs`, `_SequentialObjective`). Only torch, numpy and ensel's ops; no estimator here.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from ensel.ops import hard_topk_mask, topk_mask
from ensel.table import PredictionTable

_MIN_PROBA = 1e-7


def combine(P: torch.Tensor, z: torch.Tensor, w: torch.Tensor | None,
            head: nn.Module | None = None) -> torch.Tensor:
    """``P[B, M, C]`` and mask ``z[B, M]`` → combined ``[B, C]``: the mean of the selected
    members, their softmax(w)-weighted mean, or the stacked head over them."""
    if head is not None:
        return head(P, z)
    if w is None:
        return torch.einsum("bm,bmc->bc", z, P) / z.sum(-1, keepdim=True).clamp_min(1)
    a = z * torch.exp(w - w.max(-1, keepdim=True).values)
    return torch.einsum("bm,bmc->bc", a, P) / a.sum(-1, keepdim=True).clamp_min(1e-12)


class _SelectionObjective:
    """The e2e-CEL loss for `ensel._training.train`: NLL (classification) or squared error
    over the target variance (regression) of the relaxed top-k combination, with member
    dropout as the trainer's per-row noise."""

    def __init__(self, F: torch.Tensor, P: torch.Tensor, target: torch.Tensor, *, k: int,
                 method: str, method_options: dict[str, Any], member_dropout: float,
                 classification: bool, target_scale: float) -> None:
        self.F, self.P, self.target = F, P, target
        self.k, self.method, self.method_options = k, method, method_options
        self.member_dropout = member_dropout
        self.classification, self.target_scale = classification, target_scale

    def noise(self, n_rows: int, rng: np.random.Generator) -> np.ndarray | None:
        """Members to hide ``[n_rows, M]`` (1 = hidden): each with probability
        ``member_dropout``, at most ``M - k`` per row so that k stay visible."""
        return hidden_members(n_rows, self.P.shape[1], self.k, self.member_dropout, rng)

    def _loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.classification:
            picked = out.gather(1, target[:, None]).squeeze(1)
            return -torch.log(picked.clamp_min(_MIN_PROBA)).mean()
        return ((out - target) ** 2).sum(-1).mean() / self.target_scale

    def _scored(self, model: nn.Module, rows: np.ndarray, noise: np.ndarray | None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Row indices, the network's scores ``[B, M]`` (hidden members pushed to -1e4) and
        its weight logits on ``rows``."""
        idx = torch.from_numpy(rows)
        scores, w = model(self.F[idx])
        if noise is not None:
            scores = scores - 1e4 * torch.from_numpy(noise)
        return idx, scores, w

    def loss(self, model: nn.Module, rows: np.ndarray, noise: np.ndarray | None,
             generator: torch.Generator) -> torch.Tensor:
        idx, scores, w = self._scored(model, rows, noise)
        options = dict(self.method_options)
        if self.method == "perturbed" and not {"generator", "seed"} & options.keys():
            options["generator"] = generator
        z = topk_mask(scores, self.k, method=self.method, **options)
        head = getattr(model, "module", model).head       # through DDP's wrapper
        return self._loss(combine(self.P[idx], z, w, head), self.target[idx])

    def evaluate(self, net: nn.Module, rows: np.ndarray) -> tuple[float, float]:
        idx = torch.from_numpy(rows)
        scores, w = net(self.F[idx])
        out = combine(self.P[idx], hard_topk_mask(scores, self.k), w, net.head)
        loss = float(self._loss(out, self.target[idx]))
        if self.classification:
            return loss, float((out.argmax(1) == self.target[idx]).float().mean())
        return loss, -loss


# ---------------------------------------------------------------------- budgeted selection


def _paid(scores: torch.Tensor, always: int | None) -> torch.Tensor:
    """Per row ``[B, 1]``, the member that always runs: ``always``, or the top-scored one."""
    if always is not None:
        return torch.full((len(scores), 1), always, dtype=torch.long)
    return scores.argmax(1, keepdim=True)


def hard_gates(scores: torch.Tensor, threshold: float, always: int | None = None,
               costs: torch.Tensor | None = None) -> torch.Tensor:
    """The budgeted selection at inference, the knapsack's hard rule at price ``threshold``.

    Member i is in when ``s_i - t c_i >= 0`` (unit costs: ``s_i >= t``); a row where none is
    keeps its best ``s_i - t c_i`` (unit costs: its top-scored member; for a large price, the
    cheapest), so no row is empty; member ``always``, if given, is in every row instead.
    ``scores[B, M]``, ``costs[B, M]`` (default 1) → 0/1 float mask ``[B, M]``.
    """
    c = torch.ones_like(scores) if costs is None else costs.to(scores.dtype)
    if threshold == math.inf:               # only the cheapest (the best of them) survive
        cheapest = c <= c.min(1, keepdim=True).values
        keys = torch.where(cheapest, scores, torch.full_like(scores, -math.inf))
        z = torch.zeros_like(scores)
    else:
        keys = torch.where(c > 0, scores - threshold * c, scores)
        z = (keys >= 0).to(scores.dtype)
    if always is not None:
        return z.scatter(1, _paid(scores, always), 1.0)
    return z.scatter(1, keys.argmax(1, keepdim=True), 1.0)


def gate_threshold(scores: np.ndarray, costs: np.ndarray, budget: float,
                   always: int | None = None) -> float:
    """The price whose `hard_gates` spend at most ``budget`` of the pool's cost, and least.

    ``scores[N, M]``, ``costs[N, M]``: the cost share ``sum(c z) / sum(c)`` of `hard_gates`
    falls as the price rises, so the smallest price within the budget is found by bisection
    (60 halvings of a bracket of the ratios ``s / c``, plus a margin of 1e-5 relative so
    that float32 scores keep their side); ``-inf`` when the whole pool fits,
    ``inf`` when even the cheapest member per row (and ``always``) does not.
    """
    s = torch.as_tensor(np.asarray(scores, dtype=np.float64))
    c = torch.as_tensor(np.asarray(costs, dtype=np.float64))
    total = float(c.sum())

    def share(t: float) -> float:
        return float((hard_gates(s, t, always, c) * c).sum()) / total

    limit = budget * (1 + 1e-9)
    if share(-math.inf) <= limit:
        return -math.inf
    ratios = (s / c.clamp_min(1e-300))[c > 0]
    lo = float(ratios.min()) - 1.0
    hi = float(ratios.max()) + 1.0
    for _ in range(40):                          # widen until the price is high enough
        if share(hi) <= limit:
            break
        hi += 2 * (hi - lo)
    else:
        return math.inf
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if share(mid) <= limit else (mid, hi)
    return hi + 1e-5 * max(1.0, abs(hi))      # a margin for float32 scores at inference


def batch_knapsack(scores: torch.Tensor, costs: torch.Tensor, budget: float, method: str,
                   epsilon: float, always: int | None = None) -> torch.Tensor:
    """The gates in training: one knapsack over the whole minibatch.

    The relaxed selection ``z[B, M]`` of `ensel.ops.knapsack_mask` over all ``B * M`` entries
    of ``scores`` that spends exactly ``budget * sum(c)`` of ``costs[B, M]``; member ``always``
    (if any) at 1 in every row and paid first. Rows compete for the budget, so the gates open
    where they lower the loss most, and the price of the knapsack is the training twin of the
    one threshold calibrated at inference (`gate_threshold`). (Measured: one knapsack per
    row, a fixed share each, did worse: letter/specialists 0.848 against 0.866 at 0.3.)
    """
    from ensel.ops import knapsack_mask

    paid = torch.zeros_like(scores, dtype=torch.bool)
    if always is not None:
        paid = paid.scatter(1, _paid(scores, always), True)
    free_costs = costs.masked_fill(paid, 0.0)
    left = budget * float(costs.sum()) - float(costs[paid].sum())
    left = min(max(left, 0.0), float(free_costs.sum()))
    flat = scores.masked_fill(paid, -1e4).reshape(1, -1)
    z = knapsack_mask(flat, free_costs.reshape(1, -1), left, method=method, epsilon=epsilon,
                      equality=True).reshape(scores.shape)
    return torch.where(paid, torch.ones_like(z), z)


def member_costs(table: PredictionTable) -> np.ndarray:
    """The table's costs per input and member ``[N, M]`` (float32; unit costs when the table
    has none)."""
    return np.ascontiguousarray(table.cost_matrix(), dtype=np.float32)


def first_member(table: PredictionTable, rows: np.ndarray) -> int:
    """The member that runs first: the most accurate on ``rows`` (lowest squared error for
    regression) among the cheapest members (mean cost over ``rows``)."""
    mean_cost = table.cost_matrix()[rows].mean(0)
    cheapest = np.flatnonzero(mean_cost <= mean_cost.min() * (1 + 1e-9))
    P, y = np.asarray(table.P[rows]), np.asarray(table.y)[rows]
    if table.task == "classification":
        skill = (P.argmax(-1) == y[:, None]).mean(0)
    else:
        skill = -((P.reshape(len(P), P.shape[1], -1) - y.reshape(len(y), 1, -1)) ** 2).mean(
            (0, 2))
    return int(cheapest[np.argmax(skill[cheapest])])


def cost_share(selection: np.ndarray, costs: np.ndarray) -> float:
    """``sum(c z) / sum(c)`` over all rows: the mean cost as a fraction of the whole pool's."""
    costs = np.asarray(costs, dtype=np.float64)
    return float((np.asarray(selection, dtype=np.float64) * costs).sum() / costs.sum())


class _BudgetObjective(_SelectionObjective):
    """e2e-CEL under an average budget: the loss of the combination under `batch_knapsack`
    gates (the budget is met exactly on every minibatch, so no multiplier is needed); the
    validation loss is that of the hard gates at the threshold meeting the budget on the
    validation rows, as at inference."""

    def __init__(self, F: torch.Tensor, P: torch.Tensor, target: torch.Tensor, *,
                 costs: torch.Tensor, budget: float, method: str, epsilon: float,
                 always: int | None, member_dropout: float, classification: bool,
                 target_scale: float) -> None:
        super().__init__(F, P, target, k=1, method=method, method_options={},
                         member_dropout=member_dropout, classification=classification,
                         target_scale=target_scale)
        self.costs, self.budget, self.epsilon = costs, budget, epsilon
        self.always = always

    def loss(self, model: nn.Module, rows: np.ndarray, noise: np.ndarray | None,
             generator: torch.Generator) -> torch.Tensor:
        idx, scores, w = self._scored(model, rows, noise)
        z = batch_knapsack(scores, self.costs[idx], self.budget, self.method, self.epsilon,
                           self.always)
        head = getattr(model, "module", model).head
        return self._loss(combine(self.P[idx], z, w, head), self.target[idx])

    def evaluate(self, net: nn.Module, rows: np.ndarray) -> tuple[float, float]:
        idx = torch.from_numpy(rows)
        scores, w = net(self.F[idx])
        c = self.costs[idx]
        threshold = gate_threshold(scores.numpy(), c.numpy(), self.budget, self.always)
        out = combine(self.P[idx], hard_gates(scores, threshold, self.always, c), w, net.head)
        loss = float(self._loss(out, self.target[idx]))
        if self.classification:
            return loss, float((out.argmax(1) == self.target[idx]).float().mean())
        return loss, -loss


# ---------------------------------------------------------------------- the sequential policy


def run_order(scores: torch.Tensor) -> torch.Tensor:
    """Member indices ``[B, M]`` per row in the order they run: by decreasing score, ties by
    member index."""
    return torch.argsort(-scores, dim=1, stable=True)


def in_float64(P: torch.Tensor, w: torch.Tensor | None, head: nn.Module | None
               ) -> tuple[torch.Tensor, torch.Tensor | None, nn.Module | None]:
    """``P``, ``w`` and a copy of ``head`` in float64: the exit confidences of the sequential
    policy are compared in float64, where a stacked head's top probabilities do not round to
    1 (in float32 they tie, and a threshold could not split them to meet the budget)."""
    import copy

    return (P.double(), None if w is None else w.double(),
            None if head is None else copy.deepcopy(head).double())


def exit_confidence(proba: torch.Tensor) -> np.ndarray:
    """``-log(1 - top probability)`` along the last axis, as float64 numpy, with ``1 - top``
    summed over the other classes: unlike the top probability it does not round to a tie at
    1 for confident rows (a stacked head's logits are far apart), so an exit threshold on it
    can meet any budget."""
    p = proba.double()
    top = p.argmax(-1, keepdim=True)
    others = p.scatter(-1, top, 0.0).sum(-1)
    return (-torch.log(others.clamp_min(1e-300))).numpy()


def stage_outputs(P: torch.Tensor, order: torch.Tensor, w: torch.Tensor | None,
                  head: nn.Module | None) -> torch.Tensor:
    """Combined predictions ``[B, M, C]`` after each stage, in float64: stage ``j`` combines
    the first ``j + 1`` members of each row's ``order`` (see `combine`)."""
    P, w, head = in_float64(P, w, head)
    z = torch.zeros(order.shape, dtype=P.dtype)
    out = []
    for j in range(order.shape[1]):
        z = z.scatter(1, order[:, j:j + 1], 1.0)
        out.append(combine(P, z, w, head))
    return torch.stack(out, dim=1)


def stage_costs(costs: torch.Tensor, order: torch.Tensor) -> np.ndarray:
    """Cost ``[B, M]`` of running each row up to and including each stage (float64)."""
    return np.cumsum(costs.gather(1, order).double().numpy(), axis=1)


def prefix_mask(order: torch.Tensor, exits: np.ndarray) -> torch.Tensor:
    """0/1 mask ``[B, M]`` of the members each row ran: its order up to its exit stage."""
    ranks = torch.argsort(order, dim=1)
    return (ranks <= torch.from_numpy(np.asarray(exits))[:, None]).float()


def sequential_exits(P: torch.Tensor, scores: torch.Tensor, w: torch.Tensor | None,
                     head: nn.Module | None, costs: torch.Tensor, threshold: float,
                     price: float = 0.0) -> tuple[torch.Tensor, np.ndarray]:
    """The sequential policy on rows whose predictions are all known.

    Members run in the `run_order` of ``scores - price * costs``; a row exits at the first
    stage whose combined prediction's `exit_confidence` is at least ``threshold``
    (`ensel.metrics.cost.exit_stages`). Returns the selection ``[B, M]`` (the members
    run) and the exit stages ``[B]``.
    """
    from ensel.metrics.cost import exit_stages

    order = run_order(scores - price * costs)
    conf = exit_confidence(stage_outputs(P, order, w, head))
    exits = exit_stages(conf, threshold)
    return prefix_mask(order, exits), exits


PRICES = (0.0, 0.1, 0.3, 1.0, 3.0, 10.0)
"""The prices tried for the sequential order, in score spreads per mean member cost."""


def sequential_stages(P: torch.Tensor, scores: torch.Tensor, w: torch.Tensor | None,
                      head: nn.Module | None, costs: torch.Tensor) -> list[tuple[Any, ...]]:
    """What the sequential policy's calibration chooses from, per price of `PRICES` (one, 0,
    when every member costs the same on each row): ``(price, order [B, M], stage outputs
    [B, M, C] (float64), exit confidences [B, M], costs spent [B, M])``; independent of the
    budget, so one list serves every budget (`choose_exit`)."""
    c = costs.double()
    spread = float(scores.double().std()) or 1.0
    uniform = bool((c == c[:, :1]).all())
    stages = []
    for p in (0.0,) if uniform else PRICES:
        price = p * spread / max(float(c.mean()), 1e-12)
        order = run_order(scores - price * costs)
        outs = stage_outputs(P, order, w, head)
        stages.append((price, order, outs, exit_confidence(outs), stage_costs(costs, order)))
    return stages


def choose_exit(stages: list[tuple[Any, ...]], target: torch.Tensor, limit: float
                ) -> tuple[float, float, torch.Tensor, np.ndarray]:
    """Of `sequential_stages`, for each price the largest exit threshold whose mean cost is
    within ``limit`` (`ensel.metrics.cost.exit_threshold`); kept: the most accurate of those
    that meet it (the cheapest if none does), ties to the lower price. Returns its
    ``(threshold, price, order, exit stages [B])``."""
    from ensel.metrics.cost import exit_stages, exit_threshold

    best: tuple[Any, ...] | None = None
    for price, order, outs, conf, spent in stages:
        threshold, met = exit_threshold(conf, spent, limit)
        exits = exit_stages(conf, threshold)
        picked = outs[torch.arange(len(exits)), torch.from_numpy(exits)]
        accuracy = float((picked.argmax(1) == target).double().mean())
        key = (met, accuracy if met else -float(spent[np.arange(len(exits)), exits].mean()))
        if best is None or key > best[0]:
            best = (key, threshold, price, order, exits)
    return best[1], best[2], best[3], best[4]


def calibrate_sequential(P: torch.Tensor, scores: torch.Tensor, w: torch.Tensor | None,
                         head: nn.Module | None, costs: torch.Tensor, target: torch.Tensor,
                         budget: float) -> tuple[float, float]:
    """The sequential policy's ``(threshold, price)`` on labelled rows: for each price of
    `PRICES` (one, 0, when every member costs the same on each row), the largest exit
    threshold within ``budget`` (`ensel.metrics.cost.exit_threshold`); kept: the most
    accurate of those that meet the budget (the cheapest if none does), ties to the lower
    price. The price puts cheap members first when running the best-scored one first would
    not fit the budget."""
    stages = sequential_stages(P, scores, w, head, costs)
    return choose_exit(stages, target, budget * float(costs.double().sum(1).mean()))[:2]


class _SequentialObjective(_SelectionObjective):
    """The sequential policy's loss: every prefix of the score order must be a good subset,
    so each step trains the relaxed top-k combination at a ``k`` drawn uniformly from
    ``1..M`` (in expectation the mean over k of their losses, at the cost of one); the
    validation loss is that of the policy itself, exiting at the threshold that meets the
    budget on the validation rows (as at inference). No member dropout (it would hide
    members the longer prefixes need)."""

    def __init__(self, F: torch.Tensor, P: torch.Tensor, target: torch.Tensor, *,
                 costs: torch.Tensor, budget: float, method: str,
                 method_options: dict[str, Any], classification: bool,
                 target_scale: float) -> None:
        super().__init__(F, P, target, k=1, method=method, method_options=method_options,
                         member_dropout=0.0, classification=classification,
                         target_scale=target_scale)
        self.costs, self.budget = costs, budget

    def loss(self, model: nn.Module, rows: np.ndarray, noise: np.ndarray | None,
             generator: torch.Generator) -> torch.Tensor:
        idx, scores, w = self._scored(model, rows, noise)
        head = getattr(model, "module", model).head
        P, target = self.P[idx], self.target[idx]
        k = int(torch.randint(1, P.shape[1] + 1, (1,), generator=generator))
        if k < P.shape[1]:
            z = topk_mask(scores, k, method=self.method, **self.method_options)
            return self._loss(combine(P, z, w, head), target)
        # the whole pool: the scores do not matter (0 * keeps the graph for a parameter-free
        # mean, whose loss is then constant)
        z = torch.ones_like(scores)
        return self._loss(combine(P, z, w, head), target) + 0.0 * scores.sum()

    def evaluate(self, net: nn.Module, rows: np.ndarray) -> tuple[float, float]:
        return self.score_stages(net, *self.validation_stages(net, rows))

    def validation_stages(self, net: nn.Module, rows: np.ndarray) -> tuple[Any, ...]:
        """``(rows, weight logits, sequential_stages)`` of ``net`` on ``rows``."""
        idx = torch.from_numpy(rows)
        scores, w = net(self.F[idx])
        return idx, w, sequential_stages(self.P[idx], scores, w, net.head, self.costs[idx])

    def score_stages(self, net: nn.Module, idx: torch.Tensor, w: torch.Tensor | None,
                     stages: list[tuple[Any, ...]]) -> tuple[float, float]:
        """Validation ``(loss, accuracy)`` of the policy exiting within this budget."""
        limit = self.budget * float(self.costs[idx].double().sum(1).mean())
        _, _, order, exits = choose_exit(stages, self.target[idx], limit)
        out = combine(self.P[idx], prefix_mask(order, exits), w, net.head)
        loss = float(self._loss(out, self.target[idx]))
        return loss, float((out.argmax(1) == self.target[idx]).float().mean())


class _SharedSequential:
    """One training of the sequential policy's network for several budgets at once.

    Its loss does not depend on the budget (only its validation does), so every budget's
    training follows the same path: this objective trains that path once and keeps, per
    budget, its own early stopping (`ensel._training.EarlyStopping` at ``patience``) on that
    budget's validation numbers, ignoring a budget's epochs after it stopped. To the trainer
    it reports ``-epoch`` while some budget still improves and ``inf`` otherwise, so training
    stops exactly when the last budget does. The validation's stage outputs are computed once
    per epoch for every budget (`sequential_stages`). `fits` gives per budget the `Fit` a training
    at that budget alone returns (same epoch, weights, validation numbers and history).
    """

    def __init__(self, objectives: list[_SequentialObjective], patience: int | None) -> None:
        from ensel._training import EarlyStopping

        self.objectives = objectives
        self.stoppers = [EarlyStopping(patience) for _ in objectives]
        self.records: list[list[tuple[float, float]]] = [[] for _ in objectives]
        self.active = [True] * len(objectives)
        self.last: list[dict[str, torch.Tensor] | None] = [None] * len(objectives)
        self.epoch = 0

    def noise(self, n_rows: int, rng: np.random.Generator) -> np.ndarray | None:
        return self.objectives[0].noise(n_rows, rng)

    def loss(self, model: nn.Module, rows: np.ndarray, noise: np.ndarray | None,
             generator: torch.Generator) -> torch.Tensor:
        return self.objectives[0].loss(model, rows, noise, generator)

    def evaluate(self, net: nn.Module, rows: np.ndarray) -> tuple[float, float]:
        self.epoch += 1
        improved = False
        shared = self.objectives[0].validation_stages(net, rows) if any(self.active) else ()
        for i, (objective, stopper) in enumerate(zip(self.objectives, self.stoppers,
                                                     strict=True)):
            if not self.active[i]:
                continue
            loss, score = objective.score_stages(net, *shared)
            self.records[i].append((loss, score))
            self.active[i] = not stopper.update(net, self.epoch, loss, score)
            improved = improved or stopper.epoch == self.epoch
            if not self.active[i] and stopper.state is None:     # never improved: its last
                self.last[i] = {n: t.detach().clone() for n, t in net.state_dict().items()}
        return (-float(self.epoch) if improved else math.inf), math.nan

    def fits(self, fit: Any, restore_best: bool) -> list[Any]:
        """Per budget, the `Fit` of training at that budget alone, from the shared ``fit``."""
        import copy

        from ensel._training import Fit

        out = []
        for stopper, records, last_state in zip(self.stoppers, self.records, self.last,
                                                strict=True):
            history = [{**h, "val_loss": loss, "val_score": score}
                       for h, (loss, score) in zip(fit.history, records, strict=False)]
            net = copy.deepcopy(fit.net)
            if restore_best and stopper.state is not None:
                net.load_state_dict(stopper.state)
                out.append(Fit(net, stopper.epoch, stopper.val_loss, stopper.val_score,
                               history, dict(fit.info)))
            else:
                if last_state is not None:
                    net.load_state_dict(last_state)
                last = history[-1]
                out.append(Fit(net, last["epoch"], last["val_loss"], last["val_score"],
                               history, dict(fit.info)))
        return out


# ---------------------------------------------------------------------- outcome tables (routing)


def priced_choice(scores: torch.Tensor, costs: torch.Tensor, price: float, k: int = 1
                  ) -> torch.Tensor:
    """The routing rule at inference: the ``k`` members of largest ``score - price * cost``.

    ``scores[B, M]`` (estimated qualities), ``costs[M]`` or ``[B, M]`` → 0/1 float mask
    ``[B, M]`` with ``k`` ones per row (ties to the lower member index).
    """
    return hard_topk_mask(scores - price * costs.to(scores.dtype), k)


def set_quality(z: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """Expected quality ``[B]`` of a relaxed set ``z[B, M]`` when the set is worth its best
    member's quality (a downstream step picks the best answer among those run).

    Each member is taken as in the set with probability ``z_i``, independently: with the
    members sorted by decreasing ``quality``, ``sum_j q_j z_j prod_{i<j} (1 - z_i)``. For a
    0/1 ``z`` it is the largest quality among the chosen; with one member, ``sum_i z_i q_i``.
    """
    q, order = torch.sort(quality, dim=1, descending=True)
    zs = z.gather(1, order)
    before = torch.cumprod(torch.cat([torch.ones_like(zs[:, :1]), 1 - zs[:, :-1]], 1), 1)
    return (q * zs * before).sum(1)


def price_for(spend: Any, target: float, *, steps: int = 40) -> float:
    """The smallest price ``lam >= 0`` with ``spend(lam) <= target`` (``spend`` falls as the
    price rises): 0 when the unpriced choice fits; bisection of a doubling bracket, whose
    top (the dearest price tried, where only the cheapest members are left) is returned
    when no price fits."""
    if spend(0.0) <= target * (1 + 1e-9):
        return 0.0
    lo, hi = 0.0, 1.0
    for _ in range(60):
        if spend(hi) <= target * (1 + 1e-9):
            break
        lo, hi = hi, 2 * hi
    else:
        return hi
    for _ in range(steps):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if spend(mid) <= target * (1 + 1e-9) else (mid, hi)
    return hi


def hidden_members(n_rows: int, n_members: int, k: int, rate: float,
                   rng: np.random.Generator) -> np.ndarray | None:
    """Members to hide ``[n_rows, M]`` (1 = hidden): each with probability ``rate``, at most
    ``M - k`` per row so that k stay visible; None when nothing is hidden."""
    if rate == 0 or k >= n_members:
        return None
    keys = rng.random((n_rows, n_members))
    ranks = keys.argsort(1).argsort(1)
    return ((keys < rate) & (ranks < n_members - k)).astype(np.float32)


class _OutcomeObjective:
    """Routing on an outcome table: expected quality minus the cost's Lagrange term.

    The network's scores ``s[B, M]`` (in quality units) and the price ``lam`` give the relaxed
    choice: for ``k = 1`` the softmax of ``(s - lam c) / epsilon`` over the members whose
    outcome is observed, for ``k > 1`` the relaxed top-k of ``s - lam c`` (``method``), whose
    quality is that of its best member (`set_quality`). The loss is
    ``-(E[q] - lam E[c]) - epsilon H(z)`` (``k = 1``; the entropy term makes it
    ``epsilon KL(z || softmax((q - lam c) / epsilon))``, minimised by ``s = E[q | x]`` up to a
    constant per row, so the scores stay quality estimates at every price) or
    ``-(E[best q] - lam E[c])`` (``k > 1``). With a budget, ``lam`` is solved on each
    minibatch (no gradient) so that its mean expected cost is the budget (`price_for`);
    without one it is 0. Missing outcomes (``seen`` 0) are left out of the choice; rows
    with fewer than ``k`` observed are left out of the loss.

    ``F[N, F]``, ``quality[N, M]`` (NaN filled with 0), ``seen[N, M]`` (1 = observed),
    ``costs[M]`` (mean cost per member over the dearest member's), ``target`` (mean cost per
    input in those units, or None).
    """

    def __init__(self, F: torch.Tensor, quality: torch.Tensor, seen: torch.Tensor, *,
                 costs: torch.Tensor, target: float | None, k: int, method: str,
                 method_options: dict[str, Any], epsilon: float, member_dropout: float,
                 outcome_weight: float = 0.0) -> None:
        self.F, self.Q, self.seen = F, quality, seen
        self.outcome_weight = outcome_weight
        self.costs, self.target, self.k = costs, target, k
        self.method, self.method_options = method, method_options
        self.epsilon, self.member_dropout = epsilon, member_dropout

    def noise(self, n_rows: int, rng: np.random.Generator) -> np.ndarray | None:
        return hidden_members(n_rows, self.Q.shape[1], self.k, self.member_dropout, rng)

    def _choice(self, keys: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        if self.k == 1:
            return torch.softmax(keys.masked_fill(~visible, -math.inf) / self.epsilon, 1)
        return topk_mask(keys.masked_fill(~visible, -1e4), self.k, method=self.method,
                         **self.method_options)

    def _price(self, scores: torch.Tensor, visible: torch.Tensor) -> float:
        if self.target is None:
            return 0.0
        s = scores.detach()
        with torch.no_grad():
            return price_for(lambda lam: float((self._choice(s - lam * self.costs, visible)
                                                * self.costs).sum(1).mean()), self.target,
                             steps=25)

    def _value(self, scores: torch.Tensor, rows: torch.Tensor, noise: np.ndarray | None
               ) -> torch.Tensor:
        seen = self.seen[rows] > 0
        visible = seen if noise is None else seen & (torch.from_numpy(noise) == 0)
        short = visible.sum(1) < self.k
        visible = torch.where(short[:, None], seen, visible)
        used = seen.sum(1) >= self.k
        visible = visible | ~used[:, None]            # dropped rows: any finite choice
        price = self._price(scores[used], visible[used]) if used.any() else 0.0
        z = self._choice(scores - price * self.costs, visible)
        q = self.Q[rows]
        if self.k == 1:
            entropy = -(z * torch.log(z.clamp_min(1e-30))).sum(1)
            value = (z * q).sum(1) + self.epsilon * entropy
        else:
            value = set_quality(z, q)
        value = value - price * (z * self.costs).sum(1)
        return -(value * used).sum() / used.sum().clamp_min(1)

    def loss(self, model: nn.Module, rows: np.ndarray, noise: np.ndarray | None,
             generator: torch.Generator) -> torch.Tensor:
        idx = torch.from_numpy(rows)
        logits = model(self.F[idx])[0]
        return (self._value(torch.sigmoid(logits), idx, noise)
                + self.outcome_weight * self._outcome_loss(logits, idx))

    def _outcome_loss(self, logits: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Binary cross-entropy of every observed outcome against its score (the scores are
        each member's chance of success), the mean over observed cells."""
        if not self.outcome_weight:
            return logits.new_zeros(())
        seen = self.seen[rows]
        bce = nn.functional.binary_cross_entropy_with_logits(logits, self.Q[rows],
                                                             reduction="none")
        return (bce * seen).sum() / seen.sum().clamp_min(1)

    def evaluate(self, net: nn.Module, rows: np.ndarray) -> tuple[float, float]:
        """The loss on ``rows`` and, as the score, the mean quality of the hard choice at the
        price meeting the target there (missing outcomes count 0)."""
        idx = torch.from_numpy(rows)
        logits = net(self.F[idx])[0]
        scores = torch.sigmoid(logits)
        loss = float(self._value(scores, idx, None)
                     + self.outcome_weight * self._outcome_loss(logits, idx))

        def spend(lam: float) -> float:
            return float((priced_choice(scores, self.costs, lam, self.k) * self.costs)
                         .sum(1).mean())

        price = 0.0 if self.target is None else price_for(spend, self.target, steps=25)
        z = priced_choice(scores, self.costs, price, self.k)
        return loss, float((z * self.Q[idx]).max(1).values.mean())
