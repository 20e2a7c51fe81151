"""Shared helpers for the frames tests: a fixed field and a grid of isolated stars."""

from __future__ import annotations

import numpy as np

from skytwin.twin.frames.catalog import SkyCatalog
from skytwin.twin.frames.request import RenderRequest
from skytwin.twin.frames.wcs import pixel_to_sky

# M51's field, a fixed real pointing at high Galactic latitude
RA, DEC = 202.4696, 47.1952


def small_request(**changes) -> RenderRequest:
    """A 256x256 frame with clean detector defects off unless asked for."""
    base = dict(ra_deg=RA, dec_deg=DEC, nx=256, ny=256, seed=7, telescope="tel-a",
                site="teide", date_obs="2025-03-01T22:00:00", hot_pixel_fraction=0.0,
                dead_pixel_fraction=0.0, cosmic_ray_rate=0.0)
    base.update(changes)
    return RenderRequest(**base)


def star_grid(req: RenderRequest, n: int = 5, mag: float = 15.0, margin: float = 30.0
              ) -> tuple[SkyCatalog, np.ndarray, np.ndarray]:
    """``n x n`` stars of one magnitude on a grid with irregular sub-pixel phases."""
    g = np.linspace(margin, req.nx - 1 - margin, n)
    x, y = np.meshgrid(g, g)
    k = np.arange(n * n)
    x = x.ravel() + (0.37 * k) % 1.0
    y = y.ravel() + (0.71 * k) % 1.0
    ra, dec = pixel_to_sky(x, y, req.ra_deg, req.dec_deg, req.pixel_scale_arcsec,
                           req.rotation_deg, req.nx, req.ny)
    nan = np.full(x.size, np.nan)
    cat = SkyCatalog(np.zeros(x.size, np.int8), ra, dec, np.full(x.size, mag), nan, nan, nan,
                     nan)
    return cat, x, y
