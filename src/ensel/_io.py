"""Crash-consistent artefacts on disk: the one module that writes and reads them.

Every artefact ensel saves (a table, a selector, a benchmark result, a report) is written so
that a save interrupted at any point -- a full disk, a killed process, a power cut after the
fsyncs -- leaves either the old artefact or the new one whole, never a mix:

- a single file is written to a temporary sibling, flushed, fsynced and `os.replace`-d over
  the target (`atomic_file`, `write_json`, `write_text`);
- a folder is written into a temporary sibling folder, every file in it fsynced, then swapped
  with the target in one step (`atomic_directory`). On Linux the swap is one
  ``renameat2(RENAME_EXCHANGE)`` call, so the target path always names a whole artefact;
  elsewhere the old folder is renamed aside, the new one renamed in, and the old one removed
  (a crash between those two renames leaves the old artefact whole in the ``.<name>.ensel-old-*``
  sibling). Until the swap the old folder is not touched at all.

Reading is the other half: `read_json` checks the ``format`` / ``version`` header and the keys,
and every error names the file. No pickle is ever written or read.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from ensel._io import atomic_directory, read_json, write_json
>>> target = Path(tempfile.mkdtemp()) / "artefact"
>>> with atomic_directory(target, marker="config.json") as tmp:
...     _ = write_json(tmp / "config.json", {"format": "ensel.Demo", "version": 1, "k": 2})
>>> read_json(target / "config.json", format="ensel.Demo", versions=(1,), keys={"k"})["k"]
2
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shutil
import sys
from collections.abc import Collection, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

__all__ = [
    "AtomicDirectory",
    "atomic_directory",
    "atomic_file",
    "read_json",
    "read_npy",
    "write_json",
    "write_npy",
    "write_text",
]

_TMP = "ensel-tmp"
_OLD = "ensel-old"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


# ---------------------------------------------------------------------- fsync
def _fsync_path(path: Path, *, directory: bool = False) -> None:
    """Flush one file (or a folder's entries) to the disk."""
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory:      # some platforms (Windows) cannot open a folder: nothing to flush
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:  # fsync on a folder is refused on some file systems; files must sync
            raise
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    """fsync every file under ``folder``, then every folder, deepest first."""
    for root, _dirs, files in os.walk(folder, topdown=False):
        for name in files:
            _fsync_path(Path(root) / name)
        _fsync_path(Path(root), directory=True)


def _make_parent(path: Path) -> None:
    """Create the folder of ``path``; a file in the way is named in the error."""
    for parent in (path.parent, *path.parent.parents):
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(
                    f"Cannot write {path}: {parent} is a file, not a folder.")
            break
    path.parent.mkdir(parents=True, exist_ok=True)


def _through_links(path: Path) -> Path:
    """The file a symbolic link points to: a save replaces it, and the link stays a link."""
    return path.resolve() if path.is_symlink() else path


def _sibling(path: Path, kind: str) -> Path:
    return path.with_name(f".{path.name}.{kind}-{secrets.token_hex(4)}")


# ---------------------------------------------------------------------- single files
@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Write one file crash-consistently: yield a temporary sibling path, then replace ``path``.

    Parameters
    ----------
    path : str or Path
        The file to (re)place. Its folder is created if missing.

    Yields
    ------
    Path
        A path in the same folder to write the new content to. On normal exit it is fsynced
        and renamed over ``path`` (one atomic `os.replace`); if the block raises, it is
        removed and ``path`` is left as it was.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> target = Path(tempfile.mkdtemp()) / "notes.txt"
    >>> with atomic_file(target) as tmp:
    ...     _ = tmp.write_text("hello")
    >>> target.read_text()
    'hello'
    """
    path = _through_links(Path(path))
    if path.is_dir():
        raise IsADirectoryError(f"Cannot write the file {path}: it is a folder.")
    _make_parent(path)
    tmp = _sibling(path, _TMP)
    try:
        yield tmp
        _fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_path(path.parent, directory=True)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns ``path``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> write_text(Path(tempfile.mkdtemp()) / "a.txt", "x").read_text()
    'x'
    """
    path = Path(path)
    with atomic_file(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def write_json(path: str | Path, obj: Any, *, indent: int | None = 2) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically (NaN / inf refused); returns ``path``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> write_json(Path(tempfile.mkdtemp()) / "h.json", {"format": "ensel.X"}).read_text()
    '{\\n  "format": "ensel.X"\\n}\\n'
    """
    try:
        text = json.dumps(obj, indent=indent, allow_nan=False) + "\n"
    except ValueError as exc:
        raise ValueError(f"Cannot write {path}: {exc} (NaN and inf are not valid JSON).") from exc
    return write_text(path, text)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON value")


def read_json(path: str | Path, *, format: str, versions: Collection[int],
              keys: Collection[str] | None = None,
              required: Collection[str] = ()) -> dict[str, Any]:
    """Read a JSON header written by `write_json` and check what it claims to be.

    Parameters
    ----------
    path : str or Path
        The header file.
    format : str
        The expected value of the header's ``"format"`` key, e.g. ``"ensel.PredictionTable"``.
    versions : collection of int
        The ``"version"`` values this ensel reads.
    keys : collection of str, optional
        Every other key the header may have; any other key is an error. ``None``: not checked.
    required : collection of str, default=()
        Keys that must be present.

    Returns
    -------
    dict
        The header (including ``format`` and ``version``).

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        Not UTF-8, not JSON (e.g. truncated), not an object, another format, an unknown
        version, unknown or missing keys. Every message starts with the file's path.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> p = write_json(Path(tempfile.mkdtemp()) / "h.json", {"format": "ensel.X", "version": 9})
    >>> read_json(p, format="ensel.X", versions=(1,))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: .../h.json has format version 9; this ensel reads version(s) [1]. Upgrade ensel.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: expected a {format} header there.")
    raw = path.read_bytes()
    try:
        header = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not valid UTF-8 (byte {exc.start}).") from exc
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        where = (f", line {exc.lineno} column {exc.colno}"
                 if isinstance(exc, json.JSONDecodeError) else "")
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise ValueError(
            f"{path} is not valid JSON ({msg}{where}); the file is truncated or corrupted."
        ) from exc
    if not isinstance(header, dict):
        raise ValueError(  # noqa: TRY004 - the file's content is wrong, not an argument's type
            f"{path} must hold a JSON object; got {type(header).__name__}.")
    if header.get("format") != format:
        raise ValueError(
            f"{path} is not a {format} header: its format is {header.get('format')!r}."
        )
    _check_version(path, header.get("version"), versions)
    _check_keys(path, header, keys, required)
    return header


def _check_version(path: Path, version: Any, versions: Collection[int]) -> None:
    known = sorted(versions)
    if isinstance(version, bool) or not isinstance(version, int) or version not in known:
        hint = " Upgrade ensel." if isinstance(version, int) and not isinstance(version, bool) \
            and known and version > known[-1] else ""
        raise ValueError(
            f"{path} has format version {version!r}; this ensel reads version(s) {known}.{hint}"
        )


def _check_keys(path: Path, header: dict[str, Any], keys: Collection[str] | None,
                required: Collection[str]) -> None:
    missing = [k for k in required if k not in header]
    if missing:
        raise ValueError(f"{path} lacks the key(s) {missing}.")
    if keys is not None:
        allowed = {"format", "version", *keys}
        unknown = sorted(k for k in header if k not in allowed)
        if unknown:
            raise ValueError(
                f"{path} has unknown key(s) {unknown}; expected only {sorted(allowed)}."
            )


# ---------------------------------------------------------------------- .npy files
def write_npy(path: str | Path, array: np.ndarray) -> Path:
    """Write ``array`` as ``.npy`` (never pickled). Use inside `atomic_directory`.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> p = write_npy(Path(tempfile.mkdtemp()) / "a.npy", np.arange(3))
    >>> read_npy(p).tolist()
    [0, 1, 2]
    """
    path = Path(path)
    np.save(path, np.ascontiguousarray(array), allow_pickle=False)
    return path


def read_npy(path: str | Path, *, mmap: bool = False) -> np.ndarray:
    """Read a ``.npy`` file (memory-mapped read-only when ``mmap``), naming it in every error.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        Truncated or corrupted file, or one that holds Python objects (never unpickled).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found.")
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, EOFError) as exc:
        raise ValueError(f"{path} is not a readable .npy array (truncated, corrupted or "
                         f"holding Python objects): {exc}") from exc


# ---------------------------------------------------------------------- folders
def _link(src: str | Path, dst: str | Path) -> None:
    """Hard-link ``src`` to ``dst`` (a copy where the file system has no hard links)."""
    if os.path.islink(src):
        os.symlink(os.readlink(src), dst)
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2``); False when not supported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (22, 38, 95):   # EINVAL, ENOSYS, EOPNOTSUPP: this file system cannot swap
        return False
    raise OSError(errno, f"cannot swap {a} and {b}: {os.strerror(errno)}")


def _swap_in(new: Path, path: Path) -> None:
    """Put the folder ``new`` at ``path``; the old ``path`` stays whole until it is replaced."""
    if not path.exists() and not path.is_symlink():
        os.rename(new, path)
        return
    if _exchange(new, path):
        shutil.rmtree(new, ignore_errors=True)   # ``new`` now holds the old artefact
        return
    aside = _sibling(path, _OLD)
    os.rename(path, aside)
    try:
        os.rename(new, path)
    except BaseException:
        os.rename(aside, path)
        raise
    _fsync_path(path.parent, directory=True)
    shutil.rmtree(aside, ignore_errors=True)


class AtomicDirectory:
    """A folder written into a temporary sibling and swapped into place when complete.

    Use `atomic_directory`; the object is a context manager, and can also be driven by hand
    (`open`, then `commit` or `abort`) when the writing spans several calls.

    Parameters
    ----------
    path : str or Path
        The artefact folder to create or replace.
    marker : str, optional
        The file that identifies an artefact of this kind (``"table.json"``,
        ``"config.json"``). An existing non-empty folder at ``path`` is replaced only if it
        holds this file: saving over a folder of unrelated files (a home directory, a
        project) is refused instead of deleting them. ``None``: only an empty folder may be
        replaced.
    owned : collection of str, optional
        The names of the files the artefact consists of. When given, every other entry of
        the old folder (a user's notes, sub-folders) is carried into the new folder before the
        swap -- hard-linked, so nothing is copied -- and survives the save. ``None``: the new
        folder replaces the old one whole.
    """

    def __init__(self, path: str | Path, *, marker: str | None = None,
                 owned: Collection[str] | None = None) -> None:
        self.path = Path(path)
        self.marker = marker
        self.owned = None if owned is None else frozenset(owned)
        self.tmp: Path | None = None

    def _carry_others(self, tmp: Path) -> None:
        """Hard-link the entries of the old folder that are not the artefact's into ``tmp``."""
        if self.owned is None or not self.path.is_dir():
            return
        for entry in self.path.iterdir():
            if entry.name in self.owned or (tmp / entry.name).exists():
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.copytree(entry, tmp / entry.name, symlinks=True, copy_function=_link)
            else:
                _link(entry, tmp / entry.name)

    def _check_target(self) -> None:
        path = self.path
        if path.exists() and not path.is_dir():
            raise NotADirectoryError(f"Cannot save to {path}: it exists and is not a folder.")
        if path.is_dir() and any(path.iterdir()) and not (
                self.marker is not None and (path / self.marker).is_file()):
            what = f"has no {self.marker}" if self.marker else "is not empty"
            raise FileExistsError(
                f"Refusing to replace {path}: the folder is not empty and {what}, so it is not "
                f"an ensel artefact of this kind. Choose a new or empty folder."
            )

    def open(self) -> Path:
        """Check the target and create the temporary sibling folder; returns it."""
        if self.tmp is not None:
            raise RuntimeError(f"The atomic save to {self.path} is already open.")
        self.path = _through_links(self.path)
        self._check_target()
        _make_parent(self.path)
        self.tmp = _sibling(self.path, _TMP)
        self.tmp.mkdir()
        return self.tmp

    def commit(self) -> Path:
        """fsync the new folder and swap it in for ``path``; returns ``path``."""
        if self.tmp is None:
            raise RuntimeError(f"The atomic save to {self.path} is not open.")
        try:
            self._check_target()
            self._carry_others(self.tmp)
            _fsync_tree(self.tmp)
            _swap_in(self.tmp, self.path)
            _fsync_path(self.path.parent, directory=True)
        except BaseException:
            self.abort()
            raise
        self.tmp = None
        return self.path

    def abort(self) -> None:
        """Remove the temporary folder; ``path`` is left as it was."""
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def __enter__(self) -> Path:
        return self.open()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def atomic_directory(path: str | Path, *, marker: str | None = None,
                     owned: Collection[str] | None = None) -> AtomicDirectory:
    """Write a folder crash-consistently: ``with atomic_directory(path) as tmp: ...``.

    Parameters
    ----------
    path : str or Path
        The folder to create or replace. Its parent is created if missing.
    marker : str, optional
        The file whose presence makes an existing non-empty ``path`` replaceable (see
        `AtomicDirectory`); without it only a missing or empty folder may be replaced.
    owned : collection of str, optional
        The artefact's own file names; other entries of the old folder are kept (hard-linked
        into the new one). ``None``: the old folder is replaced whole.

    Returns
    -------
    AtomicDirectory
        A context manager yielding a temporary sibling folder (``.<name>.ensel-tmp-*``) to write
        every file into. On normal exit each file is fsynced and the folder is swapped with
        ``path`` (the old one is kept whole until the swap, then removed). If the block
        raises -- or the swap fails -- the temporary folder is removed and ``path`` is
        untouched.

    Raises
    ------
    NotADirectoryError
        ``path`` is a file.
    FileExistsError
        ``path`` is a non-empty folder without ``marker``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> target = Path(tempfile.mkdtemp()) / "model"
    >>> with atomic_directory(target, marker="config.json") as tmp:
    ...     _ = (tmp / "config.json").write_text("{}")
    >>> sorted(p.name for p in target.iterdir())
    ['config.json']
    >>> try:
    ...     with atomic_directory(target, marker="config.json") as tmp:
    ...         raise OSError(28, "No space left on device")
    ... except OSError:
    ...     pass
    >>> sorted(p.name for p in target.parent.iterdir())   # old artefact whole, no temp left
    ['model']
    """
    return AtomicDirectory(path, marker=marker, owned=owned)

