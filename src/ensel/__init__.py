"""ensel: learn, for each input, which members of a pool of models to trust.

Importing ensel is light: torch and matplotlib load only when a part that needs them is used.
"""

from __future__ import annotations

from typing import Any

from ensel._version import __version__
from ensel.table import PredictionTable

_LAZY = {
    "DifferentiableSelector": "ensel.combine.learned",
    "NeuralEnsembler": "ensel.combine.neural",
    "SelectiveEnsemble": "ensel.estimator",
    "SelectiveEnsembleClassifier": "ensel.estimator",
    "SelectiveEnsembleRegressor": "ensel.estimator",
}

__all__ = ["PredictionTable", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ensel' has no attribute {name!r}")


def __dir__() -> list[str]:  # the lazy names too, for dir(), completion and the API reference
    return sorted(set(globals()) | set(__all__))
