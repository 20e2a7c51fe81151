"""Baseline schedulers: greedy (priority x observability) and random.

Both see only the decision point (conditions, site state and candidate
arrays), never simulator internals, so they run unchanged on a live site.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from skytwin.site.interface import DecisionPoint
from skytwin.site.types import Calibrate, Decision, Observe, Wait

ZP_ERROR_LIMIT_MAG = 0.02  # calibrate when the zero point may be this far off
FOCUS_LIMIT_UM = 40.0  # refocus past this defocus
IDLE_WAIT_S = 600.0  # s to wait when nothing is feasible (one weather sample)


def _maintenance(point: DecisionPoint) -> Decision | None:
    """Calibrate when the free telescope's focus or zero point has drifted too far."""
    for tel in point.state.telescopes:
        if tel.name == point.telescope:
            if abs(tel.focus_offset_um) > FOCUS_LIMIT_UM and tel.zp_error_mag > ZP_ERROR_LIMIT_MAG:
                return Calibrate("both")
            if abs(tel.focus_offset_um) > FOCUS_LIMIT_UM:
                return Calibrate("focus")
            if tel.zp_error_mag > ZP_ERROR_LIMIT_MAG and point.conditions.weather.cloud_cover < 0.3:
                return Calibrate("photometric")
    return None


class GreedyScheduler:
    """Highest priority x observability among the feasible requests.

    Observability is ``sin(altitude)`` (1/airmass, roughly) times the cloud
    transmission; ties go to the candidate listed first.
    """

    name = "greedy"

    def __init__(self, calibrate: bool = True) -> None:
        self.calibrate = calibrate

    def reset(self, seed: int | None = None) -> None:
        pass

    def decide(self, point: DecisionPoint) -> Decision:
        if self.calibrate:
            m = _maintenance(point)
            if m is not None:
                return m
        idx = np.flatnonzero(point.feasible)
        if len(idx) == 0:
            return Wait(IDLE_WAIT_S)
        score = point.priority[idx] * np.sin(np.radians(point.alt_deg[idx]))
        return Observe(point.candidates[int(idx[np.argmax(score)])].id)

    predict = decide

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"name": self.name, "calibrate": self.calibrate}))

    @classmethod
    def load(cls, path: str | Path) -> "GreedyScheduler":
        return cls(calibrate=json.loads(Path(path).read_text())["calibrate"])


class RandomScheduler:
    """A uniformly random feasible request (or waiting when none is)."""

    name = "random"

    def __init__(self, seed: int | None = None) -> None:
        self._rng = np.random.default_rng(seed)

    def reset(self, seed: int | None = None) -> None:
        self._rng = np.random.default_rng(seed)

    def decide(self, point: DecisionPoint) -> Decision:
        idx = np.flatnonzero(point.feasible)
        if len(idx) == 0:
            return Wait(IDLE_WAIT_S)
        return Observe(point.candidates[int(self._rng.choice(idx))].id)

    predict = decide

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"name": self.name}))

    @classmethod
    def load(cls, path: str | Path) -> "RandomScheduler":
        return cls()

