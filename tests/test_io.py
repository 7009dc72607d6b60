"""Crash-consistent writes and checked reads (ensel._io)."""

import json
import os
import sys

import numpy as np
import pytest

from ensel import _io


def _fail_on_call(n, real):
    """A stand-in for ``real`` that raises OSError(28) on its n-th call (1-based)."""
    calls = {"n": 0}

    def fake(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    return fake


def _save_demo(path, P, y, k):
    """A toy artefact: two arrays and a header, written the way ensel writes artefacts."""
    with _io.atomic_directory(path, marker="config.json") as tmp:
        _io.write_npy(tmp / "P.npy", P)
        _io.write_npy(tmp / "y.npy", y)
        _io.write_json(tmp / "config.json", {"format": "ensel.Demo", "version": 1, "k": k})
    return path


def _load_demo(path):
    header = _io.read_json(path / "config.json", format="ensel.Demo", versions=(1,), keys={"k"})
    return _io.read_npy(path / "P.npy"), _io.read_npy(path / "y.npy"), header["k"]


def _siblings(path):
    return sorted(p.name for p in path.parent.iterdir())


# ---------------------------------------------------------------------- folders
def test_atomic_directory_creates_and_replaces(tmp_path):
    target = tmp_path / "deep" / "art"
    _save_demo(target, np.arange(3.0), np.arange(3), 1)
    _save_demo(target, np.arange(5.0), np.arange(5), 2)
    P, y, k = _load_demo(target)
    assert P.tolist() == [0, 1, 2, 3, 4] and y.tolist() == [0, 1, 2, 3, 4] and k == 2
    assert _siblings(target) == ["art"]


@pytest.mark.parametrize("fail_at", [1, 2])
def test_interrupted_npy_write_leaves_old_artefact_whole(tmp_path, monkeypatch, fail_at):
    target = _save_demo(tmp_path / "art", np.arange(3.0), np.arange(3), 1)
    monkeypatch.setattr(np, "save", _fail_on_call(fail_at, np.save))
    with pytest.raises(OSError, match="No space left"):
        _save_demo(target, np.arange(5.0), np.arange(5), 2)
    P, y, k = _load_demo(target)
    assert P.tolist() == [0, 1, 2] and y.tolist() == [0, 1, 2] and k == 1
    assert _siblings(target) == ["art"]          # the temporary folder is gone


def test_interrupted_safetensors_write_leaves_old_artefact_whole(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    import safetensors.torch as st

    def save(path, w):
        with _io.atomic_directory(path, marker="config.json") as tmp:
            _io.write_json(tmp / "config.json", {"format": "ensel.Demo", "version": 1, "k": 1})
            st.save_file({"w": w}, str(tmp / "a.safetensors"))
            st.save_file({"w": w * 2}, str(tmp / "b.safetensors"))

    save(tmp_path / "m", torch.ones(3))
    monkeypatch.setattr(st, "save_file", _fail_on_call(2, st.save_file))
    with pytest.raises(OSError, match="No space left"):
        save(tmp_path / "m", torch.zeros(3))
    assert st.load_file(str(tmp_path / "m" / "a.safetensors"))["w"].tolist() == [1, 1, 1]
    assert st.load_file(str(tmp_path / "m" / "b.safetensors"))["w"].tolist() == [2, 2, 2]
    assert _siblings(tmp_path / "m") == ["m"]


@pytest.mark.parametrize("stage", ["fsync", "exchange"])
def test_crash_before_the_swap_leaves_old_artefact_whole(tmp_path, monkeypatch, stage):
    target = _save_demo(tmp_path / "art", np.arange(3.0), np.arange(3), 1)
    name = "_fsync_tree" if stage == "fsync" else "_exchange"
    monkeypatch.setattr(_io, name, _fail_on_call(1, lambda *a: None))
    with pytest.raises(OSError, match="No space left"):
        _save_demo(target, np.arange(5.0), np.arange(5), 2)
    assert _load_demo(target)[2] == 1
    assert _siblings(target) == ["art"]


def test_swap_without_renameat2(tmp_path, monkeypatch):
    monkeypatch.setattr(_io, "_exchange", lambda a, b: False)
    target = _save_demo(tmp_path / "art", np.arange(3.0), np.arange(3), 1)
    _save_demo(target, np.arange(4.0), np.arange(4), 2)
    assert _load_demo(target)[2] == 2 and _siblings(target) == ["art"]


def test_swap_without_renameat2_restores_old_when_rename_in_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(_io, "_exchange", lambda a, b: False)
    target = _save_demo(tmp_path / "art", np.arange(3.0), np.arange(3), 1)
    monkeypatch.setattr(os, "rename", _fail_on_call(2, os.rename))   # 1: aside, 2: new in
    with pytest.raises(OSError, match="No space left"):
        _save_demo(target, np.arange(4.0), np.arange(4), 2)
    assert _load_demo(target)[2] == 1 and _siblings(target) == ["art"]


def test_exchange_swaps_two_folders(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "x").write_text("from a")
    if not _io._exchange(a, b):
        pytest.skip("this file system cannot swap folders atomically")
    assert (b / "x").read_text() == "from a" and not (a / "x").exists()


def test_atomic_directory_refuses_unrelated_folders(tmp_path):
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "thesis.tex").write_text("years of work")
    with pytest.raises(FileExistsError, match=r"Refusing to replace .*home.*has no config.json"):
        _save_demo(tmp_path / "home", np.zeros(1), np.zeros(1), 1)
    assert (tmp_path / "home" / "thesis.tex").read_text() == "years of work"
    with pytest.raises(FileExistsError, match="is not empty, so it is not"), \
            _io.atomic_directory(tmp_path / "home"):
        pass
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="exists and is not a folder"):
        _save_demo(tmp_path / "file", np.zeros(1), np.zeros(1), 1)
    (tmp_path / "empty").mkdir()
    _save_demo(tmp_path / "empty", np.zeros(1), np.zeros(1), 7)
    assert _load_demo(tmp_path / "empty")[2] == 7


