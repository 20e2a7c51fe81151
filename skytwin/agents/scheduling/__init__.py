"""Schedulers: what a free telescope observes next.

``SCHEDULERS`` maps each agent name that ``skytwin run --agent NAME`` accepts to
a factory ``f(seed) -> Scheduler``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from skytwin.agents.scheduling.baselines import GreedyScheduler, RandomScheduler
from skytwin.agents.scheduling.planner_ip import IPScheduler


def _astroplan(seed: int | None = None) -> Any:
    from skytwin.agents.scheduling.planner_astroplan import AstroplanScheduler  # astroplan is slow to import

    return AstroplanScheduler()


SCHEDULERS: dict[str, Callable[[int | None], Any]] = {
    "random": lambda seed=None: RandomScheduler(seed=seed),
    "greedy": lambda seed=None: GreedyScheduler(),
    "astroplan": _astroplan,
    "ip": lambda seed=None: IPScheduler(),
}

__all__ = ["GreedyScheduler", "IPScheduler", "RandomScheduler", "SCHEDULERS"]
