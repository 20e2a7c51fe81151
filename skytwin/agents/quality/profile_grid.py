"""The FWHM of a broad PSF stack, by matching it to a grid of seeing x defocus profiles.

Units: pixels throughout (the grid is drawn on the detector's pixels, so one
grid serves every pixel scale).

Why: on a PSF of more than ~4 pixels (a defocused telescope, or bad seeing on
fine pixels) the stack's adaptive moments fall 10-25% short of its
half-maximum diameter (a defocus doughnut's light sits in its ring), and the
stack's own half-maximum contour shrinks under the noise of a doughnut's flat
top (its maximum is a noise peak). The quality network, starting from those
two, estimated such FWHMs 2-7% low, more than 5% off on a fifth to three
quarters of them (1400 frames of seed 11, by size). A least-squares match of the whole stack against
pixel-convolved Kolmogorov x top-hat profiles uses every pixel, and the
matched profile's half-maximum diameter is the twin's own definition of the
FWHM (:func:`skytwin.twin.frames.psf.half_max_area_diameter`): there it is
1.3% high with a 2% scatter. The rule head takes it in place of the
network's estimate on such PSFs (:func:`skytwin.agents.quality.rule_head.broad_psf_estimate`).

GalSim draws the profiles, but drawing a profile per trial of an optimiser
costs milliseconds; a fixed grid, drawn once, turns the fit into one matrix
product (0.1 ms), which is why this module is written here rather than as a
``scipy.optimize`` fit. The grid (:data:`SEEING_PX` x :data:`DEFOCUS_PX`,
stamps of the stack's size) is drawn by ``python -m
skytwin.agents.quality.profile_grid`` (about 35 s) and shipped with the
weights; the profiles are symmetric under the square's eight symmetries, so
only one octant of each is stored.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from skytwin.agents.checkpoint import weights_path

GRID_FILE = "psf_profile_grid.npz"
HALF = 16  # the stamps' half-size: the quality stack's (skytwin.agents.quality.stars.STAMP)
SEEING_PX = np.exp(np.linspace(math.log(0.7), math.log(18.0), 60))  # Kolmogorov FWHMs
DEFOCUS_PX = np.linspace(0.0, 26.0, 27)  # top-hat diameters (0: none)
FIT_RADIUS = 16.0  # pixels of the stack within this radius of its centre are matched
_DRAW_OVERSAMPLE = 8  # the half-maximum diameter is measured on pixels this many times finer


def _octant_index(half: int = HALF) -> NDArray[np.intp]:
    """``(2 half + 1)^2`` indices into the stored octant of each pixel of a stamp."""
    off = np.abs(np.arange(-half, half + 1))
    hi = np.maximum(off[:, None], off[None, :])
    lo = np.minimum(off[:, None], off[None, :])
    return hi * (hi + 1) // 2 + lo  # (hi, lo) with lo <= hi, numbered row by row


def draw_profile(seeing_px: float, defocus_px: float) -> tuple[NDArray[np.float64], float]:
    """One profile of the grid: its ``(2 HALF + 1)``-square stamp (unit flux) and FWHM (pixels).

    A Kolmogorov profile of FWHM ``seeing_px`` convolved with a top-hat of
    diameter ``defocus_px`` (none at 0) and the pixel, drawn with GalSim; the
    FWHM is the half-maximum area diameter on pixels :data:`_DRAW_OVERSAMPLE`
    times finer, as the twin measures its truth.
    """
    import galsim

    from skytwin.twin.frames.psf import half_max_area_diameter

    size = 2 * HALF + 1
    gsp = galsim.GSParams(maximum_fft_size=16384)
    prof = galsim.Kolmogorov(fwhm=seeing_px, gsparams=gsp)
    if defocus_px > 0:
        prof = galsim.Convolve(prof, galsim.TopHat(radius=defocus_px / 2, gsparams=gsp))
    eff = galsim.Convolve(prof, galsim.Pixel(1.0), gsparams=gsp)
    stamp = eff.drawImage(nx=size, ny=size, scale=1.0, method="no_pixel").array
    k = _DRAW_OVERSAMPLE
    n = k * (size + 2) + 1
    fine = eff.drawImage(nx=n, ny=n, scale=1.0 / k, method="no_pixel").array
    return stamp.astype(np.float64), half_max_area_diameter(fine, 1.0 / k)


def draw_grid() -> dict[str, NDArray]:
    """Draw every profile of the grid: octants ``(S, D, K)`` and FWHMs ``(S, D)`` (pixels)."""
    n_oct = (HALF + 1) * (HALF + 2) // 2
    index = _octant_index().ravel()
    count = np.bincount(index, None, n_oct)
    octants = np.zeros((SEEING_PX.size, DEFOCUS_PX.size, n_oct), np.float32)
    fwhm = np.zeros((SEEING_PX.size, DEFOCUS_PX.size))
    for i, seeing in enumerate(SEEING_PX):
        for j, diameter in enumerate(DEFOCUS_PX):
            stamp, fwhm[i, j] = draw_profile(float(seeing), float(diameter))
            # each octant value: the mean of its (up to eight) symmetric copies
            octants[i, j] = np.bincount(index, stamp.ravel(), n_oct) / count
    return {"seeing_px": SEEING_PX, "defocus_px": DEFOCUS_PX, "octants": octants,
            "fwhm_px": fwhm, "half": np.array(HALF)}


class ProfileGrid(NamedTuple):
    """The grid's profiles over the fitted pixels, folded to octants, and their FWHMs.

    The profiles are the same on the (up to eight) pixels of an octant
    value, so a profile's product with a stack is that of its octant values
    with the stack's sums over each octant's pixels: 120 terms instead of
    797, the same number up to rounding.
    """

    log_seeing: NDArray[np.float64]  # (S,)
    profiles: NDArray[np.float64]  # (S, D, K): each profile's octant values within the window
    norm2: NDArray[np.float64]  # (S, D): each profile's sum of squares over the window's pixels
    fwhm_px: NDArray[np.float64]  # (S, D): each profile's half-maximum diameter
    window: NDArray[np.bool_]  # (2 HALF + 1)^2: the pixels matched
    octant: NDArray[np.intp]  # the octant (0..K-1) of each pixel of the window


@lru_cache(maxsize=1)
def load_grid(path: str | None = None) -> ProfileGrid:
    """The shipped grid (or the one at ``path``), folded to the window's octants once per process."""
    with np.load(Path(path) if path else weights_path(GRID_FILE)) as z:
        octants, fwhm, half = z["octants"].astype(np.float64), z["fwhm_px"], int(z["half"])
        log_seeing = np.log(z["seeing_px"])
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1]
    window = (xx ** 2 + yy ** 2 <= FIT_RADIUS ** 2).ravel()
    used, octant = np.unique(_octant_index(half).ravel()[window], return_inverse=True)
    count = np.bincount(octant).astype(np.float64)  # each octant value's pixels in the window
    profiles = octants[:, :, used]
    return ProfileGrid(log_seeing, profiles, (profiles ** 2 * count).sum(-1), fwhm, window,
                       octant)


