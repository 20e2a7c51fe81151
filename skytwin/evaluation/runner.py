"""Run a scenario with a scheduler: the one runner the CLI, the benchmarks and
the control room use.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skytwin.agents.protocol import Scheduler
from skytwin.agents.scheduling import SCHEDULERS
from skytwin.errors import UnknownNameError
from skytwin.scenarios.schema import Scenario
from skytwin.twin.eventlog import EventLog
from skytwin.twin.network import TwinNetwork
from skytwin.twin.pixels import PixelRecorder
from skytwin.evaluation.summary import summarize


def make_scheduler(name: str, seed: int | None = None) -> Scheduler:
    """A scheduler from the registry (``skytwin.agents.scheduling.SCHEDULERS``) by name."""
    if name not in SCHEDULERS:
        raise UnknownNameError("agent", name, SCHEDULERS)
    return SCHEDULERS[name](seed)


@dataclass
class RunResult:
    network: TwinNetwork
    decisions: int
    wall_s: float
    summary: dict[str, Any]

    @property
    def log(self) -> EventLog:
        return self.network.log

    def save(self, out_dir: str | Path) -> tuple[Path, Path]:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        events = self.log.save(out / "events.parquet")
        summary = out / "summary.json"
        summary.write_text(json.dumps(self.summary, indent=2, sort_keys=True))
        return events, summary


def run_scenario(
    scenario: Scenario,
    scheduler: Scheduler | str = "greedy",
    seed: int | None = None,
    nights: int | None = None,
    progress: Callable[[float, float], None] | None = None,
    pixels: dict[str, Any] | None = None,
) -> RunResult:
    """Simulate ``scenario`` with ``scheduler``; returns the network, its log and a summary.

    ``pixels`` turns on pixel mode: keyword arguments of
    :class:`~skytwin.twin.pixels.PixelRecorder` (``out_dir``, ``every``, ``size``).
    """
    net = TwinNetwork(scenario, seed=seed, nights=nights)
    recorder = PixelRecorder(net, **pixels) if pixels is not None else None
    sched = make_scheduler(scheduler, net.seed) if isinstance(scheduler, str) else scheduler
    sched.reset(net.seed)
    if hasattr(sched, "attach"):  # planners look ahead through the network's Site interface
        sched.attach(net)
    t0 = time.perf_counter()
    decisions = 0
    step = 3600.0  # report progress every simulated hour
    t = 0.0
    while t < net.end_s:
        t = min(t + step, net.end_s)
        decisions += net.run(sched.decide, until_s=t)
        if progress is not None:
            progress(t, net.end_s)
    wall = time.perf_counter() - t0
    summary = summarize(net.log, list(net.sites), net.pool.completed())
    summary.update({"scenario": scenario.name, "seed": net.seed, "nights": net.nights, "agent": sched.name, "decisions": decisions})
    if recorder is not None:
        summary["rendered_frames"] = len(recorder.paths)
    return RunResult(net, decisions, wall, summary)
