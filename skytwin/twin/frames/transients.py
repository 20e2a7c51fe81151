"""Transients injected into frames: supernovae, variable stars, flares, asteroids.

Units: positions in degrees (ICRS); times as MJD (days, UTC); magnitudes in
the frame's band; asteroid rates in arcsec/hour with the direction as a
position angle east of north (degrees).

Light curves (``m`` at the mid-exposure time ``t``):

* ``sn``: rise as ``m_peak + 1.2 ((t_peak - t) / 10 d)^2`` from 20 days
  before the peak, then decline at 0.03 mag/day (a type Ia-like shape);
  invisible before.
* ``variable``: ``m_peak + amplitude * (1 - cos(2 pi (t - t_peak) / period)) / 2``
  (``m_peak`` is the brightest magnitude).
* ``flare``: quiescent ``m_peak + amplitude``; from ``t_peak`` the flux jumps to
  ``10**(0.4 amplitude)`` times quiescent and decays back with an
  e-folding time ``tau_days``.
* ``asteroid``: constant magnitude; it moves at ``rate_arcsec_per_hr``
  along ``pa_deg`` from its position at ``t_peak`` and trails during the exposure.

A supernova with ``ra_deg`` NaN is put in a host: the renderer picks the
brightest galaxy on the frame and offsets the SN by ``host_offset`` half-light
radii along the galaxy's major axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

import numpy as np

from skytwin.errors import SkytwinRangeError, UnknownNameError

KINDS = ("sn", "variable", "flare", "asteroid")
_MJD0 = datetime(1858, 11, 17, tzinfo=timezone.utc)


def iso_to_mjd(iso: str) -> float:
    """MJD (days, UTC) of an ISO 8601 time (naive times are UTC)."""
    dt = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return (dt - _MJD0).total_seconds() / 86400.0


@dataclass(frozen=True, slots=True)
class Transient:
    """One injected transient (see the module docstring for the light curves)."""

    kind: Literal["sn", "variable", "flare", "asteroid"]
    """Which light-curve model."""
    mag_peak: float
    """Peak (brightest) magnitude in the frame's band."""
    t_peak_mjd: float
    """Peak time / phase zero / flare start / reference epoch (MJD)."""
    ra_deg: float = math.nan
    """Position (deg); NaN for an SN means "in the brightest galaxy on the frame"."""
    dec_deg: float = math.nan
    """Position (deg)."""
    amplitude_mag: float = 1.0
    """Variable: peak-to-peak amplitude; flare: brightening over quiescence (mag)."""
    period_days: float = 0.5
    """Variable star period (days)."""
    tau_days: float = 0.01
    """Flare e-folding decay time (days)."""
    rate_arcsec_per_hr: float = 0.0
    """Asteroid motion (arcsec/hour)."""
    pa_deg: float = 0.0
    """Asteroid direction of motion, east of north (deg)."""
    host_offset: float = 0.5
    """SN offset from its host's centre, in host half-light radii."""
    name: str = ""
    """Label carried to the truth table."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UnknownNameError("transient kind", self.kind, KINDS)
        if self.kind == "variable" and not self.period_days > 0:
            raise SkytwinRangeError("Transient.period_days", self.period_days, 0.0, None)
        if self.kind == "flare" and not self.tau_days > 0:
            raise SkytwinRangeError("Transient.tau_days", self.tau_days, 0.0, None)


@dataclass(frozen=True, slots=True)
class TransientState:
    """A transient at one time: magnitude (inf = invisible), position and phase."""

    mag: float
    ra_deg: float
    dec_deg: float
    phase: float
    """Days since ``t_peak_mjd`` (variables: phase in periods, in [0, 1))."""
    state: str
    """Light-curve state: not_yet, rising, declining, maximum, minimum, quiescent, flaring, moving."""


def light_curve(tr: Transient, t_mjd: float, ra_deg: float, dec_deg: float) -> TransientState:
    """The transient's state at ``t_mjd`` (position given, for hosted SNe)."""
    dt = t_mjd - tr.t_peak_mjd
    if tr.kind == "sn":
        if dt < -20.0:
            return TransientState(math.inf, ra_deg, dec_deg, dt, "not_yet")
        if dt < 0:
            return TransientState(tr.mag_peak + 1.2 * (dt / 10.0) ** 2, ra_deg, dec_deg, dt,
                                  "rising")
        return TransientState(tr.mag_peak + 0.03 * dt, ra_deg, dec_deg, dt, "declining")
    if tr.kind == "variable":
        ph = (dt / tr.period_days) % 1.0
        m = tr.mag_peak + tr.amplitude_mag * (1 - math.cos(2 * math.pi * ph)) / 2
        return TransientState(m, ra_deg, dec_deg, ph,
                              "maximum" if ph < 0.25 or ph > 0.75 else "minimum")
    if tr.kind == "flare":
        quiet = tr.mag_peak + tr.amplitude_mag
        if dt < 0:
            return TransientState(quiet, ra_deg, dec_deg, dt, "quiescent")
        boost = (10 ** (0.4 * tr.amplitude_mag) - 1.0) * math.exp(-dt / tr.tau_days)
        state = "flaring" if boost > 0.01 else "quiescent"
        return TransientState(quiet - 2.5 * math.log10(1.0 + boost), ra_deg, dec_deg, dt, state)
    # asteroid: move along the position angle
    d = tr.rate_arcsec_per_hr * dt * 24.0 / 3600.0  # degrees
    pa = math.radians(tr.pa_deg)
    dec = dec_deg + d * math.cos(pa)
    ra = ra_deg + d * math.sin(pa) / max(math.cos(math.radians(dec_deg)), 1e-6)
    return TransientState(tr.mag_peak, ra % 360.0, dec, dt, "moving")


def random_transients(rng: np.random.Generator, ra_deg: float, dec_deg: float,
                      radius_deg: float, t_mjd: float, n: int = 4,
                      mag_range: tuple[float, float] = (15.0, 19.0)) -> tuple[Transient, ...]:
    """``n`` transients of random kinds around a pointing (for scenarios and tests)."""
    out = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        r = radius_deg * math.sqrt(rng.uniform())
        th = rng.uniform(0, 2 * math.pi)
        ra = ra_deg + r * math.cos(th) / max(math.cos(math.radians(dec_deg)), 1e-6)
        dec = dec_deg + r * math.sin(th)
        mag = rng.uniform(*mag_range)
        if kind == "sn":
            out.append(Transient("sn", mag, t_mjd + rng.uniform(-15, 30), name=f"sn{i}"))
        elif kind == "variable":
            out.append(Transient("variable", mag, t_mjd - rng.uniform(0, 1), ra, dec,
                                 amplitude_mag=rng.uniform(0.2, 1.0),
                                 period_days=rng.uniform(0.3, 5.0), name=f"var{i}"))
        elif kind == "flare":
            out.append(Transient("flare", mag, t_mjd - rng.uniform(0, 0.02), ra, dec,
                                 amplitude_mag=rng.uniform(1.0, 3.0), tau_days=0.01,
                                 name=f"flare{i}"))
        else:
            out.append(Transient("asteroid", mag, t_mjd, ra, dec,
                                 rate_arcsec_per_hr=rng.uniform(10, 60),
                                 pa_deg=rng.uniform(0, 360), name=f"ast{i}"))
    return tuple(out)
