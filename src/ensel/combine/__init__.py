"""Combiners: every classic way to combine a pool, on prediction tables, with one API.

``fit(table) -> self``, ``predict_proba(table) -> [N, C]``, ``predict(table)`` and
``select(table) -> [N, M]`` (the per-input mask or weights). `COMBINERS` maps a short name to
each class; it is lazy, so ``import ensel.combine`` does not import torch — the torch-based
combiners (`NeuralEnsembler`, `DifferentiableSelector`) load when first asked for.

Examples
--------
>>> import numpy as np
>>> from ensel import PredictionTable
>>> from ensel.combine import COMBINERS, get_combiner
>>> "knora-e" in COMBINERS
True
>>> rng = np.random.default_rng(0)
>>> table = PredictionTable.from_arrays(rng.dirichlet(np.ones(3), size=(30, 4)),
...                                     y=rng.integers(0, 3, 30))
>>> get_combiner("average")().fit(table).predict(table).shape
(30,)
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any

from ensel.combine.auto import AutoCombiner
from ensel.combine.base import Combiner
from ensel.combine.dynamic import KNORAE, KNORAU, LCA, METADES, OLA, DynamicCombiner
from ensel.combine.population import QDOES, QOES
from ensel.combine.static import (
    Average,
    BestSingle,
    GreedySelection,
    Oracle,
    Stacking,
    Vote,
    WeightedAverage,
)

_PATHS: dict[str, str] = {
    "best-single": "ensel.combine.static:BestSingle",
    "vote": "ensel.combine.static:Vote",
    "average": "ensel.combine.static:Average",
    "weighted-average": "ensel.combine.static:WeightedAverage",
    "stacking": "ensel.combine.static:Stacking",
    "greedy": "ensel.combine.static:GreedySelection",
    "qo-es": "ensel.combine.population:QOES",
    "qdo-es": "ensel.combine.population:QDOES",
    "auto": "ensel.combine.auto:AutoCombiner",
    "ola": "ensel.combine.dynamic:OLA",
    "lca": "ensel.combine.dynamic:LCA",
    "knora-e": "ensel.combine.dynamic:KNORAE",
    "knora-u": "ensel.combine.dynamic:KNORAU",
    "meta-des": "ensel.combine.dynamic:METADES",
    "neural": "ensel.combine.neural:NeuralEnsembler",
    "e2e-cel": "ensel.combine.learned:DifferentiableSelector",
    "oracle": "ensel.combine.static:Oracle",
    "cascade": "ensel.combine.cascade:Cascade",
}

_LAZY_CLASSES = {
    "NeuralEnsembler": "ensel.combine.neural",
    "DifferentiableSelector": "ensel.combine.learned",
    "Cascade": "ensel.combine.cascade",
    "AnswerCascade": "ensel.combine.routing",
    "KNNRouter": "ensel.combine.routing",
    "LearnedRouter": "ensel.combine.routing",
    "MeanRouter": "ensel.combine.routing",
    "OracleRouter": "ensel.combine.routing",
    "PredictiveRouter": "ensel.combine.routing",
    "WinRateRouter": "ensel.combine.routing",
    "routing_curve": "ensel.combine.routing",
    "add_prompt_features": "ensel.combine.routing",
    "default_routers": "ensel.combine.routing",
    "evaluate_routers": "ensel.combine.routing",
}


class _Registry(Mapping):
    """Name → combiner class, importing each class's module only when it is looked up."""

    def __init__(self, paths: dict[str, str]) -> None:
        self._paths = paths

    @property
    def paths(self) -> dict[str, str]:
        """Name → ``"module:Class"``, without importing anything."""
        return dict(self._paths)

    def register(self, name: str, path: str) -> None:
        """Add (or replace) an entry ``name -> "package.module:Class"``."""
        if ":" not in path:
            raise ValueError(
                f"A combiner path must look like 'package.module:Class'. Got {path!r} instead."
            )
        self._paths[name] = path

    def __getitem__(self, name: str) -> type:
        if name not in self._paths:
            raise KeyError(
                f"Unknown combiner {name!r}; choose one of {sorted(self._paths)}."
            )
        module, cls = self._paths[name].split(":")
        try:
            return getattr(importlib.import_module(module), cls)
        except ImportError as exc:
            raise ImportError(
                f"Combiner {name!r} lives in {module}, which could not be imported: {exc}"
            ) from exc

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)

    def __contains__(self, name: object) -> bool:
        return name in self._paths

    def __repr__(self) -> str:
        return f"COMBINERS({sorted(self._paths)})"


#: Registry: short name (``"knora-e"``) -> combiner class, imported only when looked up.
COMBINERS = _Registry(_PATHS)


def get_combiner(name: str) -> type:
    """The combiner class registered as ``name`` (imports its module on first use).

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones).
    ImportError
        When the module cannot be imported (e.g. torch missing for ``"neural"``).
    """
    if name not in COMBINERS:
        raise ValueError(f"Unknown combiner {name!r}; choose one of {sorted(COMBINERS)}.")
    return COMBINERS[name]


def __getattr__(name: str) -> Any:
    if name in _LAZY_CLASSES:
        return getattr(importlib.import_module(_LAZY_CLASSES[name]), name)
    raise AttributeError(f"module 'ensel.combine' has no attribute {name!r}")


def __dir__() -> list[str]:  # the lazy names too, for dir(), completion and the API reference
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "COMBINERS",
    "KNORAE",
    "KNORAU",
    "LCA",
    "METADES",
    "OLA",
    "QDOES",
    "QOES",
    "AutoCombiner",
    "Average",
    "BestSingle",
    "Cascade",
    "Combiner",
    "DifferentiableSelector",
    "DynamicCombiner",
    "GreedySelection",
    "NeuralEnsembler",
    "Oracle",
    "Stacking",
    "Vote",
    "WeightedAverage",
    "get_combiner",
    "AnswerCascade",
    "KNNRouter",
    "LearnedRouter",
    "MeanRouter",
    "OracleRouter",
    "PredictiveRouter",
    "WinRateRouter",
    "routing_curve",
    "add_prompt_features",
    "default_routers",
    "evaluate_routers",
]
