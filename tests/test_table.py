import json
import subprocess
import sys

import numpy as np
import pytest

from ensel import PredictionTable


def proba(n=6, m=3, c=4, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.random((n, m, c)).astype(np.float32)
    return p / p.sum(-1, keepdims=True)


def test_from_arrays_defaults_and_labels():
    P = proba()
    t = PredictionTable.from_arrays(P, y=["b", "a", "d", "c", "a", "b"], classes=list("abcd"))
    assert t.task == "classification"
    assert (t.n_samples, t.n_members, t.n_classes) == (6, 3, 4)
    assert t.members == ["m0", "m1", "m2"]
    np.testing.assert_array_equal(t.y, [1, 0, 3, 2, 0, 1])
    np.testing.assert_array_equal(t.y_labels, ["b", "a", "d", "c", "a", "b"])


def test_unsorted_classes_map_labels_to_their_column():
    t = PredictionTable.from_arrays(proba(c=3), y=[5, 1, 9, 9, 1, 5], classes=[9, 1, 5])
    np.testing.assert_array_equal(t.y, [2, 1, 0, 0, 1, 2])


def test_regression_shapes():
    t = PredictionTable.from_arrays(np.zeros((5, 2)), y=np.arange(5.0))
    assert t.task == "regression" and t.n_classes == 1
    t = PredictionTable.from_arrays(np.zeros((5, 2, 3)), y=np.zeros((5, 3)))
    assert t.task == "regression" and t.n_classes == 3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(P=np.zeros((4, 0, 2))), "pool is empty"),
        (dict(P=np.zeros((4,))), "must have shape"),
        (dict(P=np.full((4, 2, 2), np.nan)), "member 'm0': P has NaN in row 0"),
        (dict(P=np.where(np.arange(4)[:, None, None] == 2, np.inf, np.full((4, 2, 2), 0.5))),
         "member 'm0': P has inf in row 2"),
        (dict(P=np.full((4, 2, 2), 0.6)), r"member 'm0': probabilities in row 0 sum to 1.2000"),
        (dict(P=np.stack([np.full((4, 2), 0.5), np.tile([1.5, -0.5], (4, 1))], 1)),
         "member 'm1': probability 1.5 in row 0"),
        (dict(P=np.full((4, 2, 2), 0.5), y=[0, 1, 2, 1]), r"labels not in classes \[0, 1\]: \[2\]"),
        (dict(P=np.full((4, 2, 2), 0.5), y=[0, 1]), "y has 2 rows but P has 4"),
        (dict(P=np.full((4, 2, 2), 0.5), X=np.zeros(4)), "X must be at least 2-D"),
        (dict(P=np.full((4, 2, 2), 0.5), X=np.full((4, 1), np.nan)), "X has NaN"),
        (dict(P=np.full((4, 2, 2), 0.5), members=["a"]), "'members' has 1 names"),
        (dict(P=np.full((4, 2, 2), 0.5), members=["a", "a"]), "name 'a' twice"),
        (dict(P=np.full((4, 2, 2), 0.5), classes=[1, 1]), "repeated labels"),
        (dict(P=np.full((4, 2, 2), 0.5), classes=[1]), "'classes' has 1 labels"),
        (dict(P=np.full((4, 2, 2), 0.5), task="ranking"), "'task' parameter must be one of"),
        (dict(P=np.zeros((4, 2)), task="classification"), "needs P of shape"),
        (dict(P=np.zeros((4, 2)), y=np.array([0.0, 1, np.nan, 2])), "y has NaN"),
        (dict(P=np.zeros((4, 2)), classes=[0, 1]), "only meaningful for classification"),
        (dict(P=np.zeros((4, 2, 3)), y=np.zeros((4, 2))), "y has 2 outputs but P has 3"),
    ],
)
def test_bad_input_is_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PredictionTable.from_arrays(**kwargs)


def test_slicing_keeps_views_and_metadata():
    t = PredictionTable.from_arrays(proba(), y=[0, 1, 2, 3, 0, 1], X=np.arange(12.0).reshape(6, 2))
    s = t[1:3]
    assert s.P.base is not None and np.shares_memory(s.P, t.P)
    np.testing.assert_array_equal(s.y, [1, 2])
    np.testing.assert_array_equal(t[[5, 0]].X, [[10, 11], [0, 1]])
    assert t[t.y == 0].n_samples == 2
    with pytest.raises(IndexError, match="mask has shape"):
        t[np.array([True, False])]
    sub = t.select_members(["m2", "m0"])
    np.testing.assert_array_equal(sub.P, t.P[:, [2, 0]])


@pytest.mark.parametrize("with_optional", [True, False])
def test_save_load_roundtrip_is_memory_mapped(tmp_path, with_optional):
    P = proba()
    kw = dict(y=list("abcdab"), X=np.ones((6, 2)), classes=list("abcd")) if with_optional else {}
    t = PredictionTable.from_arrays(P, members=["x", "y", "z"], **kw)
    t.save(tmp_path / "t")
    u = PredictionTable.load(tmp_path / "t")
    assert isinstance(u.P, np.memmap)
    np.testing.assert_array_equal(u.P, t.P)
    assert u.members == ["x", "y", "z"] and u.task == t.task
    if with_optional:
        np.testing.assert_array_equal(u.y_labels, t.y_labels)
        np.testing.assert_array_equal(u.X, t.X)
    else:
        assert u.y is None and u.X is None
    assert not isinstance(PredictionTable.load(tmp_path / "t", mmap=False).P, np.memmap)


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no table.json"):
        PredictionTable.load(tmp_path)
    PredictionTable.from_arrays(proba()).save(tmp_path / "t")
    header = json.loads((tmp_path / "t" / "table.json").read_text())
    header["shape"] = [1, 2, 3]
    (tmp_path / "t" / "table.json").write_text(json.dumps(header))
    with pytest.raises(ValueError, match="the header says"):
        PredictionTable.load(tmp_path / "t")
    header["version"] = 99
    (tmp_path / "t" / "table.json").write_text(json.dumps(header))
    with pytest.raises(ValueError, match="format version 99"):
        PredictionTable.load(tmp_path / "t")


