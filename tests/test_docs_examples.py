"""The guides' Python examples (docs/*.md) run as written, as the README's do.

A page's blocks run in order in one namespace, in a fresh working folder, so a later block may
use what an earlier one made. A guide shows the API on objects its prose introduces
(``selection_table``, ``pool``); `SETUP` makes those, for each page, before the block that first
uses them. Blocks that need something a test machine does not have (a multi-node Ray cluster)
are listed in `NOT_RUN` with the reason; every other block runs.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _blocks(page: Path) -> list[str]:
    """The ```python blocks of a page, dedented when the block sits in a list item."""
    import textwrap

    found = re.findall(r"^( *)```python\n(.*?)^\1```", page.read_text(encoding="utf-8"),
                       flags=re.MULTILINE | re.DOTALL)
    return [textwrap.dedent(body) for _, body in found]


PAGES = {p.stem: _blocks(p) for p in sorted(DOCS.glob("*.md")) if _blocks(p)}

# a block that needs what a test machine does not have: (page, a line of it) -> why
NOT_RUN = {
    ("scale", 'ray.init(address="auto")'): "joins an existing multi-node cluster",
    ("scale", 'engine="ray", out="preds/"'): "Ray Data on a cluster; tests/scale/test_ray.py "
                                             "runs the same call on a local one",
    ("scale", 'engine_options={"num_workers": 4}'): "4 Ray Train workers need 4 CPUs; "
                                                    "tests/scale/test_ray.py trains with 2",
}

# a block that fails as written, left to its page's owner: (page, a line of it) -> what fails.
# The page's other blocks still run; the test reports xfail until the block passes.
KNOWN_BROKEN: dict[tuple[str, str], str] = {}


def _digits_pool(ns: dict) -> None:
    """Four plain members fitted on 900 digits; the selection and test tables on the rest."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.tree import DecisionTreeClassifier

    from ensel import PredictionTable

    X, y = load_digits(return_X_y=True)
    pool = [("logreg", LogisticRegression(max_iter=2000)), ("nb", GaussianNB()),
            ("knn", KNeighborsClassifier()), ("tree", DecisionTreeClassifier(random_state=0))]
    for _, member in pool:
        member.fit(X[:900], y[:900])
    ns["_digits"] = X, y, pool  # kept apart: a page's own blocks may reuse the names below
    ns.update(X=X, y=y, pool=pool, X_test=X[1350:], y_test=y[1350:],
              selection_table=PredictionTable.from_estimators(pool, X[900:1350], y[900:1350]),
              test_table=PredictionTable.from_estimators(pool, X[1350:], y[1350:]))


def _selective_ensemble(ns: dict) -> None:
    from ensel import DifferentiableSelector, SelectiveEnsemble

    if "_digits" not in ns:
        _digits_pool(ns)
    X, y, pool = ns["_digits"]
    ns["model"] = SelectiveEnsemble(pool, DifferentiableSelector(k=3, random_state=0))
    ns["model"].fit(X[:1350], y[:1350])
    ns["X_test"] = X[1350:]


def _spider_folder(ns: dict) -> None:
    """The shipped Spider half as the working folder: questions.jsonl, database/, pets_1."""
    from ensel.datasets import dataset_path
    from ensel.generators.sql import SQLiteEngine

    spider = dataset_path("spider_dev_public")
    for name in ("questions.jsonl", "database"):
        Path(name).symlink_to(spider / name)
    Path("pets_1.sqlite").symlink_to(spider / "database" / "pets_1" / "pets_1.sqlite")
    ns["gold_sql"] = "SELECT name, age FROM student ORDER BY age"
    ns["gold"] = SQLiteEngine("pets_1.sqlite").execute(ns["gold_sql"])


def _selective_predictor(ns: dict) -> None:
    """A SelectivePredictor calibrated on synthetic votes, and the table it predicts."""
    from ensel import PredictionTable
    from ensel.combine import Stacking
    from ensel.selective import SelectivePredictor

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 3000)
    vote = np.where(rng.uniform(size=(3000, 4)) < 0.8, y[:, None], (y[:, None] + 1) % 3)
    table = PredictionTable.from_arrays(0.7 * np.eye(3)[vote] + 0.1, y=y)
    model = Stacking().fit(table[:1000])
    ns["sp"] = SelectivePredictor(model, target_risk=0.1, delta=0.1).fit(table[1000:2000])
    ns["table"] = table[2000:]


def _fitted_ensemble(ns: dict) -> None:
    """A SelectiveEnsemble over the prefit digits pool, and calibration and test rows."""
    pytest.importorskip("mapie", reason="MAPIE is optional: pip install ensel[conformal]")
    from ensel import SelectiveEnsemble
    from ensel.combine import Stacking

    _digits_pool(ns)
    X, y, pool = ns["_digits"]
    ns["ensemble"] = SelectiveEnsemble(pool, Stacking()).fit(X[900:1200], y[900:1200])
    ns.update(X_calibration=X[1200:1500], y_calibration=y[1200:1500], X_test=X[1500:])


def _split_by_database(ns: dict) -> None:
    dbs = sorted({e.question.db_id for e in ns["executed"]})
    ns["train_dbs"] = set(dbs[: len(dbs) // 2])
    ns["test"] = [e for e in ns["executed"] if e.question.db_id not in ns["train_dbs"]]


# (page, a line of the first block that needs it) -> what makes the names the prose introduces
SETUP = {
    ("combiners", "KNORAE(n_neighbors=7).fit(selection_table)"): [_digits_pool],
    ("selector", "DifferentiableSelector(k=3).fit(selection_table)"): [_digits_pool],
    ("selector", "model.predict(X_test)"): [_selective_ensemble],
    ("sql", 'SQLiteEngine("pets_1.sqlite"'): [_spider_folder],
    ("sql", "SQLSelector().fit(train)"): [_split_by_database],
    ("trust", "y_pred = sp.predict(table)"): [_selective_predictor],
    ("trust", "SplitConformalClassifier(ensemble"): [_fitted_ensemble],
}


def _run(block: str, ns: dict, name: str) -> None:
    """Run a block as a script, or as a doctest when written with ``>>>`` prompts."""
    import doctest

    if not block.lstrip().startswith(">>>"):
        exec(compile(block, name, "exec"), ns)  # our own docs
        return
    test = doctest.DocTestParser().get_doctest(block, ns, name, name, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test, clear_globs=False)
    ns.update(test.globs)  # a DocTest runs in a copy: later blocks see what this one made
    assert runner.failures == 0, f"{runner.failures} of {runner.tries} examples failed in {name}"


def _matching(table: dict, page: str, block: str) -> list:
    return [value for (name, line), value in table.items() if name == page and line in block]


def test_every_setup_and_exclusion_still_matches_a_block():
    for page, line in [*SETUP, *NOT_RUN, *KNOWN_BROKEN]:
        assert any(line in block for block in PAGES.get(page, [])), (page, line)


# pages whose examples train models or run a benchmark (20-60 s on a loaded 2-core machine)
SLOW = {"benchmark", "selector", "sql"}


@pytest.mark.parametrize("page", [pytest.param(p, marks=[pytest.mark.slow] if p in SLOW else [])
                                  for p in sorted(PAGES)])
def test_guide_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    ran, broken = 0, []
    for index, block in enumerate(PAGES[page]):
        if _matching(NOT_RUN, page, block):
            continue
        for make in (f for setups in _matching(SETUP, page, block) for f in setups):
            make(ns)
        try:
            _run(block, ns, f"docs/{page}.md block {index}")
        except AssertionError:
            if not _matching(KNOWN_BROKEN, page, block):
                raise
            broken.append(f"block {index}: {_matching(KNOWN_BROKEN, page, block)[0]}")
        ran += 1
    assert ran or page == "scale"
    if broken:
        pytest.xfail("; ".join(broken))


# ---------------------------------------------------------------------------------------------
# The docstrings' Examples sections, which the API reference shows, run too.


def _modules() -> list[str]:
    import pkgutil

    import ensel

    return sorted(info.name for info in pkgutil.walk_packages(ensel.__path__, "ensel.")
                  if not info.name.startswith(("ensel.cli", "ensel.__main__")))


# modules whose examples train selectors or fit ensembles (30-90 s on a loaded 2-core machine)
SLOW_MODULES = {"ensel.combine.learned", "ensel.estimator"}


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=[pytest.mark.slow] if n in SLOW_MODULES else []) for n in _modules()])
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    import doctest
    import importlib

    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, optionflags=flags, report=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_the_reference_shows_examples():
    import doctest
    import importlib

    counted = sum(len(t.examples) for n in _modules()
                  for t in doctest.DocTestFinder().find(importlib.import_module(n)))
    assert counted >= 300, counted
