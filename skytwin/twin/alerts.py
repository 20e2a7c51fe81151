"""Transient alerts (gravitational waves, gamma-ray bursts, supernovae).

Alerts arrive at scenario times or as Poisson streams per kind, drawn per
``(seed, kind, day)``; positions are uniform on the sky. Field names follow
NASA GCN's notice schema. Simulated alerts carry ``alert_tense="test"``.

Localisation sizes (radius holding 90 %): gravitational waves log-normal with
median 12 deg (LVK O4 three-detector events span ~1-30 deg); GRBs from
Fermi GBM ~5 deg, or Swift BAT 3 arcmin (one in three); supernova candidates
1 arcsec.
"""

from __future__ import annotations

import math

import numpy as np
from astropy.time import Time

from skytwin.scenarios.schema import FollowUp, Scenario
from skytwin.site.types import Alert, ObservationRequest, RequestKind
from skytwin.twin.astro import to_iso
from skytwin.twin.rng import stream

DAY_S = 86400.0  # s

_MISSIONS = {
    "gw": ("LVK", "LIGO-Virgo-KAGRA", "GW"),
    "grb": ("Fermi", "GBM", "EM"),
    "sn": ("ZTF", "ZTF-camera", "EM"),
}


def make_alert(epoch: Time, kind: str, t_s: float, ra: float, dec: float, error_deg: float,
               containment: float, delay_s: float, serial: int, mission: tuple[str, str, str] | None = None) -> Alert:
    mission_name, instrument, messenger = mission or _MISSIONS[kind]
    return Alert(
        id=(f"SKYTWIN-{kind.upper()}-{serial:05d}",),
        alert_datetime=to_iso(epoch, t_s),
        alert_tense="test",
        alert_type="initial",
        trigger_time=to_iso(epoch, t_s - delay_s),
        ra=float(ra),
        dec=float(dec),
        ra_dec_error=float(error_deg),
        containment_probability=float(containment),
        mission=mission_name,
        instrument=instrument,
        messenger=messenger,  # type: ignore[arg-type]
        t_s=float(t_s),
        kind=kind,  # type: ignore[arg-type]
    )


def alert_schedule(scenario: Scenario, epoch: Time, seed: int, end_s: float) -> list[Alert]:
    """Every alert in ``[0, end_s)``, sorted by arrival."""
    raw: list[tuple[float, str, float, float, float, float, float, tuple[str, str, str] | None]] = []
    for a in scenario.alerts.scheduled:
        raw.append((a.at_h * 3600.0, a.kind, a.ra_deg, a.dec_deg, a.error_deg, a.containment_probability, a.delay_h * 3600.0, None))
    rates = scenario.alerts.rates
    n_days = int(math.ceil(end_s / DAY_S))
    for kind, per_year in (("gw", rates.gw_per_year), ("grb", rates.grb_per_year), ("sn", rates.sn_per_year)):
        if per_year <= 0:
            continue
        for day in range(n_days):
            rng = stream(seed, "alerts", kind, day)
            for _ in range(rng.poisson(per_year / 365.25)):
                t = day * DAY_S + rng.uniform(0, DAY_S)
                ra = rng.uniform(0.0, 360.0)
                dec = math.degrees(math.asin(rng.uniform(-1.0, 1.0)))
                mission = None
                if kind == "gw":
                    err, delay = float(np.clip(12.0 * math.exp(0.8 * rng.standard_normal()), 0.5, 60.0)), 60.0
                elif kind == "grb":
                    if rng.uniform() < 1 / 3:
                        err, mission = 0.05, ("Swift", "BAT", "EM")
                    else:
                        err = float(np.clip(5.0 * math.exp(0.4 * rng.standard_normal()), 1.0, 20.0))
                    delay = 30.0
                else:
                    err, delay = 1.0 / 3600.0, 3600.0
                if t < end_s:
                    raw.append((t, kind, ra, dec, err, 0.9, delay, mission))
    raw.sort(key=lambda r: (r[0], r[1]))
    return [make_alert(epoch, k, t, ra, dec, e, c, d, i, m) for i, (t, k, ra, dec, e, c, d, m) in enumerate(raw)]


def tile_localisation(ra_deg: float, dec_deg: float, radius_deg: float, fov_deg: float, max_tiles: int) -> list[tuple[float, float, float]]:
    """Pointings that cover a circular localisation, centre first.

    Returns ``(ra, dec, weight)`` on a square grid of step ``0.9 * fov``
    in the tangent plane, inside the circle, ordered by distance from the
    centre, with a Gaussian-profile probability weight; at most ``max_tiles``.
    """
    step = 0.9 * fov_deg
    if radius_deg <= fov_deg / 2.0:
        return [(ra_deg % 360.0, dec_deg, 1.0)]
    n = int(math.ceil(radius_deg / step))
    sigma = radius_deg / 2.146  # 90 % of a 2-D Gaussian inside radius
    tiles = []
    d0 = math.radians(dec_deg)
    for i in range(-n, n + 1):
        for j in range(-n, n + 1):
            x, y = i * step, j * step
            r = math.hypot(x, y)
            if r > radius_deg + step / 2:
                continue
            # gnomonic inverse projection around the centre
            xi, eta = math.radians(x), math.radians(y)
            rho = math.hypot(xi, eta)
            c = math.atan(rho)
            if rho == 0:
                dec, ra = dec_deg, ra_deg
            else:
                dec = math.degrees(math.asin(math.cos(c) * math.sin(d0) + eta * math.sin(c) * math.cos(d0) / rho))
                ra = ra_deg + math.degrees(math.atan2(xi * math.sin(c), rho * math.cos(d0) * math.cos(c) - eta * math.sin(d0) * math.sin(c)))
            tiles.append((r, ra % 360.0, dec, math.exp(-0.5 * (r / sigma) ** 2)))
    tiles.sort()
    chosen = tiles[:max_tiles]
    return [(ra, dec, w) for _, ra, dec, w in chosen]


def followup_requests(alert: Alert, cfg: FollowUp, fov_deg: float) -> list[ObservationRequest]:
    """Target-of-opportunity requests the centre makes for an alert."""
    tiles = tile_localisation(alert.ra, alert.dec, alert.ra_dec_error, fov_deg, cfg.max_tiles)
    aid = alert.id[0]
    out = []
    for k, (ra, dec, w) in enumerate(tiles):
        out.append(
            ObservationRequest(
                id=f"{aid}-T{k:03d}",
                target=f"{aid} tile {k}",
                ra_deg=ra,
                dec_deg=dec,
                filter=cfg.filter,
                exptime_s=cfg.exptime_s,
                priority=cfg.priority * (0.5 + 0.5 * w),
                program=f"too_{alert.kind}",
                kind=RequestKind.TOO,
                count=1,
                visits=cfg.visits,
                cadence_s=cfg.cadence_h * 3600.0,
                window_start_s=alert.t_s,
                window_end_s=alert.t_s + cfg.window_h * 3600.0,
                alert_id=aid,
            )
        )
    return out
