"""The anomaly autoencoder's view of a frame: noise-normalised maps and row/column profiles.

Units: input images in ADU with the FITS keywords of skytwin frames (GAIN
e-/ADU, RDNOISE e-, BIASLEV ADU); every output is dimensionless, in units of
the frame's *expected* noise (photon noise of the measured sky level above
bias plus read noise, from the header), so that a failure of the detector
or its electronics shows as a departure from the physics of a normal frame.

Equipment failures are structured along rows and columns (readout bands,
dead columns, frozen rows) or over large regions (light leaks, occlusion,
a closed shutter, electronic pattern noise), so the frame is summarised at
native resolution along each axis and at coarse resolution in two
dimensions:

=========  ==================================================================
maps       ``(5, 32, 32)``, one value per block of the frame
=========  ==================================================================
level      block median minus the frame's median, in expected-noise units,
           ``asinh``-compressed (the downsampled frame)
noise      log10 of the block's robust sigma over the noise expected at the
           block's own level
bias       fraction of the block's pixels within 3 read-noise sigmas of the
           bias level (no light reached them), minus the fraction expected
           at the frame's sky level
step       log10 of the block's median absolute difference between adjacent
           rows and adjacent columns over its expected value (very negative
           for repeated or stuck pixels)
saturated  fraction of the block's pixels at >= 98% of SATURATE
=========  ==================================================================

=========  ==================================================================
profiles   ``(8, 256)``, one value per row (even channels) or column (odd),
           in groups of rows/columns (median) when the frame is larger
=========  ==================================================================
0, 1       median of the row (column) minus the frame median, expected-noise
           units, ``asinh``-compressed
2, 3       log10 of the row's (column's) robust sigma over the expected noise
4, 5       log10 of the median absolute difference to the next row (column)
           over its expected value
6, 7       fraction of the row's (column's) pixels that are saturated
=========  ==================================================================

scalars ``(4,)``: ``asinh`` of the sky above bias in read-noise sigmas, log10
of the frame's robust sigma over the expected noise, the fraction of
pixels at bias level minus the expected fraction, and the peak of the
frame's power spectrum: log10 of the largest over the median power at
periods shorter than 32 pixels, of the central (at most) 256 x 256 pixels
after a smooth background is subtracted and the residual clipped to +-5
expected-noise sigmas (stars and trails are broad in frequency; electronic
interference is a narrow peak; white noise alone gives ~1.2).

Saturation is a normal condition (bright stars and their bleed columns):
saturated pixels are counted in their own channels and replaced by sky noise
(a fixed-seed generator, so the result is deterministic) before the other
statistics are taken.

A bare image without the header keywords has no noise model: its measured
robust sigma stands in for the expected noise and no pixel is at "bias".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from skytwin.agents.preprocess import (SATURATED_AT, PreprocessError, as_image, fill_nonfinite,
                                       header_value, robust_stats)

FEATURES_VERSION = 2  # bumped when the inputs change (names the training data caches)
MAP_SIZE = 32  # side of the block maps (blocks)
PROFILE_SIZE = 256  # length of the row and column profiles (rows or row groups)
N_MAPS = 5
N_PROFILES = 8
N_SCALARS = 4
SPECTRUM_SIZE = 256  # side of the central crop whose power spectrum is taken (pixels)
SPECTRUM_MIN_FREQ = 1.0 / 32.0  # cycles per pixel: shorter periods only
_MAD = 1.4826  # MAD -> Gaussian sigma
_ADJ = 0.6745 * math.sqrt(2.0)  # median |a - b| of two independent unit Gaussians


def _asinh(z: NDArray) -> NDArray[np.float32]:
    return np.arcsinh(np.asarray(z, np.float32)).astype(np.float32)


def _log_ratio(a: NDArray, b: NDArray | float) -> NDArray[np.float32]:
    return np.log10(np.maximum(a, 1e-3) / np.maximum(b, 1e-6)).astype(np.float32)


def _pad_to(arr: NDArray, fy: int, fx: int) -> NDArray:
    """Edge-pad ``arr`` so its sides are multiples of ``fy`` and ``fx``."""
    ny, nx = arr.shape
    py, px = (-ny) % fy, (-nx) % fx
    return np.pad(arr, ((0, py), (0, px)), mode="edge") if py or px else arr


def _groups(n: int, size: int) -> NDArray[np.int64]:
    """Index of the group (0 .. size - 1) of each of ``n`` rows or columns."""
    return np.minimum(np.arange(n) * size // max(n, 1), size - 1).astype(np.int64)


def _group_reduce(v: NDArray, size: int) -> NDArray[np.float32]:
    """Median of consecutive groups of ``v`` down to ``size`` values (repeated when shorter)."""
    g = _groups(len(v), size)
    if len(v) >= size:
        out = np.array([np.median(v[g == k]) for k in range(size)], np.float32) \
            if len(v) > size else v.astype(np.float32)
        return out
    return v[np.minimum(np.arange(size) * len(v) // size, len(v) - 1)].astype(np.float32)


def _noise_model(header: Mapping[str, Any] | None, level: float, sigma: float
                 ) -> tuple[float, float, float]:
    """(bias ADU, read noise ADU, gain e-/ADU); without the keywords, a model that gives ``sigma``."""
    if header and all(k in header for k in ("GAIN", "RDNOISE", "BIASLEV")):
        gain = max(header_value(header, "GAIN", 1.0), 1e-6)
        return header_value(header, "BIASLEV", 0.0), header_value(header, "RDNOISE", 0.0) / gain, gain
    return -math.inf, sigma, 0.0


def _expected(level: NDArray | float, bias: float, rn_adu: float, gain: float) -> Any:
    """Expected noise (ADU) of pixels at ``level``: photons above bias plus read noise."""
    if gain <= 0.0:
        return np.maximum(np.asarray(level, np.float32) * 0 + rn_adu, 1e-6)
    sky_e = np.maximum(np.asarray(level, np.float64) - bias, 0.0) * gain
    return np.maximum(np.sqrt(sky_e + (rn_adu * gain) ** 2) / gain, 1e-6)


def _bias_fraction(level_adu: float, bias: float, rn: float, gain: float) -> float:
    """Expected fraction of sky pixels at ``level_adu`` within 3 read-noise sigmas of the bias."""
    if not math.isfinite(bias) or rn <= 0.0:
        return 0.0
    s = float(_expected(level_adu, bias, rn, gain))
    mu = (level_adu - bias) / s
    k = 3.0 * rn / s
    return 0.5 * (math.erf((k - mu) / math.sqrt(2.0)) - math.erf((-k - mu) / math.sqrt(2.0)))


def _interp(n: int, c: NDArray, v: NDArray) -> NDArray[np.float64]:
    """Piecewise-linear ``v`` at block centres ``c`` on ``0 .. n - 1``, extrapolated linearly."""
    x = np.arange(n, dtype=np.float64)
    out = np.interp(x, c, v)
    lo, hi = x < c[0], x > c[-1]
    out[lo] = v[0] + (x[lo] - c[0]) * (v[1] - v[0]) / (c[1] - c[0])
    out[hi] = v[-1] + (x[hi] - c[-1]) * (v[-1] - v[-2]) / (c[-1] - c[-2])
    return out


def _smooth_background(arr: NDArray, n: int = 8) -> NDArray[np.float64]:
    """Bilinear interpolation of the medians of an ``n`` x ``n`` grid of blocks (ADU)."""
    ny, nx = arr.shape
    ey, ex = np.linspace(0, ny, n + 1).astype(int), np.linspace(0, nx, n + 1).astype(int)
    med = np.array([[np.median(arr[ey[i]:ey[i + 1], ex[j]:ex[j + 1]]) for j in range(n)]
                    for i in range(n)])
    cy, cx = (ey[:-1] + ey[1:] - 1) / 2.0, (ex[:-1] + ex[1:] - 1) / 2.0
    along_x = np.array([_interp(nx, cx, row) for row in med])
    return np.array([_interp(ny, cy, col) for col in along_x.T]).T


def spectral_peak(arr: NDArray, sig0: float) -> float:
    """log10 of the peak over the median power at short periods (module docstring)."""
    ny, nx = arr.shape
    y0, x0 = max(0, (ny - SPECTRUM_SIZE) // 2), max(0, (nx - SPECTRUM_SIZE) // 2)
    a = np.asarray(arr[y0:y0 + SPECTRUM_SIZE, x0:x0 + SPECTRUM_SIZE], np.float64)
    if min(a.shape) < 16:
        return 0.0
    r = np.clip((a - _smooth_background(a)) / max(sig0, 1e-6), -5.0, 5.0)
    power = np.abs(np.fft.rfft2(r - r.mean())) ** 2
    fy = np.fft.fftfreq(a.shape[0])[:, None]
    fx = np.fft.rfftfreq(a.shape[1])[None, :]
    sel = power[np.hypot(fy, fx) >= SPECTRUM_MIN_FREQ]
    return float(np.log10(max(sel.max(), 1e-12) / max(np.median(sel), 1e-12)))


def anomaly_input(image: Any, header: Mapping[str, Any] | None = None
                  ) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
    """Maps ``(5, 32, 32)``, profiles ``(8, 256)`` and scalars ``(4,)`` of one frame.

    See the module docstring.

    Raises
    ------
    PreprocessError
        Not a 2-D numeric image, smaller than 8 x 8, or no finite pixel.
    """
    arr = as_image(image)
    if min(arr.shape) < 8:
        raise PreprocessError(f"image is {arr.shape[0]}x{arr.shape[1]}; expected at least 8x8")
    level, sigma = robust_stats(arr)
    if not math.isfinite(level):
        raise PreprocessError("image holds no finite pixel (all NaN or inf)")
    arr, _ = fill_nonfinite(arr, level)
    bias, rn, gain = _noise_model(header, level, sigma)
    sig0 = float(_expected(level, bias, rn, gain))
    sat_adu = header_value(header, "SATURATE", math.inf)
    sat = arr >= SATURATED_AT * sat_adu
    if sat.any():  # saturation is a normal condition: its own channel, sky noise in its place
        arr = arr.copy()
        arr[sat] = level + sig0 * np.random.default_rng(0).standard_normal(int(sat.sum()))
    ny, nx = arr.shape
    p_bias = _bias_fraction(level, bias, rn, gain)

    # maps: blocks of fy x fx pixels (a frame smaller than 32 x 32 blocks repeats pixels)
    fy, fx = max(1, math.ceil(ny / MAP_SIZE)), max(1, math.ceil(nx / MAP_SIZE))
    a = _pad_to(arr, fy, fx)
    by, bx = a.shape[0] // fy, a.shape[1] // fx

    def blockwise(v: NDArray) -> NDArray:
        return v.reshape(by, fy, bx, fx).transpose(0, 2, 1, 3).reshape(by, bx, fy * fx)

    blocks = blockwise(a)
    med = np.median(blocks, axis=2)
    mad = _MAD * np.median(np.abs(blocks - med[..., None]), axis=2)
    exp_b = _expected(med, bias, rn, gain)
    at_bias = (np.abs(blocks - bias) < 3.0 * rn).mean(axis=2) - p_bias \
        if math.isfinite(bias) else np.zeros_like(med)
    dy = np.abs(np.diff(a, axis=0, append=a[-1:]))  # last row/column: a copy of the one before
    dx = np.abs(np.diff(a, axis=1, append=a[:, -1:]))
    dy[-1], dx[:, -1] = dy[-2], dx[:, -2]
    step = np.median(np.concatenate([blockwise(dy), blockwise(dx)], axis=2), axis=2) / _ADJ
    sat_b = blockwise(_pad_to(sat, fy, fx)).mean(axis=2)
    maps = np.stack([_asinh((med - level) / sig0), _log_ratio(mad, exp_b),
                     at_bias.astype(np.float32), _log_ratio(step, exp_b), sat_b])
    if by != MAP_SIZE or bx != MAP_SIZE:  # small frames: repeat to 32 x 32
        iy = np.minimum(np.arange(MAP_SIZE) * by // MAP_SIZE, by - 1)
        ix = np.minimum(np.arange(MAP_SIZE) * bx // MAP_SIZE, bx - 1)
        maps = maps[:, iy][:, :, ix]

    # profiles at native resolution (groups of rows/columns beyond 256)
    prof = []
    for axis in (1, 0):  # rows (median along x), then columns
        m = np.median(arr, axis=axis)
        s = _MAD * np.median(np.abs(arr - np.expand_dims(m, axis)), axis=axis)
        e = _expected(m, bias, rn, gain)
        dd = np.median(np.abs(np.diff(arr, axis=1 - axis)), axis=axis) / _ADJ
        dd = np.append(dd, dd[-1])
        prof.append((_asinh((m - level) / sig0), _log_ratio(s, e), _log_ratio(dd, e),
                     sat.mean(axis=axis)))
    rows, cols = prof
    profiles = np.stack([_group_reduce(v, PROFILE_SIZE)
                         for pair in zip(rows, cols) for v in pair])
    sky = (level - bias) / rn if math.isfinite(bias) and rn > 0 else 10.0
    scalars = np.array([math.asinh(sky), math.log10(max(sigma / sig0, 1e-3)),
                        float((np.abs(arr - bias) < 3.0 * rn).mean()) - p_bias
                        if math.isfinite(bias) else 0.0, spectral_peak(arr, sig0)], np.float32)
    return maps.astype(np.float32), profiles.astype(np.float32), scalars
