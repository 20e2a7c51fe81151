"""The one small protocol every agent satisfies.

``predict(observation, deterministic=True) -> action`` (the shape of SB3's
``PolicyPredictor``), plus ``save``/``load``. Schedulers that work on the
twin's decision points directly also provide ``decide(point) -> Decision``,
which the evaluation runner calls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from skytwin.site.interface import DecisionPoint
from skytwin.site.types import Decision


@runtime_checkable
class Policy(Protocol):
    name: str

    def predict(self, observation: Any, deterministic: bool = True) -> Any: ...

    def save(self, path: str | Path) -> None: ...


@runtime_checkable
class Scheduler(Protocol):
    """A policy that answers the twin's (or a live network's) decision points."""

    name: str

    def decide(self, point: DecisionPoint) -> Decision: ...

    def reset(self, seed: int | None = None) -> None: ...
