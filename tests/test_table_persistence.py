"""Saved tables: crash-consistent saves, loads validated like the constructor (issue 14)."""

import json

import numpy as np
import pytest

import ensel.table as table_module
from ensel import PredictionTable, _io


def proba(n=6, m=3, c=4, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    p = rng.random((n, m, c))
    return (p / p.sum(-1, keepdims=True)).astype(dtype)


def table_a():
    return PredictionTable.from_arrays(proba(seed=0), y=[0, 1, 2, 3, 0, 1],
                                       X=np.arange(12.0).reshape(6, 2), members=["a", "b", "c"])


def table_b():
    return PredictionTable.from_arrays(proba(n=4, seed=1), y=[3, 3, 2, 1],
                                       X=np.ones((4, 2)), members=["x", "y", "z"])


def assert_same(t, u):
    np.testing.assert_array_equal(t.P, u.P)
    np.testing.assert_array_equal(t.y, u.y)
    np.testing.assert_array_equal(t.X, u.X)
    assert (t.members, t.task) == (u.members, u.task)
    np.testing.assert_array_equal(t.classes, u.classes)


def failing(n, real):
    calls = {"n": 0}

    def fake(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    return fake


# ---------------------------------------------------------------------- interrupted saves
@pytest.mark.parametrize("fail_at", [1, 2, 3])
def test_save_interrupted_by_np_save_keeps_old_table(tmp_path, monkeypatch, fail_at):
    """Issue 14, item 1: P.npy of B was written, y.npy failed -> load gave B's P with A's y."""
    table_a().save(tmp_path / "t")
    monkeypatch.setattr(np, "save", failing(fail_at, np.save))
    with pytest.raises(OSError, match="No space left"):
        table_b().save(tmp_path / "t")
    assert_same(PredictionTable.load(tmp_path / "t"), table_a())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t"]


@pytest.mark.parametrize("step", ["header", "fsync", "swap"])
def test_save_interrupted_after_the_arrays_keeps_old_table(tmp_path, monkeypatch, step):
    table_a().save(tmp_path / "t")
    target = {"header": (_io, "write_text"), "fsync": (_io, "_fsync_tree"),
              "swap": (_io, "_exchange")}[step]
    monkeypatch.setattr(*target, failing(1, getattr(*target)))
    with pytest.raises(OSError, match="No space left"):
        table_b().save(tmp_path / "t")
    assert_same(PredictionTable.load(tmp_path / "t"), table_a())


def test_partial_P_npy_never_breaks_the_old_table(tmp_path, monkeypatch):
    """Issue 14, item 1: a partial P.npy used to make the old table unreadable."""
    table_a().save(tmp_path / "t")
    real = np.save

    def half_then_fail(file, arr, **kw):
        real(file, arr, **kw)
        with open(file, "r+b") as f:
            f.truncate(100)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "save", half_then_fail)
    with pytest.raises(OSError):
        table_b().save(tmp_path / "t")
    assert_same(PredictionTable.load(tmp_path / "t", mmap=False), table_a())


def test_save_replaces_and_keeps_other_files(tmp_path):
    table_a().save(tmp_path / "t")
    (tmp_path / "t" / "notes.txt").write_text("mine")
    PredictionTable.from_arrays(proba(n=2), members=["a", "b", "c"]).save(tmp_path / "t")
    loaded = PredictionTable.load(tmp_path / "t")
    assert loaded.y is None and loaded.X is None and loaded.n_samples == 2
    assert not (tmp_path / "t" / "y.npy").exists()
    assert (tmp_path / "t" / "notes.txt").read_text() == "mine"


def test_save_refuses_a_folder_that_is_not_a_table(tmp_path):
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "thesis.tex").write_text("x")
    with pytest.raises(FileExistsError, match=r"Refusing to replace .*work.*no table.json"):
        table_a().save(tmp_path / "work")
    assert [p.name for p in (tmp_path / "work").iterdir()] == ["thesis.tex"]


