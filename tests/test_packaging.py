"""The package as users get it: one version everywhere, metadata, and a wheel that works alone."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest

import ensel

ROOT = Path(__file__).resolve().parents[1]


def _toml_tables(text: str) -> dict[str, str]:
    """The body of each ``[table]`` of a TOML file, by name (tomllib is 3.11+ only)."""
    parts = re.split(r"^\[([^\]]+)\]$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_version_is_single_sourced():
    assert ensel.__version__ == importlib.metadata.version("ensel")
    assert re.fullmatch(r"\d+\.\d+\.\d+([ab]\d+|rc\d+)?(\.dev\d+)?", ensel.__version__)
    tables = _toml_tables((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert not re.search(r"^version\s*=", tables["project"], flags=re.MULTILINE)
    assert re.search(r'^dynamic = \[.*"version".*\]', tables["project"], flags=re.MULTILINE)
    source = 'version = { attr = "ensel._version.__version__" }'
    assert source in tables["tool.setuptools.dynamic"]


def test_cli_reports_the_same_version(capsys):
    from ensel.cli import main

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"ensel {importlib.metadata.version('ensel')}"


def test_changelog_lists_the_current_version():
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## \[([^\]]+)\]", changelog, flags=re.MULTILINE)
    assert headings[0] == "Unreleased"
    assert ensel.__version__ in headings


def test_metadata_declares_licence_and_python():
    meta = importlib.metadata.metadata("ensel")
    assert meta["License-Expression"] == "BSD-3-Clause"
    assert "BSD 3-Clause License" in (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert meta["Requires-Python"] == ">=3.10"
    assert "Typing :: Typed" in meta.get_all("Classifier")


# ---------------------------------------------------------------------------------------------
# The built wheel, installed alone into a fresh venv, runs the demo and loads the shipped data.

_WHEEL_CHECK = """
import json, sys
from pathlib import Path
import ensel
from ensel.datasets import DATASETS, load_dataset
loaded = {}
for name in DATASETS:
    try:
        X, y = load_dataset(name)
    except FileNotFoundError as error:
        loaded[name] = str(error)
    else:
        loaded[name] = [int(X.shape[0]), int(X.shape[1]), int(len(set(y.tolist())))]
from importlib.metadata import version
from ensel.datasets import dataset_path
paths = {name: str(dataset_path(name)) for name in sys.argv[1:]}
print(json.dumps({"file": ensel.__file__, "version": ensel.__version__,
                  "metadata": version("ensel"), "loaded": loaded, "paths": paths}))
"""


def _copy_source(dest: Path) -> Path:
    """The files a build reads, copied out of the work tree (no stale build/ or egg-info)."""
    import shutil

    dest.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, dest / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(ROOT / "src", dest / "src", ignore=ignore)
    return dest


def _run(args: list[str], *, cwd: Path, timeout: float = 120) -> str:
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ENSEL_DATASETS")}
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _venv_with(wheel: Path, venv: Path) -> Path:
    """A new venv holding only the wheel; the test's own site-packages are appended after it.

    ``--system-site-packages`` would reuse the *system* interpreter's packages, not this venv's
    torch and scikit-learn, so a ``.pth`` line adds them instead; the wheel is installed before
    that line exists, so pip neither sees nor touches the development install.
    """
    import site
    import sys

    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=venv.parent)
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
          "--no-index", "--quiet", str(wheel)], cwd=venv.parent)
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                   cwd=venv.parent).strip()
    (Path(purelib) / "_ensel_test_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return python


@pytest.mark.slow
def test_built_wheel_runs_alone(tmp_path):
    import json
    import sys
    import zipfile

    source = _copy_source(tmp_path / "source")
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(source)],
         cwd=tmp_path)
    (wheel,) = dist.glob("ensel-*.whl")
    (sdist,) = dist.glob("ensel-*.tar.gz")
    assert f"ensel-{ensel.__version__}-" in wheel.name
    assert "PASSED" in _run([sys.executable, "-m", "twine", "check", "--strict", str(wheel),
                              str(sdist)], cwd=tmp_path)

    names = set(zipfile.ZipFile(wheel).namelist())
    package = source / "src"
    shipped = {p.relative_to(package).as_posix() for p in (package / "ensel").rglob("*")
               if p.is_file()}
    missing = sorted(shipped - names)
    assert not missing, f"files of src/ensel missing from the wheel: {missing[:20]}"
    assert f"ensel-{ensel.__version__}.dist-info/licenses/LICENSE" in names

    python = _venv_with(wheel, tmp_path / "venv")
    work = tmp_path / "elsewhere"
    work.mkdir()
    data = package / "ensel" / "data"
    entries = sorted(p.name for p in data.iterdir() if p.name != "SOURCES.md")
    assert len(entries) >= 5  # letter, pendigits, mnist_5k, spider_dev_public, routerbench
    report = json.loads(_run([str(python), "-c", _WHEEL_CHECK, *entries],
                             cwd=work).splitlines()[-1])
    assert Path(report["file"]).is_relative_to(tmp_path / "venv"), report["file"]
    assert report["version"] == report["metadata"] == ensel.__version__
    version = _run([str(python.parent / "ensel"), "--version"], cwd=work).strip()
    assert version == f"ensel {ensel.__version__}"
    assert report["loaded"]["digits"] == [1797, 64, 10]
    shipped_sets = [n for n in report["loaded"] if (data / f"{n}.csv.gz").is_file()]
    assert len(shipped_sets) >= 3, shipped_sets
    for name in shipped_sets:
        assert isinstance(report["loaded"][name], list), (name, report["loaded"][name])
        assert report["loaded"][name][0] >= 5000, (name, report["loaded"][name])
    for name, path in report["paths"].items():  # found in the installed package, not the repo
        assert Path(path).is_relative_to(tmp_path / "venv"), (name, path)

    out = _run([str(python.parent / "ensel"), "demo"], cwd=work, timeout=300)  # ~15 s idle
    assert "e2e-CEL (k=3)" in out and "stacking" in out and "done in" in out


def test_lazy_packages_list_their_exports_in_dir():
    import importlib

    for name in ("ensel", "ensel.combine", "ensel.generators", "ensel.generators.sql",
                 "ensel.scale"):
        module = importlib.import_module(name)
        assert set(module.__all__) <= set(dir(module)), name
