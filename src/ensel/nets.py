"""Ready-made torch networks: a small CNN for image members and selection networks.

Torch only; nothing else in ensel is imported here, and ``import ensel`` does not load it.
A network factory for `~ensel.DifferentiableSelector` is called as
``network(input_shape, n_members)``; `ConvNet` has that signature, so
``functools.partial(ConvNet, channels=(8, 16))`` is a factory that pickles (for the Ray
engine) and that a saved selector can name in its ``config.json``.
"""

from __future__ import annotations

import functools
import importlib
import json
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["ConvNet", "factory_from_spec", "factory_spec"]


class ConvNet(nn.Module):
    """Two (or more) conv-ReLU-maxpool blocks, then a linear map: ``[B, C, H, W] -> [B, n_out]``.

    Parameters
    ----------
    input_shape : tuple of int
        ``(channels, height, width)`` of one input, e.g. ``(1, 28, 28)`` for MNIST.
    n_outputs : int
        Width of the output: logits over the classes (a member), or member scores /
        features (a selection network).
    channels : sequence of int, default=(8, 16)
        Output channels of each 3x3 convolution (padding 1); each is followed by a ReLU and a
        2x2 max-pool.
    dropout : float, default=0.0
        Dropout before the linear map.

    Notes
    -----
    The conv weights and the activations are kept channels-last (``torch.channels_last``):
    the same numbers (to float rounding), faster on CPU (oneDNN's kernels; max-pooling in the
    default layout was a third of a training step). Each block pools before its ReLU
    (``relu(maxpool(x)) == maxpool(relu(x))``, a quarter of the ReLU work). Measured with
    (8, 16) channels at batch 128, one thread: an epoch of 1,000 MNIST images took 0.16 s of
    CPU before, 0.08 s now.

    Examples
    --------
    >>> import torch
    >>> from ensel.nets import ConvNet
    >>> net = ConvNet((1, 28, 28), 10, channels=(4, 8))
    >>> net(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(self, input_shape: Sequence[int], n_outputs: int, *,
                 channels: Sequence[int] = (8, 16), dropout: float = 0.0) -> None:
        super().__init__()
        shape = tuple(int(n) for n in input_shape)
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f"The 'input_shape' parameter of ConvNet must be (channels, height, "
                             f"width) of positive ints. Got {tuple(input_shape)!r} instead.")
        layers: list[nn.Module] = []
        width, side = shape[0], (shape[1], shape[2])
        for c in channels:
            layers += [nn.Conv2d(width, int(c), 3, padding=1), nn.MaxPool2d(2), nn.ReLU()]
            width, side = int(c), (max(1, side[0] // 2), max(1, side[1] // 2))
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.out = nn.Linear(width * side[0] * side[1], int(n_outputs))
        self.to(memory_format=torch.channels_last)      # the conv weights (see Notes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.out(self.dropout(self.features(x).flatten(1)))


# ---------------------------------------------------------------------- factories by name
def factory_spec(factory: Any, owner: str = "DifferentiableSelector") -> dict[str, Any]:
    """How to rebuild a network factory by name: ``{"factory": "module:qualname", "kwargs"}``.

    ``factory`` is a module-level class or function, or a `functools.partial` of one with
    keyword arguments only, whose values are JSON (numbers, strings, booleans, None, lists).
    Anything else (a lambda, a local class, positional arguments, tensors) cannot be named, so
    a model holding it cannot be saved without a pickle: a ``ValueError`` says so.

    Examples
    --------
    >>> import functools
    >>> from ensel.nets import ConvNet, factory_spec
    >>> factory_spec(functools.partial(ConvNet, channels=[4, 8]))
    {'factory': 'ensel.nets:ConvNet', 'kwargs': {'channels': [4, 8]}}
    """
    target, kwargs = factory, {}
    if isinstance(factory, functools.partial):
        if factory.args:
            raise ValueError(f"The 'network' factory of {owner} cannot be saved: a "
                             f"functools.partial with positional arguments {factory.args!r}; "
                             f"pass them by keyword.")
        target, kwargs = factory.func, dict(factory.keywords)
    path = f"{getattr(target, '__module__', None)}:{getattr(target, '__qualname__', None)}"
    if _resolve(path) is not target:
        raise ValueError(f"The 'network' factory of {owner} cannot be saved: {factory!r} is not "
                         f"importable by name (use a module-level class or function, or a "
                         f"functools.partial of one); ensel saves no pickles.")
    kwargs = {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}
    try:
        json.dumps(kwargs, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"The 'network' factory of {owner} cannot be saved: its keyword "
                         f"arguments {kwargs!r} are not JSON ({error}).") from None
    return {"factory": path, "kwargs": kwargs}


def factory_from_spec(spec: Any, where: str) -> Any:
    """The factory `factory_spec` described (``None`` for ``None``); errors name ``where``."""
    if spec is None:
        return None
    if not (isinstance(spec, dict) and set(spec) == {"factory", "kwargs"}
            and isinstance(spec["factory"], str) and isinstance(spec["kwargs"], dict)):
        raise ValueError(f"{where}: 'network' must be null or {{'factory': 'module:name', "
                         f"'kwargs': {{...}}}}; got {spec!r}.")
    target = _resolve(spec["factory"])
    if target is None:
        raise ValueError(f"{where}: the network factory {spec['factory']!r} cannot be "
                         f"imported.")
    return functools.partial(target, **spec["kwargs"]) if spec["kwargs"] else target


def _resolve(path: str) -> Any:
    module_name, _, qualname = path.partition(":")
    if not module_name or not qualname or "<" in qualname:
        return None
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError:
        return None
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj
