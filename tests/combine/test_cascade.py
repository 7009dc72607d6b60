"""Cascade: order, calibration to the budget, select = members run, the easy/hard case."""

from __future__ import annotations

import numpy as np
import pytest

from ensel import PredictionTable
from ensel.combine import Cascade, Stacking

BUDGET_TOL = 0.02   # the mean cost on validation is within 0.02 below the budget


def easy_hard_table(n: int, seed: int, *, hard_share: float = 0.3, noise: bool = True,
                    costs: list[float] | None = None) -> PredictionTable:
    """Member 'cheap' is right and confident on easy rows, uniform on hard ones; 'big' is
    right everywhere; 'noise' (optional) is random. Costs: cheap 1, big 10, noise 1."""
    rng = np.random.default_rng(seed)
    c = 3
    y = rng.integers(0, c, n)
    hard = rng.random(n) < hard_share
    onehot = np.eye(c)[y]
    cheap = np.where(hard[:, None], 1.0 / c, 0.05 + 0.85 * onehot)
    big = 0.05 + 0.85 * onehot
    random = rng.dirichlet(np.ones(c), size=n)
    P = np.stack([cheap, big, random] if noise else [cheap, big], axis=1)
    P /= P.sum(-1, keepdims=True)
    names = ["cheap", "big", "noise"][: P.shape[1]]
    costs = [1.0, 10.0, 1.0][: P.shape[1]] if costs is None else costs
    return PredictionTable.from_arrays(P, y=y, members=names, costs=costs)


def graded_table(n: int, seed: int, m: int = 6) -> PredictionTable:
    """Members of graded accuracy and noisy confidences: the cost varies smoothly."""
    rng = np.random.default_rng(seed)
    c = 4
    y = rng.integers(0, c, n)
    logits = rng.normal(size=(n, m, c)) * 1.5
    strength = np.linspace(0.5, 2.5, m)[None, :] * rng.random((n, 1)) * 2
    logits[np.arange(n), :, y] += strength
    P = np.exp(logits)
    P /= P.sum(-1, keepdims=True)
    return PredictionTable.from_arrays(P, y=y)


def test_escalates_only_on_hard_inputs() -> None:
    table, test = easy_hard_table(600, 0, noise=False), easy_hard_table(600, 1, noise=False)
    # expected cost: cheap (1) on every input + big (10) on the 30% hard ones = 4 of 11
    cascade = Cascade(budget=0.4).fit(table)
    assert cascade.order_.tolist() == [0, 1]
    sel = cascade.select(test)
    rng = np.random.default_rng(1)
    rng.integers(0, 3, 600)
    hard = rng.random(600) < 0.3
    assert (sel[:, 0] == 1).all()                           # cheap runs everywhere
    assert (sel[hard, 1] == 1).all() and (sel[~hard, 1] == 0).all()
    accuracy = (cascade.predict(test) == test.y).mean()
    assert accuracy >= 0.98
    spent = (sel * test.cost_matrix()).sum(1).mean()
    assert spent == pytest.approx(1 + 10 * hard.mean())


@pytest.mark.parametrize("combine", ["stacking", "mean"])
@pytest.mark.parametrize("budget", [0.2, 0.3, 0.5, 0.7])
def test_budget_met_on_validation(combine: str, budget: float) -> None:
    table = graded_table(800, 0)
    cascade = Cascade(budget=budget, combine=combine).fit(table)
    assert cascade.budget_met_
    assert budget - BUDGET_TOL <= cascade.validation_cost_fraction_ <= budget + 1e-12
    # the same on held-out data, looser: a different sample of inputs
    sel = cascade.select(graded_table(2000, 1))
    assert abs(sel.mean() - budget) <= 0.05


def test_budget_one_runs_everything_and_matches_stacking() -> None:
    table, test = graded_table(600, 0), graded_table(600, 1)
    cascade = Cascade(budget=1.0).fit(table)
    assert cascade.threshold_ == np.inf
    assert (cascade.select(test) == 1).all()
    ours = (cascade.predict(test) == test.y).mean()
    stacking = (Stacking().fit(table).predict(test) == test.y).mean()
    assert ours == pytest.approx(stacking, abs=0.005)


