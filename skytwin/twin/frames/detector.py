"""The CCD: flat field, dark current, noise, saturation, bleeding and readout.

Units: signal in electrons (e-) until readout, then ADU; dark current in
e-/pixel/s; gain in e-/ADU; positions 0-based pixels.

Readout chain for an expected electron image ``S`` (sources + sky)::

    mu   = S * flat + dark * t              (hot pixels: dark x 500)
    e    = mu + sqrt(mu + RN^2) * N(0, 1)   (Poisson + read noise, Gaussian
                                             approximation; Poisson draw when
                                             the median mu < 20 e-)
    e   += cosmic rays                      (added by the renderer)
    e    = bleed(e, full_well)              (excess charge runs along columns)
    ADU  = min(e / gain + bias, saturation_adu)

The camera's fixed pattern (flat field: pixel response non-uniformity,
vignetting ``1 - v (r / r_corner)^2``, a few dust donuts; hot and dead
pixels) is seeded from (seed, telescope, instrument), so a camera keeps its
flat and its bad pixels from frame to frame and the calibration frames of
:mod:`skytwin.twin.frames.calibration` match the science frames.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from skytwin.twin.frames.request import RenderRequest

HOT_PIXEL_DARK_FACTOR = 500.0  # hot-pixel dark current / normal dark current
POISSON_BELOW_E = 20.0  # draw true Poisson noise when the median level is below this (e-)


def name_key(*names: str) -> int:
    """A stable 32-bit integer from names (for seeding; not Python's salted hash)."""
    return int.from_bytes(hashlib.blake2b("\x1f".join(names).encode(), digest_size=4).digest(),
                          "little")


@dataclass(frozen=True)
class CameraPattern:
    """A camera's fixed pattern: flat field (mean ~1), hot and dead pixel masks."""

    flat: NDArray[np.float32]
    hot: NDArray[np.bool_]
    dead: NDArray[np.bool_]


@functools.lru_cache(maxsize=8)
def _pattern(seed: int, telescope: str, instrument: str, nx: int, ny: int, prnu: float,
             vignetting: float, hot_fraction: float, dead_fraction: float) -> CameraPattern:
    rng = np.random.default_rng([seed, name_key("camera", telescope, instrument)])
    flat = np.ones((ny, nx), dtype=np.float32)
    if prnu > 0:
        flat += np.float32(prnu) * rng.standard_normal((ny, nx), dtype=np.float32)
    y = (np.arange(ny, dtype=np.float32) - (ny - 1) / 2)[:, None]
    x = (np.arange(nx, dtype=np.float32) - (nx - 1) / 2)[None, :]
    r2 = x * x + y * y
    if vignetting > 0:
        flat *= 1.0 - np.float32(vignetting) * r2 / np.float32(r2.max())
    if prnu > 0:  # dust donuts on the window: rings of 1-3% depth
        for _ in range(int(rng.integers(1, 5))):
            cx, cy = rng.uniform(0, nx), rng.uniform(0, ny)
            rad, width, depth = rng.uniform(6, 25), rng.uniform(2, 5), rng.uniform(0.01, 0.03)
            rr = np.sqrt((x + (nx - 1) / 2 - cx) ** 2 + (y + (ny - 1) / 2 - cy) ** 2)
            flat *= 1.0 - np.float32(depth) * np.exp(-0.5 * ((rr - rad) / width) ** 2)
    hot = rng.uniform(size=(ny, nx)) < hot_fraction if hot_fraction > 0 else \
        np.zeros((ny, nx), bool)
    dead = rng.uniform(size=(ny, nx)) < dead_fraction if dead_fraction > 0 else \
        np.zeros((ny, nx), bool)
    flat[dead] = 0.0
    for a in (flat, hot, dead):
        a.setflags(write=False)
    return CameraPattern(flat, hot, dead)


def camera_pattern(req: RenderRequest) -> CameraPattern:
    """The fixed pattern of the request's camera (cached; arrays are read-only)."""
    return _pattern(req.seed, req.telescope, req.instrument, req.nx, req.ny, req.flat_prnu,
                    req.vignetting, req.hot_pixel_fraction, req.dead_pixel_fraction)


def dark_map(req: RenderRequest, pattern: CameraPattern) -> NDArray[np.float32] | float:
    """Expected dark electrons per pixel (hot pixels included)."""
    d = req.dark_e_per_s * req.exptime_s
    if not pattern.hot.any():
        return d
    out = np.full((req.ny, req.nx), d, dtype=np.float32)
    out[pattern.hot] *= HOT_PIXEL_DARK_FACTOR
    return out


def add_noise(mu: NDArray[np.float32], read_noise_e: float, rng: np.random.Generator
              ) -> NDArray[np.float32]:
    """Electrons after photon and read noise (see the module docstring)."""
    if float(np.median(mu[::7, ::7])) < POISSON_BELOW_E:
        e = rng.poisson(np.maximum(mu, 0.0)).astype(np.float32)
        e += np.float32(read_noise_e) * rng.standard_normal(mu.shape, dtype=np.float32)
        return e
    z = rng.standard_normal(mu.shape, dtype=np.float32)
    var = np.maximum(mu, 0.0)
    var += np.float32(read_noise_e ** 2)
    np.sqrt(var, out=var)
    var *= z
    var += mu
    return var


def bleed(e: NDArray[np.float32], full_well: float) -> int:
    """Spread charge above ``full_well`` along columns, half up and half down (in place).

    Returns the number of saturated (full) pixels.
    """
    fw = np.float32(full_well)
    over = e > fw
    if not over.any():
        return 0
    ny = e.shape[0]
    for col in np.flatnonzero(over.any(axis=0)):
        c = e[:, col]
        rows = np.flatnonzero(c > fw)
        excess = float((c[rows] - fw).sum())
        c[rows] = fw
        lo, hi = int(rows.min()), int(rows.max())
        for direction, start in ((-1, lo - 1), (1, hi + 1)):
            left = 0.5 * excess
            i = start
            while left > 0 and 0 <= i < ny:
                room = float(fw - c[i])
                if room > 0:
                    take = min(room, left)
                    c[i] += take
                    left -= take
                i += direction
    return int((e >= fw).sum())


def readout(e: NDArray[np.float32], req: RenderRequest) -> NDArray[np.float32]:
    """Electrons to ADU: divide by the gain, add the bias, clip at the ADC ceiling (in place)."""
    e *= np.float32(1.0 / req.gain_e_per_adu)
    e += np.float32(req.bias_adu)
    np.clip(e, 0.0, req.saturation_adu, out=e)
    return e
