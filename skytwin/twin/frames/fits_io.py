"""FITS files of rendered frames: the image with a TAN WCS, and the TRUTH table.

Layout (units in each keyword's comment, see :mod:`.header`):

* HDU 0 (primary): float32 image in ADU; standard keywords DATE-OBS,
  EXPTIME, FILTER, AIRMASS, TELESCOP, INSTRUME, OBJECT, OBSERVAT (and SITE),
  RA, DEC, GAIN, RDNOISE, the skytwin keywords (SEEING, FWHM, SKYLEVEL, ...)
  and the celestial WCS (RA---TAN / DEC--TAN, CD matrix).
* HDU 1, ``EXTNAME = 'TRUTH'``: a binary table with one row per source,
  trail and cosmic ray (columns of :data:`.render.TRUTH_DTYPE`; ``x``, ``y``
  0-based pixels, so FITS pixel = x + 1), and in its header the quality label
  (QUALITY, QREASON) and the physical values behind it (:data:`COND_KEYS`).

:func:`read_fits` also reads plain single-image FITS files (real data): the
first 2-D image HDU is the image; the truth is then empty.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.utils.exceptions import AstropyWarning

from skytwin.errors import SkytwinError
from skytwin.twin.frames.render import TRUTH_DTYPE, RenderedFrame

# conditions key -> (FITS keyword in the TRUTH header, comment with unit)
COND_KEYS: dict[str, tuple[str, str]] = {
    "fwhm_arcsec": ("FWHM", "[arcsec] PSF FWHM incl. pixel"),
    "ellipticity": ("ELLIPTIC", "PSF 1-b/a"),
    "seeing_arcsec": ("SEEING", "[arcsec] atmospheric FWHM"),
    "defocus_arcsec": ("DEFOCUS", "[arcsec] defocus disc diameter"),
    "transparency": ("TRANSPAR", "mean cloud transmission"),
    "transparency_min": ("TRANSMIN", "lowest cloud transmission"),
    "sky_mag_arcsec2": ("SKYMAG", "[mag/arcsec2] sky brightness"),
    "sky_e_per_pix": ("SKYE", "[e-/pix] sky in the exposure"),
    "dark_sky_mag_arcsec2": ("DARKSKY", "[mag/arcsec2] dark-sky reference"),
    "n_trails": ("NTRAILS", "satellite and aircraft trails"),
    "n_cosmic_rays": ("NCOSMIC", "cosmic-ray hits"),
    "saturated_fraction": ("SATFRAC", "fraction of pixels at full well"),
    "mag_limit": ("MAGLIM", "faintest magnitude drawn"),
    "haze": ("HAZE", "fraction of light in the haze halo"),
    "psf_enclosed": ("PSFENCL", "PSF flux inside its stamp"),
    "moon_illumination": ("MOONILL", "Moon lit fraction"),
    "moon_sep_deg": ("MOONSEP", "[deg] Moon separation"),
    "airmass": ("AIRMASS", "airmass"),
}


class FrameError(SkytwinError):
    """A FITS frame that cannot be read or written (names the file and the problem)."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def _check_image(path: str | os.PathLike[str], image: Any) -> np.ndarray:
    if image is None:
        raise FrameError(path, "no image data")
    arr = np.asarray(image)
    if arr.ndim != 2 or min(arr.shape) < 1:
        raise FrameError(path, f"image has shape {arr.shape}; expected a 2-D (ny, nx) array")
    if arr.dtype.kind not in "iuf":
        raise FrameError(path, f"image has dtype {arr.dtype}; expected integer or float pixels")
    if arr.dtype.kind == "f" and not np.isfinite(arr).any():
        raise FrameError(path, "image holds no finite pixel (all NaN or inf)")
    return arr


def write_fits(frame: RenderedFrame, path: str | os.PathLike[str]) -> Path:
    """Write a frame (image + TRUTH table) to ``path``; return the path."""
    image = _check_image(path, frame.image).astype(np.float32, copy=False)
    hdr = fits.Header()
    for key, val in frame.header.items():
        value, comment = val if isinstance(val, tuple) else (val, "")
        hdr[key] = (value, comment)
    primary = fits.PrimaryHDU(image, header=hdr)
    table = fits.BinTableHDU(Table(np.asarray(frame.truth)), name="TRUTH")
    th = table.header
    th["QUALITY"] = (frame.quality, "good / medium / bad")
    th["QREASON"] = (frame.reason, "criteria behind the label")
    for key, value in frame.conditions.items():
        if key in COND_KEYS and math.isfinite(float(value)):
            kw, comment = COND_KEYS[key]
            th[kw] = (float(value), comment)
    out = Path(path)
    try:
        fits.HDUList([primary, table]).writeto(out, overwrite=True)
    except OSError as exc:
        raise FrameError(path, f"cannot write: {exc}") from exc
    return out


def read_fits(path: str | os.PathLike[str]) -> RenderedFrame:
    """Read a frame written by :func:`write_fits`, or any FITS file with a 2-D image.

    Raises
    ------
    FrameError
        Missing, empty, truncated or non-FITS file; no 2-D image; no finite pixel.
    """
    p = Path(path)
    if p.is_dir():
        raise FrameError(path, "a directory, not a FITS file")
    if not p.is_file():
        raise FrameError(path, "no such file")
    if p.stat().st_size == 0:
        raise FrameError(path, "empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyWarning)
            with fits.open(p, memmap=False) as hdul:
                hdul.verify("silentfix")
                img_hdu = next((h for h in hdul if h.is_image and h.data is not None), None)
                if img_hdu is None:
                    raise FrameError(path, "no image HDU with data")
                image = _check_image(path, img_hdu.data)
                header = {k: (v, img_hdu.header.comments[k]) for k, v in img_hdu.header.items()
                          if k not in ("COMMENT", "HISTORY", "")}
                truth = np.zeros(0, dtype=TRUTH_DTYPE)
                quality, reason, cond = "", "", {}
                if "TRUTH" in hdul:
                    th = hdul["TRUTH"]
                    truth = _truth_array(th.data)
                    quality = str(th.header.get("QUALITY", ""))
                    reason = str(th.header.get("QREASON", ""))
                    cond = {k: float(th.header[kw]) for k, (kw, _) in COND_KEYS.items()
                            if kw in th.header}
    except FrameError:
        raise
    except (OSError, ValueError, TypeError, IndexError, KeyError, EOFError) as exc:
        raise FrameError(path, f"not a readable FITS file (truncated or corrupt?): {exc}") \
            from exc
    image = image.astype(np.float32)
    return RenderedFrame(image, truth, header, quality, reason, cond)


def _truth_array(data: Any) -> np.ndarray:
    """The TRUTH table as a structured array with :data:`TRUTH_DTYPE`."""
    n = 0 if data is None else len(data)
    out = np.zeros(n, dtype=TRUTH_DTYPE)
    if n:
        names = set(data.columns.names)
        for name in TRUTH_DTYPE.names:
            if name in names:
                out[name] = np.asarray(data[name])
    return out
