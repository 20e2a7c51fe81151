"""A simulated site: SimPy processes behind the Site interface.

Units: seconds of simulation time, degrees.

Each telescope runs one SimPy process: it sleeps through the day, asks the
network for a decision whenever it is free at night, and executes the
decision as primitive commands (open, slew, filter, expose and read out),
each passing the safety layer first. The site's weather process samples the
weather and closes the dome the moment it turns unsafe; fault processes
start and end faults. Nothing here imports environments or agents.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from skytwin.scenarios.schema import Site as SiteConfig
from skytwin.scenarios.schema import Telescope
from skytwin.site.safety import SafetyLayer, SafetyLimits, angular_sep_deg
from skytwin.site.types import (
    Calibrate,
    CloseDome,
    Command,
    CommandOutcome,
    Conditions,
    Decision,
    Expose,
    FrameRecord,
    Observe,
    OpenDome,
    Park,
    SetFilter,
    SiteState,
    Slew,
    TelescopeState,
    Wait,
    WeatherSample,
)
from skytwin.twin import hardware
from skytwin.twin.astro import to_iso
from skytwin.twin.faults import Fault
from skytwin.twin.links import Link
from skytwin.twin.photometry import frame_metrics, sky_brightness
from skytwin.twin.sky import SiteSky, SkyTable, airmass
from skytwin.twin.weather import SAMPLE_S, SiteWeather

if TYPE_CHECKING:
    from skytwin.twin.network import TwinNetwork

_NO_STATE = TelescopeState("", 0.0, 0.0, True, "", False)
REFUSAL_COST_S = 30.0  # s lost when a command is refused
NIGHT_SUN_ALT_DEG = -12.0  # observe between nautical dusk and dawn
BLOCKING_SITE_FAULTS = ("power_loss",)
DAY_S = 86400.0  # s
_D2R = math.pi / 180.0
_R2D = 180.0 / math.pi


class TelescopeUnit:
    """Mutable state of one telescope in the twin."""

    def __init__(self, cfg: Telescope, t_s: float, temperature_c: float) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.ra_deg = 0.0
        self.dec_deg = 0.0
        self.parked = True
        self.filter = cfg.filters[0]
        self.busy = False
        self.faults: dict[str, float] = {}  # fault -> end time
        self.focus_temperature_c = temperature_c
        self.last_calibration_s = t_s
        self.last_cleaning_s = t_s
        self.frames = 0
        self.open_shutter_s = 0.0
        self.slew_s = 0.0
        self.filters = frozenset(cfg.filters)
        self._filter_mask: tuple[int, np.ndarray] = (-1, np.zeros(0, dtype=bool))


class TwinSite:
    """One simulated site; implements :class:`skytwin.site.Site`."""

    def __init__(self, network: "TwinNetwork", cfg: SiteConfig, sky: SiteSky, weather: SiteWeather, link: Link) -> None:
        self.network = network
        self.env: simpy.Environment = network.env
        self.name = cfg.name
        self.cfg = cfg
        self.sky = sky
        self.table = SkyTable(sky)
        self.weather = weather
        self.link = link
        self.safety = SafetyLayer(
            SafetyLimits(cfg.safety.horizon_alt_deg, cfg.safety.sun_avoid_deg, cfg.safety.max_humidity_pct, cfg.safety.max_wind_mps),
            sky.alt_deg,
        )
        self.dome_open = False
        self.dome_stuck = False
        self.site_faults: dict[str, float] = {}
        t0 = network.start_s
        temp0 = weather.sample(t0).temperature_c
        self.telescopes = {t.name: TelescopeUnit(t, t0, temp0) for t in cfg.telescopes}
        self._nights = sky.nights(NIGHT_SUN_ALT_DEG)
        self._night_starts = [n[0] for n in self._nights]
        self.weather_lost_s = 0.0
        self._cos_sun_avoid = math.cos(cfg.safety.sun_avoid_deg * _D2R)
        self._sin_horizon = math.sin(cfg.safety.horizon_alt_deg * _D2R)
        self._k_v = cfg.climate.extinction_mag_per_airmass
        self._cond: Conditions | None = None
        self._feasible_cache: tuple[float, int, str, np.ndarray, np.ndarray] | None = None  # (t, pool version, telescope, ...)

    # ================================================================ Site interface
    def state(self) -> SiteState:
        t = self.env.now
        return SiteState(
            name=self.name,
            t_s=t,
            dome_open=self.dome_open,
            link_up=self.link.up(t),
            power=not self.site_faults,
            telescopes=tuple(self._tel_state(u, t) for u in self.telescopes.values()),
            faults=tuple(sorted(self.site_faults)),
            horizon_alt_deg=self.cfg.safety.horizon_alt_deg,
            sun_avoid_deg=self.cfg.safety.sun_avoid_deg,
        )

    def _tel_state(self, u: TelescopeUnit, t: float) -> TelescopeState:
        w = self.weather.sample(t)
        return TelescopeState(
            name=u.name, ra_deg=u.ra_deg, dec_deg=u.dec_deg, parked=u.parked, filter=u.filter, busy=u.busy,
            faults=tuple(sorted(u.faults)),
            filters=u.cfg.filters,
            focus_offset_um=hardware.focus_offset_um(u.cfg, w.temperature_c, u.focus_temperature_c),
            throughput=hardware.throughput(u.cfg, (t - u.last_cleaning_s) / DAY_S),
            zp_error_mag=hardware.zp_error_mag(u.cfg, (t - u.last_calibration_s) / DAY_S),
        )

    def conditions(self, t_s: float | None = None) -> Conditions:
        t = self.env.now if t_s is None else t_s
        if self._cond is not None and self._cond.t_s == t:
            return self._cond
        self._cond = self._conditions(t)
        return self._cond

    def _conditions(self, t: float) -> Conditions:
        row = self.table.at(t)
        sun_alt, moon_alt, illum = row[0], row[1], row[2]
        sx, sy, sz, mx, my, mz = row[3:]
        return Conditions(
            t_s=t,
            sun_alt_deg=sun_alt,
            sun_ra_deg=math.degrees(math.atan2(sy, sx)) % 360.0,
            sun_dec_deg=math.degrees(math.asin(max(-1.0, min(1.0, sz / math.sqrt(sx * sx + sy * sy + sz * sz))))),
            moon_alt_deg=moon_alt,
            moon_ra_deg=math.degrees(math.atan2(my, mx)) % 360.0,
            moon_dec_deg=math.degrees(math.asin(max(-1.0, min(1.0, mz / math.sqrt(mx * mx + my * my + mz * mz))))),
            moon_illumination=illum,
            twilight=SiteSky.twilight_phase(sun_alt),  # type: ignore[arg-type]
            weather=self.weather.sample(t),
        )

    def sun_alt_deg(self, t_s: np.ndarray) -> np.ndarray:
        return self.table.sun_alt_many(np.asarray(t_s, dtype=float))

    def nights(self) -> list[tuple[float, float]]:
        return list(self._nights)

    def forecast(self, lead_s: float) -> WeatherSample:
        return self.weather.forecast(self.env.now, lead_s)

    def altaz(self, ra_deg: np.ndarray, dec_deg: np.ndarray, t_s: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        return self.sky.altaz(np.asarray(ra_deg), np.asarray(dec_deg), self.env.now if t_s is None else t_s)

    def location(self) -> tuple[float, float, float]:
        return (self.cfg.latitude_deg, self.cfg.longitude_deg, self.cfg.elevation_m)

    def time_utc(self, t_s: float) -> str:
        return to_iso(self.network.epoch, t_s)

    def check(self, telescope: str, command: Command) -> str:
        """Why ``command`` would be refused now (``""``: allowed)."""
        u = self.telescopes[telescope]
        t = self.env.now
        if self.site_faults:
            return "site power loss"
        if isinstance(command, Slew) and "mount_stall" in u.faults:
            return "mount stalled"
        if isinstance(command, Expose) and "camera_failure" in u.faults:
            return "camera failed"
        if isinstance(command, Expose) and not self.dome_open:
            return "dome closed"
        if isinstance(command, OpenDome | CloseDome) and self.dome_stuck:
            return "dome stuck"
        if isinstance(command, SetFilter) and command.filter not in u.filters:
            return f"filter {command.filter!r} not in the wheel {sorted(u.filters)}"
        if isinstance(command, Expose):  # only exposures need the telescope's pointing
            state = TelescopeState(u.name, u.ra_deg, u.dec_deg, u.parked, u.filter, u.busy)
        else:
            state = _NO_STATE
        return self.safety.check(command, self.conditions(t), state, self.dome_open)

    def submit(self, telescope: str, command: Command) -> CommandOutcome:
        """Check and apply a primitive command now; returns its duration (the caller waits)."""
        why = self.check(telescope, command)
        u = self.telescopes[telescope]
        t = self.env.now
        log = self.network.log
        if why:
            log.add("refused", t, self.name, telescope, _describe(command), why)
            return CommandOutcome(False, why)
        duration = self._apply(u, command)
        log.add("command", t, self.name, telescope, _describe(command), duration)
        return CommandOutcome(True, "", duration)

    # ================================================================ commands
    def _apply(self, u: TelescopeUnit, command: Command) -> float:
        t = self.env.now
        cfg = self.cfg
        if isinstance(command, Slew):
            d = self._slew_time(u, command.ra_deg, command.dec_deg, t)
            u.ra_deg, u.dec_deg, u.parked = command.ra_deg, command.dec_deg, False
            u.slew_s += d
            return d
        if isinstance(command, SetFilter):
            same = command.filter == u.filter
            u.filter = command.filter
            return 0.0 if same else u.cfg.filter_change_s
        if isinstance(command, OpenDome):
            if self.dome_open:
                return 0.0
            self.dome_open = True
            self.network.log.add("dome", t, self.name, u.name, True, cfg.dome.open_s)
            return cfg.dome.open_s
        if isinstance(command, CloseDome):
            return self._close(t, u.name)
        if isinstance(command, Park):
            u.parked = True
            return u.cfg.mount.settle_s
        if isinstance(command, Calibrate):
            d = 0.0
            if command.kind in ("focus", "both"):
                u.focus_temperature_c = self.weather.sample(t).temperature_c
                d += u.cfg.focus.autofocus_s
            if command.kind in ("photometric", "both"):
                u.last_calibration_s = t
                d += u.cfg.throughput.calibration_s
            self.network.log.add("calibration", t, self.name, u.name, command.kind)
            return d
        if isinstance(command, Expose):
            return command.exptime_s + u.cfg.camera.readout_s
        raise TypeError(f"not a command: {command!r}")

    def _close(self, t: float, who: str) -> float:
        if not self.dome_open:
            return 0.0
        self.dome_open = False
        self.network.log.add("dome", t, self.name, who, False, self.cfg.dome.close_s)
        return self.cfg.dome.close_s

    def _slew_time(self, u: TelescopeUnit, ra: float, dec: float, t: float) -> float:
        last = math.degrees(self.sky.last_scalar(t))
        alt0, az0 = self.sky.altaz_scalar(u.ra_deg, u.dec_deg, t)
        alt1, az1 = self.sky.altaz_scalar(ra, dec, t)
        return hardware.slew_time_s(u.cfg, self.cfg.dome, last - u.ra_deg, u.dec_deg, last - ra, dec, az0, az1, alt0, alt1)

    # ================================================================ scheduling view
    def feasible(self, u: TelescopeUnit, t: float, cond: Conditions) -> tuple[np.ndarray, np.ndarray]:
        """(altitude now in degrees, feasible mask) for every request in the pool (cached per time)."""
        pool = self.network.pool
        n = len(pool)
        c = self._feasible_cache
        if c is not None and c[0] == t and c[1] == pool.version and c[2] == u.name:
            return c[3], c[4]
        alt, mask = self._feasible(u, t, cond, pool, n)
        self._feasible_cache = (t, pool.version, u.name, alt, mask)
        return alt, mask

    def _feasible(self, u: TelescopeUnit, t: float, cond: Conditions, pool: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
        if n == 0:
            return np.zeros(0), np.zeros(0, dtype=bool)
        sin_alt = self.sky.sin_alt_apparent(pool.vec, t)
        alt = np.arcsin(np.minimum(np.maximum(sin_alt, -1.0), 1.0)) * _R2D
        if not self._operable(u, cond):
            return alt, np.zeros(n, dtype=bool)
        night_left = self.night_end(t) - t
        if u._filter_mask[0] != n:
            u._filter_mask = (n, np.array([f in u.filters for f in pool.filter], dtype=bool))
        mask = pool.open_mask(self.name, t) & u._filter_mask[1] & (sin_alt >= self._sin_horizon) & (pool.visit_s <= night_left)
        # A target above the horizon limit is at least (limit - Sun altitude) from the Sun;
        # only when that bound is not enough is the separation computed.
        if self.cfg.safety.horizon_alt_deg - cond.sun_alt_deg < self.cfg.safety.sun_avoid_deg + 0.1:
            sun_v = np.array(self.sky.apparent_scalar(cond.sun_ra_deg, cond.sun_dec_deg))
            mask &= pool.vec @ sun_v <= self._cos_sun_avoid
        # still above the limit when the longest visit in the pool would end (setting targets);
        # conservative by at most that visit's length, and one product over the whole pool
        mask &= self.sky.sin_alt_apparent(pool.vec, t + pool.max_visit_s) >= self._sin_horizon
        return alt, mask

    def _operable(self, u: TelescopeUnit, cond: Conditions) -> bool:
        if self.site_faults or u.faults:
            return False
        if not cond.weather.safe:
            return False
        if self.dome_stuck and not self.dome_open:
            return False
        return self.night_end(cond.t_s) > cond.t_s  # the exact night intervals, not the tabulated Sun

    def night_end(self, t: float) -> float:
        i = bisect.bisect_right(self._night_starts, t) - 1
        if i >= 0 and t < self._nights[i][1]:
            return self._nights[i][1]
        return t

    def next_night_start(self, t: float) -> float | None:
        i = bisect.bisect_right(self._night_starts, t)
        return self._night_starts[i] if i < len(self._night_starts) else None

    # ================================================================ processes
    def weather_process(self) -> Generator[simpy.Event, Any, None]:
        env = self.env
        log = self.network.log
        end = self.network.end_s
        t = math.floor(env.now / SAMPLE_S) * SAMPLE_S
        if t < env.now:
            t += SAMPLE_S
        yield env.timeout(t - env.now)
        while env.now < end:
            t = env.now
            w = self.weather.sample(t)
            sun_alt = self.table.at(t)[0]
            log.add("weather", t, self.name, w.cloud_cover, w.seeing_arcsec, w.humidity_pct, w.temperature_c, w.wind_mps, w.gust_mps, w.rain, w.safe, sun_alt)
            if not w.safe and self.dome_open:
                if self.dome_stuck:
                    log.add("refused", t, self.name, "", "close", "dome stuck")
                else:
                    self._close(t, "safety")
            if not w.safe and sun_alt < NIGHT_SUN_ALT_DEG:
                self.weather_lost_s += SAMPLE_S
            yield env.timeout(SAMPLE_S)

    def fault_process(self, fault: Fault) -> Generator[simpy.Event, Any, None]:
        env = self.env
        log = self.network.log
        yield env.timeout(max(0.0, fault.start_s - env.now))
        log.add("fault", env.now, self.name, fault.telescope, fault.type, fault.duration_s)
        end = env.now + fault.duration_s
        if fault.type in BLOCKING_SITE_FAULTS:
            self.site_faults[fault.type] = max(end, self.site_faults.get(fault.type, 0.0))
            self._close(env.now, "power_loss")  # the UPS closes the dome
        elif fault.type == "dome_stuck":
            self.dome_stuck = True
        elif fault.telescope:
            u = self.telescopes[fault.telescope]
            u.faults[fault.type] = max(end, u.faults.get(fault.type, 0.0))
        yield env.timeout(fault.duration_s)
        log.add("fault_end", env.now, self.name, fault.telescope, fault.type)
        if fault.type in BLOCKING_SITE_FAULTS:
            if self.site_faults.get(fault.type, 0.0) <= env.now:
                self.site_faults.pop(fault.type, None)
        elif fault.type == "dome_stuck":
            self.dome_stuck = False
        elif fault.telescope:
            u = self.telescopes[fault.telescope]
            if u.faults.get(fault.type, 0.0) <= env.now:
                u.faults.pop(fault.type, None)

    def maintenance_process(self, every_days: float) -> Generator[simpy.Event, Any, None]:
        env = self.env
        while True:
            yield env.timeout(every_days * DAY_S)
            for u in self.telescopes.values():
                u.last_cleaning_s = env.now
                self.network.log.add("maintenance", env.now, self.name, u.name, "mirror_cleaning")

    def telescope_process(self, u: TelescopeUnit) -> Generator[simpy.Event, Any, None]:
        env = self.env
        net = self.network
        while env.now < net.end_s:
            t = env.now
            if self.night_end(t) <= t:  # day: close, park, sleep to the next night
                if self.dome_open and all(not x.busy for x in self.telescopes.values()):
                    yield env.timeout(self._close(t, u.name))
                if not u.parked:
                    u.parked = True
                nxt = self.next_night_start(t)
                if nxt is None or nxt >= net.end_s:
                    return
                yield env.timeout(nxt - t + 1e-6)
                continue
            blocked = self._blocked_until(u)
            if blocked is not None:
                yield env.timeout(max(1.0, blocked - t))
                continue
            decision = yield net._request_decision(self, u)
            yield from self.execute(u, decision)

    def _blocked_until(self, u: TelescopeUnit) -> float | None:
        ends = list(self.site_faults.values()) + list(u.faults.values())
        return max(ends) if ends else None

    # ================================================================ decisions
    def execute(self, u: TelescopeUnit, decision: Decision | Command) -> Generator[simpy.Event, Any, None]:
        env = self.env
        log = self.network.log
        u.busy = True
        try:
            if isinstance(decision, Observe):
                log.add("decision", env.now, self.name, u.name, "observe", decision.request_id)
                yield from self._observe(u, decision.request_id)
            elif isinstance(decision, Wait):
                log.add("decision", env.now, self.name, u.name, "wait", "")
                if decision.close and self.dome_open and not any(x.busy for x in self.telescopes.values() if x is not u):
                    out = self.submit(u.name, CloseDome())
                    if out.accepted:
                        yield env.timeout(out.duration_s)
                yield env.timeout(max(1.0, decision.duration_s))
            else:
                log.add("decision", env.now, self.name, u.name, _describe(decision), "")
                out = self.submit(u.name, decision)
                yield env.timeout(out.duration_s if out.accepted else REFUSAL_COST_S)
        finally:
            u.busy = False

    def _observe(self, u: TelescopeUnit, request_id: str) -> Generator[simpy.Event, Any, None]:
        env = self.env
        net = self.network
        pool = net.pool
        j = pool.index.get(request_id)
        t = env.now
        cond = self.conditions(t)
        if j is None:
            net.log.add("refused", t, self.name, u.name, f"observe {request_id}", "unknown request")
            yield env.timeout(REFUSAL_COST_S)
            return
        _, mask = self.feasible(u, t, cond)
        if not mask[j]:
            net.log.add("refused", t, self.name, u.name, f"observe {request_id}", self._why_infeasible(u, j, t, cond))
            yield env.timeout(REFUSAL_COST_S)
            return
        req = pool.requests[j]
        pool.claim(j)
        visited = False
        try:
            if not self.dome_open:
                out = self.submit(u.name, OpenDome())
                if not out.accepted:
                    yield env.timeout(REFUSAL_COST_S)
                    return
                yield env.timeout(out.duration_s)
            out = self.submit(u.name, Slew(req.ra_deg, req.dec_deg))
            if not out.accepted:
                yield env.timeout(REFUSAL_COST_S)
                return
            f_out = self.submit(u.name, SetFilter(req.filter))
            yield env.timeout(max(out.duration_s, f_out.duration_s if f_out.accepted else 0.0))
            good = 0
            for _ in range(req.count):
                start = env.now
                out = self.submit(u.name, Expose(req.exptime_s, req.id))
                if not out.accepted:
                    break
                yield env.timeout(out.duration_s)
                if self._interrupted(u, start):
                    net.log.add("refused", env.now, self.name, u.name, f"expose {req.id}", "interrupted (dome closed or fault)")
                    break
                u.open_shutter_s += req.exptime_s
                self._record_frame(u, req, start)
                good += 1
            visited = good == req.count
            if visited:
                net.log.add("visit_done", env.now, self.name, req.id, req.program, req.priority)
        finally:
            pool.release(j, env.now, visited)

    def _interrupted(self, u: TelescopeUnit, start: float) -> bool:
        return (not self.dome_open) or bool(self.site_faults) or "camera_failure" in u.faults

    def _why_infeasible(self, u: TelescopeUnit, j: int, t: float, cond: Conditions) -> str:
        pool = self.network.pool
        if not self._operable(u, cond):
            return "not operable (weather, fault or daylight)"
        if pool.requests[j].filter not in u.filters:
            return f"filter {pool.requests[j].filter} not available"
        if not pool.open_mask(self.name, t)[j]:
            return "request not open (done, claimed, outside window or cadence, or not yet known here)"
        why = self.safety.pointing_reason(pool.ra[j], pool.dec[j], t, cond)
        return why or "target sets or night ends before the visit is done"

    def _record_frame(self, u: TelescopeUnit, req: Any, start: float) -> None:
        t = start
        cond = self.conditions(t)
        w = cond.weather
        alt_deg = self.sky.altaz_scalar(u.ra_deg, u.dec_deg, t + req.exptime_s / 2)[0]
        x = float(airmass(alt_deg))
        moon_sep = angular_sep_deg(u.ra_deg, u.dec_deg, cond.moon_ra_deg, cond.moon_dec_deg)
        st = self._tel_state(u, t)
        tel = u.cfg
        sky_mag = sky_brightness(
            u.filter, self.cfg.climate.sky_dark_mag_arcsec2, cond.sun_alt_deg, cond.moon_illumination, moon_sep,
            cond.moon_alt_deg, alt_deg, self._k_v, x,
        )
        m = frame_metrics(
            band=u.filter, exptime_s=req.exptime_s, airmass=x, seeing_zenith_arcsec=w.seeing_arcsec,
            optics_fwhm_arcsec=tel.optics_fwhm_arcsec, defocus_fwhm_arcsec=tel.focus.blur_arcsec_per_um * abs(st.focus_offset_um),
            tracking_rms_arcsec=tel.mount.tracking_rms_arcsec,
            wind_shake_arcsec=tel.mount.wind_shake_arcsec_per_mps * w.wind_mps, cloud_transmission=w.transparency, throughput=st.throughput, efficiency=tel.efficiency,
            aperture_m=tel.aperture_m, pixel_scale_arcsec=tel.pixel_scale_arcsec, dark_e_per_s=tel.camera.dark_e_per_s,
            read_noise_e=tel.camera.read_noise_e, sky_mag_arcsec2=sky_mag, k_v=self._k_v, magnitude=req.magnitude,
        )
        u.frames += 1
        net = self.network
        frame_id = f"{self.name}.{u.name}.{u.frames:06d}"
        t_end = self.env.now
        delivered = self.link.deliver_s(t_end + self.cfg.edge.inference_latency_s)
        rec = FrameRecord(
            frame_id=frame_id, site=self.name, telescope=u.name, request_id=req.id, program=req.program, target=req.target,
            ra_deg=u.ra_deg, dec_deg=u.dec_deg, filter=u.filter, t_start_s=start, exptime_s=req.exptime_s, alt_deg=alt_deg,
            airmass=x, moon_sep_deg=moon_sep, seeing_arcsec=m.seeing_arcsec, fwhm_arcsec=m.fwhm_arcsec,
            ellipticity=m.ellipticity, sky_mag_arcsec2=m.sky_mag_arcsec2, sky_e_per_pix=m.sky_e_per_pix,
            transparency=m.transparency, limiting_mag=m.limiting_mag, snr_expected=m.snr_expected,
            cloud_cover=w.cloud_cover, focus_offset_um=st.focus_offset_um, zp_error_mag=st.zp_error_mag,
        )
        net.log.add(
            "frame", start, self.name, u.name, frame_id, req.id, req.program, req.target, rec.ra_deg, rec.dec_deg, rec.filter,
            rec.exptime_s, alt_deg, x, moon_sep, m.seeing_arcsec, m.fwhm_arcsec, m.ellipticity, m.sky_mag_arcsec2,
            m.sky_e_per_pix, m.transparency, m.limiting_mag, m.snr_expected, w.cloud_cover, st.focus_offset_um, st.zp_error_mag, delivered,
        )
        net._frame_taken(rec)


def _describe(c: Any) -> str:
    if isinstance(c, Slew):
        return f"slew {c.ra_deg:.4f} {c.dec_deg:.4f}"
    if isinstance(c, SetFilter):
        return f"filter {c.filter}"
    if isinstance(c, Expose):
        return f"expose {c.exptime_s:g}"
    if isinstance(c, Calibrate):
        return f"calibrate {c.kind}"
    return type(c).__name__.lower()