def test_atomic_directory_by_hand(tmp_path):
    saver = _io.atomic_directory(tmp_path / "art")
    with pytest.raises(RuntimeError, match="is not open"):
        saver.commit()
    tmp = saver.open()
    with pytest.raises(RuntimeError, match="already open"):
        saver.open()
    (tmp / "f").write_text("1")
    assert not (tmp_path / "art").exists()
    assert saver.commit() == tmp_path / "art" and (tmp_path / "art" / "f").read_text() == "1"
    other = _io.atomic_directory(tmp_path / "b")
    other.open()
    other.abort()
    assert _siblings(tmp_path / "art") == ["art"]


# ---------------------------------------------------------------------- single files
def test_atomic_file_keeps_old_content_on_failure(tmp_path):
    target = _io.write_text(tmp_path / "a.txt", "old")
    with pytest.raises(OSError, match="disk full"), _io.atomic_file(target) as tmp:
        tmp.write_text("new, half writ")
        raise OSError(28, "disk full")
    assert target.read_text() == "old" and _siblings(target) == ["a.txt"]
    with pytest.raises(IsADirectoryError, match="it is a folder"), _io.atomic_file(tmp_path):
        pass


def test_write_json_refuses_nan(tmp_path):
    with pytest.raises(ValueError, match=r"Cannot write .*h.json.*NaN and inf are not valid"):
        _io.write_json(tmp_path / "h.json", {"x": float("nan")})
    assert not (tmp_path / "h.json").exists()


