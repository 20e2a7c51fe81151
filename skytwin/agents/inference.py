"""Inference helpers shared by the edge models' policies.

Units: none (thread counts).

A policy scores one frame or one candidate at a time. For such batch-1
inference on CPU, one intra-op thread is the fastest choice, and on a
machine whose cores are busy with other work, torch's default thread pool
can be two orders of magnitude slower (measured on the project's shared
2-core machine: 1.4 ms with one thread, ~300 ms with two, for the quality
CNN). :func:`torch_threads` sets the count for one call and restores it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads (``None``: leave torch's setting)."""
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    if old == n:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


class ShippedModelPolicy:
    """A role policy around one edge model, loaded on first use (once per policy object).

    Subclasses set :attr:`load_model` (the model's ``load_default``) and
    write ``predict``; a call runs under :func:`torch_threads` ``(threads)``.
    """

    load_model: Callable[[], Any]

    def __init__(self, model: Any = None, threads: int | None = 1) -> None:
        self._model = model
        self.threads = threads

    @property
    def model(self) -> Any:
        if self._model is None:
            self._model = type(self).load_model()
        return self._model

    def reset(self, seed: int | None = None) -> None:
        pass
