"""Astronomical normalisation of frames and cutouts for the edge models.

Units: input images in any linear unit (ADU for skytwin frames); outputs are
dimensionless float32 arrays. Header values follow the FITS keywords of
skytwin frames (EXPTIME s, GAIN e-/ADU, BIASLEV ADU, PIXSCALE arcsec/pixel,
MAGZERO e-/s of a magnitude-0 star, SATURATE ADU, FILTER).

The stretch (:func:`stretch`):

1. non-finite pixels (NaN, inf) are replaced by the median of the finite ones
   (for frames) or by 0 after normalising (for cutouts, so a NaN-padded edge
   cutout reads as "no data");
2. the background level and noise are the median and the MAD-based standard
   deviation of a strided subsample (robust to stars and defects);
3. the image is clipped to the [0.1, 99.95] percentiles of that subsample
   widened by 10 noise sigmas below and unlimited above the background up to
   ``z_max`` sigmas (saturated cores stay bright, hot pixels cannot dominate);
4. ``asinh(z / soft) / asinh(z_max / soft)`` of the noise-normalised value
   ``z = (x - level) / sigma``: linear near the noise, logarithmic for stars.

A constant image has zero noise; it is given a unit noise so the stretch is
all zero, never a division by zero.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from skytwin.errors import SkytwinError

QUALITY_SIZE = 64  # side of each quality input channel (pixels)
CUTOUT_SIZE = 31  # side of the detection model's cutouts (pixels)
Z_MAX = 3000.0  # stretch ceiling, noise sigmas
SOFT = 3.0  # asinh softening, noise sigmas
# a pixel at or above this fraction of the header's SATURATE counts as saturated (the quality
# input, its trail count's bleed columns and the anomaly features share it)
SATURATED_AT = 0.98
PLATEAU_PIXELS = 4  # a maximum that this many pixels share is a clipped (saturated) level
PLATEAU_SIGMAS = 10.0  # ... when it stands this many noise sigmas above the background

# Dark-sky zenith brightness at a good site, new Moon (mag/arcsec^2), the
# reference of the quality rule's "moonlight"/"background" criterion (values
# of typical dark sites: Benn & Ellison 1998, Patat 2003).
DARK_SKY_MAG: dict[str, float] = {
    "u": 22.0, "g": 22.0, "r": 21.1, "i": 20.3, "z": 19.0,
    "B": 22.6, "V": 21.7, "R": 20.9, "I": 19.9, "clear": 21.0,
}

# ICRS -> Galactic rotation matrix (Hipparcos definition, ESA 1997).
_GAL = np.array([[-0.0548755604162154, -0.8734370902348850, -0.4838350155487132],
                 [0.4941094278755837, -0.4448296299600112, 0.7469822444972189],
                 [-0.8676661490190047, -0.1980763734312015, 0.4559837761750669]])

SCALAR_NAMES = (
    "pixel_scale_arcsec", "sky_excess_mag", "log_saturated_fraction", "moon_lit_near",
    "log_source_flux", "log_peak_flux", "galactic_density", "log_noise_excess",
    "finite_fraction",
)
"""Scalars that go beside the quality CNN's image channels (see :func:`frame_scalars`)."""


class PreprocessError(SkytwinError):
    """An input that cannot be normalised (wrong shape or dtype, no finite pixel)."""


def frame_inputs(item: Any) -> tuple[Any, Mapping[str, Any] | None, tuple[float, float] | None,
                                     Any]:
    """Image, header, Moon ``(illumination, separation_deg)`` and truth table of one input.

    ``item`` is an image array, a ``RenderedFrame`` or a FITS path (read with
    :func:`skytwin.twin.frames.fits_io.read_fits`); what it does not carry is
    ``None``. The truth table of a twin frame is its catalogue (see
    :class:`skytwin.agents.quality.stars.ReferenceStars`).
    """
    if isinstance(item, (str, Path)):
        from skytwin.twin.frames.fits_io import read_fits  # FITS reading lives with the frames
        item = read_fits(item)
    if hasattr(item, "image") and hasattr(item, "header"):
        cond = getattr(item, "conditions", None) or {}
        moon = (cond["moon_illumination"], cond["moon_sep_deg"]) \
            if "moon_illumination" in cond and "moon_sep_deg" in cond else None
        return item.image, item.header, moon, getattr(item, "truth", None)
    return item, None, None, None


