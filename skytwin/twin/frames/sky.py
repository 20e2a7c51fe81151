"""Sky background, cloud transmission and diffuse light on a frame.

Units: sky levels in electrons per pixel per exposure; transmission a
fraction; positions 0-based pixels.

* Background: the twin gives the sky brightness (Moon phase and separation,
  twilight, light pollution) as mag/arcsec^2 or e-/pixel; here it becomes a
  plane with a peak-to-peak fractional ``sky_gradient`` rising along
  ``sky_gradient_pa_deg`` (the Moon or the twilight glow off one side).
* Clouds: the mean ``transparency`` times a smooth random screen with
  fractional rms ``cloud_patchiness`` (Gaussian noise on an 8x8 grid,
  smoothed, bicubically interpolated: patches a few arcmin across) times a
  linear ``cloud_gradient`` (a cloud edge), clipped to [0, 1]. Sources are
  dimmed by the screen at their position; the sky glow is not (cloud light is
  scattered sky light, so the twin's sky value already includes it).
* Haze (dew or ice on the optics): a fraction ``haze`` of every source's light
  is moved into a wide halo (Gaussian, FWHM 40 pixels).
* Nebula: diffuse emission, a sum of a few Gaussian blobs with a peak surface
  brightness ``nebula_mag_arcsec2``, tied to the field like the catalogue.
* Bright star: a star of ``bright_star_mag`` near the field adds its core (if
  inside) and a wide scattered-light halo, ``(1 + (r / 30 px)^2)^-1.5`` holding 2% of its flux.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from skytwin.twin.frames.request import RenderRequest

CLOUD_GRID = 8  # control points of the cloud screen per frame side
HAZE_FWHM_PIX = 40.0  # halo FWHM of dew/ice scattering, pixels
HALO_CORE_PIX = 30.0  # core radius of a bright star's scattered-light halo, pixels
HALO_FRACTION = 0.02  # fraction of a bright star's light in the wide halo


def _plane(nx: int, ny: int, pa_deg: float) -> NDArray[np.float32]:
    """Linear ramp from -0.5 to +0.5 across the frame along ``pa_deg``."""
    c, s = math.cos(math.radians(pa_deg)), math.sin(math.radians(pa_deg))
    x = (np.arange(nx, dtype=np.float32) - (nx - 1) / 2) / max(nx - 1, 1)
    y = (np.arange(ny, dtype=np.float32) - (ny - 1) / 2) / max(ny - 1, 1)
    span = abs(c) + abs(s)
    return (y[:, None] * s + x[None, :] * c) / np.float32(span)


def sky_map(req: RenderRequest) -> NDArray[np.float32] | float:
    """Expected sky electrons per pixel: a scalar when flat, else a ``(ny, nx)`` map."""
    level = req.sky_level_e
    if req.sky_gradient <= 0:
        return level
    return np.float32(level) * (1.0 + np.float32(req.sky_gradient) * _plane(req.nx, req.ny,
                                                                            req.sky_gradient_pa_deg))


class CloudScreen:
    """Cloud transmission across the frame (fraction), evaluated where needed."""

    def __init__(self, req: RenderRequest, rng: np.random.Generator) -> None:
        self.req = req
        self.mean = req.transparency
        g = CLOUD_GRID
        if req.cloud_patchiness > 0:
            noise = ndimage.gaussian_filter(rng.standard_normal((g + 4, g + 4)), 1.0)
            noise = noise[2:-2, 2:-2]
            noise = (noise - noise.mean()) / max(noise.std(), 1e-12)
            self._grid = noise * req.cloud_patchiness
        else:
            self._grid = None
        self._pa = rng.uniform(0.0, 360.0)

    def __call__(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
        """Transmission at 0-based pixel positions ``x, y``."""
        req = self.req
        t = np.full(np.shape(x), self.mean, dtype=float)
        if self._grid is not None:
            g = CLOUD_GRID
            gx = np.asarray(x) / max(req.nx - 1, 1) * (g - 1)
            gy = np.asarray(y) / max(req.ny - 1, 1) * (g - 1)
            t = t * (1.0 + ndimage.map_coordinates(self._grid, [gy, gx], order=3, mode="nearest"))
        if req.cloud_gradient > 0:
            c, s = math.cos(math.radians(self._pa)), math.sin(math.radians(self._pa))
            u = ((np.asarray(x) / max(req.nx - 1, 1) - 0.5) * c
                 + (np.asarray(y) / max(req.ny - 1, 1) - 0.5) * s) / (abs(c) + abs(s))
            t = t * (1.0 + req.cloud_gradient * u)
        return np.clip(t, 0.0, 1.0)

    def map(self, step: int = 16) -> NDArray[np.float64]:
        """The screen sampled every ``step`` pixels (for truth and plots)."""
        y, x = np.mgrid[0:self.req.ny:step, 0:self.req.nx:step].astype(float)
        return self(x, y)


def add_haze(image: NDArray[np.float32], haze: float) -> None:
    """Move a fraction ``haze`` of the source light in ``image`` into a wide halo (in place)."""
    if haze <= 0:
        return
    f = 4  # work on a 4x binned image: the halo is smooth
    ny, nx = image.shape
    py, px = (-ny) % f, (-nx) % f
    padded = np.pad(image, ((0, py), (0, px)))
    small = padded.reshape(padded.shape[0] // f, f, padded.shape[1] // f, f).sum(axis=(1, 3))
    sigma = HAZE_FWHM_PIX / 2.3548 / f
    halo = ndimage.gaussian_filter(small, sigma, mode="constant") / (f * f)
    up = np.repeat(np.repeat(halo, f, axis=0), f, axis=1)[:ny, :nx]
    image *= np.float32(1.0 - haze)
    image += np.float32(haze) * up.astype(np.float32)


def nebula_map(req: RenderRequest, rng: np.random.Generator) -> NDArray[np.float32]:
    """Diffuse emission in electrons per pixel (a few Gaussian blobs)."""
    peak_e = (req.zeropoint_e_per_s * 10.0 ** (-0.4 * req.nebula_mag_arcsec2)
              * req.pixel_scale_arcsec ** 2 * req.exptime_s)
    y = np.arange(req.ny, dtype=np.float32)[:, None]
    x = np.arange(req.nx, dtype=np.float32)[None, :]
    out = np.zeros((req.ny, req.nx), dtype=np.float32)
    size = max(req.nx, req.ny)
    for _ in range(int(rng.integers(2, 6))):
        cx, cy = rng.uniform(-0.2, 1.2) * req.nx, rng.uniform(-0.2, 1.2) * req.ny
        sx, sy = rng.uniform(0.1, 0.5, 2) * size
        amp = rng.uniform(0.3, 1.0)
        out += np.float32(amp) * (np.exp(-0.5 * ((x - cx) / sx) ** 2)
                                  * np.exp(-0.5 * ((y - cy) / sy) ** 2))
    return out * np.float32(peak_e / max(float(out.max()), 1e-12))


def bright_star_halo(req: RenderRequest, x0: float, y0: float, flux_e: float
                     ) -> NDArray[np.float32]:
    """Scattered-light halo (electrons per pixel) of a bright star at ``(x0, y0)``."""
    y = np.arange(req.ny, dtype=np.float32)[:, None] - np.float32(y0)
    x = np.arange(req.nx, dtype=np.float32)[None, :] - np.float32(x0)
    r2 = (x * x + y * y) / np.float32(HALO_CORE_PIX ** 2)
    # (1 + r^2/a^2)^-1.5 integrates to 2 pi a^2 over the plane
    norm = HALO_FRACTION * flux_e / (2 * math.pi * HALO_CORE_PIX ** 2)
    return (np.float32(norm) * (1.0 + r2) ** np.float32(-1.5)).astype(np.float32)
