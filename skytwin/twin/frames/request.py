"""The input of the pixel renderer: one frozen ``RenderRequest`` per frame.

Units: angles in degrees (``_deg``) or arcseconds (``_arcsec``); times in
seconds (``_s``); detector quantities in electrons (``_e``) or ADU (``_adu``);
surface brightness in mag/arcsec^2; fluxes in electrons per second
(``_e_per_s``). Pixel coordinates are 0-based numpy indices (FITS pixel - 1).

The twin fills a request from a :class:`skytwin.site.types.FrameRecord` with
:meth:`RenderRequest.from_record`; camera and telescope parameters that the
record does not carry come in as keyword arguments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from skytwin.errors import SkytwinRangeError, UnknownNameError

if TYPE_CHECKING:
    from skytwin.site.types import FrameRecord
    from skytwin.twin.frames.transients import Transient

# Photon flux of a magnitude-0 source above the atmosphere and the effective
# band width: (photons / s / cm^2 / Angstrom, band width in Angstrom).
# Johnson-Cousins values are Vega-based (Bessell 1998), SDSS values AB
# (3631 Jy); "clear" is an unfiltered CCD response approximated as a wide V+R.
BAND_PHOTONS: dict[str, tuple[float, float]] = {
    "u": (1.54e3, 600.0),
    "g": (1.14e3, 1400.0),
    "r": (8.74e2, 1400.0),
    "i": (6.83e2, 1500.0),
    "z": (5.68e2, 1200.0),
    "B": (1.39e3, 940.0),
    "V": (9.96e2, 880.0),
    "R": (7.02e2, 1380.0),
    "I": (4.51e2, 1490.0),
    "clear": (8.5e2, 3000.0),
}
BANDS = tuple(BAND_PHOTONS)

# Dark-sky zenith brightness at a good site, new Moon (mag/arcsec^2); used as
# the reference for the "moonlight"/"background" quality reason.
DARK_SKY_MAG: dict[str, float] = {
    "u": 22.0, "g": 22.0, "r": 21.1, "i": 20.3, "z": 19.0,
    "B": 22.6, "V": 21.7, "R": 20.9, "I": 19.9, "clear": 21.0,
}

# Colour of a typical field star relative to V (mag), used to turn the V-band
# star-count model into the frame's band (a G/K-type average).
STAR_COLOR_FROM_V: dict[str, float] = {
    "u": 1.6, "g": 0.35, "r": -0.25, "i": -0.45, "z": -0.55,
    "B": 0.65, "V": 0.0, "R": -0.4, "I": -0.8, "clear": -0.2,
}


def zeropoint_e_per_s(aperture_m: float, band: str, throughput: float = 0.6,
                      obstruction: float = 0.1) -> float:
    """Electrons per second from a magnitude-0 star through a telescope.

    Parameters
    ----------
    aperture_m
        Primary mirror diameter in metres.
    band
        Filter band name (one of :data:`BANDS`).
    throughput
        Total optical x QE throughput, fraction in (0, 1].
    obstruction
        Fraction of the aperture area blocked by the secondary.
    """
    if band not in BAND_PHOTONS:
        raise UnknownNameError("filter band", band, BANDS)
    if not 0.0 < throughput <= 1.0:
        raise SkytwinRangeError("throughput", throughput, 0.0, 1.0)
    phot, width = BAND_PHOTONS[band]
    area_cm2 = math.pi * (50.0 * aperture_m) ** 2 * (1.0 - obstruction)  # cm^2
    return phot * width * area_cm2 * throughput


@dataclass(frozen=True, slots=True)
class RenderRequest:
    """Everything the renderer needs to draw one frame (all fields documented with units)."""

    # --- pointing and geometry
    ra_deg: float
    """Right ascension of the frame centre (ICRS, degrees)."""
    dec_deg: float
    """Declination of the frame centre (ICRS, degrees)."""
    rotation_deg: float = 0.0
    """Position angle of the detector +y axis, east of north (degrees)."""
    nx: int = 1024
    """Image width in pixels (FITS NAXIS1)."""
    ny: int = 1024
    """Image height in pixels (FITS NAXIS2)."""
    pixel_scale_arcsec: float = 0.6
    """Pixel scale (arcsec / pixel)."""
    exptime_s: float = 60.0
    """Exposure time (seconds)."""
    band: str = "r"
    """Filter band: u g r i z B V R I clear."""
    zeropoint_e_per_s: float = 2.0e9
    """Electrons per second from a magnitude-0 star above the atmosphere
    (aperture x throughput; see :func:`zeropoint_e_per_s`)."""

    # --- PSF
    seeing_arcsec: float = 1.2
    """Atmospheric FWHM at the frame's airmass and band (Kolmogorov), arcsec."""
    optics_fwhm_arcsec: float = 0.4
    """FWHM of the optics' own blur (Gaussian), arcsec."""
    defocus_arcsec: float = 0.0
    """Diameter of the defocus pupil image (a uniform disc), arcsec; 0 = in focus."""
    ellipticity: float = 0.0
    """PSF ellipticity 1 - b/a from tracking error and wind shake."""
    ellipticity_pa_deg: float = 0.0
    """Position angle of the elongation's major axis, degrees from +x towards +y."""
    trail_arcsec: float = 0.0
    """Length of the linear star trail from a tracking drift (arcsec)."""
    trail_pa_deg: float = 0.0
    """Direction of the trail, degrees from +x towards +y."""
    field_curvature: float = 0.0
    """Fractional FWHM growth at the field corner (field variation; 0 = none)."""

    # --- sky and atmosphere
    sky_mag_arcsec2: float = 20.8
    """Sky surface brightness in the band (mag/arcsec^2) from Moon, twilight and light pollution."""
    sky_e_per_pix: float = math.nan
    """Sky electrons per pixel in the exposure; NaN = derive from ``sky_mag_arcsec2``."""
    sky_gradient: float = 0.0
    """Peak-to-peak fractional sky gradient across the frame (Moon, twilight), e.g. 0.05."""
    sky_gradient_pa_deg: float = 0.0
    """Direction in which the sky brightens, degrees from +x towards +y."""
    transparency: float = 1.0
    """Mean transmission, clouds x extinction x throughput drift (fraction; 1 = clear)."""
    cloud_patchiness: float = 0.0
    """Fractional rms of the cloud transmission across the frame (patchy clouds), 0..1."""
    cloud_gradient: float = 0.0
    """Peak-to-peak fractional transmission gradient across the frame (cloud edge)."""
    haze: float = 0.0
    """Fraction of each source's light scattered into a wide halo by dew or ice, 0..1."""
    airmass: float = 1.0
    """Airmass of the frame centre (dimensionless)."""
    moon_illumination: float = 0.0
    """Lit fraction of the Moon (for the quality reason only)."""
    moon_sep_deg: float = 180.0
    """Moon separation from the frame centre (degrees; for the quality reason only)."""

    # --- sky content switches
    star_density: float = 1.0
    """Multiplier on the star-count model (1 = the model)."""
    galaxy_density: float = 1.0
    """Multiplier on the galaxy-count model (1 = the model)."""
    n_stars: int = -1
    """Fixed number of stars placed uniformly (benchmarks); -1 = the star-count model."""
    n_galaxies: int = -1
    """Fixed number of galaxies placed uniformly (benchmarks); -1 = the galaxy-count model."""
    mag_limit: float = math.nan
    """Faintest magnitude drawn; NaN = 1.5 mag below the frame's 5-sigma limit (capped at 25)."""
    bright_star_mag: float = math.nan
    """Add a bright star of this magnitude near the field (contamination); NaN = none."""
    nebula_mag_arcsec2: float = math.nan
    """Peak surface brightness of diffuse nebulosity (mag/arcsec^2); NaN = none."""

    # --- detector
    gain_e_per_adu: float = 1.5
    """Gain (electrons per ADU)."""
    read_noise_e: float = 8.0
    """Read noise (electrons rms)."""
    dark_e_per_s: float = 0.02
    """Dark current (electrons / pixel / second)."""
    bias_adu: float = 1000.0
    """Bias level (ADU)."""
    full_well_e: float = 100000.0
    """Full-well capacity (electrons); charge above it bleeds along columns."""
    saturation_adu: float = 65535.0
    """ADC ceiling (ADU)."""
    pixel_size_um: float = 13.5
    """Physical pixel size (micrometres; sets the cosmic-ray rate per pixel)."""
    flat_prnu: float = 0.01
    """Pixel response non-uniformity of the flat field (fractional rms)."""
    vignetting: float = 0.08
    """Fractional loss of illumination at the frame corner."""
    hot_pixel_fraction: float = 2e-4
    """Fraction of hot pixels (dark current x 500)."""
    dead_pixel_fraction: float = 5e-5
    """Fraction of dead pixels (response 0)."""
    cosmic_ray_rate: float = 0.02
    """Cosmic-ray hits per cm^2 per second (ground level ~0.01-0.03)."""
    satellite_rate: float = 0.0
    """Expected satellite trails per square degree per hour of exposure."""
    aircraft_rate: float = 0.0
    """Expected aircraft trails per square degree per hour of exposure."""
    noise: bool = True
    """Add photon and read noise (False: the expectation image, for tests)."""

    # --- metadata
    date_obs: str = "2025-01-01T00:00:00.000"
    """Start of the exposure (ISO 8601, UTC)."""
    site: str = ""
    """Site name."""
    telescope: str = ""
    """Telescope name (also selects the camera's fixed flat and hot pixels)."""
    instrument: str = "skytwin-ccd"
    """Camera name."""
    object_name: str = ""
    """Target name."""
    frame_id: str = ""
    """Frame identifier."""
    seed: int = 0
    """Master seed: the sky content depends on (seed, field); noise on (seed, frame)."""
    transients: tuple[Transient, ...] = field(default=())
    """Injected transients (see :mod:`skytwin.twin.frames.transients`)."""

    def __post_init__(self) -> None:
        if self.band not in BAND_PHOTONS:
            raise UnknownNameError("filter band", self.band, BANDS)
        checks: list[tuple[str, float, float | None, float | None]] = [
            ("dec_deg", self.dec_deg, -90.0, 90.0),
            ("nx", self.nx, 8, 16384),
            ("ny", self.ny, 8, 16384),
            ("pixel_scale_arcsec", self.pixel_scale_arcsec, 1e-3, 100.0),
            ("exptime_s", self.exptime_s, 0.0, None),
            ("zeropoint_e_per_s", self.zeropoint_e_per_s, 0.0, None),
            ("seeing_arcsec", self.seeing_arcsec, 0.05, 30.0),
            ("optics_fwhm_arcsec", self.optics_fwhm_arcsec, 0.0, 30.0),
            ("defocus_arcsec", self.defocus_arcsec, 0.0, 60.0),
            ("ellipticity", self.ellipticity, 0.0, 0.9),
            ("trail_arcsec", self.trail_arcsec, 0.0, 600.0),
            ("transparency", self.transparency, 0.0, 1.0),
            ("cloud_patchiness", self.cloud_patchiness, 0.0, 1.0),
            ("cloud_gradient", self.cloud_gradient, 0.0, 1.0),
            ("haze", self.haze, 0.0, 0.99),
            ("airmass", self.airmass, 1.0, 40.0),
            ("gain_e_per_adu", self.gain_e_per_adu, 1e-3, None),
            ("read_noise_e", self.read_noise_e, 0.0, None),
            ("dark_e_per_s", self.dark_e_per_s, 0.0, None),
            ("full_well_e", self.full_well_e, 1.0, None),
            ("flat_prnu", self.flat_prnu, 0.0, 0.5),
            ("vignetting", self.vignetting, 0.0, 0.9),
        ]
        for name, value, lo, hi in checks:
            if not (math.isfinite(value) and (lo is None or value >= lo)
                    and (hi is None or value <= hi)):
                raise SkytwinRangeError(f"RenderRequest.{name}", value, lo, hi)

    # ------------------------------------------------------------ derived
    @property
    def sky_level_e(self) -> float:
        """Mean sky electrons per pixel in the exposure (before the flat field)."""
        if math.isfinite(self.sky_e_per_pix):
            return float(self.sky_e_per_pix)
        return sky_e_per_pix(self.sky_mag_arcsec2, self.zeropoint_e_per_s,
                             self.pixel_scale_arcsec, self.exptime_s)

    def with_(self, **changes: Any) -> RenderRequest:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    @classmethod
    def from_record(cls, record: FrameRecord, *, seed: int, nx: int = 1024, ny: int = 1024,
                    pixel_scale_arcsec: float = 0.6, aperture_m: float = 0.5,
                    throughput: float = 0.6, optics_fwhm_arcsec: float = 0.4,
                    defocus_arcsec_per_um: float = 0.01, date_obs: str = "",
                    **camera: Any) -> RenderRequest:
        """Build a request from the twin's :class:`~skytwin.site.types.FrameRecord`.

        The record's delivered FWHM is split into its parts: the atmospheric
        seeing (``record.seeing_arcsec``), the optics (``optics_fwhm_arcsec``),
        and the defocus disc, ``defocus_arcsec_per_um * |focus_offset_um|``
        (arcsec of pupil-image diameter per micrometre of focus error); the
        record's ellipticity becomes the tracking/wind elongation. The
        record's transparency already holds clouds x extinction x throughput,
        so the zero point is taken above the atmosphere with ``throughput``.

        Parameters
        ----------
        record
            The twin's frame record.
        seed
            Master seed of the run.
        nx, ny
            Image size in pixels.
        pixel_scale_arcsec
            Pixel scale, arcsec / pixel.
        aperture_m
            Telescope aperture diameter, metres.
        throughput
            Optics x QE throughput of a clean telescope, fraction.
        optics_fwhm_arcsec
            FWHM of the optics blur, arcsec.
        defocus_arcsec_per_um
            Defocus disc diameter per micrometre of focus offset, arcsec/um.
        date_obs
            ISO UTC start time (the twin knows its epoch; the record does not).
        camera
            Any other :class:`RenderRequest` field (gain_e_per_adu, read_noise_e, ...).
        """
        band = record.filter if record.filter in BAND_PHOTONS else "clear"
        zp = zeropoint_e_per_s(aperture_m, band, throughput)
        sky_e = record.sky_e_per_pix if math.isfinite(record.sky_e_per_pix) and \
            record.sky_e_per_pix > 0 else math.nan
        values: dict[str, Any] = dict(
            ra_deg=record.ra_deg, dec_deg=record.dec_deg, nx=nx, ny=ny,
            pixel_scale_arcsec=pixel_scale_arcsec, exptime_s=record.exptime_s,
            band=band, zeropoint_e_per_s=zp,
            seeing_arcsec=max(record.seeing_arcsec, 0.05),
            optics_fwhm_arcsec=optics_fwhm_arcsec,
            defocus_arcsec=min(defocus_arcsec_per_um * abs(record.focus_offset_um), 60.0),
            ellipticity=min(max(record.ellipticity, 0.0), 0.9),
            sky_mag_arcsec2=record.sky_mag_arcsec2, sky_e_per_pix=sky_e,
            transparency=min(max(record.transparency, 0.0), 1.0),
            cloud_patchiness=min(0.5 * record.cloud_cover, 1.0),
            airmass=max(record.airmass, 1.0), moon_sep_deg=record.moon_sep_deg,
            site=record.site, telescope=record.telescope, object_name=record.target,
            frame_id=record.frame_id, seed=seed,
        )
        if date_obs:
            values["date_obs"] = date_obs
        values.update(camera)
        return cls(**values)


def sky_e_per_pix(sky_mag_arcsec2: float, zeropoint_e_per_s: float,
                  pixel_scale_arcsec: float, exptime_s: float) -> float:
    """Sky electrons per pixel: ``zp * 10**(-0.4 m) * pixel_area * t``."""
    return (zeropoint_e_per_s * 10.0 ** (-0.4 * sky_mag_arcsec2)
            * pixel_scale_arcsec ** 2 * exptime_s)