def _vertex(c0: float, c1: float, c2: float) -> float:
    """Offset (in steps, within +-1) of the minimum of the parabola through three values.

    0 when a neighbour is no match (an infinite misfit): no parabola passes through it.
    """
    if not (math.isfinite(c0) and math.isfinite(c2)):
        return 0.0
    den = c0 - 2.0 * c1 + c2
    return float(np.clip(0.5 * (c0 - c2) / den, -1.0, 1.0)) if den > 0 else 0.0


def profile_fwhm(stack: NDArray) -> float:
    """FWHM (pixels) of the grid profile that best matches ``stack`` (least squares, free scale).

    ``stack``: a ``(2 HALF + 1)``-square, background-subtracted PSF stack
    centred on its middle pixel. The best grid point is refined by a
    parabola through its neighbours' misfits along each axis, and the FWHM
    interpolated there. NaN when the stack is not of the grid's size or has
    no positive match.
    """
    g = load_grid()
    d = np.asarray(stack, np.float64).ravel()
    if d.size != g.window.size or not np.isfinite(d).all():
        return math.nan
    d = np.bincount(g.octant, d[g.window], g.profiles.shape[-1])  # the stack's octant sums
    dot = g.profiles @ d
    # the misfit at each profile's best amplitude, less the constant sum of d^2; a negative
    # amplitude (an upside-down profile) is no match
    chi = np.where(dot > 0, -dot ** 2 / g.norm2, np.inf)
    i, j = np.unravel_index(int(np.argmin(chi)), chi.shape)
    if not np.isfinite(chi[i, j]):
        return math.nan
    n_s, n_d = chi.shape
    di = _vertex(*chi[i - 1:i + 2, j]) if 0 < i < n_s - 1 else 0.0
    x = g.log_seeing[i] + di * (g.log_seeing[1] - g.log_seeing[0])
    f = float(np.interp(x, g.log_seeing, g.fwhm_px[:, j]))
    if 0 < j < n_d - 1:
        jj = j + _vertex(*chi[i, j - 1:j + 2])
        j0 = int(math.floor(jj))
        w = jj - j0
        f = (1.0 - w) * float(np.interp(x, g.log_seeing, g.fwhm_px[:, j0])) \
            + w * float(np.interp(x, g.log_seeing, g.fwhm_px[:, min(j0 + 1, n_d - 1)]))
    return f


def main() -> None:
    """Draw the grid and write it beside the shipped weights."""
    import time

    t0 = time.perf_counter()
    grid = draw_grid()
    out = weights_path(GRID_FILE)
    np.savez_compressed(out, **grid)
    print(f"{out}: {grid['octants'].shape[0]} x {grid['octants'].shape[1]} profiles "
          f"in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
