"""Image measurements: background, noise, source count, star FWHM, ellipticity, centroids.

Works on rendered frames and on real images alike (no truth used). Units:
levels and noise in the image's units (ADU for skytwin frames); positions
0-based pixels; FWHM in pixels, and in arcsec when a pixel scale is given;
ellipticity 1 - b/a.

Method:

* Background and noise: sources are masked (pixels above the first-pass
  median + 3 sigma, grown by 2 pixels), then the median and the MAD-based
  standard deviation (``astropy.stats.mad_std``, unbiased for Gaussian noise)
  of the rest, after 3-sigma clipping (astropy ``sigma_clipped_stats``).
* Sources: the background-subtracted image smoothed with a Gaussian of
  sigma 1 pixel, thresholded at ``nsigma`` times the smoothed noise,
  8-connected components of at least ``npix`` pixels (scipy.ndimage).
* Stars: the brightest isolated, unsaturated detections, each fitted with an
  elliptical Moffat profile plus a constant (scipy ``least_squares``); the FWHM
  is ``2 alpha sqrt(2^(1/beta) - 1)`` (geometric mean of the axes). Fits whose
  FWHM is more than 3 MADs (and 15%) from the median are dropped (galaxies,
  cosmic rays, blends). The frame's FWHM is the median; its ellipticity the
  length of the mean complex ellipticity ``(1 - b/a) exp(2 i theta)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from astropy.stats import mad_std, sigma_clipped_stats
from numpy.typing import NDArray
from scipy import ndimage
from scipy.optimize import least_squares

from skytwin.errors import SkytwinError


class MeasureError(SkytwinError):
    """An image that cannot be measured (wrong shape or dtype, no finite pixels)."""


@dataclass(frozen=True)
class StarFit:
    """One star's Moffat fit (pixels)."""

    x: float
    y: float
    flux: float
    peak: float
    fwhm_pix: float
    ellipticity: float
    theta_rad: float
    beta: float


@dataclass(frozen=True)
class FrameMeasurement:
    """What :func:`measure_frame` found (units in the module docstring)."""

    background: float
    noise: float
    n_sources: int
    fwhm_pix: float
    fwhm_arcsec: float
    ellipticity: float
    stars: tuple[StarFit, ...]


def _as_image(image: NDArray) -> NDArray[np.float64]:
    arr = np.asarray(image)
    if arr.ndim != 2:
        raise MeasureError(f"image has shape {arr.shape}; expected a 2-D array")
    if arr.dtype.kind not in "iuf":
        raise MeasureError(f"image has dtype {arr.dtype}; expected integer or float pixels")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).any():
        raise MeasureError("image holds no finite pixel")
    return arr


def background(image: NDArray) -> tuple[float, float]:
    """Background level and noise (standard deviation) of an image, sources masked."""
    arr = _as_image(image)
    finite = np.isfinite(arr)
    med = float(np.median(arr[finite]))
    sig = float(mad_std(arr[finite]))
    mask = ~finite | (arr > med + 3.0 * sig)
    mask = ndimage.binary_dilation(mask, iterations=2) | ~finite
    _, med, std = sigma_clipped_stats(arr, mask=mask, sigma=3.0, maxiters=5,
                                      cenfunc="median", stdfunc="mad_std")
    return float(med), float(std)


def detect(image: NDArray, nsigma: float = 5.0, npix: int = 5,
           bkg: tuple[float, float] | None = None) -> tuple[NDArray[np.int32], int]:
    """Label image and number of sources above ``nsigma`` (see the module docstring)."""
    arr = _as_image(image)
    level, _ = bkg if bkg is not None else background(arr)
    sub = np.where(np.isfinite(arr), arr - level, 0.0)
    sm = ndimage.gaussian_filter(sub, 1.0)
    noise_sm = float(mad_std(sm[::2, ::2]))
    labels, n = ndimage.label(sm > nsigma * noise_sm, structure=np.ones((3, 3)))
    if n == 0:
        return labels, 0
    sizes = ndimage.sum_labels(np.ones_like(sm), labels, index=np.arange(1, n + 1))
    small = np.flatnonzero(sizes < npix) + 1
    if small.size:
        labels[np.isin(labels, small)] = 0
        labels, n = ndimage.label(labels > 0, structure=np.ones((3, 3)))
    return labels.astype(np.int32), int(n)