def test_saved_arrays_never_need_pickle(tmp_path):
    PredictionTable.from_arrays(proba(), y=list("abcdab"), classes=list("abcd")).save(tmp_path)
    for name in ("P", "y"):
        np.load(tmp_path / f"{name}.npy", allow_pickle=False)


def test_from_estimators_matches_predict_proba():
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB

    X, y = load_iris(return_X_y=True)
    a, b = LogisticRegression(max_iter=500).fit(X, y), GaussianNB().fit(X, y)
    t = PredictionTable.from_estimators([("lr", a), ("nb", b)], X, y)
    assert t.members == ["lr", "nb"]
    np.testing.assert_allclose(t.P[:, 1], b.predict_proba(X))
    t2 = PredictionTable.from_estimators([a, b], X)
    assert t2.members == ["logisticregression", "gaussiannb"]


def test_from_estimators_class_order_mismatch():
    from sklearn.dummy import DummyClassifier

    X = np.zeros((4, 1))
    a = DummyClassifier().fit(X, [0, 1, 0, 1])
    b = DummyClassifier().fit(X, [0, 1, 0, 1])
    b.classes_ = np.array([1, 0])
    with pytest.raises(ValueError, match="member 'b': class order mismatch"):
        PredictionTable.from_estimators([("a", a), ("b", b)], X)
    with pytest.raises(ValueError, match="pool is empty"):
        PredictionTable.from_estimators([], X)


def test_from_estimators_regression():
    from sklearn.linear_model import LinearRegression

    X = np.arange(10.0).reshape(5, 2)
    m = LinearRegression().fit(X, X.sum(1))
    t = PredictionTable.from_estimators([("a", m), ("b", m)], X, X.sum(1))
    assert t.task == "regression" and t.P.shape == (5, 2)


def test_from_frames():
    pd = pytest.importorskip("pandas")
    P = proba(c=2)
    frames = {f"f{i}": pd.DataFrame(P[:, i], columns=["no", "yes"]) for i in range(3)}
    t = PredictionTable.from_frames(frames, y=["yes"] * 6)
    np.testing.assert_array_equal(t.classes, ["no", "yes"])
    np.testing.assert_allclose(t.P, P)
    frames["f2"] = frames["f2"][["yes", "no"]]
    with pytest.raises(ValueError, match="member 'f2': class order mismatch"):
        PredictionTable.from_frames(frames)
    frames["f2"] = frames["f1"].set_axis(range(10, 16))
    with pytest.raises(ValueError, match="its rows"):
        PredictionTable.from_frames(frames)
    with pytest.raises(ValueError, match="pool is empty"):
        PredictionTable.from_frames({})


def test_import_is_light():
    code = "import sys, ensel; print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


# ---------------------------------------------------------------------- rejected inputs
def test_regression_targets_must_be_numeric():
    with pytest.raises(ValueError, match="Regression targets y must be numeric; got dtype <U1"):
        PredictionTable.from_arrays(np.zeros((4, 2)), y=np.array(list("abcd")), task="regression")


def test_inputs_must_be_numeric():
    with pytest.raises(ValueError, match="X must be numeric; got dtype <U1"):
        PredictionTable.from_arrays(np.full((4, 2, 2), 0.5), y=[0, 1, 0, 1],
                                    X=np.array([["a", "b"]] * 4))


def test_outcome_inputs_must_be_numeric():
    with pytest.raises(ValueError, match="X must be numeric; got dtype <U1"):
        PredictionTable.from_outcomes(np.zeros((4, 2)), X=np.array([["a", "b"]] * 4), costs=None)


def test_unfitted_looking_classifier_without_classes():
    class NoClasses:                      # predict_proba but no classes_
        def predict_proba(self, X):
            return np.full((len(X), 2), 0.5)

    with pytest.raises(ValueError, match=r"member 'c' has no classes_: is it fitted\?"):
        PredictionTable.from_estimators([("c", NoClasses())], np.zeros((4, 2)), y=[0, 1, 0, 1])


def test_correct_needs_a_classification_table():
    table = PredictionTable.from_arrays(np.zeros((4, 2)), y=np.zeros(4), task="regression")
    with pytest.raises(ValueError, match=r"correct\(\) is defined for classification tables"):
        table.correct()


def test_load_refuses_classes_that_are_not_a_list(tmp_path):
    PredictionTable.from_arrays(np.full((4, 2, 2), 0.5), y=[0, 1, 0, 1]).save(tmp_path / "t")
    header = json.loads((tmp_path / "t" / "table.json").read_text())
    header["classes"] = "ab"
    (tmp_path / "t" / "table.json").write_text(json.dumps(header))
    with pytest.raises(ValueError, match=r"table.json: 'classes' must be a list or null; got 'ab'"):
        PredictionTable.load(tmp_path / "t")
