"""AutoCombiner: the choice is the cross-validated best on the selection table, refitted on all."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold

from ensel import PredictionTable
from ensel.combine import (
    AutoCombiner,
    Average,
    BestSingle,
    GreedySelection,
    Stacking,
    get_combiner,
)
from ensel.combine.auto import (
    BUDGET_CANDIDATES,
    DEFAULT_CANDIDATES,
    cost_fraction_of,
    cross_validate,
)
from ensel.combine.rules import log_loss

from .conftest import CLASSES, synthetic_arrays


def _shifted_table(n: int = 150, seed: int = 0) -> PredictionTable:
    """Members that are confidently right about the *next* class: only stacking can undo it."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    P = np.stack([0.8 * np.eye(3)[(y + 1) % 3] + 0.2 * rng.dirichlet(np.ones(3), n)
                  for _ in range(3)], axis=1)
    return PredictionTable.from_arrays(P, y=y)


def test_chooses_the_candidate_that_generalises():
    table = _shifted_table()
    auto = AutoCombiner(candidates=["best-single", "average", "stacking"]).fit(table)
    assert auto.best_ == "stacking"
    assert auto.cv_scores_["stacking"] < 0.2 < 2.0 < auto.cv_scores_["average"]
    assert np.mean(auto.predict(table) == table.y) > 0.95


def test_cv_scores_are_the_mean_over_stratified_folds(clf_tables):
    sel, _ = clf_tables
    auto = AutoCombiner(candidates=["average", "greedy"], cv=4, random_state=7).fit(sel)
    folds = list(StratifiedKFold(4, shuffle=True, random_state=7).split(sel.P, sel.y))
    for name, est in (("average", Average()), ("greedy", GreedySelection())):
        manual = [log_loss(clone(est).fit(sel[tr]).predict_proba(sel[te]), sel.y[te])
                  for tr, te in folds]
        assert auto.cv_scores_[name] == pytest.approx(np.mean(manual), abs=1e-12)
    scores = cross_validate(Average(), sel, folds)
    assert scores["log_loss"].shape == (4,)
    assert auto.cv_results_["mean_accuracy"][0] == pytest.approx(scores["accuracy"].mean())


def test_winner_is_refitted_on_every_row(clf_tables):
    sel, test = clf_tables
    auto = AutoCombiner(candidates=[("mine", Stacking()), ("avg", Average())]).fit(sel)
    assert auto.best_ == "mine" and auto.best_estimator_ is not auto.candidates[0][1]
    twin = Stacking().fit(sel)
    np.testing.assert_array_equal(auto.predict_proba(test), twin.predict_proba(test))
    np.testing.assert_array_equal(auto.select(test), twin.select(test))
    np.testing.assert_array_equal(auto.predict(test), twin.predict(test))
    assert not hasattr(auto.candidates[0][1], "members_")    # the user's object is left unfitted


def test_metric_accuracy_chooses_by_accuracy(clf_tables):
    sel, _ = clf_tables
    auto = AutoCombiner(candidates=["vote", "average", "best-single"], metric="accuracy").fit(sel)
    acc = dict(zip(auto.cv_results_["candidate"], auto.cv_results_["mean_accuracy"],
                   strict=True))
    assert auto.best_ == max(acc, key=acc.get)
    assert auto.best_score_ == acc[auto.best_] == auto.cv_scores_[auto.best_]


def test_ties_go_to_the_first_candidate(clf_tables):
    auto = AutoCombiner(candidates=[("b", Average()), ("a", Average())]).fit(clf_tables[0])
    assert auto.best_ == "b" and auto.cv_scores_["a"] == auto.cv_scores_["b"]


def test_results_table_and_skipped_candidates():
    P, y, _ = synthetic_arrays(n=60)
    table = PredictionTable.from_arrays(P, y=y)             # no inputs X
    auto = AutoCombiner(candidates=["average", "knora-e", "oracle"], cv=3).fit(table)
    res = auto.cv_results_
    assert res["candidate"] == ["average", "knora-e", "oracle"]
    assert res["status"] == ["scored", "skipped: needs inputs X",
                             "skipped: needs labels at predict"]
    assert set(res) == {"candidate", "status", "seconds", "mean_log_loss", "std_log_loss",
                        "mean_accuracy", "std_accuracy"}
    assert np.isnan(res["mean_log_loss"][1]) and list(auto.cv_scores_) == ["average"]