def test_collect_and_save_write_the_same_header(tmp_path):
    from sklearn.linear_model import LogisticRegression

    from ensel.scale import collect_predictions

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    collected = collect_predictions([("lr", LogisticRegression().fit(X, y))], X, y=y,
                                    out=tmp_path / "c")
    collected.save(tmp_path / "s")
    header = (tmp_path / "c" / "table.json").read_text()
    assert header == (tmp_path / "s" / "table.json").read_text()


def test_interrupted_collect_keeps_the_old_table(tmp_path):
    from ensel.scale import collect_predictions

    X = np.zeros((30, 2))
    table_a().save(tmp_path / "t")

    def flaky(rows):
        if rows[0, 0] != 0:
            raise OSError(28, "No space left on device")
        return np.full((len(rows), 4), 0.25)

    X[20:] = 1
    with pytest.raises(OSError, match="No space left"):
        collect_predictions([("f", flaky)], X, out=tmp_path / "t", overwrite=True,
                            batch_size=10, task="classification")
    assert_same(PredictionTable.load(tmp_path / "t"), table_a())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t"]


# ---------------------------------------------------------------------- validated loads
def tamper_npy(folder, name, fn):
    a = np.load(folder / f"{name}.npy")
    np.save(folder / f"{name}.npy", fn(a.copy()))


def tamper_header(folder, **changes):
    header = json.loads((folder / "table.json").read_text())
    header.update(changes)
    (folder / "table.json").write_text(json.dumps(header))


def set_at(index, value):
    def fn(a):
        a[index] = value
        return a
    return fn


@pytest.mark.parametrize("tamper, match", [
    (lambda f: tamper_npy(f, "P", set_at((3, 1, 0), np.nan)),
     r"P.npy: member 'b': P has NaN in row 3"),
    (lambda f: tamper_npy(f, "P", set_at((2, 0, 1), 0.9)),
     r"P.npy: member 'a': probabilities in row 2 sum to"),
    (lambda f: tamper_npy(f, "P", lambda a: a.astype(np.int64)), r"P.npy: P must hold floats"),
    (lambda f: tamper_npy(f, "y", set_at(4, 7)),
     r"y.npy: y has the class index 7 in row 4; the table has 4 classes"),
    (lambda f: tamper_npy(f, "y", set_at(0, -1)), r"y.npy: y has the class index -1 in row 0"),
    (lambda f: tamper_npy(f, "y", lambda a: a.astype(float)), r"y.npy: y must hold class indices"),
    (lambda f: tamper_npy(f, "y", lambda a: a[:3]), r"y.npy: y has 3 rows but P has 6"),
    (lambda f: tamper_npy(f, "X", set_at((5, 1), np.inf)), r"X.npy: X has inf at index \(5, 1\)"),
    (lambda f: tamper_npy(f, "X", lambda a: a[:, 0]), r"X.npy: X must be at least 2-D"),
    (lambda f: tamper_header(f, classes=["a", "b"]),
     r"table.json: 'classes' has 2 labels but P has 4 classes"),
    (lambda f: tamper_header(f, classes=["a", 1, "b", "c"]), r"table.json: 'classes' mixes"),
    (lambda f: tamper_header(f, members=["a", "b"]), r"table.json: 'members' has 2 names"),
    (lambda f: tamper_header(f, members=[1, 2, 3]), r"table.json: 'members' must be a list of"),
    (lambda f: tamper_header(f, version=99), r"table.json has format version 99.*Upgrade"),
    (lambda f: tamper_header(f, extra=1), r"table.json has unknown key\(s\) \['extra'\]"),
    (lambda f: tamper_header(f, task="ranking"), r"table.json: 'task' must be one of"),
    (lambda f: tamper_header(f, shape=[6, 3, "4"]), r"table.json: 'shape' must be a list of"),
    (lambda f: tamper_header(f, shape=[6, 3, 5]), r"P.npy has shape \(6, 3, 4\); the header"),
    (lambda f: tamper_header(f, task="regression"),
     r"table.json: 'classes' is only meaningful for classification"),
    (lambda f: (f / "table.json").write_text('{"format": "ensel.PredictionTable", "ver'),
     r"table.json is not valid JSON .*truncated"),
    (lambda f: (f / "P.npy").write_bytes((f / "P.npy").read_bytes()[:150]),
     r"P.npy is not a readable .npy array"),
])
@pytest.mark.parametrize("mmap", [True, False])
def test_load_rejects_tampered_tables(tmp_path, tamper, match, mmap):
    """Issue 14, item 6: loads re-validated nothing."""
    folder = table_a().save(tmp_path / "t")
    tamper(folder)
    with pytest.raises(ValueError, match=match):
        PredictionTable.load(folder, mmap=mmap)


