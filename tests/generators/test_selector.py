"""The listwise scorer and the SQL selector: training, selection, save/load, errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from ensel.generators import ListwiseSelector
from ensel.generators.sql import (
    SQLiteDatabases,
    SQLSelector,
    choose_groups,
    database_folds,
    evaluate_selection,
    execute_questions,
    load_questions,
    system_accuracies,
)


def toy(n: int = 60, k: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Feature 0 marks the right candidate (with noise); candidate k-1 is absent half the time."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, k, 3)).astype(np.float32)
    mask = np.ones((n, k), dtype=bool)
    mask[::2, -1] = False
    best = np.where(mask, X[:, :, 0], -np.inf).argmax(axis=1)
    correct = np.zeros((n, k), dtype=bool)
    correct[np.arange(n), best] = True
    return X, mask, correct


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> list:
    from .conftest import make_pets_db, write_questions

    root = tmp_path_factory.mktemp("sel")
    dbs = ["pets_a", "pets_b", "pets_c"]
    for db in dbs:
        make_pets_db(root / "database" / db / f"{db}.sqlite")
    questions = write_questions(root / "questions.jsonl", dbs)
    return execute_questions(load_questions(questions), SQLiteDatabases(root / "database"))


# ---------------------------------------------------------------------------- ListwiseSelector
@pytest.mark.parametrize("hidden_layer_sizes, solver", [((), "lbfgs"), ((8,), "lbfgs"),
                                                       ((), "adam")])
def test_listwise_selector_learns(hidden_layer_sizes: tuple, solver: str) -> None:
    X, mask, correct = toy()
    sel = ListwiseSelector(hidden_layer_sizes, alpha=1e-3, solver=solver, max_iter=150).fit(
        X, mask, correct)
    Xt, mt, ct = toy(seed=1)
    pick = sel.predict(Xt, mt)
    assert mt[np.arange(len(pick)), pick].all()            # never an absent candidate
    assert ct[np.arange(len(pick)), pick].mean() > 0.85
    scores = sel.decision_function(Xt, mt)
    assert scores.shape == (60, 4) and np.isneginf(scores[~mt]).all()
    assert sel.loss(Xt, mt, ct) < np.log(4)


def test_penalty_keeps_unpenalised_features() -> None:
    X, mask, correct = toy()
    sel = ListwiseSelector(alpha=100.0).fit(X, mask, correct, penalty=[0.0, 1.0, 1.0])
    w = np.abs(sel.net_[0].weight.detach().numpy()[0])
    assert w[0] > 1.0 and w[1:].max() < 0.01


@pytest.mark.parametrize("method, params", [
    ("sparse", {"epsilon": 1.0}),
    ("entropic", {"epsilon": 0.5}),
    ("straight_through", {}),
])
def test_relaxed_selection_from_ensel_ops(method: str, params: dict) -> None:
    pytest.importorskip("ensel.ops")
    X, mask, correct = toy()
    sel = ListwiseSelector(method=method, method_options=params, alpha=1e-3).fit(X, mask,
                                                                                 correct)
    pick = sel.predict(X, mask)
    assert correct[np.arange(len(pick)), pick].mean() > 0.8


def test_falls_back_to_softmax_without_ensel_ops(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ensel.ops", None)     # import now raises ImportError
    X, mask, correct = toy()
    with pytest.warns(RuntimeWarning, match="ensel.ops.topk_mask is not available"):
        sel = ListwiseSelector(method="sparse").fit(X, mask, correct)
    assert sel.predict(X, mask).shape == (60,)


def test_ties_go_to_the_earliest_candidate() -> None:
    X = np.zeros((2, 3, 1), dtype=np.float32)
    X[0, 2] = X[0, 1] = 1.0
    correct = np.array([[False, True, True], [True, False, False]])
    sel = ListwiseSelector().fit(X, None, correct)
    assert sel.predict(X).tolist() == [1, 0]


def test_listwise_save_load_round_trip(tmp_path: Path) -> None:
    X, mask, correct = toy()
    sel = ListwiseSelector((4,), alpha=1e-2).fit(X, mask, correct)
    sel.save(tmp_path / "m", metadata={"note": "x"})
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json",
                                                                  "model.safetensors"]
    back = ListwiseSelector.load(tmp_path / "m")
    assert np.array_equal(back.decision_function(X, mask), sel.decision_function(X, mask))
    assert back.metadata_ == {"note": "x"} and back.get_params() == sel.get_params()


@pytest.mark.parametrize("kwargs, message", [
    ({"method": "argmax"}, "'method' parameter of ListwiseSelector must be one of"),
    ({"solver": "sgd"}, r"'solver' parameter of ListwiseSelector must be one of \('lbfgs', "
                        r"'adam'\). Got 'sgd'"),
    ({"hidden_layer_sizes": (0,)},
     r"'hidden_layer_sizes' parameter of ListwiseSelector must be a tuple of ints >= 1. "
     r"Got \(0,\)"),
    ({"hidden_layer_sizes": "8"}, "'hidden_layer_sizes' parameter of ListwiseSelector must be a"),
    ({"method_options": [1]}, r"'method_options' parameter of ListwiseSelector must be a dict or "
                              r"None. Got \[1\]"),
    ({"max_iter": 0}, "'max_iter' parameter of ListwiseSelector must be an int >= 1. Got 0"),
    ({"alpha": -1.0}, r"'alpha' parameter of ListwiseSelector must be a float in \[0, inf\]"),
    ({"learning_rate": 0.0},
     r"'learning_rate' parameter of ListwiseSelector must be a float in \(0, inf\]. Got 0.0"),
    ({"dropout": 1.0}, r"'dropout' parameter of ListwiseSelector must be a float in \[0, 1\)"),
])
def test_listwise_parameter_errors(kwargs: dict, message: str) -> None:
    X, mask, correct = toy(n=4)
    with pytest.raises(ValueError, match=message):
        ListwiseSelector(**kwargs).fit(X, mask, correct)


def test_listwise_input_errors(tmp_path: Path) -> None:
    X, mask, correct = toy(n=4)
    sel = ListwiseSelector()
    with pytest.raises(ValueError, match=r"'X' must have shape \(n_questions, n_candidates"):
        sel.fit(X[0], None, correct)
    with pytest.raises(ValueError, match=r"'mask' must have shape \(4, 4\)"):
        sel.fit(X, mask[:, :2], correct)
    with pytest.raises(ValueError, match=r"'correct' must have shape \(4, 4\)"):
        sel.fit(X, mask, correct[:2])
    bad = X.copy()
    bad[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite value at question 1, candidate 2, feature 0"):
        sel.fit(bad, mask, correct)
    empty = mask.copy()
    empty[3] = False
    with pytest.raises(ValueError, match="question 3 has no candidate"):
        sel.fit(X, empty, correct)
    with pytest.raises(ValueError, match="No question has a correct candidate"):
        sel.fit(X, mask, np.zeros_like(correct))
    with pytest.raises(ValueError, match=r"'penalty' must hold 3 non-negative numbers"):
        sel.fit(X, mask, correct, penalty=[1.0])
    with pytest.raises(NotFittedError, match="This ListwiseSelector is not fitted yet: call "
                                             r"fit\(\) or load\(\) first"):
        sel.predict(X)
    sel.fit(X, mask, correct)
    with pytest.raises(ValueError, match="'X' has 2 features but the selector was fitted with 3"):
        sel.predict(X[:, :, :2])
    with pytest.raises(FileNotFoundError, match="No saved selector in"):
        ListwiseSelector.load(tmp_path)
    sel.save(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    cfg["version"] = 99
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=r"config.json has format version 99; this ensel reads "
                                         r"version\(s\) \[2\]"):
        ListwiseSelector.load(tmp_path / "m")


# ---------------------------------------------------------------------------- SQLSelector
def test_sql_selector_fit_select_and_round_trip(executed: list, tmp_path: Path) -> None:
    sel = SQLSelector(alphas=(0.1, 10.0), cv=3).fit(executed)
    assert sel.systems_ == ["a", "b", "c"] and sel.alpha_ in (0.1, 10.0)
    assert set(sel.cv_results_) == {0.1, 10.0}
    assert sel.system_accuracy_ == system_accuracies(executed)
    scores = sel.decision_function(executed)
    assert scores.shape == (18, 3)
    assert np.isneginf(scores[3, 2])                  # a failed candidate gets -inf
    assert scores[1, 1] == scores[1, 2]               # equivalent candidates share a score
    picks = sel.select(executed)
    assert picks.shape == (18,) and picks[1] in (0, 1)   # first member of its group
    accuracy = evaluate_selection(executed, selector=sel)["accuracy"]
    assert accuracy["selector"] >= accuracy["consensus"]
    sel.save(tmp_path / "sel")
    back = SQLSelector.load(tmp_path / "sel")
    assert np.array_equal(back.decision_function(executed), scores)
    assert back.alpha_ == sel.alpha_ and back.get_params() == sel.get_params()


def test_sql_selector_single_alpha_skips_cv(executed: list) -> None:
    sel = SQLSelector(alphas=(1.0,), method="entropic").fit(executed[:6])
    assert sel.alpha_ == 1.0 and sel.cv_results_ == {}


def test_sql_selector_errors(executed: list, tmp_path: Path) -> None:
    with pytest.raises(NotFittedError, match="This SQLSelector is not fitted yet"):
        SQLSelector().select(executed)
    with pytest.raises(NotFittedError, match="This SQLSelector is not fitted yet"):
        SQLSelector().decision_function(executed)
    with pytest.raises(NotFittedError, match="This SQLSelector is not fitted yet"):
        SQLSelector().save(tmp_path / "never")
    with pytest.raises(ValueError, match="'alphas' parameter of SQLSelector must be a non-empty"):
        SQLSelector(alphas=()).fit(executed)
    with pytest.raises(ValueError, match="'scoring' parameter of SQLSelector must be"):
        SQLSelector(scoring="auc").fit(executed)
    with pytest.raises(ValueError, match="SQLSelector.fit needs at least one executed question"):
        SQLSelector().fit([])
    with pytest.raises(ValueError, match="Cross-validation by database needs at least 2"):
        SQLSelector().fit(executed[:6])
    sel = SQLSelector(alphas=(1.0,)).fit(executed)
    import dataclasses

    renamed = [dataclasses.replace(executed[0], systems=["x", "b", "c"])]
    with pytest.raises(ValueError, match=r"executed with systems \['x', 'b', 'c'\] but the "
                                         r"selector was trained on \['a', 'b', 'c'\]"):
        sel.select(renamed)
    no_gold = [dataclasses.replace(executed[0], correct=None)]
    with pytest.raises(ValueError, match="question 0 has no gold SQL"):
        SQLSelector().fit(no_gold)
    ListwiseSelector().fit(*toy(n=8)).save(tmp_path / "plain")
    with pytest.raises(ValueError, match="holds a ListwiseSelector, not a SQLSelector"):
        SQLSelector.load(tmp_path / "plain")
    sel.save(tmp_path / "sel")
    cfg = json.loads((tmp_path / "sel" / "config.json").read_text())
    cfg["metadata"]["feature_names"] = cfg["metadata"]["feature_names"][:-1]
    (tmp_path / "sel" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="different feature set than this version"):
        SQLSelector.load(tmp_path / "sel")


def test_database_folds() -> None:
    ids = ["a"] * 5 + ["b"] * 3 + ["c"] * 2 + ["d"] * 2
    folds = database_folds(ids, 2)
    assert len(folds) == 2 and not (folds[0] & folds[1]).any() and (folds[0] | folds[1]).all()
    assert sorted(f.sum() for f in folds) == [5, 7]                # b+c | a+d
    assert len(database_folds(ids, 10)) == 4                        # one per database
    with pytest.raises(ValueError, match="needs at least 2 databases, got \\['a'\\]"):
        database_folds(["a", "a"], 2)


@pytest.mark.parametrize("hidden_layer_sizes", [(), (8,)])
def test_training_is_deterministic(hidden_layer_sizes: tuple) -> None:
    import torch

    X, mask, correct = toy()
    sel = ListwiseSelector(hidden_layer_sizes, alpha=0.1)
    first = sel.fit(X, mask, correct).decision_function(X, mask)
    torch.rand(10)                                         # move the global generator
    again = clone(sel).fit(X, mask, correct).decision_function(X, mask)
    assert np.array_equal(first, again)


# ---------------------------------------------------------------------------- the gate
def test_gate_keeps_consensus_unless_a_close_group_wins_by_the_margin() -> None:
    scores = np.array([[0.0, 1.0, 3.0], [0.0, 0.4, -np.inf], [2.0, 1.0, 0.0]])
    mask = np.array([[True, True, True], [True, True, False], [True, True, True]])
    cons = np.array([0, 0, 1])
    sizes = np.array([[5, 4, 1], [3, 3, 0], [2, 4, 1]])
    def gate(margin: float, vote_gap: int | None) -> list[int]:
        return choose_groups(scores, mask, cons, sizes, margin=margin,
                             vote_gap=vote_gap).tolist()

    assert gate(np.inf, None) == [0, 0, 1]          # consensus
    assert gate(-np.inf, None) == [2, 1, 0]         # argmax
    assert gate(0.5, None) == [2, 0, 0]
    assert gate(0.5, 1) == [1, 0, 1]                # group 2 is 4 votes behind
    assert gate(0.0, 0) == [0, 1, 1]                # ties only


def test_sql_selector_gate_is_chosen_by_cv_and_round_trips(executed: list,
                                                            tmp_path: Path) -> None:
    sel = SQLSelector(alphas=(0.1, 10.0), cv=3, margins=(0.0, 1.0), vote_gaps=(0, None)
                      ).fit(executed)
    assert set(sel.gate_cv_results_) == {(a, g, m) for a in (0.1, 10.0) for g in (0, None)
                                         for m in (0.0, 1.0)}
    assert sel.margin_ in (0.0, 1.0, np.inf) and sel.vote_gap_ in (0, None)
    chosen = (sel.gate_cv_results_[(sel.alpha_, sel.vote_gap_, sel.margin_)]
              if np.isfinite(sel.margin_) else sel.consensus_cv_error_)
    assert chosen <= sel.consensus_cv_error_ and chosen <= min(sel.gate_cv_results_.values())
    picks = sel.select(executed)
    sel.save(tmp_path / "gated")
    back = SQLSelector.load(tmp_path / "gated")
    assert back.margin_ == sel.margin_ and back.vote_gap_ == sel.vote_gap_
    assert np.array_equal(back.select(executed), picks)
    assert back.get_params() == sel.get_params()


def test_sql_selector_gate_never_overriding_is_consensus(executed: list, tmp_path: Path) -> None:
    sel = SQLSelector(alphas=(1.0,), cv=3, margins=(0.0,), min_gain=10_000).fit(executed)
    assert sel.margin_ == np.inf
    consensus = [eq.groups.consensus() for eq in executed]
    assert sel.select(executed).tolist() == consensus
    sel.save(tmp_path / "never")
    assert SQLSelector.load(tmp_path / "never").select(executed).tolist() == consensus
    ungated = SQLSelector(alphas=(1.0,)).fit(executed)          # default: no gate
    assert ungated.margin_ == -np.inf and ungated.gate_cv_results_ == {}
    assert np.array_equal(ungated.select(executed),
                          np.argmax(np.where(np.isfinite(s := ungated.decision_function(
                              executed)), s, -np.finfo(np.float32).max), axis=1))


def test_sql_selector_feature_subset(executed: list) -> None:
    sel = SQLSelector(alphas=(1.0,), features=("group.", "result.")).fit(executed)
    kept = [n for n in sel.feature_names_ if n.startswith(("group.", "result."))]
    assert sel.scorer_.n_features_ == len(kept) < len(sel.feature_names_)
    assert sel.select(executed).shape == (18,)


@pytest.mark.parametrize("kwargs, message", [
    ({"margins": ()}, "'margins' parameter of SQLSelector must be None or a non-empty"),
    ({"margins": (-1.0,)}, "'margins' parameter of SQLSelector must be None or a non-empty"),
    ({"vote_gaps": (1.5,)}, "'vote_gaps' parameter of SQLSelector must be a non-empty"),
    ({"features": "group."}, "'features' parameter of SQLSelector must be None or a non-empty"),
])
def test_sql_selector_gate_parameter_errors(executed: list, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SQLSelector(**kwargs).fit(executed)


# ---------------------------------------------------------------------------- scikit-learn API
def test_selectors_are_scikit_learn_estimators() -> None:
    sel = ListwiseSelector((4,), method_options={"epsilon": 0.5})
    assert sel.get_params()["hidden_layer_sizes"] == (4,)
    assert sel.set_params(learning_rate=0.1, alpha=0.5) is sel
    assert (sel.learning_rate, sel.alpha) == (0.1, 0.5)
    copy = clone(sel)
    assert copy is not sel and copy.get_params() == sel.get_params()
    sql = clone(SQLSelector(alphas=(1.0,), margins=(0.0,)))
    assert sql.get_params()["margins"] == (0.0,) and not hasattr(sql, "scorer_")
    assert "hidden_layer_sizes" in SQLSelector().get_params()


def test_not_fitted_errors_name_the_class(tmp_path: Path) -> None:
    X, mask, correct = toy(n=4)
    for call in (lambda s: s.decision_function(X), lambda s: s.loss(X, mask, correct),
                 lambda s: s.save(tmp_path / "m")):
        with pytest.raises(NotFittedError, match="This ListwiseSelector is not fitted yet"):
            call(ListwiseSelector())
    assert not (tmp_path / "m").exists()


# ---------------------------------------------------------------------------- saved files
def _v1_listwise(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """A (4,)-MLP saved the way ensel 0.1 saved it; returns (X, the scores it must give)."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(3)
    w0, b0 = rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=4).astype(np.float32)
    w3, b3 = rng.normal(size=(1, 4)).astype(np.float32), rng.normal(size=1).astype(np.float32)
    mean, scale = np.array([0.5, -1.0, 0.0], np.float32), np.array([2.0, 1.0, 0.5], np.float32)
    folder.mkdir()
    # 0.1 built Linear, ReLU, Dropout, Linear: the output layer was number 3
    save_file({"net.0.weight": w0, "net.0.bias": b0, "net.3.weight": w3, "net.3.bias": b3,
               "mean": mean, "scale": scale}, str(folder / "model.safetensors"))
    params = {"hidden": [4], "method": "softmax", "method_params": {}, "alpha": 0.01,
              "solver": "adam", "max_iter": 50, "lr": 0.05, "dropout": 0.0, "random_state": 0}
    config = {"format": "ensel.generators.ListwiseSelector", "format_version": 1,
              "params": params, "n_features": 3, "loss": 0.25, "metadata": {"note": "old"}}
    (folder / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    X = rng.normal(size=(5, 2, 3)).astype(np.float32)
    hidden = np.maximum(((X - mean) / scale) @ w0.T + b0, 0.0)
    return X, (hidden @ w3.T + b3)[..., 0]


def test_listwise_loads_a_model_saved_by_ensel_0_1(tmp_path: Path) -> None:
    X, expected = _v1_listwise(tmp_path / "old")
    with pytest.warns(FutureWarning, match=r"'hidden' is now 'hidden_layer_sizes', "
                                           r"'lr' is now 'learning_rate', 'method_params' is "
                                           r"now 'method_options'"):
        sel = ListwiseSelector.load(tmp_path / "old")
    assert sel.hidden_layer_sizes == (4,) and sel.learning_rate == 0.05
    assert sel.method_options == {} and sel.metadata_ == {"note": "old"}
    np.testing.assert_allclose(sel.decision_function(X), expected, rtol=1e-5, atol=1e-5)
    sel.save(tmp_path / "old")                    # rewritten in the current format
    cfg = json.loads((tmp_path / "old" / "config.json").read_text())
    assert cfg["version"] == 2 and "format_version" not in cfg
    assert set(cfg["params"]) == set(ListwiseSelector().get_params())
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = ListwiseSelector.load(tmp_path / "old")
    np.testing.assert_allclose(again.decision_function(X), expected, rtol=1e-5, atol=1e-5)


def test_sql_selector_loads_a_model_saved_by_ensel_0_1(executed: list, tmp_path: Path) -> None:
    sel = SQLSelector(alphas=(1.0,)).fit(executed)
    sel.save(tmp_path / "sel")
    path = tmp_path / "sel" / "config.json"
    cfg = json.loads(path.read_text())
    old = {"hidden": [], "method": "softmax", "method_params": {}}       # 0.1's names
    cfg["format_version"] = cfg.pop("version") - 1
    scorer = {k: v for k, v in cfg["params"].items()
              if k not in ("hidden_layer_sizes", "learning_rate", "method_options")}
    cfg["params"] = {**scorer, **old, "lr": 0.01}
    meta = {k: v for k, v in cfg["metadata"]["params"].items()
            if k not in ("hidden_layer_sizes", "method_options", "margins")}  # 0.1: no gate
    cfg["metadata"]["params"] = {**meta, "hidden": [], "method_params": {}}
    path.write_text(json.dumps(cfg, indent=2))
    from safetensors.numpy import load_file, save_file

    weights = load_file(str(tmp_path / "sel" / "model.safetensors"))
    weights["mean"], weights["scale"] = weights.pop("feature_mean"), weights.pop("feature_scale")
    save_file(weights, str(tmp_path / "sel" / "model.safetensors"))      # 0.1's tensor names
    with pytest.warns(FutureWarning) as record:
        back = SQLSelector.load(tmp_path / "sel")
    messages = sorted(str(w.message) for w in record)
    assert len(messages) == 2
    assert messages[0].startswith(f"{path} (SQLSelector metadata) was saved with the parameter "
                                  f"names of ensel 0.1 ('hidden' is now 'hidden_layer_sizes', "
                                  f"'method_params' is now 'method_options')")
    assert messages[1].startswith(f"{path} was saved with the parameter names of ensel 0.1 "
                                  f"('hidden' is now 'hidden_layer_sizes', 'lr' is now "
                                  f"'learning_rate', 'method_params' is now 'method_options')")
    assert back.margins is None and back.margin_ == -np.inf
    assert np.array_equal(back.select(executed), sel.select(executed))
    assert back.method_options == {}                  # 0.1 saved None as {}
    assert back.get_params() == {**sel.get_params(), "method_options": {}}


def test_load_errors_name_the_file(executed: list, tmp_path: Path) -> None:
    X, mask, correct = toy(n=8)
    sel = ListwiseSelector().fit(X, mask, correct)
    folder = sel.save(tmp_path / "m")
    cfg_path = folder / "config.json"
    good = json.loads(cfg_path.read_text())
    cases = [
        ({**good, "format": "ensel.Other"}, r"config.json is not a "
         r"ensel.generators.ListwiseSelector header: its format is 'ensel.Other'"),
        ({k: v for k, v in good.items() if k != "loss"}, r"config.json lacks the key\(s\) "
         r"\['loss'\]"),
        ({**good, "params": {**good["params"], "alpha": -1}}, r"config.json: The 'alpha' "
         r"parameter of ListwiseSelector must be a float"),
        ({**good, "params": {**good["params"], "depth": 3}}, r"config.json: .*unexpected "
         r"keyword argument 'depth'"),
        ({**good, "params": []}, r"config.json: 'params' and 'metadata' must be JSON objects"),
        ({**good, "n_features": 5}, r"model.safetensors does not hold the weights of this "
         r"ListwiseSelector"),
    ]
    for config, message in cases:
        cfg_path.write_text(json.dumps(config))
        with pytest.raises(ValueError, match=message):
            ListwiseSelector.load(folder)
    v1 = {**{k: v for k, v in good.items() if k not in ("version", "loss")}, "format_version": 1}
    cfg_path.write_text(json.dumps(v1))
    with pytest.raises(ValueError, match=r"config.json lacks the key\(s\) \['loss'\]"):
        ListwiseSelector.load(folder)
    cfg_path.write_text(json.dumps({**v1, "loss": 0.1, "format": "ensel.Other"}))
    with pytest.raises(ValueError, match="config.json is not a ensel.generators.ListwiseSelector "
                                         "header: its format is 'ensel.Other'"):
        ListwiseSelector.load(folder)
    cfg_path.write_text('{"format": ')
    with pytest.raises(ValueError, match="config.json is not valid JSON"):
        ListwiseSelector.load(folder)
    sql = SQLSelector(alphas=(1.0,)).fit(executed)
    sql.save(tmp_path / "sql")
    cfg = json.loads((tmp_path / "sql" / "config.json").read_text())
    del cfg["metadata"]["systems"]
    (tmp_path / "sql" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=r"config.json: the SQLSelector metadata lacks the "
                                         r"key\(s\) \['systems'\]"):
        SQLSelector.load(tmp_path / "sql")
    sql.save(tmp_path / "sql")
    cfg = json.loads((tmp_path / "sql" / "config.json").read_text())
    cfg["metadata"]["params"]["scoring"] = "auc"
    (tmp_path / "sql" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=r"config.json: The 'scoring' parameter of SQLSelector "
                                         r"must be 'accuracy' or 'loss'"):
        SQLSelector.load(tmp_path / "sql")


def _fail_mid_save(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the weights writer write half a file, then fail as a full disk does."""
    import safetensors.torch

    def broken(tensors: dict, filename: str, metadata: dict | None = None) -> None:
        Path(filename).write_bytes(b"\x00" * 16)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", broken)


def test_interrupted_save_leaves_the_old_model(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    X, mask, correct = toy()
    old = ListwiseSelector(alpha=1.0).fit(X, mask, correct)
    old.save(tmp_path / "m", metadata={"v": 1})
    before = old.decision_function(X, mask)
    new = ListwiseSelector((4,), alpha=1e-3).fit(X, mask, correct)
    _fail_mid_save(monkeypatch)
    with pytest.raises(OSError, match="No space left on device"):
        new.save(tmp_path / "m", metadata={"v": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]           # no temporary left
    back = ListwiseSelector.load(tmp_path / "m")
    assert back.metadata_ == {"v": 1} and back.hidden_layer_sizes == ()
    assert np.array_equal(back.decision_function(X, mask), before)
    with pytest.raises(OSError, match="No space left on device"):
        new.save(tmp_path / "fresh")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]           # nothing half-made


def test_sql_selector_interrupted_save_and_refused_folder(executed: list, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    old = SQLSelector(alphas=(10.0,)).fit(executed)
    old.save(tmp_path / "sel")
    picks, scores = old.select(executed), old.decision_function(executed)
    new = SQLSelector(alphas=(0.1,)).fit(executed)
    new.save(tmp_path / "sel")                     # over a saved selector: replaced
    assert SQLSelector.load(tmp_path / "sel").alpha_ == 0.1
    old.save(tmp_path / "sel")
    _fail_mid_save(monkeypatch)
    with pytest.raises(OSError, match="No space left on device"):
        new.save(tmp_path / "sel")
    back = SQLSelector.load(tmp_path / "sel")
    assert back.alpha_ == 10.0 and np.array_equal(back.select(executed), picks)
    assert np.array_equal(back.decision_function(executed), scores)
    monkeypatch.undo()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="Refusing to replace .*notes: the folder is not "
                                              "empty and has no config.json"):
        new.save(tmp_path / "notes")
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep me"
