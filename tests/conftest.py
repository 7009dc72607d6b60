"""Shared test set-up: one torch thread per test worker (tests run with pytest -n 2)."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_configure(config):
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a core dependency
        return
    torch.set_num_threads(1)