def as_image(image: Any, copy: bool = True) -> NDArray[np.float32]:
    """A 2-D float32 copy of ``image``; raises :class:`PreprocessError` for other shapes or types.

    ``copy=False`` returns ``image`` itself when it already is float32 (for
    callers that never write into the result: a 1024^2 copy costs ~0.5 ms).
    """
    arr = np.asarray(image)
    if arr.ndim != 2 or min(arr.shape) < 1:
        raise PreprocessError(f"image has shape {arr.shape}; expected a 2-D (ny, nx) array")
    if arr.dtype.kind not in "iuf":
        raise PreprocessError(f"image has dtype {arr.dtype}; expected integer or float pixels")
    return arr.astype(np.float32, copy=copy)


def median(a: NDArray, axis: int | None = None) -> Any:
    """``np.median(a, axis)``, the same numbers, by a sort instead of a partition.

    numpy's vectorised sort beats its partition 3-5x on the few-thousand-value
    arrays here. The middle order statistics are the same, an even count
    averages its two middle values in ``a``'s dtype as ``np.median`` does,
    and a NaN anywhere along ``axis`` gives NaN. Integer and float16 input
    (averaged in another dtype) go to ``np.median`` itself.
    """
    a = np.asarray(a)
    if axis is None:
        a, axis = a.ravel(), 0
    n = a.shape[axis] if a.ndim else 0
    if a.dtype not in (np.float32, np.float64) or n == 0:
        return np.median(a, axis=axis)
    # sorted along a contiguous last axis: the stride-free sort is the faster one (np.sort
    # copies; moveaxis only where the axis is not already last, its checks cost microseconds)
    srt = np.sort(a if axis in (-1, a.ndim - 1) else np.moveaxis(a, axis, -1), axis=-1)
    mid = n // 2
    med = srt[..., mid] if n % 2 else (srt[..., mid - 1] + srt[..., mid]) / a.dtype.type(2)
    nan = np.isnan(srt[..., -1])  # the sort puts NaN last
    if med.ndim == 0:
        return a.dtype.type(np.nan) if nan else med[()]
    med[nan] = np.nan
    return med


