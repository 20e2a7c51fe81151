"""The scenario schema: one frozen, nested, typed model loaded from YAML.

Units are in the field names (``_deg``, ``_m``, ``_s``, ``_h``, ``_mps``,
``_pct``). Times inside a scenario are hours after ``epoch`` (``at_h``), the
UTC instant that is simulation time zero. Derive variants with
``scenario.model_copy(update=...)``; never mutate a loaded one.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FilterName = Literal["u", "g", "r", "i", "z", "B", "V", "R", "I", "clear"]
FaultType = Literal["mount_stall", "camera_failure", "dome_stuck", "power_loss", "network_outage"]

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Positive = Annotated[float, Field(gt=0.0)]
NonNegative = Annotated[float, Field(ge=0.0)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


# ------------------------------------------------------------------- hardware


class Camera(_Model):
    nx: int = Field(2048, ge=16, le=20000, description="Pixels along x.")
    ny: int = Field(2048, ge=16, le=20000, description="Pixels along y.")
    pixel_um: Positive = Field(9.0, description="Pixel size in micrometres.")
    gain_e_per_adu: Positive = Field(1.5, description="Electrons per ADU.")
    read_noise_e: NonNegative = Field(8.0, description="Read noise in electrons RMS.")
    dark_e_per_s: NonNegative = Field(0.02, description="Dark current in electrons per pixel per second.")
    bias_adu: NonNegative = Field(1000.0, description="Bias level in ADU.")
    saturation_adu: Positive = Field(65535.0, description="Full well or ADC limit in ADU.")
    readout_s: NonNegative = Field(8.0, description="Readout time in seconds.")
    instrument: str = Field("CCD", description="Instrument name written to FITS INSTRUME.")


class Mount(_Model):
    kind: Literal["equatorial", "altaz"] = Field("equatorial", description="Mount geometry.")
    max_rate_deg_s: Positive = Field(6.0, description="Top slew rate per axis, degrees per second.")
    accel_deg_s2: Positive = Field(3.0, description="Slew acceleration per axis, degrees per second squared.")
    settle_s: NonNegative = Field(5.0, description="Settling time after a slew, seconds.")
    tracking_rms_arcsec: NonNegative = Field(0.15, description="Tracking jitter RMS per axis, arcsec (blurs the image).")
    wind_shake_arcsec_per_mps: NonNegative = Field(0.03, description="Wind shake RMS along one axis per m/s of wind, arcsec (elongates the image).")


class Focus(_Model):
    drift_um_per_c: NonNegative = Field(8.0, description="Focus shift per degree C of temperature change, micrometres.")
    blur_arcsec_per_um: NonNegative = Field(0.02, description="FWHM added (in quadrature) per micrometre of defocus.")
    autofocus_s: NonNegative = Field(120.0, description="Time an autofocus run takes, seconds.")


class Throughput(_Model):
    loss_per_day: Fraction = Field(0.001, description="Fraction of throughput lost to mirror dust per day.")
    zp_drift_mag_per_day: NonNegative = Field(0.003, description="Zero-point error growth per day without calibration, mag.")
    calibration_s: NonNegative = Field(300.0, description="Time a photometric calibration takes, seconds.")


class Telescope(_Model):
    name: str = Field("t1", pattern=r"^[a-z0-9_]+$", description="Telescope id, unique within its site.")
    aperture_m: Positive = Field(0.4, le=10.0, description="Clear aperture diameter, metres.")
    focal_length_m: Positive = Field(2.8, description="Effective focal length, metres.")
    optics_fwhm_arcsec: NonNegative = Field(0.6, description="Optics' own image size (FWHM), arcsec.")
    efficiency: Fraction = Field(0.6, description="Total system throughput when clean (optics x QE).")
    filters: tuple[FilterName, ...] = Field(("g", "r", "i"), min_length=1, description="Filters in the wheel.")
    filter_change_s: NonNegative = Field(6.0, description="Time to change filter, seconds.")
    camera: Camera = Field(Camera(), description="The CCD/CMOS camera.")
    mount: Mount = Field(Mount(), description="Mount kinematics and tracking.")
    focus: Focus = Field(Focus(), description="Focus drift with temperature.")
    throughput: Throughput = Field(Throughput(), description="Mirror dust and zero-point drift.")

    @property
    def pixel_scale_arcsec(self) -> float:
        """Pixel scale in arcsec per pixel (206265 arcsec/rad x pixel / focal length)."""
        return 206264.806 * self.camera.pixel_um * 1e-6 / self.focal_length_m

    @property
    def fov_deg(self) -> tuple[float, float]:
        s = self.pixel_scale_arcsec / 3600.0
        return (self.camera.nx * s, self.camera.ny * s)


class Dome(_Model):
    kind: Literal["dome", "roll_off_roof"] = Field("dome", description="Enclosure type.")
    open_s: NonNegative = Field(60.0, description="Time to open, seconds.")
    close_s: NonNegative = Field(60.0, description="Time to close, seconds.")
    rotation_deg_s: Positive = Field(4.0, description="Dome rotation rate (ignored for roofs), degrees per second.")


class Link(_Model):
    latency_s: NonNegative = Field(0.5, le=3600.0, description="One-way latency to the centre, seconds.")
    mtbf_h: Positive = Field(400.0, description="Mean time between random link outages, hours.")
    mttr_h: Positive = Field(1.0, description="Mean outage length, hours.")


class Edge(_Model):
    inference_latency_s: NonNegative = Field(0.05, description="Time the edge computer needs per frame for the light models, seconds.")


class Safety(_Model):
    horizon_alt_deg: float = Field(20.0, ge=0.0, le=80.0, description="Lowest altitude the mount may point at, degrees.")
    sun_avoid_deg: float = Field(30.0, ge=0.0, le=90.0, description="Smallest allowed distance from the Sun, degrees.")
    max_humidity_pct: float = Field(85.0, gt=0.0, le=100.0, description="Dome closes above this relative humidity.")
    max_wind_mps: Positive = Field(15.0, description="Dome closes when gusts exceed this, m/s.")


class Climate(_Model):
    """Per-site climate: the long-run statistics the weather generator reproduces."""

    clear_fraction: Fraction = Field(0.7, description="Long-run fraction of night-time (Sun below -12 deg) with cloud cover under 0.3.")
    seeing_median_arcsec: Positive = Field(1.0, le=10.0, description="Median zenith seeing FWHM at 500 nm, arcsec.")
    seeing_sigma_ln: Positive = Field(0.3, le=2.0, description="Log-normal width of seeing.")
    front_timescale_h: Positive = Field(36.0, description="Typical duration of weather regimes (fronts), hours.")
    region: str | None = Field(None, description="Sites with the same region share their synoptic weather.")
    region_correlation: Fraction = Field(0.7, description="Correlation of synoptic weather within a region.")
    temperature_mean_c: float = Field(10.0, ge=-60.0, le=50.0, description="Mean night temperature, deg C.")
    temperature_swing_c: NonNegative = Field(6.0, description="Day-night temperature swing (peak to mean), deg C.")
    humidity_mean_pct: float = Field(40.0, ge=0.0, le=100.0, description="Mean relative humidity on clear nights, percent.")
    wind_median_mps: Positive = Field(5.0, description="Median wind speed, m/s.")
    rain_fraction_of_cloudy: Fraction = Field(0.15, description="Fraction of overcast time with rain.")
    sky_dark_mag_arcsec2: float = Field(21.5, ge=15.0, le=23.0, description="Dark-sky V brightness at zenith (light pollution included), mag/arcsec^2.")
    extinction_mag_per_airmass: NonNegative = Field(0.15, description="V-band extinction coefficient, mag per airmass.")


class Site(_Model):
    name: str = Field(pattern=r"^[a-z0-9_]+$", description="Site id (lowercase, digits, underscores).")
    latitude_deg: float = Field(ge=-90.0, le=90.0, description="Geodetic latitude, degrees north.")
    longitude_deg: float = Field(ge=-180.0, le=360.0, description="Longitude, degrees east.")
    elevation_m: float = Field(ge=-500.0, le=9000.0, description="Height above sea level, metres.")
    source: str = Field("", description="Where the figures come from (cite observatory_sites.csv where used).")
    climate: Climate = Field(Climate(), description="Long-run weather statistics the generator reproduces.")
    safety: Safety = Field(Safety(), description="Limits the safety layer enforces.")
    dome: Dome = Field(Dome(), description="Enclosure timing.")
    link: Link = Field(Link(), description="Network link to the centre.")
    edge: Edge = Field(Edge(), description="The site's edge computer.")
    telescopes: tuple[Telescope, ...] = Field((Telescope(),), min_length=1, description="Telescopes at the site (several allowed).")

    @model_validator(mode="after")
    def _unique_telescopes(self) -> "Site":
        names = [t.name for t in self.telescopes]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"telescope names must be unique within a site, repeated: {dup}")
        return self


# ------------------------------------------------------------------- programs


class Target(_Model):
    name: str = Field(description="Target name (free text).")
    ra_deg: float = Field(ge=0.0, lt=360.0, description="ICRS right ascension, degrees.")
    dec_deg: float = Field(ge=-90.0, le=90.0, description="ICRS declination, degrees.")
    magnitude: float = Field(math.nan, description="Brightness in the program's filter, for the expected SNR.")


class FieldGrid(_Model):
    """Survey fields on an equal-area grid between two declinations."""

    n: int = Field(ge=1, le=100000, description="Number of fields.")
    dec_min_deg: float = Field(-90.0, ge=-90.0, le=90.0, description="Southern edge, degrees.")
    dec_max_deg: float = Field(90.0, ge=-90.0, le=90.0, description="Northern edge, degrees.")

    @model_validator(mode="after")
    def _ordered(self) -> "FieldGrid":
        if self.dec_min_deg >= self.dec_max_deg:
            raise ValueError(f"dec_min_deg ({self.dec_min_deg}) must be below dec_max_deg ({self.dec_max_deg})")
        return self


class Program(_Model):
    name: str = Field(pattern=r"^[A-Za-z0-9_\-]+$", description="Program id; request ids start with it.")
    kind: Literal["survey", "monitoring", "calibration"] = Field("survey", description="What the program's requests are for.")
    priority: Positive = Field(1.0, description="Science weight of one completed visit.")
    filter: FilterName = Field("r", description="Filter of every exposure.")
    exptime_s: Positive = Field(60.0, le=7200.0, description="Exposure time, seconds.")
    count: int = Field(1, ge=1, le=1000, description="Exposures per visit.")
    visits: int = Field(1, ge=1, le=100000, description="Visits per target.")
    cadence_h: NonNegative = Field(0.0, description="Least time between visits, hours.")
    magnitude: float = Field(math.nan, description="Typical target magnitude for the expected SNR.")
    sites: tuple[str, ...] | None = Field(None, description="Sites that may serve it (default: all).")
    targets: tuple[Target, ...] = Field((), description="Named targets.")
    grid: FieldGrid | None = Field(None, description="Survey fields generated on an equal-area grid.")

    @model_validator(mode="after")
    def _has_targets(self) -> "Program":
        if not self.targets and self.grid is None:
            raise ValueError("a program needs 'targets' or a 'grid' of survey fields")
        return self


# ------------------------------------------------------------------- alerts


class ScheduledAlert(_Model):
    kind: Literal["gw", "grb", "sn"] = Field(description="Gravitational wave, gamma-ray burst or supernova candidate.")
    at_h: NonNegative = Field(description="Arrival at the centre, hours after epoch.")
    ra_deg: float = Field(ge=0.0, lt=360.0, description="Localisation centre, ICRS degrees.")
    dec_deg: float = Field(ge=-90.0, le=90.0, description="Localisation centre, ICRS degrees.")
    error_deg: Positive = Field(1.0, le=180.0, description="Localisation radius holding containment_probability, degrees.")
    containment_probability: Fraction = Field(0.9, description="Probability inside error_deg.")
    delay_h: NonNegative = Field(0.0, description="Time from trigger to alert, hours.")


class AlertRates(_Model):
    gw_per_year: NonNegative = Field(0.0, description="Gravitational-wave alerts per year (Poisson).")
    grb_per_year: NonNegative = Field(0.0, description="Gamma-ray burst alerts per year (Poisson).")
    sn_per_year: NonNegative = Field(0.0, description="Supernova candidate alerts per year (Poisson).")


class FollowUp(_Model):
    """How the centre turns an alert into target-of-opportunity requests."""

    priority: Positive = Field(10.0, description="Priority of follow-up requests.")
    filter: FilterName = Field("r", description="Filter of follow-up exposures.")
    exptime_s: Positive = Field(120.0, description="Follow-up exposure time, seconds.")
    max_tiles: int = Field(30, ge=1, le=5000, description="Most pointings made to tile one localisation.")
    window_h: Positive = Field(24.0, description="How long after the alert follow-up is still useful, hours.")
    visits: int = Field(2, ge=1, description="Visits per tile (for light curve / confirmation).")
    cadence_h: NonNegative = Field(1.0, description="Least time between visits of one tile, hours.")


class Alerts(_Model):
    scheduled: tuple[ScheduledAlert, ...] = Field((), description="Alerts at fixed times.")
    rates: AlertRates = Field(AlertRates(), description="Random alert streams.")
    followup: FollowUp = Field(FollowUp(), description="How alerts become requests.")


# ------------------------------------------------------------------- faults


class ScheduledFault(_Model):
    site: str = Field(description="Site the fault hits.")
    telescope: str | None = Field(None, description="For mount/camera faults; default the site's first telescope.")
    type: FaultType = Field(description="mount_stall, camera_failure, dome_stuck, power_loss or network_outage.")
    at_h: NonNegative = Field(description="Start, hours after epoch.")
    duration_h: Positive = Field(description="How long it lasts, hours.")


class FaultRate(_Model):
    mtbf_h: Positive = Field(description="Mean time between failures, hours.")
    mttr_h: Positive = Field(description="Mean time to repair, hours.")


class Faults(_Model):
    scheduled: tuple[ScheduledFault, ...] = Field((), description="Faults at fixed times.")
    random: dict[FaultType, FaultRate] = Field(default_factory=dict, description="Random faults per type (every site and telescope).")


class Maintenance(_Model):
    cleaning_every_days: Positive = Field(60.0, description="Mirror cleaning restores throughput every so many days.")
    calibration_every_days: Positive = Field(7.0, description="The dispatcher calibrates when this many days have passed.")


# ------------------------------------------------------------------- scenario


class Scenario(_Model):
    """One scenario: sites, their climate and hardware, programs, alerts and faults."""

    name: str = Field(pattern=r"^[A-Za-z0-9_\-]+$", description="Scenario id (letters, digits, '_' and '-').")
    description: str = Field("", description="What the scenario is for, in a sentence or two.")
    epoch: datetime = Field(description="UTC instant of simulation time zero (ISO 8601).")
    nights: int = Field(1, ge=1, le=3660, description="Nights (24 h spans from epoch) to simulate.")
    seed: int = Field(0, ge=0, description="Root seed.")
    fidelity: Literal["fast", "pixels"] = Field("fast", description="fast: analytic frame metrics; pixels: render every frame (GalSim).")
    sites: tuple[Site, ...] = Field(min_length=1, description="The network's sites (at least one).")
    programs: tuple[Program, ...] = Field((), description="Science programs; each becomes observation requests.")
    alerts: Alerts = Field(Alerts(), description="Transient alerts and how the centre follows them up.")
    faults: Faults = Field(Faults(), description="Scheduled and random hardware and link faults.")
    maintenance: Maintenance = Field(Maintenance(), description="Mirror cleaning and calibration calendar.")

    @field_validator("epoch")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            return v.replace(tzinfo=timezone.utc)
        return v.astimezone(timezone.utc)

    @model_validator(mode="after")
    def _cross_references(self) -> "Scenario":
        names = [s.name for s in self.sites]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"site names must be unique, repeated: {dup}")
        known = set(names)
        for p in self.programs:
            for s in p.sites or ():
                if s not in known:
                    raise ValueError(f"program {p.name!r} names unknown site {s!r}; sites: {sorted(known)}")
        for f in self.faults.scheduled:
            if f.site not in known:
                raise ValueError(f"scheduled fault names unknown site {f.site!r}; sites: {sorted(known)}")
        return self

    def site(self, name: str) -> Site:
        for s in self.sites:
            if s.name == name:
                return s
        from skytwin.errors import UnknownNameError

        raise UnknownNameError("site", name, [s.name for s in self.sites])