def test_default_candidates_on_regression_skip_the_classifiers(reg_tables):
    sel, test = reg_tables
    auto = AutoCombiner(cv=3).fit(sel)
    scored = [c for c, s in zip(auto.cv_results_["candidate"], auto.cv_results_["status"],
                                strict=True) if s == "scored"]
    assert scored == ["best-single", "average", "weighted-average", "greedy", "qo-es",
                      "qdo-es", "stacking"]
    assert auto.best_ in scored and "mean_squared_error" in auto.cv_results_
    assert auto.predict(test).shape == (test.n_samples,)


def test_default_candidates_are_registered_and_torch_free():
    from ensel.combine import COMBINERS

    assert all(name in COMBINERS for name, _ in DEFAULT_CANDIDATES)
    code = ("import sys, numpy as np; from ensel import PredictionTable; "
            "from ensel.combine import AutoCombiner; rng = np.random.default_rng(0); "
            "t = PredictionTable.from_arrays(rng.dirichlet(np.ones(3), size=(60, 3)), "
            "y=rng.integers(0, 3, 60), X=rng.normal(size=(60, 2))); "
            "AutoCombiner(cv=3).fit(t); assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_max_seconds_skips_the_rest_with_a_warning(clf_tables):
    with pytest.warns(UserWarning, match=r"max_seconds=1e-09 was spent; candidates not tried: "
                                         r"\['average', 'stacking'\]"):
        auto = AutoCombiner(candidates=["best-single", "average", "stacking"],
                            max_seconds=1e-9).fit(clf_tables[0])
    assert auto.best_ == "best-single"
    assert auto.cv_results_["status"][1] == "skipped: max_seconds=1e-09 spent"


def test_verbose_prints_one_line_per_candidate(clf_tables, capsys):
    AutoCombiner(candidates=["average", "oracle"], verbose=True).fit(clf_tables[0])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("[AutoCombiner] 1/2 average: log_loss ")
    assert lines[1].startswith("[AutoCombiner] 2/2 oracle: skipped: needs labels at predict")


def test_selection_needs_predictions_follows_the_winner(clf_tables):
    auto = AutoCombiner(candidates=["best-single"])
    assert auto.selection_needs_predictions_ is True
    auto.fit(clf_tables[0])
    assert auto.selection_needs_predictions_ is False
    assert isinstance(auto.best_estimator_, BestSingle)


# ---------------------------------------------------------------- bad parameters
@pytest.mark.parametrize("params, match", [
    ({"cv": 1}, r"'cv' parameter of AutoCombiner must be an int in \[2, 80\]. Got 1"),
    ({"cv": 81}, r"'cv' parameter of AutoCombiner must be an int in \[2, 80\]. Got 81"),
    ({"metric": "squared_error"}, r"'metric' parameter of AutoCombiner must be one of \(None, "
                                  r"'log_loss', 'accuracy'\)"),
    ({"budget": 0.0}, r"'budget' parameter of AutoCombiner must be a float in \(0, 1\]. Got 0.0"),
    ({"budget": 1.5}, r"'budget' parameter of AutoCombiner must be a float in \(0, 1\]. Got 1.5"),
    ({"max_seconds": 0}, r"'max_seconds' parameter of AutoCombiner must be a float in \(0, "
                         r"inf\]. Got 0"),
    ({"random_state": -1}, r"'random_state' parameter of AutoCombiner must be an int >= 0"),
    ({"candidates": []}, r"'candidates' parameter of AutoCombiner must be a non-empty list"),
    ({"candidates": "stacking"}, r"must be a non-empty list .* Got 'stacking' instead"),
    ({"candidates": ["stackin"]}, r"candidate 'stackin' is neither a name in COMBINERS"),
    ({"candidates": [("a", "average")]}, r"candidate \('a', 'average'\) is neither"),
    ({"candidates": [Average(), Average()]}, r"names must be unique; \['Average'\] repeat"),
])
def test_bad_parameters(params, match, clf_tables):
    with pytest.raises(ValueError, match=match):
        AutoCombiner(**params).fit(clf_tables[0])


def test_no_candidate_fits_the_table():
    P, y, _ = synthetic_arrays(n=40)
    table = PredictionTable.from_arrays(P, y=CLASSES[y], classes=CLASSES)
    with pytest.raises(ValueError, match=r"no candidate can be fitted on this classification "
                                         r"table \(inputs X: no\); statuses: \{'knora-e': "
                                         r"'skipped: needs inputs X'\}"):
        AutoCombiner(candidates=["knora-e"], cv=2).fit(table)


def test_predict_proba_on_regression_names_autocombiner(reg_tables):
    auto = AutoCombiner(candidates=["average"], cv=2).fit(reg_tables[0])
    with pytest.raises(ValueError, match="AutoCombiner.predict_proba is defined for "
                                         "classification"):
        auto.predict_proba(reg_tables[1])


def test_inside_selective_ensemble_runs_only_what_the_winner_selects():
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.tree import DecisionTreeClassifier

    from ensel import SelectiveEnsemble

    X, y = make_classification(n_samples=300, n_features=6, n_informative=4, random_state=0)
    members = [("lr", LogisticRegression()), ("nb", GaussianNB()),
               ("tree", DecisionTreeClassifier(max_depth=3, random_state=0))]
    auto = AutoCombiner(candidates=["best-single", "average"], cv=3)
    ens = SelectiveEnsemble(members, auto).fit(X, y)
    assert ens.combiner_.best_ in ("best-single", "average")
    assert ens.score(X, y) > 0.8
    selection = ens.select(X)
    used = 1 if ens.combiner_.best_ == "best-single" else 3
    assert selection.shape == (300, 3) and ((selection > 0).sum(axis=1) == used).all()


# ---------------------------------------------------------------- budget
def test_budget_only_chooses_candidates_within_it(clf_tables):
    sel, test = clf_tables
    auto = AutoCombiner(budget=0.4, cv=4).fit(sel)
    res = auto.cv_results_
    assert res["candidate"] == [name for name, _ in BUDGET_CANDIDATES]
    if auto.best_ == "cascade":
        assert auto.best_estimator_.budget == 0.4
    best = res["candidate"].index(auto.best_)
    assert res["status"][best] == "scored" and res["mean_cost_fraction"][best] <= 0.4
    for status, cost in zip(res["status"], res["mean_cost_fraction"], strict=True):
        assert (status == "scored") == (cost <= 0.4)
        if cost > 0.4:
            assert status == f"over budget: cost {cost:.3f} > 0.4"


def test_budget_excludes_a_better_but_dearer_candidate():
    P, y, _ = synthetic_arrays(n=120)
    table = PredictionTable.from_arrays(P, y=y, costs=[1.0, 1.0, 1.0, 5.0])
    free = AutoCombiner(candidates=["best-single", "weighted-average"], cv=3).fit(table)
    assert free.best_ == "weighted-average"
    capped = AutoCombiner(candidates=["best-single", "weighted-average"], cv=3,
                          budget=0.5).fit(table)
    assert capped.best_ == "best-single"
    assert capped.cv_results_["status"][1] == "over budget: cost 1.000 > 0.5"
    folds = StratifiedKFold(3, shuffle=True, random_state=0).split(table.P, table.y)
    manual = [cost_fraction_of(BestSingle().fit(table[tr]), table[te]) for tr, te in folds]
    assert capped.cv_results_["mean_cost_fraction"][0] == pytest.approx(np.mean(manual))
    assert min(manual) == 1 / 8                 # one unit-cost member of a pool costing 8
    with pytest.raises(ValueError, match=r"no candidate meets budget=0.05; cross-validated cost "
                                         r"fractions: \{'best-single': 0.\d+\}"):
        AutoCombiner(candidates=["best-single"], cv=3, budget=0.05).fit(table)


def test_cost_fraction_counts_every_member_when_selection_needs_them(clf_tables):
    sel, test = clf_tables
    meta = get_combiner("meta-des")().fit(sel)
    assert meta.selection_needs_predictions_ and cost_fraction_of(meta, test) == 1.0
    knora = get_combiner("knora-e")().fit(sel)
    expected = (knora.select(test) > 0).mean()
    assert not knora.selection_needs_predictions_
    assert cost_fraction_of(knora, test) == pytest.approx(expected) and expected < 1.0
