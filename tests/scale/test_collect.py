"""collect_predictions on the local engine: the table, the files, the checks and their errors.

The Ray engine is compared with these results in ``test_ray.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from ensel import PredictionTable
from ensel.scale import collect_predictions

from .conftest import make_pool


def test_local_table_matches_from_estimators(data, pool):
    X, y = data
    table = collect_predictions(pool, X, y=y, task="classification", batch_size=128)
    assert table.P.shape == (len(X), len(pool), 3) and table.P.dtype == np.float32
    assert table.members == [name for name, _ in pool]
    np.testing.assert_array_equal(table.classes, [0, 1, 2])
    np.testing.assert_array_equal(table.y, y)
    np.testing.assert_array_equal(table.X, X)
    sklearn_only = pool[:-1]          # from_estimators needs classes_ on every member
    reference = PredictionTable.from_estimators(sklearn_only, X, y)
    np.testing.assert_allclose(table.P[:, :-1], reference.P, atol=1e-6)


@pytest.mark.parametrize("batch_size", [1, 7, 1000, 5000])
def test_chunking_does_not_change_exact_members(data, pool, batch_size):
    # the tree and naive Bayes do not depend on the batch they are predicted in
    X, _y = data
    exact = [pool[1], pool[2]]
    whole = collect_predictions(exact, X, batch_size=len(X))
    chunked = collect_predictions(exact, X, batch_size=batch_size)
    np.testing.assert_array_equal(chunked.P, whole.P)


def test_out_directory_is_a_memory_mapped_table(tmp_path, data, pool):
    X, y = data
    out = tmp_path / "table"
    table = collect_predictions(pool, X, y=y, task="classification", batch_size=300, out=out)
    assert sorted(p.name for p in out.iterdir()) == ["P.npy", "X.npy", "table.json", "y.npy"]
    assert isinstance(table.P, np.memmap) and isinstance(table.X, np.memmap)
    header = json.loads((out / "table.json").read_text())
    assert header["shape"] == [len(X), len(pool), 3] and header["task"] == "classification"
    again = PredictionTable.load(out)
    in_memory = collect_predictions(pool, X, y=y, task="classification", batch_size=300)
    np.testing.assert_array_equal(again.P, in_memory.P)
    np.testing.assert_array_equal(again.y, in_memory.y)


def test_labels_are_encoded_against_the_members_classes(data):
    X, y = data
    names = np.array(["ant", "bee", "cow"])[y]
    table = collect_predictions(make_pool(X, names, torch_member=False), X, y=names)
    np.testing.assert_array_equal(table.classes, ["ant", "bee", "cow"])
    np.testing.assert_array_equal(table.y, y)
    np.testing.assert_array_equal(table.y_labels, names)


def test_regression_pool_and_callables(data):
    from sklearn.linear_model import Ridge
    from sklearn.tree import DecisionTreeRegressor

    X, _ = data
    target = X @ np.arange(X.shape[1]) + 0.1
    pool = [Ridge().fit(X, target), DecisionTreeRegressor(max_depth=3).fit(X, target),
            ("half", lambda A: 0.5 * A.sum(axis=1))]
    table = collect_predictions(pool, X, y=target, batch_size=100, dtype=np.float64,
                                store_inputs=False)
    assert table.task == "regression" and table.P.shape == (len(X), 3) and table.X is None
    np.testing.assert_allclose(table.P[:, 2], 0.5 * X.sum(axis=1))
    np.testing.assert_array_equal(table.y, target)


def test_multi_output_regression(data):
    X, _ = data
    pool = [("a", lambda A: A[:, :2]), ("b", lambda A: -A[:, :2])]
    table = collect_predictions(pool, X, y=X[:, :2], task="regression", batch_size=64)
    assert table.P.shape == (len(X), 2, 2)
    np.testing.assert_array_equal(table.P[:, 1], -X[:, :2].astype(np.float32))


def test_progress_goes_to_stderr(data, pool, capsys):
    X, _ = data
    collect_predictions(pool[:2], X, batch_size=500, progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""


def test_overwrite_replaces_the_table(tmp_path, data, pool):
    X, y = data
    out = tmp_path / "t"
    collect_predictions(pool[:2], X, y=y, out=out)
    (out / "notes.txt").write_text("kept")
    table = collect_predictions(pool[:1], X[:10], out=out, overwrite=True)
    assert table.P.shape == (10, 1, 3) and table.y is None
    assert not (out / "y.npy").exists() and (out / "notes.txt").read_text() == "kept"


# ---------------------------------------------------------------------- errors
def test_unknown_engine(data, pool):
    with pytest.raises(ValueError, match=r"'engine' parameter of collect_predictions must be "
                                         r"one of \('local', 'ray'\)\. Got 'spark'"):
        collect_predictions(pool, data[0], engine="spark")


def test_empty_pool(data):
    with pytest.raises(ValueError, match="The pool is empty"):
        collect_predictions([], data[0])


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_bad_batch_size(data, pool, bad):
    with pytest.raises(ValueError, match=r"'batch_size' parameter .* int >= 1\. Got"):
        collect_predictions(pool, data[0], batch_size=bad)


def test_bad_dtype(data, pool):
    with pytest.raises(ValueError, match="'dtype' parameter .* float dtype. Got int32"):
        collect_predictions(pool, data[0], dtype=np.int32)


@pytest.mark.parametrize("shape", [(10,), ()])
def test_inputs_must_be_at_least_2d(pool, shape):
    with pytest.raises(ValueError, match=rf"'data' .* must be an array X\[N, F\] or X\[N, "
                                         rf"\.\.\.\].*{len(shape)}-D array of shape"):
        collect_predictions(pool, np.zeros(shape))


def test_inputs_without_rows(pool):
    with pytest.raises(ValueError, match="has no rows"):
        collect_predictions(pool, np.zeros((0, 6)))


def test_inputs_with_nan_cannot_be_stored(data, pool):
    X = data[0].copy()
    X[5, 1] = np.nan
    with pytest.raises(ValueError, match=r"X has NaN at index \(5, 1\)"):
        collect_predictions(pool[:1], X)


def test_out_exists_and_is_not_empty(tmp_path, data, pool):
    (tmp_path / "other.txt").write_text("x")
    with pytest.raises(ValueError, match="exists and is not empty; pass overwrite=True"):
        collect_predictions(pool, data[0], out=tmp_path)


def test_out_is_a_file(tmp_path, data, pool):
    file = tmp_path / "f"
    file.write_text("x")
    with pytest.raises(ValueError, match="must be a directory; .* is a file"):
        collect_predictions(pool, data[0], out=file)


def test_wrong_number_of_labels(data, pool):
    X, y = data
    with pytest.raises(ValueError, match="y has 999 rows but P has 1000"):
        collect_predictions(pool[:1], X, y=y[:-1])


def test_unknown_label(data, pool):
    X, y = data
    y = y.copy()
    y[3] = 7
    with pytest.raises(ValueError, match=r"y has labels not in classes .*\[7\] \(first in row 3\)"):
        collect_predictions(pool[:1], X, y=y)


def test_members_disagree_on_class_order(data):
    X, y = data
    pool = make_pool(X, y, torch_member=False)[:2]
    pool[1][1].classes_ = pool[1][1].classes_[::-1]
    with pytest.raises(ValueError, match="member 'nb'"):
        collect_predictions(pool, X)


def test_classes_argument_must_match_the_members(data, pool):
    with pytest.raises(ValueError, match="member 'logreg'"):
        collect_predictions(pool[:1], data[0], classes=["a", "b", "c"])


def test_classes_for_regression(data):
    with pytest.raises(ValueError, match="'classes' of collect_predictions is only meaningful"):
        collect_predictions([("f", lambda A: A[:, 0])], data[0], classes=[0, 1])


def test_unknown_task(data, pool):
    with pytest.raises(ValueError, match=r"'task' parameter .* Got 'ranking'"):
        collect_predictions(pool, data[0], task="ranking")


def test_members_with_different_output_shapes(data):
    pool = [("one", lambda A: A[:, 0]), ("two", lambda A: A[:, :2])]
    with pytest.raises(ValueError, match=r"member 'two' returns predictions of shape \(2,\) per "
                                         r"row but member 'one' returns \(\)"):
        collect_predictions(pool, data[0])


def test_classification_needs_probability_vectors(data):
    with pytest.raises(ValueError, match=r"classification needs one probability vector"):
        collect_predictions([("f", lambda A: A[:, 0])], data[0], task="classification")


def test_nan_prediction_names_member_and_row(data):
    def sometimes_nan(A):
        out = np.full((len(A), 2), 0.5)
        out[np.isclose(A[:, 0], X[700, 0])] = np.nan
        return out

    X = data[0]
    with pytest.raises(ValueError, match=r"member 'flaky': predictions have NaN in row 700\."):
        collect_predictions([("flaky", sometimes_nan)], X, task="classification", batch_size=64)


def test_probabilities_must_sum_to_one(data):
    X = data[0]
    with pytest.raises(ValueError, match=r"member 'half': probabilities in row 0 sum to 0\.5000"):
        collect_predictions([("half", lambda A: np.full((len(A), 2), 0.25))], X,
                            task="classification")


def test_probabilities_must_lie_in_0_1(data):
    X = data[0]
    with pytest.raises(ValueError, match=r"member 'neg': probability -0\.5 in row 0, class "
                                         r"index 0 is outside \[0, 1\]"):
        collect_predictions([("neg", lambda A: np.tile([-0.5, 1.5], (len(A), 1)))], X,
                            task="classification")


def test_member_that_cannot_predict(data):
    with pytest.raises(TypeError, match="member 'thing' .* not callable"):
        collect_predictions([("thing", object())], data[0])


def test_ray_engine_without_ray_names_the_extra(data, pool, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)        # as if Ray were not installed
    with pytest.raises(ImportError, match=r"pip install ensel\[ray\]"):
        collect_predictions(pool, data[0], engine="ray")


# ---------------------------------------------------------------------- import weight
def test_import_ensel_does_not_import_ray():
    code = ("import sys, ensel, ensel.scale, ensel.scale.collect, ensel.scale.train; "
            "print(sorted(m for m in ('ray', 'ray.data', 'ray.train') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_torch_members_do_not_decide_the_task(data, pool):
    table = collect_predictions(pool, data[0][:50])
    assert table.task == "classification" and table.P.shape == (50, len(pool), 3)
    only_torch = collect_predictions([pool[-1]], data[0][:50])
    assert only_torch.task == "regression" and only_torch.P.shape == (50, 1, 3)


# ---------------------------------------------------------------------- more rejected inputs
ROWS = np.arange(40.0).reshape(20, 2)


def test_inputs_to_store_must_be_numeric():
    with pytest.raises(ValueError, match=r"must be numeric to be stored in the table; got dtype "
                                         r"<U1\. Pass store_inputs=False"):
        collect_predictions([("f", lambda A: A[:, 0])], np.array([["a", "b"]] * 20))


def test_regression_predictions_must_be_values_or_vectors():
    with pytest.raises(ValueError, match=r"member 'f' returns predictions of shape \(2, 2\) per "
                                         r"row; regression needs a value or a vector"):
        collect_predictions([("f", lambda A: np.zeros((len(A), 2, 2)))], ROWS, task="regression")


def test_regression_targets_must_be_numeric():
    with pytest.raises(ValueError, match="Regression targets y must be numeric; got dtype <U1"):
        collect_predictions([("f", lambda A: A[:, 0])], ROWS, y=np.array(["a"] * 20),
                            task="regression")


def test_a_member_changing_its_output_shape_between_chunks():
    def changes(A):
        return A[:, 0] if A[0, 0] == 0 else A          # [N] on the first chunk, [N, 2] after

    with pytest.raises(ValueError, match=r"member 'f' returned predictions of shape \(2,\) per "
                                         r"row for rows 5\.\.9; its first rows had \(\)"):
        collect_predictions([("f", changes)], ROWS, task="regression", batch_size=5)


def test_non_numeric_predictions():
    with pytest.raises(ValueError, match=r"member 'f' returned non-numeric predictions \(<U1\)"):
        collect_predictions([("f", lambda A: np.array(["a"] * len(A)))], ROWS, task="regression")


def test_writer_refuses_a_table_missing_rows():
    # private _TableWriter: both engines write every chunk, so only a Ray pipeline that lost a
    # chunk reaches this guard; the writer is the only way in
    from ensel.scale.collect import _Plan, _TableWriter

    plan = _Plan(["a"], "regression", None, (), np.dtype(np.float32), 10, 5)
    with _TableWriter(None, plan, input_shape=None, X_dtype=None, labelled=False) as writer:
        writer.write(0, 0, np.zeros(5, dtype=np.float32))
        with pytest.raises(RuntimeError, match=r"member 'a': 5 rows of predictions were written, "
                                               r"expected 10"):
            writer.finish()


def test_dataset_column_must_hold_feature_vectors():
    # private _pack_chunk runs inside a Ray worker, whose error reaches the caller wrapped in
    # a RayTaskError; called directly here
    from ensel.scale.collect import _pack_chunk

    with pytest.raises(ValueError, match=r"column 'data' of the Ray Dataset must hold one "
                                         r"feature vector per row; got a batch of shape"):
        _pack_chunk({"data": np.zeros((3, 1, 2, 2))}, "data", 4)


def test_unknown_attribute_of_ensel_scale():
    import ensel.scale

    with pytest.raises(AttributeError, match="module 'ensel.scale' has no attribute 'nope'"):
        ensel.scale.nope  # noqa: B018
