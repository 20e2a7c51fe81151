"""Cosmic rays and satellite and aircraft trails.

Units: rates per cm^2 per second (cosmic rays) and per deg^2 per hour
(trails); deposits in electrons; positions 0-based pixels.

* Cosmic rays: ``Poisson(rate * detector_area_cm2 * exptime_s)`` hits, so longer
  exposures get more. Each is a straight track of ``1 + Exp(3)`` pixels at a
  random angle depositing ``U(500, 6000)`` electrons in total (no PSF: they
  hit the detector directly).
* Satellite trails: ``Poisson(satellite_rate * frame_area_deg2 * exptime_h)``
  lines across the frame with a Gaussian cross-section of the PSF's width;
  a satellite of magnitude ``U(4, 8)`` crossing at ``U(0.3, 1) deg/s`` leaves
  ``zp 10**(-0.4 m) / speed`` electrons per arcsec of trail.
* Aircraft: ``Poisson(aircraft_rate * ...)`` pairs of parallel wing-light
  trails 6 pixels apart, 3 mag brighter, blinking with a 50% duty cycle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from skytwin.twin.frames.request import RenderRequest


@dataclass(frozen=True, slots=True)
class Trail:
    """A straight feature on the frame (cosmic ray, satellite or aircraft)."""

    kind: str
    x0: float
    y0: float
    x1: float
    y1: float
    electrons: float
    """Total electrons (cosmic ray) or electrons per pixel of length (trails)."""


def cosmic_rays(req: RenderRequest, rng: np.random.Generator, e: NDArray[np.float32]
                ) -> list[Trail]:
    """Add cosmic-ray tracks to the electron image ``e`` (in place); return them."""
    area_cm2 = req.nx * req.ny * (req.pixel_size_um * 1e-4) ** 2
    n = int(rng.poisson(req.cosmic_ray_rate * area_cm2 * req.exptime_s))
    out = []
    for _ in range(n):
        x0, y0 = rng.uniform(0, req.nx - 1), rng.uniform(0, req.ny - 1)
        length = 1.0 + rng.exponential(3.0)
        th = rng.uniform(0, 2 * math.pi)
        x1, y1 = x0 + length * math.cos(th), y0 + length * math.sin(th)
        total = rng.uniform(500.0, 6000.0)
        k = max(2, int(math.ceil(length * 2)))
        xs = np.clip(np.rint(np.linspace(x0, x1, k)).astype(int), 0, req.nx - 1)
        ys = np.clip(np.rint(np.linspace(y0, y1, k)).astype(int), 0, req.ny - 1)
        np.add.at(e, (ys, xs), np.float32(total / k))
        out.append(Trail("cosmic_ray", x0, y0, x1, y1, total))
    return out


def _line(req: RenderRequest, rng: np.random.Generator) -> tuple[float, float, float, float]:
    """A random line through the frame: a point inside and a direction."""
    return (rng.uniform(0, req.nx - 1), rng.uniform(0, req.ny - 1),
            rng.uniform(0, math.pi), 0.0)


def _draw_line(img: NDArray[np.float32], xc: float, yc: float, th: float, per_pix: float,
               sigma_pix: float, blink_period_pix: float = 0.0) -> tuple[float, float, float,
                                                                         float]:
    ny, nx = img.shape
    c, s = math.cos(th), math.sin(th)
    y = np.arange(ny, dtype=np.float32)[:, None] - np.float32(yc)
    x = np.arange(nx, dtype=np.float32)[None, :] - np.float32(xc)
    d = x * np.float32(-s) + y * np.float32(c)  # distance across the line
    prof = np.exp(np.float32(-0.5 / sigma_pix ** 2) * d * d)
    prof *= np.float32(per_pix / (math.sqrt(2 * math.pi) * sigma_pix))
    if blink_period_pix > 0:
        along = x * np.float32(c) + y * np.float32(s)
        prof *= (np.mod(along, np.float32(blink_period_pix)) < 0.5 * blink_period_pix)
    img += prof
    big = float(nx + ny)
    return xc - big * c, yc - big * s, xc + big * c, yc + big * s


def sky_trails(req: RenderRequest, rng: np.random.Generator, img: NDArray[np.float32],
               sigma_pix: float) -> list[Trail]:
    """Add satellite and aircraft trails to the expected-electron image (in place)."""
    area_deg2 = req.nx * req.ny * (req.pixel_scale_arcsec / 3600.0) ** 2
    hours = req.exptime_s / 3600.0
    out: list[Trail] = []
    for kind, rate in (("satellite", req.satellite_rate), ("aircraft", req.aircraft_rate)):
        n = int(rng.poisson(rate * area_deg2 * hours)) if rate > 0 else 0
        for _ in range(n):
            xc, yc, th, _ = _line(req, rng)
            mag = rng.uniform(4.0, 8.0) - (3.0 if kind == "aircraft" else 0.0)
            speed = rng.uniform(0.3, 1.0) * 3600.0  # arcsec/s
            per_pix = (req.zeropoint_e_per_s * req.transparency * 10 ** (-0.4 * mag) / speed
                       * req.pixel_scale_arcsec)
            if kind == "aircraft":
                for off in (-3.0, 3.0):
                    ends = _draw_line(img, xc - off * math.sin(th), yc + off * math.cos(th), th,
                                      per_pix, sigma_pix, blink_period_pix=40.0)
            else:
                ends = _draw_line(img, xc, yc, th, per_pix, sigma_pix)
            out.append(Trail(kind, *ends, per_pix))
    return out
