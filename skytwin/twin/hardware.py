"""Telescope hardware timing and drifts.

Units: degrees, seconds, micrometres, magnitudes.

- Slews follow a trapezoidal velocity profile per axis (acceleration, cruise
  at the top rate, deceleration); the mount waits for the slower axis and for
  the dome, then settles.
- Focus drifts with temperature since the last autofocus.
- Throughput falls with mirror dust since the last cleaning; the photometric
  zero point drifts since the last calibration.
"""

from __future__ import annotations

import math

from skytwin.scenarios.schema import Dome, Telescope


def axis_time_s(distance_deg: float, max_rate_deg_s: float, accel_deg_s2: float) -> float:
    """Time to move one axis ``distance_deg`` from rest to rest (trapezoidal profile)."""
    d = abs(distance_deg)
    if d == 0.0:
        return 0.0
    ramp = max_rate_deg_s * max_rate_deg_s / accel_deg_s2  # distance of accelerating + braking at the top rate
    if d < ramp:
        return 2.0 * math.sqrt(d / accel_deg_s2)
    return d / max_rate_deg_s + max_rate_deg_s / accel_deg_s2


def _wrap180(x: float) -> float:
    return (x + 180.0) % 360.0 - 180.0


def slew_time_s(
    tel: Telescope,
    dome: Dome,
    from_ha_deg: float,
    from_dec_deg: float,
    to_ha_deg: float,
    to_dec_deg: float,
    from_az_deg: float,
    to_az_deg: float,
    from_alt_deg: float = 0.0,
    to_alt_deg: float = 0.0,
) -> float:
    """Slew plus settle time between two pointings (hour angle/dec and alt/az in degrees)."""
    m = tel.mount
    if m.kind == "equatorial":
        a1, a2 = _wrap180(to_ha_deg - from_ha_deg), to_dec_deg - from_dec_deg
    else:
        a1, a2 = _wrap180(to_az_deg - from_az_deg), to_alt_deg - from_alt_deg
    t_mount = max(axis_time_s(a1, m.max_rate_deg_s, m.accel_deg_s2), axis_time_s(a2, m.max_rate_deg_s, m.accel_deg_s2))
    t_dome = 0.0
    if dome.kind == "dome":
        t_dome = abs(_wrap180(to_az_deg - from_az_deg)) / dome.rotation_deg_s
    return max(t_mount, t_dome) + m.settle_s


def focus_offset_um(tel: Telescope, temperature_c: float, focus_temperature_c: float) -> float:
    """Defocus since the last autofocus, micrometres."""
    return tel.focus.drift_um_per_c * (temperature_c - focus_temperature_c)


def throughput(tel: Telescope, days_since_cleaning: float) -> float:
    """Fraction of clean-mirror throughput left."""
    return (1.0 - tel.throughput.loss_per_day) ** max(0.0, days_since_cleaning)


def zp_error_mag(tel: Telescope, days_since_calibration: float) -> float:
    """Zero-point error accumulated since the last photometric calibration, mag."""
    return tel.throughput.zp_drift_mag_per_day * max(0.0, days_since_calibration)
