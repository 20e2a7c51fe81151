"""Gnomonic (TAN) projection between the sky and a frame's pixels.

Units: sky positions in degrees (ICRS); pixel positions 0-based numpy
coordinates, so FITS pixel = numpy pixel + 1. The reference pixel is the
frame centre, ``((nx - 1) / 2, (ny - 1) / 2)``. ``rotation_deg`` is the
position angle of the detector +y axis east of north; with rotation 0, +y
points north and +x points east-to-the-left (RA falls with x), as on the
sky seen from the ground (CD1_1 < 0).

The FITS cards written by :func:`wcs_cards` describe the same mapping, so
astropy's ``WCS`` and ds9 agree with :func:`sky_to_pixel`.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray


def cd_matrix(pixel_scale_arcsec: float, rotation_deg: float) -> NDArray[np.float64]:
    """The FITS CD matrix (degrees / pixel) for a scale and rotation."""
    s = pixel_scale_arcsec / 3600.0
    c, n = math.cos(math.radians(rotation_deg)), math.sin(math.radians(rotation_deg))
    return np.array([[-s * c, s * n], [s * n, s * c]])


def sky_to_pixel(ra_deg: ArrayLike, dec_deg: ArrayLike, ra0_deg: float, dec0_deg: float,
                 pixel_scale_arcsec: float, rotation_deg: float, nx: int, ny: int
                 ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Project sky positions to 0-based pixel coordinates (NaN behind the tangent plane)."""
    ra = np.radians(np.asarray(ra_deg, dtype=float))
    dec = np.radians(np.asarray(dec_deg, dtype=float))
    a0, d0 = math.radians(ra0_deg), math.radians(dec0_deg)
    cosc = math.sin(d0) * np.sin(dec) + math.cos(d0) * np.cos(dec) * np.cos(ra - a0)
    with np.errstate(divide="ignore", invalid="ignore"):
        xi = np.cos(dec) * np.sin(ra - a0) / cosc  # radians, towards east
        eta = (math.cos(d0) * np.sin(dec) - math.sin(d0) * np.cos(dec) * np.cos(ra - a0)) / cosc
    xi = np.where(cosc > 0, np.degrees(xi), np.nan)
    eta = np.where(cosc > 0, np.degrees(eta), np.nan)
    inv = np.linalg.inv(cd_matrix(pixel_scale_arcsec, rotation_deg))
    x = inv[0, 0] * xi + inv[0, 1] * eta + (nx - 1) / 2.0
    y = inv[1, 0] * xi + inv[1, 1] * eta + (ny - 1) / 2.0
    return x, y


def pixel_to_sky(x: ArrayLike, y: ArrayLike, ra0_deg: float, dec0_deg: float,
                 pixel_scale_arcsec: float, rotation_deg: float, nx: int, ny: int
                 ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Inverse of :func:`sky_to_pixel` (degrees, RA in [0, 360))."""
    cd = cd_matrix(pixel_scale_arcsec, rotation_deg)
    dx = np.asarray(x, dtype=float) - (nx - 1) / 2.0
    dy = np.asarray(y, dtype=float) - (ny - 1) / 2.0
    xi = np.radians(cd[0, 0] * dx + cd[0, 1] * dy)
    eta = np.radians(cd[1, 0] * dx + cd[1, 1] * dy)
    a0, d0 = math.radians(ra0_deg), math.radians(dec0_deg)
    den = math.cos(d0) - eta * math.sin(d0)
    ra = a0 + np.arctan2(xi, den)
    dec = np.arctan2(math.sin(d0) + eta * math.cos(d0), np.hypot(xi, den))
    return np.degrees(ra) % 360.0, np.degrees(dec)


def wcs_cards(ra0_deg: float, dec0_deg: float, pixel_scale_arcsec: float,
              rotation_deg: float, nx: int, ny: int) -> list[tuple[str, object, str]]:
    """FITS WCS cards (keyword, value, comment) for the TAN projection above."""
    cd = cd_matrix(pixel_scale_arcsec, rotation_deg)
    return [
        ("WCSAXES", 2, "number of WCS axes"),
        ("CTYPE1", "RA---TAN", "gnomonic projection"),
        ("CTYPE2", "DEC--TAN", "gnomonic projection"),
        ("CUNIT1", "deg", ""),
        ("CUNIT2", "deg", ""),
        ("CRVAL1", float(ra0_deg), "[deg] RA at the reference pixel"),
        ("CRVAL2", float(dec0_deg), "[deg] Dec at the reference pixel"),
        ("CRPIX1", (nx + 1) / 2.0, "reference pixel (frame centre, 1-based)"),
        ("CRPIX2", (ny + 1) / 2.0, "reference pixel (frame centre, 1-based)"),
        ("CD1_1", float(cd[0, 0]), "[deg/pix]"),
        ("CD1_2", float(cd[0, 1]), "[deg/pix]"),
        ("CD2_1", float(cd[1, 0]), "[deg/pix]"),
        ("CD2_2", float(cd[1, 1]), "[deg/pix]"),
        ("RADESYS", "ICRS", ""),
        ("EQUINOX", 2000.0, ""),
    ]