MIN_STAR_FWHM_PIX = 1.0  # narrower fits are cosmic rays or hot pixels
MAX_PEAK_FRACTION = 0.45  # peak / 3x3 sum above this is a spike (a 1.2-pixel FWHM star has ~0.45)


def _moffat(p: NDArray, xx: NDArray, yy: NDArray) -> NDArray:
    """Elliptical Moffat + constant; shape ``[[1+g1, g2], [g2, 1-g1]] / alpha^2``."""
    amp, x0, y0, la, g1, g2, lbeta, c = p
    if g1 * g1 + g2 * g2 >= 0.95:
        return np.full(xx.shape, 1e30)
    beta = 1.05 + math.exp(lbeta)
    dx, dy = xx - x0, yy - y0
    r2 = ((1 + g1) * dx * dx + 2 * g2 * dx * dy + (1 - g1) * dy * dy) * math.exp(-2 * la)
    return amp * (1.0 + r2) ** (-beta) + c


def fit_star(image: NDArray, x0: float, y0: float, half: int, level: float = 0.0
             ) -> StarFit | None:
    """Fit an elliptical Moffat to the star near ``(x0, y0)``; None if it fails."""
    ny, nx = image.shape
    ix, iy = int(round(x0)), int(round(y0))
    if ix - half < 0 or iy - half < 0 or ix + half >= nx or iy + half >= ny:
        return None
    st = image[iy - half:iy + half + 1, ix - half:ix + half + 1] - level
    if not np.isfinite(st).all():
        return None
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1].astype(float)
    peak = float(st.max())
    if peak <= 0:
        return None
    # starting width from the area above half the peak
    area = max(float((st > 0.5 * peak).sum()), 1.0)
    fwhm0 = 2.0 * math.sqrt(area / math.pi)
    alpha0 = fwhm0 / (2.0 * math.sqrt(2.0 ** (1.0 / 3.05) - 1.0))
    p0 = np.array([peak, x0 - ix, y0 - iy, math.log(alpha0), 0.0, 0.0, math.log(2.0), 0.0])
    try:
        res = least_squares(lambda p: (_moffat(p, xx, yy) - st).ravel(), p0, method="lm",
                            max_nfev=300)
    except (ValueError, FloatingPointError):
        return None
    amp, dx, dy, la, g1, g2, lbeta, _ = res.x
    if not res.success or amp <= 0 or abs(dx) > half / 2 or abs(dy) > half / 2:
        return None
    beta = 1.05 + math.exp(lbeta)
    m = np.array([[1 + g1, g2], [g2, 1 - g1]]) * math.exp(-2 * la)
    lam, vec = np.linalg.eigh(m)  # ascending: lam[0] belongs to the major axis
    if lam[0] <= 0:
        return None
    a, b = 1.0 / math.sqrt(lam[0]), 1.0 / math.sqrt(lam[1])
    theta = math.atan2(vec[1, 0], vec[0, 0]) % math.pi
    k = 2.0 * math.sqrt(2.0 ** (1.0 / beta) - 1.0)
    fwhm = k * math.sqrt(a * b)
    flux = amp * math.pi * a * b / (beta - 1.0)
    # below a pixel it is a cosmic ray or a hot pixel, not a star
    if not (MIN_STAR_FWHM_PIX < fwhm < 2 * half and math.isfinite(flux)):
        return None
    return StarFit(ix + dx, iy + dy, flux, amp, fwhm, 1.0 - b / a, theta, beta)


