"""Scale beyond one machine on Ray: prediction collection (Ray Data) and selector training
(Ray Train).

Imported only when used: ``import ensel`` never imports this package, and importing this
package does not import Ray either. Ray is imported inside the functions that need it; without
the extra they raise an `ImportError` that says ``pip install ensel[ray]``.

- `collect_predictions` runs every member over the inputs, in process (``engine="local"``) or
  on a Ray cluster with one actor pool per member (``engine="ray"``), and writes a
  `~ensel.PredictionTable` directory that `~ensel.PredictionTable.load` opens memory-mapped.
- `train_on_ray` is the ``"ray"`` training engine: ``DifferentiableSelector(engine="ray",
  engine_options={"num_workers": 4})`` trains data-parallel on Ray Train through it, with the
  one training loop of ``ensel._training`` in every worker. `RayTrainConfig` lists the options.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ENGINES", "RayTrainConfig", "collect_predictions", "require_ray", "train_on_ray"]

ENGINES = ("local", "ray")

_LAZY = {
    "collect_predictions": "ensel.scale.collect",
    "RayTrainConfig": "ensel.scale.train",
    "train_on_ray": "ensel.scale.train",
}


def require_ray(what: str, parts: tuple[str, ...] = ("data",)) -> Any:
    """Import and return the ``ray`` module, or say which extra installs it.

    Parameters
    ----------
    what : str
        What needs Ray, for the message (e.g. ``"collect_predictions(engine='ray')"``).
    parts : tuple of str, default=("data",)
        Ray libraries to import as well (``"data"``, ``"train"``).

    Returns
    -------
    module
        The imported ``ray`` package.
    """
    import importlib

    try:
        ray = importlib.import_module("ray")
        for part in parts:
            importlib.import_module(f"ray.{part}")
    except ImportError as exc:
        libraries = " and ".join(f"Ray {part.capitalize()}" for part in parts) or "Ray"
        raise ImportError(
            f"{what} needs {libraries}, which could not be imported ({exc}). "
            f"Install the extra: pip install ensel[ray]"
        ) from exc
    return ray


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ensel.scale' has no attribute {name!r}")


def __dir__() -> list[str]:  # the lazy names too, for dir(), completion and the API reference
    return sorted(set(globals()) | set(__all__))