@pytest.mark.parametrize("content, match", [
    (b'{"format": "ensel.Demo", "vers',
     r"h.json is not valid JSON \(Unterminated string.*, line 1 column 26\).*truncated"),
    (b'\xff\xfe{}', r"h.json is not valid UTF-8 \(byte 0\)"),
    (b'[1, 2]', r"h.json must hold a JSON object; got list"),
    (b'{"format": "other", "version": 1}', r"h.json is not a ensel.Demo header: .*'other'"),
    (b'{"format": "ensel.Demo", "version": 99, "k": 1}',
     r"h.json has format version 99; this ensel reads version\(s\) \[1\]. Upgrade ensel."),
    (b'{"format": "ensel.Demo", "version": true, "k": 1}', r"format version True;"),
    (b'{"format": "ensel.Demo", "k": 1}', r"format version None;"),
    (b'{"format": "ensel.Demo", "version": 1, "k": 1, "kk": 2}', r"unknown key\(s\) \['kk'\]"),
    (b'{"format": "ensel.Demo", "version": 1}', r"h.json lacks the key\(s\) \['k'\]"),
    (b'{"format": "ensel.Demo", "version": 1, "k": NaN}',
     r"not valid JSON \(NaN is not a valid JSON value\)"),
])
def test_read_json_bad_headers(tmp_path, content, match):
    (tmp_path / "h.json").write_bytes(content)
    with pytest.raises(ValueError, match=match):
        _io.read_json(tmp_path / "h.json", format="ensel.Demo", versions=(1,), keys={"k"},
                      required=("k",))


def test_read_json_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"h.json not found: expected a ensel.Demo"):
        _io.read_json(tmp_path / "h.json", format="ensel.Demo", versions=(1,))


def test_read_json_roundtrip(tmp_path):
    obj = {"format": "ensel.Demo", "version": 2, "nested": {"a": [1, 2.5, None, "é"]}}
    _io.write_json(tmp_path / "h.json", obj)
    assert _io.read_json(tmp_path / "h.json", format="ensel.Demo", versions=(1, 2)) == obj
    assert json.loads((tmp_path / "h.json").read_text(encoding="utf-8")) == obj


# ---------------------------------------------------------------------- .npy
@pytest.mark.parametrize("mmap", [True, False])
@pytest.mark.parametrize("keep", [0, 60, 2000])
def test_read_npy_truncated_names_the_file(tmp_path, mmap, keep):
    path = _io.write_npy(tmp_path / "P.npy", np.arange(1000.0))
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(ValueError, match=r"P.npy is not a readable .npy array"):
        _io.read_npy(path, mmap=mmap)


def test_read_npy_never_unpickles(tmp_path):
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"o.npy is not a readable .npy array.*Object arrays"):
        _io.read_npy(tmp_path / "o.npy")
    with pytest.raises(FileNotFoundError, match=r"missing.npy not found"):
        _io.read_npy(tmp_path / "missing.npy")
    assert _io.read_npy(_io.write_npy(tmp_path / "a.npy", np.eye(2)), mmap=True)[1, 1] == 1.0


def test_a_file_in_the_way_is_named(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError, match=r"Cannot write .*f/a/b.json: .*f is a file"):
        _io.write_json(tmp_path / "f" / "a" / "b.json", {})
    with pytest.raises(NotADirectoryError, match=r"Cannot write .*f/t: .*f is a file, not a"):
        _io.atomic_directory(tmp_path / "f" / "t").open()


def test_saving_through_a_symbolic_link_keeps_the_link(tmp_path):
    real = _save_demo(tmp_path / "real", np.arange(2.0), np.arange(2), 1)
    (tmp_path / "link").symlink_to(real)
    _save_demo(tmp_path / "link", np.arange(3.0), np.arange(3), 2)
    assert (tmp_path / "link").is_symlink() and _load_demo(real)[2] == 2
    _io.write_text(tmp_path / "f.txt", "old")
    (tmp_path / "f-link").symlink_to(tmp_path / "f.txt")
    _io.write_text(tmp_path / "f-link", "new")
    assert (tmp_path / "f-link").is_symlink() and (tmp_path / "f.txt").read_text() == "new"


def test_exchange_names_both_paths_when_the_swap_fails(tmp_path):
    # _io._exchange is private; atomic_directory reaches this error only if the temporary
    # folder vanishes between open and commit, so the helper is called directly
    (tmp_path / "b").mkdir()
    if not sys.platform.startswith("linux"):
        pytest.skip("renameat2 is Linux only")
    with pytest.raises(OSError, match=r"cannot swap .*missing and .*b: No such file"):
        _io._exchange(tmp_path / "missing", tmp_path / "b")
