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

from collections.abc import Iterator
from contextlib import contextmanager

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
