"""FITS header keywords of a rendered frame.

Units follow the FITS comments: degrees for RA/DEC, seconds for EXPTIME,
arcsec for SEEING/FWHM, e-/ADU for GAIN, e- for RDNOISE, ADU for SKYLEVEL.

``SITE`` is not a registered FITS keyword, so the site name goes to both
``OBSERVAT`` (the common convention, read by ds9 and astropy) and ``SITE``.
"""

from __future__ import annotations

from typing import Any

from skytwin.twin.frames.request import RenderRequest
from skytwin.twin.frames.transients import iso_to_mjd
from skytwin.twin.frames.wcs import wcs_cards


def frame_header(req: RenderRequest, cond: dict[str, float], label: str, reason: str
                 ) -> dict[str, tuple[Any, str]]:
    """Keyword -> (value, comment) for the primary HDU."""
    h: dict[str, tuple[Any, str]] = {
        "DATE-OBS": (req.date_obs, "UTC start of exposure"),
        "MJD-OBS": (iso_to_mjd(req.date_obs), "[d] MJD (UTC) of exposure start"),
        "EXPTIME": (float(req.exptime_s), "[s] exposure time"),
        "FILTER": (req.band, "filter band"),
        "AIRMASS": (float(req.airmass), "airmass at frame centre"),
        "TELESCOP": (req.telescope, "telescope"),
        "INSTRUME": (req.instrument, "camera"),
        "OBJECT": (req.object_name, "target"),
        "OBSERVAT": (req.site, "site"),
        "SITE": (req.site, "site (same as OBSERVAT)"),
        "FRAMEID": (req.frame_id, "frame identifier"),
        "RA": (float(req.ra_deg), "[deg] pointing RA (ICRS)"),
        "DEC": (float(req.dec_deg), "[deg] pointing Dec (ICRS)"),
        "ROTANG": (float(req.rotation_deg), "[deg] PA of +y, east of north"),
        "PIXSCALE": (float(req.pixel_scale_arcsec), "[arcsec/pix] pixel scale"),
        "GAIN": (float(req.gain_e_per_adu), "[e-/ADU] gain"),
        "RDNOISE": (float(req.read_noise_e), "[e-] read noise"),
        "DARKCUR": (float(req.dark_e_per_s), "[e-/pix/s] dark current"),
        "BIASLEV": (float(req.bias_adu), "[ADU] bias level"),
        "SATURATE": (float(min(req.saturation_adu,
                               req.full_well_e / req.gain_e_per_adu + req.bias_adu)),
                     "[ADU] saturation level"),
        "MAGZERO": (float(req.zeropoint_e_per_s), "[e-/s] from a mag-0 star above atmos."),
        "SEEING": (float(req.seeing_arcsec), "[arcsec] atmospheric FWHM at airmass"),
        "FWHM": (float(cond["fwhm_arcsec"]), "[arcsec] delivered PSF FWHM incl. pixel"),
        "ELLIPTIC": (float(cond["ellipticity"]), "PSF ellipticity 1-b/a"),
        "DEFOCUS": (float(req.defocus_arcsec), "[arcsec] defocus disc diameter"),
        "TRAILLEN": (float(req.trail_arcsec), "[arcsec] tracking trail length"),
        "SKYMAG": (float(cond["sky_mag_arcsec2"]), "[mag/arcsec2] sky brightness"),
        "SKYLEVEL": (float(cond["sky_e_per_pix"] / req.gain_e_per_adu),
                     "[ADU] mean sky above bias"),
        "TRANSPAR": (float(cond["transparency"]), "mean cloud transmission"),
        "HAZE": (float(req.haze), "fraction of light in dew/ice halo"),
        "MAGLIM": (float(cond["mag_limit"]), "faintest magnitude drawn"),
        "SEED": (int(req.seed), "master seed"),
        "QUALITY": (label, "good / medium / bad"),
        "QREASON": (reason, "criteria behind the quality label"),
        "BUNIT": ("adu", ""),
    }
    for key, value, comment in wcs_cards(req.ra_deg, req.dec_deg, req.pixel_scale_arcsec,
                                         req.rotation_deg, req.nx, req.ny):
        h[key] = (value, comment)
    return h
