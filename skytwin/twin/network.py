"""The simulated network: sites, the centre, alerts and the clock.

``TwinNetwork(scenario, seed)`` builds every site (sky, weather, link,
telescopes), schedules the exogenous streams (weather, alerts, faults) and
hands out decision points (see :mod:`skytwin.site.interface`). Exogenous
streams are drawn from keyed generators before anything runs, so they never
depend on what agents decide.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Mapping
from typing import Any

import numpy as np
import simpy

from skytwin.errors import SkytwinError
from skytwin.scenarios.schema import Scenario
from skytwin.site.interface import DecisionPoint
from skytwin.site.types import Alert, Decision, FrameRecord
from skytwin.twin.alerts import alert_schedule, followup_requests
from skytwin.twin.astro import epoch_time
from skytwin.twin.eventlog import EventLog
from skytwin.twin.faults import fault_schedule
from skytwin.twin.links import Link
from skytwin.twin.requests import RequestPool, scenario_requests
from skytwin.twin.site import TelescopeUnit, TwinSite
from skytwin.twin.sky import SiteSky, ephemeris
from skytwin.twin.weather import SiteWeather

DAY_S = 86400.0  # s


class TwinNetwork:
    """A scenario's network in simulation; implements :class:`skytwin.site.Network`.

    Parameters
    ----------
    scenario
        The validated scenario.
    seed
        Root seed (default: the scenario's).
    nights
        Number of 24-hour spans to simulate from the epoch (default: the scenario's).
    """

    def __init__(self, scenario: Scenario, seed: int | None = None, nights: int | None = None) -> None:
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else int(seed)
        self.nights = scenario.nights if nights is None else int(nights)
        if self.nights < 1:
            raise SkytwinError(f"nights must be at least 1, got {self.nights}")
        self.env = simpy.Environment()
        self.epoch = epoch_time(scenario.epoch)
        self.start_s = 0.0
        self.end_s = self.nights * DAY_S
        self.log = EventLog()
        # telescopes waiting for a decision; the point is built when it is handed out
        self._pending: deque[tuple[simpy.Event, TwinSite, TelescopeUnit]] = deque()
        self._current: DecisionPoint | None = None
        self._alerts: list[Alert] = []
        self.frame_listeners: list[Callable[[FrameRecord], None]] = []

        eph = ephemeris(float(self.epoch.utc.jd), self.start_s, self.end_s)
        readout = min(t.camera.readout_s for s in scenario.sites for t in s.telescopes)
        self.pool = RequestPool([s.name for s in scenario.sites], eph.icrs_to_date, readout)
        faults = fault_schedule(scenario, self.seed, self.end_s)
        self.faults = faults

        self.sites: dict[str, TwinSite] = {}
        for cfg in scenario.sites:
            sky = SiteSky(cfg.latitude_deg, cfg.longitude_deg, cfg.elevation_m, self.epoch, self.start_s, self.end_s)
            weather = SiteWeather(self.seed, cfg.name, cfg.climate, cfg.safety, cfg.longitude_deg, _sun_alt_fn(sky))
            weather.prepare(self.start_s, self.end_s)  # generate the span's weather now, not mid-run
            outages = [(f.start_s, f.end_s) for f in faults if f.site == cfg.name and f.type in ("network_outage", "link_outage")]
            site = TwinSite(self, cfg, sky, weather, Link(cfg.link.latency_s, outages))
            self.sites[cfg.name] = site

        self.pool.add(scenario_requests(scenario), {s: 0.0 for s in self.sites})
        self._fov_deg = float(np.median([min(t.fov_deg) for s in scenario.sites for t in s.telescopes]))

        env = self.env
        for site in self.sites.values():
            env.process(site.weather_process())
            env.process(site.maintenance_process(scenario.maintenance.cleaning_every_days))
            for u in site.telescopes.values():
                env.process(site.telescope_process(u))
        for f in faults:
            env.process(self.sites[f.site].fault_process(f))
        for a in alert_schedule(scenario, self.epoch, self.seed, self.end_s):
            env.process(self._alert_process(a))

    # ================================================================ Network interface
    @property
    def now_s(self) -> float:
        return float(self.env.now)

    def alerts(self) -> list[Alert]:
        return list(self._alerts)

    def next_decision(self, until_s: float | None = None) -> DecisionPoint | None:
        """Run the simulation to the next decision due before ``until_s`` (default: the end)."""
        until = self.end_s if until_s is None else min(until_s, self.end_s)
        env = self.env
        pending = self._pending
        while True:
            # Hand out a decision only when nothing else is due at this instant, so a
            # decision just made (another telescope claiming a request) is already in
            # effect when the next point's feasibility is computed.
            if pending and env.peek() > env.now:
                break
            if not pending and env.peek() > until:
                if env.now < until:
                    env.run(until=until)
                return None
            env.step()
        if self._current is None:
            _, site, u = pending[0]
            self._current = self._build_point(site, u)
        return self._current

    def decide(self, point: DecisionPoint, decision: Decision) -> None:
        if self._current is None or point is not self._current:
            raise SkytwinError("decide() must answer the decision point returned by the last next_decision()")
        event, _, _ = self._pending.popleft()
        self._current = None
        event.succeed(decision)

    def run(self, policy: Callable[[DecisionPoint], Decision], until_s: float | None = None) -> int:
        """Drive the network with ``policy`` to ``until_s``; returns the number of decisions."""
        n = 0
        point = self.next_decision(until_s)
        while point is not None:
            self.decide(point, policy(point))
            n += 1
            point = self.next_decision(until_s)
        return n

    # ================================================================ internals
    def _request_decision(self, site: TwinSite, u: TelescopeUnit) -> simpy.Event:
        event = self.env.event()
        self._pending.append((event, site, u))
        return event

    def _build_point(self, site: TwinSite, u: TelescopeUnit) -> DecisionPoint:
        t = self.env.now
        cond = site.conditions(t)
        alt, feasible = site.feasible(u, t, cond)
        pool = self.pool
        return DecisionPoint(
            t_s=t, site=site.name, telescope=u.name, conditions=cond, state=site.state(), candidates=pool.requests,
            ra_deg=pool.ra, dec_deg=pool.dec, priority=pool.priority, visit_s=pool.visit_s, alt_deg=alt, feasible=feasible,
        )

    def _alert_process(self, alert: Alert) -> Generator[simpy.Event, Any, None]:
        env = self.env
        yield env.timeout(max(0.0, alert.t_s - env.now))
        self._alerts.append(alert)
        aid = alert.id[0]
        self.log.add("alert", env.now, "", aid, alert.kind, alert.ra, alert.dec, alert.ra_dec_error, alert.containment_probability, alert.mission, alert.alert_tense)
        reqs = followup_requests(alert, self.scenario.alerts.followup, self._fov_deg)
        known = {name: s.link.deliver_s(env.now) for name, s in self.sites.items()}
        self.pool.add(reqs, known)
        for r in reqs:
            self.log.add("request", env.now, "", r.id, r.program, r.target, r.ra_deg, r.dec_deg, r.priority, str(r.kind))
        for name, t in sorted(known.items(), key=lambda kv: (kv[1], kv[0])):
            env.process(self._received(name, aid, t))

    def _received(self, site: str, aid: str, t: float) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(max(0.0, t - self.env.now))
        self.log.add("alert_received", self.env.now, site, aid)

    def _frame_taken(self, rec: FrameRecord) -> None:
        for f in self.frame_listeners:
            f(rec)


def _sun_alt_fn(sky: SiteSky) -> Callable[[np.ndarray], np.ndarray]:
    def sun_alt(t: np.ndarray) -> np.ndarray:
        return sky.sun_altaz(t)[0]

    return sun_alt


Sites = Mapping[str, TwinSite]