def test_load_checks_in_chunks_and_names_the_absolute_row(tmp_path, monkeypatch):
    t = PredictionTable.from_arrays(proba(n=1000, m=2, c=3), members=["a", "b"])
    folder = t.save(tmp_path / "t")
    tamper_npy(folder, "P", set_at((997, 1, 2), np.nan))
    monkeypatch.setattr(table_module, "CHECK_CHUNK_BYTES", 2 * 3 * 4 * 10)  # 10 rows a chunk
    seen = []
    real = table_module._row_chunks

    def spy(a):
        for start, block in real(a):
            seen.append(len(block))
            yield start, block

    monkeypatch.setattr(table_module, "_row_chunks", spy)
    with pytest.raises(ValueError, match=r"P.npy: member 'b': P has NaN in row 997"):
        PredictionTable.load(folder)
    assert max(seen) == 10 and len(seen) == 100


def test_load_regression_checks(tmp_path):
    t = PredictionTable.from_arrays(np.zeros((5, 2, 3)), y=np.zeros((5, 3)))
    folder = t.save(tmp_path / "r")
    tamper_npy(folder, "y", lambda a: a[:, :2])
    with pytest.raises(ValueError, match=r"y.npy: y has 2 outputs but P has 3"):
        PredictionTable.load(folder)
    tamper_npy(folder, "y", lambda a: np.full((5, 3), np.nan))
    with pytest.raises(ValueError, match=r"y.npy: y has NaN at index \(0, 0\)"):
        PredictionTable.load(folder)
    assert PredictionTable.load(PredictionTable.from_arrays(
        np.zeros((5, 2)), y=np.arange(5.0)).save(tmp_path / "r1")).y.tolist() == [0, 1, 2, 3, 4]


