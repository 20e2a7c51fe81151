"""Astropy configuration and time conversion at the twin's boundary.

Nothing is downloaded at run time: IERS tables come from the installed
astropy-iers-data. Beyond the end of its predictions UT1-UTC is extrapolated
(sub-second, i.e. well under 0.01 deg in hour angle), which is what a
simulation of future nights needs.
"""

from __future__ import annotations

from datetime import datetime

from astropy.time import Time, TimeDelta
from astropy.utils import iers

iers.conf.auto_download = False
iers.conf.auto_max_age = None
iers.conf.iers_degraded_accuracy = "ignore"

SECONDS_PER_DAY = 86400.0  # s


def epoch_time(epoch: datetime) -> Time:
    """The scenario epoch as an astropy UTC ``Time``."""
    return Time(epoch, scale="utc")


def to_time(epoch: Time, t_s: float) -> Time:
    """Simulation seconds to an astropy ``Time``."""
    return epoch + TimeDelta(t_s, format="sec")


def to_iso(epoch: Time, t_s: float) -> str:
    """Simulation seconds to an ISO 8601 UTC string (millisecond precision)."""
    return to_time(epoch, t_s).utc.isot[:23] + "Z"
