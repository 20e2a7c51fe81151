"""Deterministic random streams keyed by name.

One root seed; every stream is ``SeedSequence(root, spawn_key=hash(keys))``, so
a stream depends only on its keys (for example ``("weather", site, block)``)
and never on the order streams were asked for. That is what lets any night's
weather or faults be regenerated alone, and two agents on one scenario and
seed face the same world.
"""

from __future__ import annotations

import zlib

import numpy as np


def _key(part: str | int) -> int:
    if isinstance(part, int):
        return part & 0xFFFFFFFF
    return zlib.crc32(part.encode("utf-8"))


def stream(seed: int, *keys: str | int) -> np.random.Generator:
    """A generator that depends only on ``seed`` and ``keys``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=tuple(_key(k) for k in keys))))
