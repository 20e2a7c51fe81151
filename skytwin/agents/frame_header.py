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
:meth:`~skytwin.agents.quality.model.QualityModel.predict`.) ``MAGZERO`` is
not derived from a magnitude zero point such as ``MAGZPT``: surveys define
those per ADU or per second, in their own systems, and a wrong guess would
judge the sky on a wrong scale.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from skytwin.agents.preprocess import header_value


@dataclass(frozen=True)
class HeaderCalibration:
    """A header with the quality model's keywords filled in where others give them."""

    header: dict[str, Any]  # keyword -> value (or (value, comment)), with derived keywords added
    derived: dict[str, str]  # keyword -> where its value came from
    unjudged: dict[str, str]  # criterion -> why it is left out of the verdict


def _value(header: Mapping[str, Any], key: str) -> float:
    return header_value(header, key, math.nan)


def _wcs_scale(header: Mapping[str, Any]) -> float:
    """Mean pixel scale (arcsec) of the header's celestial WCS; NaN without a usable one."""
    if "CTYPE1" not in header or "CTYPE2" not in header:
        return math.nan
    from astropy.io import fits
    from astropy.wcs import WCS
    from astropy.wcs.utils import proj_plane_pixel_scales

    hdr = fits.Header()
    for k, v in header.items():
        v = v[0] if isinstance(v, tuple) else v
        if isinstance(v, (bool, int, float, str)) and len(k) <= 8:
            hdr[k] = v
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # FITSFixedWarning and friends: the scale is all we need
            w = WCS(hdr, naxis=2)
            if not w.has_celestial:
                return math.nan
            scales = proj_plane_pixel_scales(w.celestial)  # degrees per pixel
    except (ValueError, MemoryError, TypeError):  # a WCS astropy cannot make
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


def read_calibration(header: Mapping[str, Any] | None) -> HeaderCalibration:
    """The header's calibration for the quality model (see the module docstring)."""
    out: dict[str, Any] = dict(header or {})
    derived: dict[str, str] = {}
    unjudged: dict[str, str] = {}
    scale, source = pixel_scale(header)
    if not math.isfinite(scale):
        unjudged["blur"] = "no pixel scale (PIXSCALE, SECPIX or a celestial WCS)"
    elif source != "PIXSCALE":
        out["PIXSCALE"] = scale
        derived["PIXSCALE"] = f"{scale:.3g} arcsec/pixel from {source}"
    missing = [what for k, what in (("MAGZERO", "MAGZERO (e-/s of a magnitude-0 star)"),
                                    ("EXPTIME", "EXPTIME (s)"))
               if not math.isfinite(_value(out, k))]
    if missing:
        unjudged["sky"] = unjudged["clouds"] = "no " + " and no ".join(missing)
    return HeaderCalibration(out, derived, unjudged)
