"""The built-in data ships inside the package; ENSEL_DATASETS overrides it file by file."""

from __future__ import annotations

import fnmatch
import gzip
import re
from pathlib import Path

import numpy as np
import pytest

from ensel import datasets
from ensel.datasets import DATASETS, FILES, data_dirs, dataset_path, load_dataset

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DATA = ROOT / "src" / "ensel" / "data"


@pytest.fixture(autouse=True)
def _no_override(monkeypatch):
    monkeypatch.delenv("ENSEL_DATASETS", raising=False)


@pytest.mark.parametrize("name, n, n_features, n_classes", [
    ("digits", 1797, 64, 10),
    ("breast_cancer", 569, 30, 2),
    ("letter", 20000, 16, 26),
    ("pendigits", 7494, 16, 10),
    ("mnist_5k", 5000, 784, 10),
])
def test_every_dataset_loads_from_the_package(name, n, n_features, n_classes):
    X, y = load_dataset(name)
    assert X.shape == (n, n_features) and X.dtype == np.float64 and y.shape == (n,)
    assert len(np.unique(y)) == n_classes and np.isfinite(X).all()


def test_file_contents():
    X, y = load_dataset("mnist_5k")
    assert X.min() == 0 and X.max() == 255
    assert np.bincount(y.astype(int)).tolist() == [500] * 10
    X, y = load_dataset("letter")
    assert y.dtype.kind == "U" and set(y) == {chr(c) for c in range(65, 91)}
    assert X.max() == 15
    _, y = load_dataset("pendigits")
    assert y.dtype == np.int64


def test_folders_ship_too():
    spider = dataset_path("spider_dev_public")
    assert sum(1 for _ in (spider / "questions.jsonl").open()) == 485
    assert len(list((spider / "database").glob("*/*.sqlite"))) == 10
    assert dataset_path("routerbench/mbpp_test.csv.gz").stat().st_size > 100_000
    assert spider.parent == PACKAGE_DATA.resolve() == data_dirs()[-1]


def test_environment_variable_overrides_file_by_file(monkeypatch, tmp_path):
    with gzip.open(tmp_path / "letter.csv.gz", "wt") as fh:
        fh.write("x1,x2,label\n1,2,A\n3,4,B\n5,6,A\n")
    monkeypatch.setenv("ENSEL_DATASETS", str(tmp_path))
    assert data_dirs()[0] == tmp_path
    X, y = load_dataset("letter")
    np.testing.assert_array_equal(X, [[1, 2], [3, 4], [5, 6]])
    assert y.tolist() == ["A", "B", "A"]
    assert load_dataset("pendigits")[0].shape == (7494, 16)     # not overridden: packaged


def test_missing_file_names_every_place_tried(monkeypatch, tmp_path):
    monkeypatch.setenv("ENSEL_DATASETS", str(tmp_path / "mine"))
    monkeypatch.setattr(datasets, "_PACKAGE_DATA", tmp_path / "pkg")
    message = (r"The dataset 'letter.csv.gz' was not found \(tried: .*mine/letter.csv.gz, "
               r".*pkg/letter.csv.gz\)\. Put letter.csv.gz in a folder and set ENSEL_DATASETS")
    with pytest.raises(FileNotFoundError, match=message):
        load_dataset("letter")


def test_unknown_dataset():
    with pytest.raises(ValueError, match=r"Unknown dataset 'iris'; choose one of \('digits'"):
        load_dataset("iris")


def test_datasets_and_files_agree():
    assert set(FILES) <= set(DATASETS)
    assert all((PACKAGE_DATA / f).is_file() for f in FILES.values())


def test_package_data_patterns_cover_every_data_file():
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["ensel"]
    files = [p.relative_to(PACKAGE_DATA.parent).as_posix()
             for p in PACKAGE_DATA.rglob("*") if p.is_file()]
    assert len(files) >= 20
    missing = [f for f in files if not any(fnmatch.fnmatch(f, p) for p in patterns)]
    assert missing == []


def test_nothing_looks_for_a_sibling_shared_folder():
    pattern = re.compile(r"\.\./shared|[\"']shared[\"']\s*/|/\s*[\"']shared[\"']")   # lookups
    hits = [str(p.relative_to(ROOT)) for folder in ("src", "tests", "benchmarks")
            for p in (ROOT / folder).rglob("*.py")
            if p.name != "test_datasets.py" and pattern.search(p.read_text())]
    assert hits == []
