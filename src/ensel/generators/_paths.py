"""Locate the shared datasets folder (private; ``ensel.datasets`` may take this over)."""

from __future__ import annotations

import os
from pathlib import Path


def _repo_root() -> Path | None:
    """The first folder above this file that holds ``pyproject.toml`` (None when installed)."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "pyproject.toml").is_file():
            return parent
    return None


def find_shared_dataset(name: str) -> Path:
    """Path of the shared dataset folder ``name``.

    Looked up in ``$ENSEL_DATASETS/<name>`` when the environment variable is set, else in
    ``<repository root>/../shared/datasets/<name>``.

    Raises
    ------
    FileNotFoundError
        When no candidate folder exists; the message lists the places tried.
    """
    tried: list[Path] = []
    env = os.environ.get("ENSEL_DATASETS")
    if env:
        tried.append(Path(env) / name)
    root = _repo_root()
    if root is not None:
        tried.append(root.parent / "shared" / "datasets" / name)
    for path in tried:
        if path.is_dir():
            return path
    places = ", ".join(str(p) for p in tried) or "nowhere (no ENSEL_DATASETS, no repository root)"
    raise FileNotFoundError(
        f"The shared dataset {name!r} was not found (tried: {places}). Set ENSEL_DATASETS to the "
        f"folder that holds {name}/."
    )
