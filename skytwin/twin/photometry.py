"""Analytic frame metrics (fast mode): what a frame would measure, without pixels.

Units: magnitudes (Vega-like, per band), mag/arcsec^2 for sky, arcsec for
FWHM, electrons for signal and noise, seconds for exposure.

- Signal: photon zero points per band x collecting area x efficiency x
  throughput x cloud transmission x atmospheric extinction (k_band x airmass).
- Sky: dark-sky brightness of the site shifted to the band, plus twilight
  (a linear fit in mag per degree of solar depression between -18 and -6 deg)
  and moonlight (Krisciunas & Schaefer 1991, V band, scaled by band).
- Image size: seeing x airmass^0.6 x (lambda/500 nm)^-0.2, in quadrature with
  optics, defocus and tracking jitter (both axes); wind shake (RMS along one
  axis) lengthens the major axis, which gives the ellipticity 1 - b/a.
- Depth: 5-sigma point-source limit with the Gaussian noise-equivalent area
  (2.266 FWHM^2) and the CCD equation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from skytwin.twin.frames.request import BAND_PHOTONS

# photons s^-1 m^-2 from a magnitude-0 star through each filter: the pixel
# renderer's table (photons/s/cm^2/A x band width), so both fidelity levels agree.
PHOTON_ZP = {band: phot * width * 1e4 for band, (phot, width) in BAND_PHOTONS.items()}
# effective wavelength, nm
WAVELENGTH_NM = {"u": 365, "B": 440, "g": 475, "V": 550, "r": 620, "R": 650, "i": 760, "I": 800, "z": 900, "clear": 600}
# extinction relative to V
EXTINCTION_RATIO = {"u": 3.3, "B": 1.7, "g": 1.4, "V": 1.0, "r": 0.7, "R": 0.65, "i": 0.35, "I": 0.3, "z": 0.25, "clear": 0.9}
# dark-sky colour: band minus V, mag/arcsec^2
SKY_COLOUR = {"u": 0.3, "B": 1.0, "g": 0.6, "V": 0.0, "r": -0.7, "R": -0.8, "i": -1.7, "I": -1.8, "z": -2.7, "clear": -0.5}
# moonlight (solar colour) band minus V
MOON_COLOUR = {"u": 1.6, "B": 0.65, "g": 0.4, "V": 0.0, "r": -0.35, "R": -0.5, "i": -0.7, "I": -0.85, "z": -1.0, "clear": -0.2}

_ARCSEC_PER_RAD = 206264.806  # arcsec per radian
_NEA_GAUSS = 2.266  # noise-equivalent area of a Gaussian PSF in units of FWHM^2


def moon_sky_v(moon_phase_angle_deg: float, moon_sep_deg: float, moon_alt_deg: float, target_alt_deg: float, k_v: float) -> float:
    """Moonlight surface brightness in V (nanolamberts), Krisciunas & Schaefer (1991)."""
    if moon_alt_deg <= 0.0:
        return 0.0
    a = moon_phase_angle_deg
    i_star = 10.0 ** (-0.4 * (3.84 + 0.026 * abs(a) + 4e-9 * a**4))
    rho = max(moon_sep_deg, 2.0)
    f = 10.0**5.36 * (1.06 + math.cos(math.radians(rho)) ** 2) + 10.0 ** (6.15 - rho / 40.0)
    z_moon = 90.0 - moon_alt_deg
    z_obj = min(90.0 - target_alt_deg, 89.0)
    x_moon = (1.0 - 0.96 * math.sin(math.radians(z_moon)) ** 2) ** -0.5
    x_obj = (1.0 - 0.96 * math.sin(math.radians(z_obj)) ** 2) ** -0.5
    return f * i_star * 10.0 ** (-0.4 * k_v * x_moon) * (1.0 - 10.0 ** (-0.4 * k_v * x_obj))


def nanolambert_to_mag(b_nl: float) -> float:
    """nanolamberts to V mag/arcsec^2 (Garstang 1989)."""
    return (20.7233 - math.log(b_nl / 34.08)) / 0.92104


def sky_brightness(
    band: str,
    dark_v: float,
    sun_alt_deg: float,
    moon_illumination: float,
    moon_sep_deg: float,
    moon_alt_deg: float,
    target_alt_deg: float,
    k_v: float,
    airmass: float,
) -> float:
    """Sky surface brightness in the band, mag/arcsec^2."""
    dark = dark_v + SKY_COLOUR[band] - 0.3 * (airmass - 1.0)  # airglow brightens toward the horizon
    flux = 10.0 ** (-0.4 * dark)
    if sun_alt_deg > -18.0:
        tw = 10.5 + 0.95 * (-sun_alt_deg - 6.0) + SKY_COLOUR[band]
        flux += 10.0 ** (-0.4 * tw)
    if moon_illumination > 0.0 and moon_alt_deg > 0.0:
        phase = math.degrees(math.acos(max(-1.0, min(1.0, 2.0 * moon_illumination - 1.0))))
        b = moon_sky_v(phase, moon_sep_deg, moon_alt_deg, target_alt_deg, k_v)
        if b > 0.0:
            flux += 10.0 ** (-0.4 * (nanolambert_to_mag(b) + MOON_COLOUR[band]))
    return -2.5 * math.log10(flux)


@dataclass(frozen=True, slots=True)
class FrameMetrics:
    seeing_arcsec: float
    fwhm_arcsec: float
    ellipticity: float
    sky_mag_arcsec2: float
    sky_e_per_pix: float
    transparency: float
    limiting_mag: float
    snr_expected: float


def frame_metrics(
    *,
    band: str,
    exptime_s: float,
    airmass: float,
    seeing_zenith_arcsec: float,
    optics_fwhm_arcsec: float,
    defocus_fwhm_arcsec: float,
    tracking_rms_arcsec: float,
    wind_shake_arcsec: float,
    cloud_transmission: float,
    throughput: float,
    efficiency: float,
    aperture_m: float,
    pixel_scale_arcsec: float,
    dark_e_per_s: float,
    read_noise_e: float,
    sky_mag_arcsec2: float,
    k_v: float,
    magnitude: float = math.nan,
) -> FrameMetrics:
    """The analytic frame model (see the module docstring)."""
    lam = WAVELENGTH_NM[band]
    seeing = seeing_zenith_arcsec * airmass**0.6 * (lam / 500.0) ** -0.2
    # tracking jitter blurs both axes; wind shake (RMS along one axis) elongates
    core2 = seeing * seeing + optics_fwhm_arcsec**2 + defocus_fwhm_arcsec**2 + (2.355 * tracking_rms_arcsec) ** 2
    fwhm_minor = math.sqrt(core2)
    fwhm_major = math.sqrt(core2 + (2.355 * wind_shake_arcsec) ** 2)
    ellipticity = 1.0 - fwhm_minor / fwhm_major
    fwhm = math.sqrt(fwhm_minor * fwhm_major)

    area_m2 = math.pi * (aperture_m / 2.0) ** 2 * 0.9  # 10 % central obstruction
    extinction = 10.0 ** (-0.4 * k_v * EXTINCTION_RATIO[band] * airmass)
    transparency = cloud_transmission * extinction * throughput
    e_per_s_mag0 = PHOTON_ZP[band] * area_m2 * efficiency * transparency
    pix_area = pixel_scale_arcsec**2
    # Sky is scattered light above the clouds' transmission only partly; keep it simple: not dimmed.
    sky_e = PHOTON_ZP[band] * area_m2 * efficiency * throughput * 10.0 ** (-0.4 * sky_mag_arcsec2) * pix_area * exptime_s
    var_pix = sky_e + dark_e_per_s * exptime_s + read_noise_e**2
    nea = _NEA_GAUSS * (fwhm / pixel_scale_arcsec) ** 2
    s5 = (25.0 + math.sqrt(625.0 + 100.0 * nea * var_pix)) / 2.0
    signal_rate = max(e_per_s_mag0 * exptime_s, 1e-30)
    limiting = -2.5 * math.log10(s5 / signal_rate)
    snr = math.nan
    if magnitude == magnitude:  # not NaN
        s = signal_rate * 10.0 ** (-0.4 * magnitude)
        snr = s / math.sqrt(s + nea * var_pix)
    return FrameMetrics(seeing, fwhm, ellipticity, sky_mag_arcsec2, sky_e, transparency, limiting, snr)
