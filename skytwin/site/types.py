"""Shared value types that cross the Site seam.

Units: times are float seconds since the scenario epoch (UTC), ``t_s``;
angles are degrees (``_deg``); exposure times seconds; temperatures degrees
Celsius; wind metres per second; cloud cover and transparency fractions in
[0, 1]; sky brightness mag/arcsec^2.

All types are frozen dataclasses with slots: cheap to build in the twin's hot
loop, hashable, and identical in simulation and live mode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal


class RequestKind(StrEnum):
    """What an observation request is for."""

    SURVEY = "survey"
    MONITORING = "monitoring"
    TOO = "too"  # target of opportunity
    CALIBRATION = "calibration"


@dataclass(frozen=True, slots=True)
class ObservationRequest:
    """A request to observe one target.

    ``visits`` repetitions of ``count`` exposures each, at least ``cadence_s``
    apart, inside ``[window_start_s, window_end_s]``. ``site`` restricts it to
    one site (``None``: any site).
    """

    id: str
    target: str
    ra_deg: float
    dec_deg: float
    filter: str
    exptime_s: float
    priority: float
    program: str
    kind: RequestKind = RequestKind.SURVEY
    count: int = 1
    visits: int = 1
    cadence_s: float = 0.0
    window_start_s: float = -math.inf
    window_end_s: float = math.inf
    magnitude: float = math.nan  # target magnitude for the expected SNR; NaN if unknown
    site: str | None = None
    alert_id: str | None = None


@dataclass(frozen=True, slots=True)
class WeatherSample:
    """Weather at a site at one time (observed or forecast)."""

    t_s: float
    cloud_cover: float  # fraction of sky
    transparency: float  # cloud transmission, 1 = clear
    seeing_arcsec: float  # zenith FWHM at 500 nm
    humidity_pct: float
    temperature_c: float
    dew_point_c: float
    wind_mps: float
    gust_mps: float
    rain: bool
    safe: bool
    unsafe_reason: str = ""  # "rain", "humidity", "wind", joined by "+"


@dataclass(frozen=True, slots=True)
class Conditions:
    """What a site knows of its sky and weather now."""

    t_s: float
    sun_alt_deg: float
    sun_ra_deg: float
    sun_dec_deg: float
    moon_alt_deg: float
    moon_ra_deg: float
    moon_dec_deg: float
    moon_illumination: float  # fraction lit
    twilight: Literal["day", "civil", "nautical", "astronomical", "night"]
    weather: WeatherSample


@dataclass(frozen=True, slots=True)
class TelescopeState:
    """One telescope (mount, camera, filter wheel) at a site."""

    name: str
    ra_deg: float
    dec_deg: float
    parked: bool
    filter: str
    busy: bool
    faults: tuple[str, ...] = ()
    filters: tuple[str, ...] = ()  # in the wheel
    focus_offset_um: float = 0.0
    throughput: float = 1.0  # mirror dust: 1 = clean
    zp_error_mag: float = 0.0  # photometric calibration drift since last calibration


@dataclass(frozen=True, slots=True)
class SiteState:
    """A site's devices now."""

    name: str
    t_s: float
    dome_open: bool
    link_up: bool
    power: bool
    telescopes: tuple[TelescopeState, ...]
    faults: tuple[str, ...] = ()
    horizon_alt_deg: float = 20.0  # the safety layer's pointing limit
    sun_avoid_deg: float = 30.0


@dataclass(frozen=True, slots=True)
class FrameRecord:
    """One science frame and the conditions it was taken in.

    In fast mode every metric comes from the analytic frame model; in pixel
    mode the rendered FITS file (``path``) carries the same values as truth.
    """

    frame_id: str
    site: str
    telescope: str
    request_id: str
    program: str
    target: str
    ra_deg: float
    dec_deg: float
    filter: str
    t_start_s: float
    exptime_s: float
    alt_deg: float
    airmass: float
    moon_sep_deg: float
    seeing_arcsec: float  # atmospheric FWHM at this airmass and band
    fwhm_arcsec: float  # delivered: seeing + optics + defocus + tracking
    ellipticity: float
    sky_mag_arcsec2: float
    sky_e_per_pix: float  # sky electrons per pixel in the exposure
    transparency: float  # clouds x extinction x throughput
    limiting_mag: float  # 5-sigma point source
    snr_expected: float  # for the request's magnitude; NaN if unknown
    cloud_cover: float
    focus_offset_um: float
    zp_error_mag: float
    path: str = ""


@dataclass(frozen=True, slots=True)
class Alert:
    """An external transient alert, with field names from NASA GCN's notice schema.

    ``ra``/``dec`` in degrees ICRS; ``ra_dec_error`` the radius in degrees that
    holds ``containment_probability`` of the localisation. ``t_s`` is when the
    alert reached the network's centre (simulation seconds).
    """

    id: tuple[str, ...]
    alert_datetime: str  # ISO 8601 UTC
    alert_tense: Literal["current", "archival", "planned", "test"]
    alert_type: Literal["initial", "update", "retraction"]
    trigger_time: str  # ISO 8601 UTC
    ra: float
    dec: float
    ra_dec_error: float
    containment_probability: float
    mission: str
    instrument: str
    messenger: Literal["EM", "GW", "Neutrino"]
    t_s: float = 0.0
    kind: Literal["gw", "grb", "sn"] = "grb"


# ---------------------------------------------------------------- commands
# Primitive commands a site executes; each passes the safety layer first.


@dataclass(frozen=True, slots=True)
class Slew:
    ra_deg: float
    dec_deg: float


@dataclass(frozen=True, slots=True)
class SetFilter:
    filter: str


@dataclass(frozen=True, slots=True)
class Expose:
    exptime_s: float
    request_id: str = ""


@dataclass(frozen=True, slots=True)
class OpenDome:
    pass


@dataclass(frozen=True, slots=True)
class CloseDome:
    pass


@dataclass(frozen=True, slots=True)
class Park:
    pass


@dataclass(frozen=True, slots=True)
class Calibrate:
    """Refocus and photometric calibration (resets focus and zero-point drift)."""

    kind: Literal["focus", "photometric", "both"] = "both"


Command = Slew | SetFilter | Expose | OpenDome | CloseDome | Park | Calibrate


# ---------------------------------------------------------------- decisions
# What a scheduler decides for a free telescope; the site turns a decision
# into primitive commands.


@dataclass(frozen=True, slots=True)
class Observe:
    request_id: str


@dataclass(frozen=True, slots=True)
class Wait:
    """Close (if open) and wait ``duration_s`` or until the next weather change."""

    duration_s: float = 600.0
    close: bool = True


Decision = Observe | Calibrate | Wait


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """What became of one primitive command."""

    accepted: bool
    reason: str = ""
    duration_s: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)
