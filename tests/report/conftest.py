"""A small, hand-made results document: no benchmark runs in the report tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ensel.report.results import FORMAT, VERSION

MEMBERS = ["m0", "m1", "m2", "m3"]
CLASSES = ["a", "b", "c"]
ACCURACY = {"average": 0.80, "stacking": 0.86, "e2e-cel": 0.88, "oracle": 0.97,
            "deslib:knora-e": 0.84}


def _make_document(*, parts=(("toy", "specialists"), ("toy", "natural")), seeds=(0, 1),
                  plots: bool = True) -> dict:
    """Records for every part x seed x combiner, a k sweep, and plot data for seed 0."""
    rng = np.random.default_rng(0)
    records, entries = [], []
    for dataset, pool in parts:
        for seed in seeds:
            base = {"dataset": dataset, "pool": pool, "seed": seed, "oracle_accuracy": 0.97,
                    "best_single": 0.7, "n_members": 4, "n_classes": 3, "n_selection": 60,
                    "n_test": 60, "n_rows": 240, "n_rows_available": 240}
            names = [(n, None) for n in ACCURACY] + [(f"e2e-cel[k={k}]", k) for k in (1, 2, 3)]
            for name, k in names:
                acc = ACCURACY.get(name, 0.78 + 0.03 * (k or 0)) + 0.01 * seed
                mpi = 4.0 if not name.startswith("e2e-cel") else float(k or 2)
                records.append({**base, "combiner": name, "k": k,
                                "family": "sweep" if k else "ensel",
                                "accuracy": acc, "log_loss": 0.5 - acc / 4, "brier": 0.3,
                                "ece": 0.05, "gap_closed": (acc - 0.7) / 0.27,
                                "members_per_input": mpi, "selected_per_input": mpi,
                                "fit_seconds": 0.5, "predict_seconds": 0.01})
        if plots:
            D = rng.uniform(0, 0.5, size=(4, 4))
            D = (D + D.T) / 2
            np.fill_diagonal(D, 0)
            edges = np.linspace(0, 1, 11)
            curve = {"confidence": ((edges[:-1] + edges[1:]) / 2).tolist(),
                     "accuracy": np.clip(edges[1:] - 0.05, 0, 1).tolist(),
                     "counts": [0, 0, 0, 3, 5, 8, 9, 10, 12, 13]}
            curve["confidence"][0] = None    # an empty bin, as JSON null
            curve["accuracy"][0] = None
            entries.append({"dataset": dataset, "pool": pool, "seed": seeds[0],
                            "members": MEMBERS, "classes": CLASSES,
                            "disagreement": D.round(4).tolist(), "selector": "e2e-cel",
                            "selection_frequency": rng.uniform(0, 1, (4, 3)).round(4).tolist(),
                            "reliability": {n: curve for n in ACCURACY}})
    header = {"suite": "test", "command": "ensel benchmark --suite test", "date": "2025-01-01",
              "python": "3.11", "platform": "test", "cpu_count": 2,
              "packages": {"ensel": "0.1.0"}, "seeds": list(seeds), "skipped": [],
              "failures": [], "wall_seconds": 1.0}
    return {"format": FORMAT, "version": VERSION, "header": header, "records": records,
            "plots": entries}


@pytest.fixture(scope="session")
def make_document():
    """The builder of small results documents (keyword arguments: parts, seeds, plots)."""
    return _make_document


@pytest.fixture
def document() -> dict:
    return _make_document()


@pytest.fixture(scope="session")
def report_file(tmp_path_factory) -> Path:
    """``results.json`` and ``report.html`` of the default small document, written once."""
    pytest.importorskip("matplotlib", reason="the report needs matplotlib "
                                              "(pip install ensel[report])")
    from ensel.report.html import write_report
    from ensel.report.results import write_results

    tmp = tmp_path_factory.mktemp("report")
    document = _make_document()
    results = write_results(tmp / "results.json", document["header"], document["records"],
                            document["plots"])
    return write_report(results, tmp / "report.html")
