"""A nightly planner built on astroplan's ``PriorityScheduler``: the field's familiar baseline.

Units: seconds of simulation time, degrees; astropy ``Time``/``Quantity`` only
at the astroplan boundary.

Once per site and night, the requests the site can do become astroplan
``ObservingBlock`` s (one visit each, priority ranked so that the highest
skytwin priority is astroplan's 1), with an ``AltitudeConstraint`` at the
site's horizon limit and ``AtNightConstraint.twilight_nautical()``, and a
``Transitioner`` for slews and filter changes. ``PriorityScheduler`` places
them in the night; at decision points the telescope takes the next planned
block that is feasible now, else the best feasible request (priority x
observability). The planner sees the Site interface (``location``,
``time_utc``) and decision points only.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from skytwin.agents.scheduling.baselines import IDLE_WAIT_S, _maintenance
from skytwin.site.interface import DecisionPoint, Site
from skytwin.site.types import Decision, ObservationRequest, Observe, Wait

_D2R = math.pi / 180.0


@dataclass(frozen=True, slots=True)
class AstroplanEntry:
    t_start_s: float
    t_end_s: float
    request_id: str
    priority: float


def _astroplan() -> Any:
    from astropy.utils import iers

    iers.conf.auto_download = False  # nothing is downloaded at run time
    import astroplan

    return astroplan


def plan_astroplan(
    site: Site,
    requests: Sequence[ObservationRequest],
    visit_s: np.ndarray,
    t0_s: float,
    t1_s: float,
    time_resolution_s: float = 120.0,
    slew_rate_deg_s: float = 2.0,
    filter_change_s: float = 30.0,
) -> list[AstroplanEntry]:
    """One site's plan for ``[t0_s, t1_s]`` with astroplan's ``PriorityScheduler``."""
    ap = _astroplan()
    import astropy.units as u
    from astropy.coordinates import EarthLocation, SkyCoord
    from astropy.time import Time

    lat, lon, elev = site.location()
    observer = ap.Observer(location=EarthLocation.from_geodetic(lon * u.deg, lat * u.deg, elev * u.m), name=site.name)
    horizon = site.state().horizon_alt_deg
    constraints = [ap.AltitudeConstraint(min=horizon * u.deg), ap.AtNightConstraint.twilight_nautical()]
    prio = np.array([r.priority for r in requests])
    rank = np.empty(len(requests), dtype=int)
    rank[np.lexsort((np.arange(len(requests)), -prio))] = np.arange(1, len(requests) + 1)  # 1 = most important
    coords = SkyCoord(ra=[r.ra_deg for r in requests] * u.deg, dec=[r.dec_deg for r in requests] * u.deg)
    blocks = []
    for j, r in enumerate(requests):
        target = ap.FixedTarget(coord=coords[j], name=r.id)
        blocks.append(ap.ObservingBlock(target, float(visit_s[j]) * u.s, int(rank[j]), configuration={"filter": r.filter}))
    transitioner = ap.Transitioner(slew_rate_deg_s * u.deg / u.s, {"filter": {"default": filter_change_s * u.s}})
    start = Time(site.time_utc(t0_s))
    end = Time(site.time_utc(t1_s))
    scheduler = ap.PriorityScheduler(constraints=constraints, observer=observer, transitioner=transitioner,
                                     time_resolution=time_resolution_s * u.s)
    schedule = ap.Schedule(start, end)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scheduler(blocks, schedule)
    by_id = {r.id: r for r in requests}
    out = []
    for b in schedule.observing_blocks:
        r = by_id[b.target.name]
        t_a = t0_s + float((b.start_time - start).to_value(u.s))
        t_b = t0_s + float((b.end_time - start).to_value(u.s))
        out.append(AstroplanEntry(t_a, t_b, r.id, r.priority))
    out.sort(key=lambda e: (e.t_start_s, e.request_id))
    return out


class AstroplanScheduler:
    """Plans each site's night with astroplan's ``PriorityScheduler`` and follows the plan.

    Parameters
    ----------
    max_requests
        Requests offered to astroplan per site and night (highest priority first).
    time_resolution_s
        astroplan's time resolution (seconds).
    """

    name = "astroplan"

    def __init__(self, max_requests: int = 60, time_resolution_s: float = 120.0) -> None:
        self.max_requests = max_requests
        self.time_resolution_s = time_resolution_s
        self.sites: Mapping[str, Site] = {}
        self.reset()

    def attach(self, network: Any) -> None:
        self.sites = network.sites

    def reset(self, seed: int | None = None) -> None:
        self._plans: dict[tuple[str, float], list[AstroplanEntry]] = {}
        self._done: dict[str, int] = {}

    def _night(self, site: Site, t: float) -> tuple[float, float] | None:
        for a, b in site.nights():
            if a <= t < b:
                return a, b
        return None

    def _plan_for(self, point: DecisionPoint) -> list[AstroplanEntry]:
        site = self.sites[point.site]
        night = self._night(site, point.t_s)
        if night is None:
            return []
        key = (point.site, night[0])
        if key not in self._plans:
            filters = {f for t in point.state.telescopes for f in t.filters}
            reqs = point.candidates[: len(point.priority)]
            ok = [j for j, r in enumerate(reqs)
                  if (r.site is None or r.site == point.site) and r.filter in filters
                  and r.visits - self._done.get(r.id, 0) > 0 and r.window_end_s > point.t_s]
            ok.sort(key=lambda j: (-point.priority[j], self._done.get(reqs[j].id, 0), j))
            ok = ok[: self.max_requests]
            sub = [reqs[j] for j in ok]
            self._plans[key] = plan_astroplan(site, sub, point.visit_s[ok], point.t_s, night[1],
                                              self.time_resolution_s) if sub else []
        return self._plans[key]

    def decide(self, point: DecisionPoint) -> Decision:
        m = _maintenance(point)
        if m is not None:
            return m
        feas = point.feasible
        if not feas.any():
            return Wait(IDLE_WAIT_S)
        plan = self._plan_for(point) if self.sites else []
        index = {r.id: j for j, r in enumerate(point.candidates)} if plan else {}
        for e in list(plan):
            if e.t_start_s > point.t_s + 1800.0:
                break
            j = index.get(e.request_id)
            if j is not None and feas[j]:
                plan.remove(e)
                return self._observe(point, j)
        idx = np.flatnonzero(feas)
        j = int(idx[np.argmax(point.priority[idx] * np.sin(point.alt_deg[idx] * _D2R))])
        return self._observe(point, j)

    def _observe(self, point: DecisionPoint, j: int) -> Decision:
        rid = point.candidates[j].id
        self._done[rid] = self._done.get(rid, 0) + 1
        return Observe(rid)

    predict = decide

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"name": self.name, "max_requests": self.max_requests,
                                          "time_resolution_s": self.time_resolution_s}))

    @classmethod
    def load(cls, path: str | Path) -> "AstroplanScheduler":
        d = json.loads(Path(path).read_text())
        return cls(d["max_requests"], d["time_resolution_s"])