def measure_stars(image: NDArray, *, max_stars: int = 60, saturation: float | None = None,
                  nsigma: float = 5.0, bkg: tuple[float, float] | None = None
                  ) -> tuple[list[StarFit], int]:
    """Moffat fits of the brightest isolated unsaturated stars, and the source count."""
    arr = _as_image(image)
    level, noise = bkg if bkg is not None else background(arr)
    labels, n = detect(arr, nsigma, bkg=(level, noise))
    if n == 0:
        return [], 0
    idx = np.arange(1, n + 1)
    sub = np.where(np.isfinite(arr), arr - level, 0.0)
    peaks = ndimage.maximum(sub, labels, idx)
    pos = ndimage.maximum_position(sub, labels, idx)
    sizes = ndimage.sum_labels(np.ones_like(sub), labels, idx)
    ok = peaks > 20 * noise
    if saturation is not None:
        ok &= peaks + level < 0.9 * saturation
    # flat tops (saturated or clipped): more than 2 pixels within 2% of the peak
    near_peak = ndimage.sum_labels(sub >= 0.98 * peaks[np.maximum(labels - 1, 0)],
                                   labels, idx)
    ok &= near_peak <= 2
    # single-pixel spikes (cosmic rays, hot pixels) hold most of their 3x3 flux in the peak
    box = ndimage.uniform_filter(sub, 3) * 9.0
    yx_peak = np.array(pos, dtype=int).reshape(-1, 2)
    ok &= peaks < MAX_PEAK_FRACTION * box[yx_peak[:, 0], yx_peak[:, 1]]
    # a typical size from the median detection area -> stamp half-size
    typical = math.sqrt(float(np.median(sizes[ok])) / math.pi) if ok.any() else 3.0
    half = int(np.clip(round(2.0 * typical) + 2, 4, 15))
    yx = np.array(pos, dtype=float).reshape(-1, 2)
    order = [i for i in np.argsort(-peaks) if ok[i]]
    fits_: list[StarFit] = []
    for i in order:
        d = np.hypot(yx[:, 0] - yx[i, 0], yx[:, 1] - yx[i, 1])
        d[i] = np.inf
        if d.min() < 2.0 * half:
            continue
        f = fit_star(arr, yx[i, 1], yx[i, 0], half, level)
        if f is not None:
            fits_.append(f)
        if len(fits_) >= max_stars:
            break
    return fits_, n


def _robust(stars: list[StarFit]) -> list[StarFit]:
    if len(stars) < 3:
        return stars
    fw = np.array([s.fwhm_pix for s in stars])
    med = float(np.median(fw))
    spread = max(3.0 * 1.4826 * float(np.median(np.abs(fw - med))), 0.15 * med)
    return [s for s in stars if abs(s.fwhm_pix - med) <= spread]


def measure_frame(image: NDArray, *, pixel_scale_arcsec: float | None = None,
                  saturation: float | None = None, max_stars: int = 60,
                  nsigma: float = 5.0) -> FrameMeasurement:
    """Background, noise, source count, FWHM and ellipticity of an image.

    Parameters
    ----------
    image
        2-D image (any units; ADU for skytwin frames).
    pixel_scale_arcsec
        Pixel scale in arcsec/pixel, to report the FWHM in arcsec (NaN if None).
    saturation
        Saturation level in image units (default: 80% of the image maximum is the cut).
    max_stars
        Most stars to fit.
    nsigma
        Detection threshold in noise sigmas.
    """
    arr = _as_image(image)
    bkg = background(arr)
    stars, n = measure_stars(arr, max_stars=max_stars, saturation=saturation, nsigma=nsigma,
                             bkg=bkg)
    good = _robust(stars)
    if good:
        fwhm = float(np.median([s.fwhm_pix for s in good]))
        z = np.mean([s.ellipticity * np.exp(2j * s.theta_rad) for s in good])
        ell = float(abs(z))
    else:
        fwhm, ell = math.nan, math.nan
    scale = pixel_scale_arcsec if pixel_scale_arcsec else math.nan
    return FrameMeasurement(bkg[0], bkg[1], n, fwhm, fwhm * scale, ell, tuple(good))