def nanmedian_last(a: NDArray) -> NDArray:
    """``np.nanmedian(a, axis=-1)`` for float input, the same numbers, by one vectorised sort.

    numpy's ``nanmedian`` along an axis calls a Python function per row
    (``apply_along_axis``): ~50 us for each of a cutout's rows, which made
    the statistics of 100,000 training cutouts take a minute. NaN sort last,
    so the middle of each row's finite part is read off directly; an even
    count averages its two middle values in ``a``'s dtype, as ``np.median``
    does; a row of NaN, or an empty last axis, gives NaN (without numpy's
    warning). Equal values may come out as the other one of them: ``-0.0``
    where numpy gives ``0.0``, as :func:`median` too. An odd count's middle
    value is returned as it is (numpy's float32 path overflows to inf for a
    value above half the float32 range).
    """
    a = np.asarray(a)
    if a.dtype not in (np.float32, np.float64):
        raise TypeError(f"nanmedian_last takes float32 or float64, not {a.dtype}")
    if a.shape[-1] == 0:
        return np.full(a.shape[:-1], np.nan, a.dtype)
    srt = np.sort(a, axis=-1)
    n = a.shape[-1] - np.count_nonzero(np.isnan(srt), axis=-1)
    lo = np.take_along_axis(srt, np.maximum((n - 1) // 2, 0)[..., None], -1)[..., 0]
    hi = np.take_along_axis(srt, np.maximum(n // 2, 0)[..., None], -1)[..., 0]
    with np.errstate(over="ignore"):  # two huge middle values overflow as in numpy's mean
        med = np.where(n % 2 == 1, lo, (lo + hi) / a.dtype.type(2))
    return np.where(n > 0, med, a.dtype.type(np.nan))


def robust_stats(arr: NDArray, max_samples: int = 16384) -> tuple[float, float]:
    """Median and MAD-based sigma of the finite pixels of a strided subsample.

    Returns ``(nan, nan)`` when no pixel is finite; sigma is floored at a tiny
    positive value so it can divide.
    """
    step = max(1, int(math.sqrt(arr.size / max_samples)))
    sub = arr[::step, ::step] if arr.ndim == 2 else arr.ravel()[::step * step]
    sub = sub[np.isfinite(sub)]
    if sub.size == 0:
        return math.nan, math.nan
    med = float(median(sub))
    sig = 1.4826 * float(median(np.abs(sub - med)))
    if not sig > 0:
        sig = float(np.std(sub))
    if not sig > 0:
        sig = 1.0  # constant image: any unit makes the stretch all zero
    return med, sig


def stretch(arr: NDArray, level: float, sigma: float, z_max: float = Z_MAX,
            soft: float = SOFT) -> NDArray[np.float32]:
    """``asinh(z / soft) / asinh(z_max / soft)`` of ``z = (arr - level) / sigma``, clipped.

    NaN stays NaN (callers fill it).
    """
    z = (np.asarray(arr, dtype=np.float32) - np.float32(level)) / np.float32(sigma)
    np.clip(z, -10.0, z_max, out=z)
    return (np.arcsinh(z / np.float32(soft)) / np.float32(math.asinh(z_max / soft))
            ).astype(np.float32)


def fill_nonfinite(arr: NDArray[np.float32], value: float) -> tuple[NDArray[np.float32], float]:
    """Replace NaN/inf by ``value`` (in a copy when needed); return it and the finite fraction."""
    # one summing pass clears the usual all-finite frame: NaN or inf anywhere makes the sum
    # non-finite (so does an overflow, which then takes the full path)
    with np.errstate(over="ignore"):
        total = float(arr.sum()) if arr.size else 0.0
    if arr.size and math.isfinite(total):
        return arr, 1.0
    finite = np.isfinite(arr)
    frac = np.count_nonzero(finite) / arr.size if arr.size else 0.0
    if frac < 1.0:
        arr = np.where(finite, arr, np.float32(value)).astype(np.float32)
    return arr, frac


def downsample(arr: NDArray[np.float32], size: int) -> NDArray[np.float32]:
    """Block-average to ``size`` x ``size`` (edge-padded to a multiple; upsampled by repetition).

    ``arr.reshape(size, fy, size, fx).mean(axis=(1, 3))`` up to float32
    rounding (a few 1e-7 relative), about four times faster on a 1024² frame:
    the ``fy`` rows of each block band are added as whole contiguous rows
    first, so the short per-block reduction runs on ``fy`` times fewer values.
    """
    ny, nx = arr.shape
    fy, fx = max(1, math.ceil(ny / size)), max(1, math.ceil(nx / size))
    py, px = fy * size - ny, fx * size - nx
    if py > 0 or px > 0:
        arr = np.pad(arr, ((0, max(py, 0)), (0, max(px, 0))), mode="edge")
    arr = np.ascontiguousarray(arr[:fy * size, :fx * size], dtype=np.float32)
    rows = arr.reshape(size, fy, fx * size).sum(axis=1, dtype=np.float32)
    return rows.reshape(size, size, fx).sum(axis=2, dtype=np.float32) / np.float32(fy * fx)


_CACHE_BYTES = 1 << 21  # frames up to this size (a 512² float32 one and more) stay in cache
_BAND_BYTES = 1 << 18  # the rows of a band of downsample_counting


def downsample_counting(arr: NDArray[np.float32], size: int, at_least: float
                        ) -> tuple[NDArray[np.float32], int]:
    """:func:`downsample`, and the number of pixels ``>= at_least``, in one pass over a large frame.

    A frame larger than the CPU's cache (a 1024² one: 4 MB) is read from
    memory once for the block sums and again for the count (0.25 ms); here
    each band of block rows (~256 KB) is counted while it is still in cache,
    0.1 ms less on 1024². The same numbers as the two calls apart (each
    block's rows are added in the same order); smaller or unevenly divided
    frames take those two calls.
    """
    ny, nx = arr.shape
    fy, fx = max(1, math.ceil(ny / size)), max(1, math.ceil(nx / size))
    if (arr.nbytes <= _CACHE_BYTES or fy * size != ny or fx * size != nx
            or arr.dtype != np.float32 or not arr.flags.c_contiguous):
        return downsample(arr, size), int(np.count_nonzero(arr >= at_least))
    band = fy * max(1, _BAND_BYTES // (fy * nx * 4))  # rows per band, whole block rows
    rows = np.empty((size, nx), np.float32)
    count = 0
    for r0 in range(0, ny, band):
        b = arr[r0:r0 + band]
        k = b.shape[0] // fy
        np.sum(b.reshape(k, fy, nx), axis=1, dtype=np.float32, out=rows[r0 // fy:r0 // fy + k])
        count += int(np.count_nonzero(b >= at_least))
    return rows.reshape(size, size, fx).sum(axis=2, dtype=np.float32) / np.float32(fy * fx), count



def upsample(stack: NDArray, k: int = 3) -> NDArray[np.float64]:
    """A square, background-free stamp on ``k`` times finer pixels, by zero-padding its spectrum.

    Band-limited interpolation keeps a star's second moments and shape,
    where a spline would blur them; the pixel values keep their scale
    (peak-normalised stays peak-normalised up to the interpolation). Used
    to measure undersampled PSFs: the quality model's stack
    (:mod:`skytwin.agents.quality.stars`) and the subtraction's star FWHMs
    (:mod:`skytwin.agents.detection.subtract`).
    """
    n = stack.shape[0]
    if n % 2 == 0:  # a Nyquist row and column: the full complex spectrum, padded
        spec = np.fft.fftshift(np.fft.fft2(stack))
        return np.fft.ifft2(np.fft.ifftshift(np.pad(spec, (k * n - n) // 2))).real * (k * k)
    # an odd side has no Nyquist frequency, and the zero padding is the same along both axes:
    # the interpolation is separable, two small matrix products (a sixth of the FFTs' time)
    u = _band_limited_interpolation(n, k)
    return u @ np.asarray(stack, np.float64) @ u.T


@lru_cache(maxsize=8)
def _band_limited_interpolation(n: int, k: int) -> NDArray[np.float64]:
    """Matrix ``(k n, n)``: row ``j`` interpolates ``n`` periodic samples (odd ``n``) at ``j / k``.

    Zero-padding the spectrum of ``n`` samples (frequencies ``-(n-1)/2 ..
    (n-1)/2``) is the periodic sinc ``D(t) = sin(pi t) / (n sin(pi t / n))``
    at ``t = j / k - l``; ``D(0) = 1``. Read-only: it is shared between calls.
    """
    t = np.arange(k * n)[:, None] / k - np.arange(n)[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.sin(np.pi * t) / (n * np.sin(np.pi * t / n))
    u[t == 0] = 1.0
    u.flags.writeable = False
    return u


def center_crop(arr: NDArray, size: int, fill: float = 0.0) -> NDArray:
    """The central ``size`` x ``size`` pixels of the last two axes (padded with ``fill``)."""
    h, w = arr.shape[-2:]
    out = np.full(arr.shape[:-2] + (size, size), fill, dtype=arr.dtype)
    sy, sx = max(0, (h - size) // 2), max(0, (w - size) // 2)
    dy, dx = max(0, (size - h) // 2), max(0, (size - w) // 2)
    hh, ww = min(h, size), min(w, size)
    out[..., dy:dy + hh, dx:dx + ww] = arr[..., sy:sy + hh, sx:sx + ww]
    return out


def saturation_level(*images: NDArray) -> float:
    """The level at which the images clip: the lowest maximum shared by several pixels.

    A frame without a SATURATE keyword still shows its full well (or its
    ADC's last code) as a plateau of pixels at one value; ``inf`` when no
    image has one. The plateau must stand :data:`PLATEAU_SIGMAS` noise sigmas
    above the background: the top of an integer frame's noise, or a constant
    frame, is shared by several pixels too.
    """
    levels = []
    for im in images:
        a = np.asarray(im)
        mx = np.fmax.reduce(a, axis=None) if a.size else np.nan  # NaN ignored, no warning
        if not (np.isfinite(mx) and np.count_nonzero(a == mx) >= PLATEAU_PIXELS):
            continue
        level, sigma = robust_stats(a)
        if mx > level + PLATEAU_SIGMAS * sigma:
            levels.append(float(mx))
    return min(levels, default=math.inf)


def header_value(header: Mapping[str, Any] | None, key: str, default: float) -> float:
    """A header keyword as a finite float (a ``(value, comment)`` pair too), else ``default``."""
    if not header or key not in header:
        return default
    v = header[key]
    v = v[0] if isinstance(v, tuple) else v
    try:
        f = float(v)
    except (TypeError, ValueError):
        return default
    return f if math.isfinite(f) else default


def _hstr(header: Mapping[str, Any] | None, key: str, default: str) -> str:
    if not header or key not in header:
        return default
    v = header[key]
    return str(v[0] if isinstance(v, tuple) else v)


def galactic_density(ra_deg: float, dec_deg: float) -> float:
    """log10 of the relative star density towards (ra, dec): ``1.06 / (sin|b| + 0.06)``."""
    if not (math.isfinite(ra_deg) and math.isfinite(dec_deg)):
        return 0.0
    a, d = math.radians(ra_deg), math.radians(dec_deg)
    v = _GAL @ np.array([math.cos(d) * math.cos(a), math.cos(d) * math.sin(a), math.sin(d)])
    b = math.asin(max(-1.0, min(1.0, float(v[2]))))
    return math.log10(1.06 / (abs(math.sin(b)) + 0.06))


def _top_percentile(a: NDArray, q: float, floor: float, top: NDArray | None = None) -> float:
    """``np.percentile(a, q)`` (linear interpolation) for a high ``q``, from the values above ``floor``.

    When enough values lie above ``floor`` the order statistics it needs are
    among them, so only those are partitioned: the same number, a fraction
    of the cost on a frame of mostly sky. ``top``: ``a[a > floor]`` when the
    caller has it already. Where too few values lie above a positive
    ``floor`` (a frame with few bright pixels) the floor is lowered to 2/5
    of it, then to 0, before all values are partitioned: on a 256²
    subsample of sky one comparison pass costs ~20 us, a full partition ~0.5 ms.
    """
    flat = a.ravel()
    pos = q / 100.0 * (flat.size - 1)
    lo = int(math.floor(pos))
    floors = (floor, 0.4 * floor, 0.0) if floor > 0 else (floor,)
    for f in floors:
        if top is None or f != floor:
            top = flat[flat > f]
        k = lo - (flat.size - top.size)  # rank of the lower order statistic among ``top``
        if k >= 0:
            hi = min(k + 1, top.size - 1)
            part = np.partition(top, (k, hi))
            return float(part[k] + (part[hi] - part[k]) * np.float32(pos - lo))
    return float(np.percentile(flat, q))


def frame_scalars(arr: NDArray[np.float32], level: float, sigma: float, finite_frac: float,
                  header: Mapping[str, Any] | None = None,
                  moon: tuple[float, float] | None = None,
                  n_saturated: int | None = None) -> NDArray[np.float32]:
    """The quality model's scalar inputs (:data:`SCALAR_NAMES`), from the image and its header.

    Missing header keys fall back to neutral values (a 1"/pixel, 60 s, gain 1,
    bias 0 frame at a zero point of 1e9 e-/s that saturates nowhere), so a
    bare image still works.
    ``moon`` is ``(illumination, separation_deg)`` when known.
    ``n_saturated``: the pixels ``>= SATURATED_AT * SATURATE``, when the caller has
    counted them (:func:`downsample_counting`).
    """
    scale = header_value(header, "PIXSCALE", 1.0)
    exptime = max(header_value(header, "EXPTIME", 60.0), 1e-3)
    gain = max(header_value(header, "GAIN", 1.0), 1e-6)
    bias = header_value(header, "BIASLEV", 0.0)
    zp = max(header_value(header, "MAGZERO", 1e9), 1.0)
    # no SATURATE: no pixel counts as saturated (read_calibration gives a frame that clips the
    # level of its plateau)
    sat = header_value(header, "SATURATE", -math.inf)
    band = _hstr(header, "FILTER", "clear")
    dark = DARK_SKY_MAG.get(band, 21.0)
    sky_e = max((level - bias) * gain, 1e-3)
    sky_mag = -2.5 * math.log10(sky_e / exptime / scale ** 2 / zp)
    step = max(1, int(math.sqrt(arr.size / 65536)))
    sub = arr[::step, ::step]
    # counted on every pixel: a bleed column one pixel wide falls between subsample steps
    if n_saturated is None and sat > level:
        n_saturated = int(np.count_nonzero(arr >= SATURATED_AT * sat))
    n_sat = float(n_saturated) / arr.size if sat > level else 0.0
    above = sub - level
    src = above[above > 5.0 * sigma]
    norm = zp * exptime / gain  # ADU of a mag-0 star
    flux = float(src.sum()) * step * step / norm
    peak = _top_percentile(above, 99.9, 5.0 * sigma, src) / norm if above.size else 0.0
    illum, sep = moon if moon is not None else (
        header_value(header, "MOONILL", 0.0), header_value(header, "MOONSEP", 180.0))
    ra, dec = header_value(header, "RA", math.nan), header_value(header, "DEC", math.nan)
    expected_noise = math.sqrt(sky_e + header_value(header, "RDNOISE", 0.0) ** 2) / gain
    out = np.array([
        scale,
        dark - sky_mag,
        math.log10(n_sat + 1e-6),
        1.0 if (illum > 0.25 and sep < 90.0) else 0.0,
        math.log10(max(flux, 1e-14)) / 4.0,
        math.log10(max(peak, 1e-14)) / 4.0,
        galactic_density(ra, dec),
        math.log10(max(sigma / max(expected_noise, 1e-6), 1e-3)),
        finite_frac,
    ], dtype=np.float32)
    return np.nan_to_num(out, nan=0.0, posinf=10.0, neginf=-10.0)


def cutout_input(triplets: Any, size: int = CUTOUT_SIZE) -> NDArray[np.float32]:
    """Normalise science/reference/difference cutouts ``(N, 3, H, W)`` to ``(N, 3, size, size)``.

    Each cutout is centre-cropped (or zero-padded) to ``size``; the science and
    reference are stretched with their own median and noise, the difference
    with its own noise around zero-median; NaN becomes 0 (no data).

    Raises
    ------
    PreprocessError
        Not a 4-D array with 3 channels, or cutouts smaller than 21 x 21.
    """
    arr = np.asarray(triplets)
    if arr.ndim == 3 and arr.shape[0] == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[1] != 3:
        raise PreprocessError(f"triplets have shape {arr.shape}; expected (N, 3, H, W) with "
                              "science, reference, difference")
    if arr.dtype.kind not in "iuf":
        raise PreprocessError(f"triplets have dtype {arr.dtype}; expected numbers")
    if min(arr.shape[2:]) < 21:
        raise PreprocessError(f"cutouts are {arr.shape[2]}x{arr.shape[3]}; expected at least 21x21")
    arr = center_crop(arr.astype(np.float32), size, fill=np.nan)
    if arr.shape[0] == 0:
        return np.zeros((0, 3, size, size), np.float32)
    med, sig = cutout_stats(arr)
    return stretch_cutouts(arr, med, sig)


def cutout_stats(arr: NDArray[np.float32]) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Per-channel level and noise ``(N, 3)`` of cutouts ``(N, 3, H, W)`` (NaN ignored)."""
    n = arr.shape[0]
    flat = arr.reshape(n, 3, -1)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cutouts
        med = nanmedian_last(flat)
        mad = 1.4826 * nanmedian_last(np.abs(flat - med[..., None]))
    med = np.nan_to_num(med, nan=0.0)
    # the difference's noise sets its scale; its level is ~0 by construction
    sig = np.where(np.isfinite(mad) & (mad > 0), mad, np.nan)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        peak = np.nanmax(np.abs(flat - med[..., None]), axis=2)
    fallback = np.where(np.isfinite(peak) & (peak > 0), peak / 100.0, 1.0)
    sig = np.where(np.isfinite(sig), sig, fallback).astype(np.float32)
    return med.astype(np.float32), sig


def stretch_cutouts(arr: NDArray[np.float32], med: NDArray[np.float32],
                    sig: NDArray[np.float32]) -> NDArray[np.float32]:
    """``asinh`` stretch of cutouts ``(N, 3, H, W)`` with levels and noises ``(N, 3)``; NaN -> 0."""
    z = (arr - med[..., None, None]) / sig[..., None, None]
    z = np.clip(np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0), -1000.0, 1000.0)
    out = np.arcsinh(z / 3.0) / np.float32(math.asinh(1000.0 / 3.0))
    return np.where(np.isfinite(arr), out, 0.0).astype(np.float32)