def test_load_without_header(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a saved PredictionTable: no table.json"):
        PredictionTable.load(tmp_path)
    folder = table_a().save(tmp_path / "t")
    (folder / "P.npy").unlink()
    with pytest.raises(FileNotFoundError, match=r"P.npy not found"):
        PredictionTable.load(folder)


# ---------------------------------------------------------------------- labels and pools
def test_mixed_label_types_are_refused():
    """Issue 14, item 10: classes ['a', 1] became ['a', '1']."""
    P = np.full((4, 2, 2), 0.5)
    with pytest.raises(ValueError, match=r"'classes' mixes label types: 'a' \(str\), 1 \(number\)"):
        PredictionTable.from_arrays(P, y=[1, "a"] * 2, classes=["a", 1])
    with pytest.raises(ValueError, match=r"y mixes label types: 1 \(number\), 'a' \(str\)"):
        PredictionTable.from_arrays(P, y=[1, "a"] * 2, classes=["a", "1"])
    t = PredictionTable.from_arrays(P, y=np.array(["a", "b"] * 2, dtype=object),
                                    classes=np.array(["b", "a"], dtype=object))
    assert t.y.tolist() == [1, 0, 1, 0] and t.y_labels.tolist() == ["a", "b", "a", "b"]


def test_from_estimators_refuses_mixed_pools():
    """Issue 14, item 7: a classifier without predict_proba made a regression table."""
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.svm import SVC

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    y = (X[:, 0] > 0).astype(int)
    lr, lin, svc = LogisticRegression().fit(X, y), LinearRegression().fit(X, y), SVC().fit(X, y)
    with pytest.raises(ValueError, match=r"member 'svc' is a classifier without predict_proba"):
        PredictionTable.from_estimators([("lr", lr), ("svc", svc)], X, y)
    with pytest.raises(ValueError, match=r"mixes classifiers and regressors: member 'lr' has "
                                         r"predict_proba, member 'lin' does not"):
        PredictionTable.from_estimators([("lr", lr), ("lin", lin)], X, y)
    reg = PredictionTable.from_estimators([("lin", lin)], X, y.astype(float))
    assert reg.task == "regression" and reg.P.shape == (30, 1)
    forced = PredictionTable.from_estimators([("lr", lr), ("lin", lin)], X, y.astype(float),
                                             task="regression")
    assert forced.P.shape == (30, 2)


def test_float16_probabilities_are_accepted():
    P = proba(n=200, m=2, c=10, dtype=np.float16)
    assert np.abs(P.astype(np.float64).sum(-1) - 1).max() > 1e-4   # float16 rounding
    t = PredictionTable.from_arrays(P)
    assert t.P.dtype == np.float16
    with pytest.raises(ValueError, match=r"sum to 1.0098, expected 1 \(tol 0.00098\)"):
        PredictionTable.from_arrays(np.tile(np.float16([0.5, 0.51]), (3, 1, 1)))


def test_save_over_the_folder_a_table_is_mapped_from(tmp_path):
    folder = table_a().save(tmp_path / "t")
    mapped = PredictionTable.load(folder)            # P.npy memory-mapped from the folder
    mapped[[4, 5]].save(folder)
    assert_same(PredictionTable.load(folder), table_a()[[4, 5]])
    np.testing.assert_array_equal(mapped.P, table_a().P)   # the old mapping is still whole


def test_collect_refuses_mixed_label_types():
    from ensel.scale import collect_predictions

    def member(rows):
        return np.full((len(rows), 2), 0.5)

    with pytest.raises(ValueError, match=r"y mixes label types: 1 \(number\), 'a' \(str\)"):
        collect_predictions([("m", member)], np.zeros((4, 1)), y=[1, "a", 1, "a"],
                            classes=["1", "a"], task="classification")


def test_load_rejects_tampered_outcome_and_regression_tables(tmp_path):
    outcome = PredictionTable.from_outcomes(np.full((4, 2), 0.5), costs=None).save(tmp_path / "o")
    np.save(outcome / "y.npy", np.zeros(4))
    with pytest.raises(ValueError, match="an outcome table has no y, but there is a y.npy"):
        PredictionTable.load(outcome)
    reg = PredictionTable.from_arrays(np.zeros((4, 2)), y=np.zeros(4), X=np.zeros((4, 1)),
                                      task="regression").save(tmp_path / "r")
    np.save(reg / "X.npy", np.array([["a"]] * 4))
    with pytest.raises(ValueError, match=r"X.npy: X must be numeric; got dtype <U1"):
        PredictionTable.load(reg)
    np.save(reg / "X.npy", np.zeros((4, 1)))
    np.save(reg / "y.npy", np.array(["a"] * 4))
    with pytest.raises(ValueError, match=r"y.npy: Regression targets y must be numeric"):
        PredictionTable.load(reg)


def test_load_refuses_nan_in_the_header(tmp_path):
    folder = table_a().save(tmp_path / "t")
    text = (folder / "table.json").read_text().replace('"task"', '"nan": NaN, "task"', 1)
    (folder / "table.json").write_text(text)
    with pytest.raises(ValueError, match=r"table.json is not valid JSON \(NaN is not a valid "
                                         r"JSON value"):
        PredictionTable.load(folder)
