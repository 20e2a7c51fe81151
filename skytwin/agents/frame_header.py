"""What a frame's header says about its calibration, in the keywords observatories write.

Units: pixel scale arcsec/pixel; exposure seconds; zero point e-/s of a
magnitude-0 star in the frame's band.

The quality model reads the keywords the twin writes: ``PIXSCALE``,
``EXPTIME``, ``GAIN``, ``MAGZERO``, ``SATURATE``, ``BIASLEV``, ... A real
camera's or survey's header often gives the pixel scale another way, which
:func:`read_calibration` turns into ``PIXSCALE``, in this order:

* ``SECPIX``, or the mean of ``PIXSCAL1`` and ``PIXSCAL2`` (arcsec/pixel);
* a celestial WCS (a CD matrix, or ``CDELT`` with celestial ``CTYPE``): the
  mean of its two axes' scales (:func:`astropy.wcs.utils.proj_plane_pixel_scales`);
* a photographic plate's ``PLTSCALE`` (arcsec/mm) times ``XPIXELSZ``
  (micrometres per scanned pixel), as the Digitized Sky Survey writes them.

What cannot be known is left out of the verdict rather than judged on the
model's neutral stand-ins (1"/pixel, a zero point of 10^9 e-/s):

=============  ==========================================================
criterion      left out (``unjudged``) when the header lacks
=============  ==========================================================
``blur``       a pixel scale: the FWHM is known in pixels, not arcsec
``sky``        ``MAGZERO`` or ``EXPTIME``: no sky brightness in mag/arcsec^2
``clouds``     ``MAGZERO`` or ``EXPTIME``: no predicted star flux to compare
=============  ==========================================================

(``clouds`` is also left out without a reference catalogue, by
:meth:`~skytwin.agents.quality.model.QualityModel.predict`.)

Without ``SATURATE`` the frame itself (when given) says where it clips: a
maximum shared by several pixels (``PLATEAU_PIXELS``) well above the
background (``PLATEAU_SIGMAS`` noise sigmas) is the full well or the ADC's
last code, a clipping plateau
(:func:`~skytwin.agents.preprocess.saturation_level`); a frame without such
a plateau clips nowhere, and no pixel counts as saturated (taking the
frame's brightest pixels as saturated would call every frame without a
saturated star saturated, a star-poor one badly so). Without a plateau the
stars of the stacked PSF still leave out those near the frame's maximum: a
photographic plate or a non-linear detector saturates softly.

``MAGZERO`` is not derived from a magnitude zero point such as ``MAGZPT``: surveys define
those per ADU or per second, in their own systems, and a wrong guess would
judge the sky on a wrong scale.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from skytwin.agents.preprocess import header_value, saturation_level


SCALE_SOURCES = "PIXSCALE, SECPIX, PIXSCAL1/2, a celestial WCS or PLTSCALE x XPIXELSZ"


@dataclass(frozen=True)
class HeaderCalibration:
    """A header with the quality model's keywords filled in where others give them."""

    header: dict[str, Any]  # keyword -> value (or (value, comment)), with derived keywords added
    derived: dict[str, str]  # keyword -> where its value came from
    unjudged: dict[str, str]  # criterion -> why it is left out of the verdict


def _value(header: Mapping[str, Any], key: str) -> float:
    return header_value(header, key, math.nan)


def fits_header(header: Mapping[str, Any]) -> Any:
    """An :class:`astropy.io.fits.Header` of the cards a FITS header can hold.

    ``header`` maps keywords to values or ``(value, comment)`` pairs (as
    :func:`~skytwin.twin.frames.read_fits` returns them); NaN and infinite
    numbers, non-ASCII strings, other types and keywords over 8 characters
    are left out, as is any card astropy refuses (a tab in a string, a key
    with "="), so building the header never fails.
    """
    from astropy.io import fits

    hdr = fits.Header()
    for k, v in header.items():
        v = v[0] if isinstance(v, tuple) else v
        try:
            if len(k) <= 8 and (isinstance(v, bool) or (isinstance(v, (int, float)) and math.isfinite(v))
                                or (isinstance(v, str) and v.isascii())):
                hdr[k] = v
        except (ValueError, OverflowError):  # a card FITS cannot hold (or an int beyond a float)
            continue
    return hdr


