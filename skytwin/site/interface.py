"""The Site interface and the network it belongs to.

A :class:`Site` gives its state, its conditions (weather now and forecast,
sky) and accepts commands; a :class:`Network` holds the sites, the request
pool and the clock, and hands out :class:`DecisionPoint` s: the moments at
which a telescope is free and a scheduler must decide. The twin implements
both with SimPy; live mode will implement them with INDI devices.

Driving a network is the same loop everywhere (runner, environments, the
control room)::

    point = network.next_decision(until_s)
    while point is not None:
        network.decide(point, policy(point))
        point = network.next_decision(until_s)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from skytwin.site.types import (
    Alert,
    Command,
    CommandOutcome,
    Conditions,
    Decision,
    ObservationRequest,
    SiteState,
    WeatherSample,
)


@runtime_checkable
class Site(Protocol):
    """One observatory site: state, conditions, commands."""

    name: str

    def state(self) -> SiteState:
        """The devices now."""
        ...

    def conditions(self) -> Conditions:
        """Sky and weather now."""
        ...

    def forecast(self, lead_s: float) -> WeatherSample:
        """The weather forecast ``lead_s`` seconds ahead (error grows with lead)."""
        ...

    def altaz(self, ra_deg: np.ndarray, dec_deg: np.ndarray, t_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Altitude and azimuth in degrees of ICRS positions at ``t_s``, vectorised."""
        ...

    def sun_alt_deg(self, t_s: np.ndarray) -> np.ndarray:
        """Sun altitude in degrees at the given times (for planners looking ahead)."""
        ...

    def nights(self) -> Sequence[tuple[float, float]]:
        """The observing nights (Sun below -12 deg) as ``(start_s, end_s)``."""
        ...

    def location(self) -> tuple[float, float, float]:
        """Geodetic latitude and longitude in degrees, elevation in metres (for planners using astropy)."""
        ...

    def time_utc(self, t_s: float) -> str:
        """Simulation (or live) seconds ``t_s`` as an ISO 8601 UTC string."""
        ...

    def submit(self, telescope: str, command: Command) -> CommandOutcome:
        """Check ``command`` with the safety layer and, if allowed, start it."""
        ...


@dataclass(frozen=True, slots=True)
class DecisionPoint:
    """A free telescope that needs a decision.

    ``candidates`` are the requests the site knows of (delivered over its
    link) that are still open, in a stable order; ``ra_deg``, ``dec_deg``,
    ``priority`` and ``exptime_s`` are their columns as arrays, for
    vectorised schedulers.
    """

    t_s: float
    site: str
    telescope: str
    conditions: Conditions
    state: SiteState
    candidates: Sequence[ObservationRequest]
    ra_deg: np.ndarray
    dec_deg: np.ndarray
    priority: np.ndarray
    visit_s: np.ndarray
    alt_deg: np.ndarray  # of each candidate now
    feasible: np.ndarray  # bool: the hard constraints (visibility, window, weather, instrument) allow it


@runtime_checkable
class Network(Protocol):
    """A set of sites, the requests they serve and the clock that drives them."""

    sites: Mapping[str, Site]

    @property
    def now_s(self) -> float: ...

    def next_decision(self, until_s: float) -> DecisionPoint | None:
        """Advance time to the next decision due before ``until_s`` (``None``: none)."""
        ...

    def decide(self, point: DecisionPoint, decision: Decision) -> None:
        """Answer a decision point."""
        ...

    def alerts(self) -> Sequence[Alert]:
        """Alerts received so far."""
        ...
