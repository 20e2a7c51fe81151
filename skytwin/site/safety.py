"""The safety layer on the Site seam, shared by the twin and live mode.

Whatever an agent asks, a site never points below its horizon limit or within
``sun_avoid_deg`` of the Sun, never exposes on a target that would set below
the limit during the exposure, and never opens its dome while the weather is
unsafe. The layer only answers "why not" (an empty string means allowed); the
site refuses, records the refusal, and executes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from skytwin.site.types import (
    Calibrate,
    CloseDome,
    Command,
    Conditions,
    Expose,
    OpenDome,
    Park,
    SetFilter,
    Slew,
    TelescopeState,
)

AltFn = Callable[[float, float, float], float]
"""``alt_deg(ra_deg, dec_deg, t_s)`` for the site."""


@dataclass(frozen=True, slots=True)
class SafetyLimits:
    horizon_alt_deg: float = 20.0  # lowest altitude the mount may point at
    sun_avoid_deg: float = 30.0  # smallest allowed distance from the Sun
    max_humidity_pct: float = 85.0
    max_wind_mps: float = 15.0  # gust limit


def angular_sep_deg(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Great-circle distance in degrees (haversine; scalar, for the hot path)."""
    d2r = math.pi / 180.0
    sdec = math.sin((dec2 - dec1) * d2r / 2.0)
    sra = math.sin((ra2 - ra1) * d2r / 2.0)
    a = sdec * sdec + math.cos(dec1 * d2r) * math.cos(dec2 * d2r) * sra * sra
    return 2.0 * math.degrees(math.asin(min(1.0, math.sqrt(a))))


class SafetyLayer:
    """Checks commands against the limits; ``check`` returns a refusal reason or ``""``."""

    def __init__(self, limits: SafetyLimits, alt_deg: AltFn) -> None:
        self.limits = limits
        self._alt_deg = alt_deg

    def pointing_reason(self, ra_deg: float, dec_deg: float, t_s: float, cond: Conditions) -> str:
        """Why pointing at (ra, dec) at ``t_s`` is unsafe, or ``""``."""
        alt = self._alt_deg(ra_deg, dec_deg, t_s)
        if alt < self.limits.horizon_alt_deg:
            return f"altitude {alt:.1f} deg below limit {self.limits.horizon_alt_deg:.1f}"
        if alt - cond.sun_alt_deg >= self.limits.sun_avoid_deg + 0.1:
            return ""  # the separation is at least the difference in altitude
        sep = angular_sep_deg(ra_deg, dec_deg, cond.sun_ra_deg, cond.sun_dec_deg)
        if sep < self.limits.sun_avoid_deg:
            return f"{sep:.1f} deg from the Sun (limit {self.limits.sun_avoid_deg:.1f})"
        return ""

    def check(
        self, command: Command, cond: Conditions, telescope: TelescopeState, dome_open: bool
    ) -> str:
        t_s = cond.t_s
        if isinstance(command, Slew):
            return self.pointing_reason(command.ra_deg, command.dec_deg, t_s, cond)
        if isinstance(command, Expose):
            if command.exptime_s <= 0 or not math.isfinite(command.exptime_s):
                return f"exposure time {command.exptime_s!r} s is not positive"
            if telescope.parked:
                return "telescope is parked"
            if dome_open:
                # The target must stay above the limit for the whole exposure.
                for t in (t_s, t_s + command.exptime_s):
                    why = self.pointing_reason(telescope.ra_deg, telescope.dec_deg, t, cond)
                    if why:
                        return why
            return ""
        if isinstance(command, OpenDome):
            w = cond.weather
            if not w.safe:
                return f"weather unsafe ({w.unsafe_reason})"
            if w.humidity_pct > self.limits.max_humidity_pct:
                return f"humidity {w.humidity_pct:.0f}% over {self.limits.max_humidity_pct:.0f}%"
            if w.gust_mps > self.limits.max_wind_mps:
                return f"gusts {w.gust_mps:.1f} m/s over {self.limits.max_wind_mps:.1f}"
            if cond.sun_alt_deg > 0.0:
                return f"Sun is up ({cond.sun_alt_deg:.1f} deg)"
            return ""
        if isinstance(command, CloseDome | Park | SetFilter | Calibrate):
            return ""  # always safe
        raise TypeError(f"not a command: {command!r}")