def test_select_is_a_prefix_of_the_order_and_equals_members_run() -> None:
    table, test = graded_table(500, 0), graded_table(300, 2)
    cascade = Cascade(budget=0.4).fit(table)
    calls: list[tuple[int, np.ndarray]] = []
    P = np.asarray(test.P)

    def fetch(j: int, rows: np.ndarray) -> np.ndarray:
        calls.append((j, rows.copy()))
        return P[rows, j]

    proba, selection = cascade.run_sequential(test.n_samples, fetch)
    ran = np.zeros_like(selection)
    for j, rows in calls:
        assert (ran[rows, j] == 0).all()                   # each member once per input
        ran[rows, j] = 1
    np.testing.assert_array_equal(ran, selection)
    np.testing.assert_array_equal(selection, cascade.select(test))
    np.testing.assert_allclose(proba, cascade.predict_proba(test))
    assert [j for j, _ in calls] == cascade.order_[:len(calls)].tolist()
    ordered = selection[:, cascade.order_]
    assert (np.diff(ordered, axis=1) <= 0).all()           # 1...1 0...0 in run order


def test_order_is_skill_per_cost() -> None:
    # skill (accuracy above chance) per cost: cheap ~0.37/1 > big ~0.64/10; noise (no skill)
    # goes last although it is cheap; at equal costs big comes first
    assert Cascade(budget=0.5).fit(easy_hard_table(300, 0)).order_.tolist() == [0, 1, 2]
    same = easy_hard_table(300, 0, costs=[1.0, 1.0, 1.0])
    assert Cascade(budget=0.5).fit(same).order_.tolist() == [1, 0, 2]
    assert Cascade(budget=0.5, order="table").fit(same).order_.tolist() == [0, 1, 2]


def test_max_cost_in_table_units() -> None:
    table = easy_hard_table(600, 0)
    cascade = Cascade(budget=None, max_cost=4.5).fit(table)
    assert cascade.validation_cost_ <= 4.5
    assert cascade.validation_cost_ >= 3.5


def test_at_budget_equals_a_fresh_fit() -> None:
    table, test = graded_table(500, 0), graded_table(300, 1)
    base = Cascade(budget=0.3).fit(table)
    for budget in (0.2, 0.5, 0.9):
        fresh = Cascade(budget=budget).fit(table)
        swept = base.at_budget(budget)
        assert swept.threshold_ == fresh.threshold_ and swept.budget == budget
        np.testing.assert_allclose(swept.predict_proba(test), fresh.predict_proba(test))
    assert base.budget == 0.3                                # the original is untouched


def test_budget_below_the_first_member_warns_and_stops_after_it() -> None:
    table = easy_hard_table(300, 0)
    with pytest.warns(UserWarning, match=r"even stopping after the first member costs 1 per "
                                         r"input on validation, above the budget 0\.6"):
        cascade = Cascade(budget=0.05).fit(table)
    assert not cascade.budget_met_ and cascade.threshold_ == -np.inf
    assert (cascade.select(table).sum(1) == 1).all()


@pytest.mark.parametrize(("params", "match"), [
    ({"budget": None}, r"Cascade needs exactly one of 'budget' and 'max_cost'\. Got "
                       r"budget=None, max_cost=None"),
    ({"budget": 0.3, "max_cost": 2.0}, r"needs exactly one of 'budget' and 'max_cost'"),
    ({"budget": 0.0}, r"The 'budget' parameter of Cascade must be a float in \(0, 1\]\. Got 0"),
    ({"budget": 1.5}, r"'budget' parameter of Cascade must be a float in \(0, 1\]"),
    ({"budget": None, "max_cost": -1.0}, r"'max_cost' parameter of Cascade must be a float in "
                                         r"\(0, inf\)"),
    ({"combine": "vote"}, r"'combine' parameter of Cascade must be one of \('stacking', "
                          r"'mean'\)"),
    ({"order": "random"}, r"'order' parameter of Cascade must be one of"),
    ({"validation_fraction": 1.0}, r"'validation_fraction' parameter of Cascade must be a "
                                   r"float in \(0, 1\)"),
    ({"refit": "yes"}, r"'refit' parameter of Cascade"),
])
def test_parameter_errors(params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Cascade(**params).fit(easy_hard_table(50, 0))


def test_too_few_rows_and_at_budget_errors() -> None:
    with pytest.raises(ValueError, match=r"Cascade needs at least 4 rows .* the table has 3"):
        Cascade().fit(easy_hard_table(3, 0))
    cascade = Cascade().fit(easy_hard_table(60, 0))
    with pytest.raises(ValueError, match=r"Cascade\.at_budget needs exactly one of 'budget' and "
                                         r"'max_cost'"):
        cascade.at_budget(None)
    with pytest.raises(ValueError, match=r"'budget' parameter of Cascade must be a float"):
        cascade.at_budget(2.0)