def _wcs_scale(header: Mapping[str, Any]) -> float:
    """Mean pixel scale (arcsec) of the header's celestial WCS; NaN without a usable one."""
    if "CTYPE1" not in header or "CTYPE2" not in header:
        return math.nan
    from astropy.wcs import WCS
    from astropy.wcs.utils import proj_plane_pixel_scales

    try:
        hdr = fits_header(header)
        # the scale itself must be written down: astropy takes a missing CDELT as 1 degree
        has_cd = any(k in hdr for k in ("CD1_1", "CD1_2")) and any(k in hdr for k in ("CD2_1", "CD2_2"))
        if not has_cd and not ("CDELT1" in hdr and "CDELT2" in hdr):
            return math.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # FITSFixedWarning and friends: the scale is all we need
            w = WCS(hdr, naxis=2)
            if not w.has_celestial:
                return math.nan
            scales = proj_plane_pixel_scales(w.celestial)  # degrees per pixel
    except Exception:  # noqa: BLE001 - any header astropy cannot make a WCS of has no scale here
        return math.nan
    scale = 3600.0 * float(sum(abs(s) for s in scales)) / len(scales)
    return scale if math.isfinite(scale) and scale > 0 else math.nan


def pixel_scale(header: Mapping[str, Any] | None) -> tuple[float, str]:
    """The header's pixel scale (arcsec/pixel) and where it came from; ``(nan, "")`` if none."""
    if not header:
        return math.nan, ""
    candidates = [
        (_value(header, "PIXSCALE"), "PIXSCALE"),
        (_value(header, "SECPIX"), "SECPIX"),
        (0.5 * (_value(header, "PIXSCAL1") + _value(header, "PIXSCAL2")), "PIXSCAL1/2"),
    ]
    for value, source in candidates:
        if math.isfinite(value) and value > 0:
            return value, source
    value = _wcs_scale(header)
    if math.isfinite(value):
        return value, "the WCS"
    value = _value(header, "PLTSCALE") * _value(header, "XPIXELSZ") / 1000.0
    if math.isfinite(value) and value > 0:
        return value, "PLTSCALE x XPIXELSZ"
    return math.nan, ""


def read_calibration(header: Mapping[str, Any] | None, image: Any = None) -> HeaderCalibration:
    """The header's calibration for the quality model (see the module docstring).

    A keyword present but unusable (zero, negative, not a number) counts as
    missing and is dropped, so the model takes its neutral stand-in.
    ``image``: the frame, from which a missing ``SATURATE`` is found.
    """
    out: dict[str, Any] = dict(header or {})
    derived: dict[str, str] = {}
    unjudged: dict[str, str] = {}
    scale, source = pixel_scale(header)
    if not math.isfinite(scale):
        out.pop("PIXSCALE", None)
        unjudged["blur"] = f"no pixel scale ({SCALE_SOURCES})"
    elif source != "PIXSCALE":
        out["PIXSCALE"] = scale
        derived["PIXSCALE"] = f"{scale:.3g} arcsec/pixel from {source}"
    missing = []
    for key, what in (("MAGZERO", "MAGZERO (e-/s of a magnitude-0 star)"), ("EXPTIME", "EXPTIME (s)")):
        if not _value(out, key) > 0:  # NaN too
            out.pop(key, None)
            missing.append(what)
    if missing:
        unjudged["sky"] = unjudged["clouds"] = "no " + " and no ".join(missing)
    if not _value(out, "SATURATE") > 0:
        out.pop("SATURATE", None)
    if image is not None and "SATURATE" not in out:
        level = saturation_level(image)
        if math.isfinite(level):
            out["SATURATE"] = level
            derived["SATURATE"] = f"{level:.6g} ADU, the frame's clipping plateau"
        else:  # left missing: the quality input then counts no pixel saturated
            derived["SATURATE"] = "none: the frame shows no clipping plateau, so no pixel " \
                "counts as saturated"
    return HeaderCalibration(out, derived, unjudged)
