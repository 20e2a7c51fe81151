"""What the frame's reference stars say: the stacked PSF and the photometric transparency.

Units: pixel positions 0-based (x along columns); magnitudes in the frame's
band on the scale of the header's ``MAGZERO`` (e-/s of a magnitude-0 star);
FWHM arcsec; ellipticity ``1 - b/a``; transparency a fraction.

An astronomer judges seeing and clouds against a reference catalogue: a
real site matches its frames to Gaia, the twin hands over the stars it drew
(:meth:`ReferenceStars.from_truth`). From the brightest isolated,
unsaturated catalogue stars on the frame this module makes

Only stars the catalogue predicts at a signal-to-noise above :data:`MIN_SNR`
are used (the three brightest in any case).

* the **stacked PSF**: the pixel-wise median of background-subtracted
  stamps centred on the stars' catalogue positions, each divided by its
  catalogue flux (a neighbour, trail or halo in a few stamps drops out); GalSim's adaptive moments
  (:func:`galsim.hsm.FindAdaptiveMom`) and the half-maximum area give its
  FWHM and ellipticity, both measured on the stack band-limit interpolated
  to :data:`UPSAMPLE` times finer pixels: on the native grid a PSF under
  ~2 pixels FWHM (good seeing at most sites) makes HSM collapse ("object is too
  small") and quantises the half-maximum area; a broad stack (from
  :data:`PROFILE_FROM_PIXELS`) is also matched to a grid of seeing x defocus
  profiles (:mod:`skytwin.agents.quality.profile_grid`), whose FWHM the
  moments and the half-maximum area of a defocus doughnut fall short of;
* the **transparency** (:func:`catalogue_transparency`): the trimmed
  weighted mean over all the usable catalogue stars (not only the stacked ones) of
  the flux in an aperture of 2.5 stack FWHM (at least 4 pixels) at the
  catalogue position, above the frame's smooth background model (not the
  stamp's border, which holds a broad star's wings and whose noise summed
  over a large aperture outweighs a faint star's), divided by the
  flux the catalogue magnitude predicts, each star first divided by the
  frame's vignetting at its position (a ``a + b x + c y + d r^2`` fit to
  block medians of the background: the radial term is the flat field's
  fall-off, the plane the sky's gradient). The block medians leave out a
  disc around every catalogue source (:func:`source_discs`): in a crowded
  field of broad stars their light would lift the sky under each star, and
  over a large aperture take much of its flux. A background the model does
  not follow (a nebula) biases the stars on it; the trim leaves a few out.

The stacked stars are those nearest the frame centre (field curvature
broadens the outer ones; the frame's seeing is quoted on axis).

Frames without a catalogue (``stars=None``) fall back to local maxima of
the smoothed image for the stack (:func:`_star_like`: the isolated and most
compact of the brightest, as a satellite trail's ridge of maxima and a
galaxy's knots would otherwise fill the list) and report the transparency
as missing (NaN).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from skytwin.agents.preprocess import header_value, median, upsample
from skytwin.agents.quality import masks
from skytwin.agents.quality.profile_grid import HALF as PROFILE_HALF
from skytwin.agents.quality.profile_grid import profile_fwhm
from skytwin.twin.frames.psf import core_ellipticity

STAMP = PROFILE_HALF  # stack half-size (pixels): stamps are (2 * STAMP + 1) square
MAX_STARS = 32  # stars stacked and measured
PEAK_CANDIDATES = 3 * MAX_STARS  # local maxima judged star-like or not (without a catalogue)
ISOLATED_BORDER = 0.3  # a star's stamp border stays under this fraction of its peak
COMPACT_FRACTION = 0.8  # ... and its 3x3 / 7x7 concentration reaches this fraction of the
COMPACT_PERCENTILE = 90.0  # candidates' concentration at this percentile
ISOLATION_PIX = 8.0  # no brighter-than-(mag + ISOLATION_DMAG) neighbour this close
ISOLATION_DMAG = 3.0
SATURATION_FRACTION = 0.8  # a stamp whose peak is above this fraction of SATURATE is skipped
MIN_SNR = 15.0  # catalogue stars fainter than this (flux / noise in a 4-pixel aperture) are skipped
CATALOG_MAG_ERROR = 0.03  # scatter added to the twin's magnitudes: a Gaia-based catalogue's
BLEND_DMAG = 2.5  # a neighbour fainter than this (mag) adds under 10% to a star's aperture
TRIM = 0.1  # weight fraction cut from each end of the stars' flux ratios
PHOT_FLOOR = 0.03  # relative error added to each star's photometry: a Gaia-based catalogue's (3%)
UPSAMPLE = 3  # the stack is measured on pixels this many times finer (odd: keeps the centre)
# a stack whose moments or half-maximum FWHM reach this many pixels is also matched to the
# profile grid (the rule head uses the match from 4 pixels on: a margin for their shortfall)
PROFILE_FROM_PIXELS = 3.5
PROFILE_AGREEMENT = (0.75, 1.6)  # the match's FWHM over the larger of the stack's two, kept within
# the background model leaves out each catalogue source's light down to this many sigma of the
# pixel noise (a Gaussian of the stack's FWHM, the radius times DISC_WINGS for the PSF's wings,
# galaxies twice as wide), at most DISC_MAX_PIX from it
DISC_LEVEL, DISC_WINGS, DISC_MAX_PIX = 0.3, 1.3, 2 * STAMP
MIN_BLOCK_SKY = 0.25  # a background block with less of its pixels off the discs is not used


@dataclass(frozen=True)
class ReferenceStars:
    """Catalogue sources of a frame: pixel positions, band magnitudes, which are stars."""

    x: NDArray[np.float64]
    y: NDArray[np.float64]
    mag: NDArray[np.float64]
    is_star: NDArray[np.bool_] | None = None  # galaxies only count as neighbours (None: all stars)

    @classmethod
    def from_truth(cls, truth: NDArray, seed: int = 0) -> ReferenceStars:
        """The stars of a twin frame's TRUTH table, magnitudes scattered as a real catalogue's.

        Galaxies, transients, trails and cosmic rays are not catalogue stars;
        the scatter (:data:`CATALOG_MAG_ERROR`) is seeded by ``seed``.
        """
        t = np.asarray(truth)
        kind = t["kind"]
        # field by field: copying whole records (names, light curves) costs more than the rest
        keep = ((kind == "star") | (kind == "bright_star") | (kind == "galaxy")) \
            & np.isfinite(t["mag"])
        rng = np.random.default_rng([seed, 29])
        mag = np.asarray(t["mag"][keep], float)
        return cls(np.asarray(t["x"][keep], float), np.asarray(t["y"][keep], float),
                   mag + rng.normal(0.0, CATALOG_MAG_ERROR, mag.size), kind[keep] != "galaxy")

    def __len__(self) -> int:
        return int(self.x.size)


class PhotometryStars(NamedTuple):
    """The catalogue stars :func:`catalogue_transparency` measures, as cut out of the frame."""

    use: NDArray[np.intp]  # the unsaturated ones, indices into the arrays below
    stamps: NDArray[np.float64]  # background-subtracted, (n, 2 * STAMP + 1, 2 * STAMP + 1)
    border: NDArray[np.float64]  # the background each stamp had subtracted: its border's median
    ix: NDArray[np.intp]  # stamp centres (pixels)
    iy: NDArray[np.intp]
    fx: NDArray[np.float64]  # catalogue position minus stamp centre (pixels)
    fy: NDArray[np.float64]
    expected: NDArray[np.float64]  # flux the catalogue predicts (ADU)
    mags: NDArray[np.float64]  # catalogue magnitudes
    catalogue: ReferenceStars  # every source, for the blend test and the background's discs
    adu_mag0: float  # ADU of a magnitude-0 source on the frame (NaN without a zero point)


@dataclass(frozen=True)
class StarMeasurement:
    """What :func:`measure_stars` returns."""

    stack: NDArray[np.float32]  # (2 * STAMP + 1) square, peak-normalised stacked PSF
    fwhm_arcsec: float  # NaN when the moments failed
    ellipticity: float  # NaN when the moments failed
    transparency: float  # NaN without a catalogue or usable star
    n_stars: int
    halfmax_arcsec: float  # diameter of the stack's area above half its peak (NaN: no stack)
    snr: float  # peak over the noise of the stack's border
    # FWHM of the grid profile matching a broad stack (NaN on a stack under
    # PROFILE_FROM_PIXELS; skytwin.agents.quality.profile_grid)
    profile_fwhm_arcsec: float = math.nan


class SourceDiscs(NamedTuple):
    """Discs around catalogue sources (pixels), whose light the background model leaves out."""

    x: NDArray[np.float64]
    y: NDArray[np.float64]
    radius: NDArray[np.float64]


def source_discs(stars: ReferenceStars, adu_mag0: float, fwhm_px: float, sigma: float
                 ) -> SourceDiscs:
    """Where each catalogue source's predicted light is above :data:`DISC_LEVEL` sigma.

    ``adu_mag0``: ADU of a magnitude-0 source on the frame; ``fwhm_px``: the
    stack's FWHM; ``sigma``: the pixel noise (ADU). A Gaussian of peak ``p``
    and width ``s`` falls to a level ``L`` at ``s sqrt(2 ln(p / L))``; the
    predicted flux ignores clouds, so a clouded frame's discs are a little
    too large (sky left out, no bias). Sources that nowhere reach the level
    get no disc.
    """
    s = max(fwhm_px, 1.0) / 2.3548 * np.where(stars.is_star, 1.0, 2.0) \
        if stars.is_star is not None else np.full(len(stars), max(fwhm_px, 1.0) / 2.3548)
    peak = adu_mag0 * 10.0 ** (-0.4 * stars.mag) / (2.0 * math.pi * s ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = DISC_WINGS * s * np.sqrt(2.0 * np.log(peak / (DISC_LEVEL * max(sigma, 1e-12))))
    on = np.isfinite(r) & (r > 0)
    return SourceDiscs(stars.x[on], stars.y[on], np.minimum(r[on], DISC_MAX_PIX))


def _disc_mask(discs: SourceDiscs, step: int, ny: int, nx: int) -> NDArray[np.bool_]:
    """``(ny, nx)`` mask of the subsample ``arr[::step, ::step]``: True within a disc.

    A disc under half a subsample pixel in radius holds at most its nearest
    pixel, tested alone (most discs of a large frame, whose subsample steps
    are long); each larger disc marks the pixels of its bounding box within
    its radius, in one vectorised pass over discs x offsets of the largest
    box. The mask is padded by two boxes so that no index needs a bounds check.
    """
    cx, cy, r = discs.x / step, discs.y / step, discs.radius / step  # in subsample pixels
    on = (cx > -r - 0.5) & (cx < nx - 0.5 + r) & (cy > -r - 0.5) & (cy < ny - 0.5 + r)
    cx, cy, r = cx[on], cy[on], r[on]
    x0, y0 = np.rint(cx), np.rint(cy)  # each disc's nearest subsample pixel: within 1/2 of it
    small = r < 0.5
    big = np.flatnonzero(~small)
    # a big disc's centre pixel lies up to ``half`` off the frame and its box ``half`` further
    half = int(math.ceil(float(r[big].max()) + 0.5)) if big.size else 1
    pad = 2 * half
    width = nx + 2 * pad
    mask = np.zeros((ny + 2 * pad) * width, bool)
    hit = small & ((x0 - cx) ** 2 + (y0 - cy) ** 2 <= r ** 2)
    mask[(y0[hit].astype(np.intp) + pad) * width + x0[hit].astype(np.intp) + pad] = True
    if big.size:
        off = np.arange(-half, half + 1, dtype=np.float32)
        dx2 = (off + (x0[big] - cx[big]).astype(np.float32)[:, None]) ** 2
        dy2 = (off + (y0[big] - cy[big]).astype(np.float32)[:, None]) ** 2
        k, oy, ox = np.nonzero(dy2[:, :, None] + dx2[:, None, :]
                               <= (r[big] ** 2).astype(np.float32)[:, None, None])
        mask[(y0[big].astype(np.intp)[k] + oy + (pad - half)) * width
             + x0[big].astype(np.intp)[k] + ox + (pad - half)] = True
    return mask.reshape(ny + 2 * pad, width)[pad:pad + ny, pad:pad + nx]


def _block_medians_off_discs(pixels: NDArray, lit: NDArray[np.bool_], n_lit: NDArray[np.intp]
                             ) -> NDArray[np.float32]:
    """Median of each row of ``pixels`` over its entries not ``lit`` (``n_lit`` of them lit).

    :func:`~skytwin.agents.preprocess.nanmedian_last` with the counts known:
    the lit entries become NaN, which the sort puts last, and each row's
    middle is read off directly (a row all lit gives NaN). A NaN pixel off
    the discs makes its row NaN, as :func:`~skytwin.agents.preprocess.median`
    makes the rows of the fit without discs.
    """
    srt = pixels.astype(np.float32)  # a copy, for the NaN
    nan_off_discs = np.isnan(srt).any(axis=1)
    srt[lit] = np.nan
    srt.sort(axis=1)
    n = srt.shape[1] - n_lit
    rows = np.arange(srt.shape[0])
    lo = srt[rows, np.maximum((n - 1) // 2, 0)]
    hi = srt[rows, np.maximum(n // 2, 0)]
    med = np.where(n % 2 == 1, lo, (lo + hi) / np.float32(2))
    med[(n == 0) | nan_off_discs] = np.nan
    return med


def background_model(arr: NDArray[np.float32], block: int = 8,
                     sources: SourceDiscs | None = None
                     ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Coefficients ``(a, b, c, d)`` of ``a + b x + c y + d r^2`` fitted to block medians.

    ``x, y`` are in units of the half-width and half-height from the frame
    centre and ``r^2 = x^2 + y^2`` (so ``d / a`` is the flat's fall-off at the
    edge midpoints). Returns the coefficients and the block centres' x, y.
    ``sources``: discs of the catalogue's light (:func:`source_discs`) left
    out of the block medians; a block less than :data:`MIN_BLOCK_SKY` sky
    counts for nothing, and where fewer than 8 blocks are left the discs are
    ignored.
    """
    ny, nx = arr.shape
    # a strided subsample of at most ~128 x 128 pixels: the sky varies slowly, and the
    # per-block medians stay cheap on any frame size; the stride keeps a block's height (or
    # width) on a narrow frame, and a frame narrower than a block gets blocks its own size
    step = max(1, min(max(ny, nx) // 128, min(ny, nx) // block))
    sub = arr[::step, ::step]
    sy, sx = sub.shape
    hy, hx = min(block, sy), min(block, sx)
    by, bx = sy // hy, sx // hx
    cut = sub[:by * hy, :bx * hx].reshape(by, hy, bx, hx)
    pixels = cut.transpose(0, 2, 1, 3).reshape(by * bx, hy * hx)
    med = None
    if sources is not None and len(sources.x):
        lit = _disc_mask(sources, step, by * hy, bx * hx)
        lit = lit.reshape(by, hy, bx, hx).transpose(0, 2, 1, 3).reshape(by * bx, hy * hx)
        n_lit = np.count_nonzero(lit, axis=1)
        sky = n_lit <= (1.0 - MIN_BLOCK_SKY) * hy * hx
        if np.count_nonzero(sky) >= 8:
            med = _block_medians_off_discs(pixels, lit, n_lit)
            med[~sky] = np.nan
    if med is None:
        med = median(pixels, axis=1)
    med = med.astype(np.float64)
    yy, xx = np.mgrid[0:by, 0:bx]
    # a block's subsampled pixels lie at full-frame pixels (block * i + 0 .. block - 1) * step:
    # its centre, in the pixel-index coordinates the stars' positions use
    xc = ((xx.ravel() * hx + (hx - 1) / 2) * step - nx / 2) / (nx / 2)
    yc = ((yy.ravel() * hy + (hy - 1) / 2) * step - ny / 2) / (ny / 2)
    design = np.stack([np.ones_like(xc), xc, yc, xc ** 2 + yc ** 2], axis=1)
    keep = np.isfinite(med)
    if not keep.any():  # NaN pixels in every block: nothing measured
        return np.full(4, np.nan), xc, yc
    coef = np.array([float(median(med[keep])), 0.0, 0.0, 0.0])
    for _ in range(2):  # one refit without the blocks a star or trail lifts
        if keep.sum() < 8:
            break
        # blocks in one column (or row) only (a narrow frame, or discs over the others): no
        # slope across it to fit, where lstsq would split the level between it and the
        # constant; the zeroed column gets a zero coefficient, so the sky does not tilt
        spread = np.array([1.0, np.ptp(xc[keep]) > 0, np.ptp(yc[keep]) > 0, 1.0])
        coef = np.linalg.lstsq(design[keep] * spread, med[keep], rcond=None)[0]
        resid = med - design @ coef
        mad = 1.4826 * median(np.abs(resid[keep])) + 1e-6
        keep = np.abs(resid) < 3.0 * mad  # NaN (a block all source) compares False
    return coef, xc, yc


def _fourier_shift(stamps: NDArray[np.float64], fx: NDArray, fy: NDArray
                   ) -> NDArray[np.float64]:
    """Stamps resampled at ``(x + fx, y + fy)`` by a phase ramp in Fourier space.

    A Fourier shift neither blurs (bilinear interpolation would add up to a
    quarter pixel^2 of variance and dilute the ellipticity) nor loses flux;
    every stamp moves by its own sub-pixel offset (``|fx|, |fy| <= 0.5``).
    The stamps are background-subtracted, so the wrap-around at the border is
    harmless.

    The phase ramp is separable, so the shift is one along y and one along x,
    each a circulant matrix (:func:`_shift_matrices`): two small batched
    matrix products cost less than the FFTs of 33-pixel stamps (33 = 3 x 11).
    They run in float32, the image's own precision (a few 1e-7 of a stamp's
    peak), in half the time of float64.
    """
    n = len(stamps)
    m = _shift_matrices(np.concatenate([np.asarray(fy, float), np.asarray(fx, float)]),
                        stamps.shape[-1]).astype(np.float32)  # square stamps: one build for both
    # the transposed x matrices made contiguous: a strided operand slows the batched product
    out = m[:n] @ stamps.astype(np.float32) @ np.ascontiguousarray(m[n:].transpose(0, 2, 1))
    return out.astype(np.float64)


def _shift_matrices(f: NDArray[np.float64], n: int) -> NDArray[np.float64]:
    """Matrices ``(len(f), n, n)``: ``(M @ v)[j]`` is ``v`` band-limited interpolated at ``j + f``.

    For odd ``n`` the inverse DFT of the ramp ``exp(2 pi i f k)`` over the
    frequencies ``k = -(n-1)/2 .. (n-1)/2`` is the periodic sinc
    ``D(t) = sin(pi t) / (n sin(pi t / n))`` at ``t = j - l + f``, and
    ``sin(pi (d + f)) = (-1)^d sin(pi f)`` for whole ``d``; ``f = 0`` is the
    identity.
    """
    d = np.arange(-(n - 1), n)
    sin_f = np.sin(np.pi * f)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        kernel = np.where(d % 2 == 0, sin_f, -sin_f) / (n * np.sin(np.pi * (d + f[:, None]) / n))
    kernel[sin_f[:, 0] == 0] = d % n == 0
    j = np.arange(n)
    return kernel[:, j[:, None] - j[None, :] + (n - 1)]


def half_max_diameter(stack: NDArray, closing: int = 1) -> float:
    """Diameter (pixels) of a disc with the area inside the stack's outer half-maximum contour.

    The area is counted with linear interpolation between neighbouring pixel
    values, so a barely resolved star is not quantised to whole pixels; only
    the region joined to the peak counts (noise elsewhere does not), and a
    defocus doughnut's central dip counts in, as in the twin's truth FWHM
    (:func:`skytwin.twin.frames.psf.half_max_area_diameter`).
    """
    peak = float(stack.max())
    if not peak > 0:
        return math.nan
    # everything below happens within ``2 * closing + 2`` pixels of the pixels above half the
    # peak: cropped there (or to the stack's edge, which the morphology sees the same way)
    # the result is the same, on a fraction of the pixels
    z = stack / peak
    ys, xs = np.nonzero(z > 0.5)
    pad = 2 * closing + 2
    z = z[max(ys.min() - pad, 0):ys.max() + pad + 1, max(xs.min() - pad, 0):xs.max() + pad + 1]
    # fraction of each pixel above 0.5, treating the pixel value as the mean of a linear ramp
    frac = np.clip((z - 0.5) / 0.5 + 0.5, 0.0, 1.0)
    # a closing joins a noisy doughnut's ring, broken where noise dips below half the peak
    joined = masks.close(z > 0.5, closing)
    labels, _ = ndimage.label(joined)
    core = (labels == labels[np.unravel_index(int(np.argmax(z)), z.shape)]) & (z > 0.5)
    filled = masks.fill_holes(masks.close(core, closing))
    rim = masks.dilate(filled) & ~filled & (z >= 0.25)
    area = float(filled.sum()) - float((1.0 - frac[core]).sum()) + float(frac[rim].sum())
    return 2.0 * math.sqrt(max(area, 0.0) / math.pi)


def broad_stack_fwhm(stack: NDArray, sizes: tuple[float, ...], scale: float) -> float:
    """The profile grid's FWHM (arcsec) of a broad stack; NaN for a narrow one or no match.

    A broad stack is also matched to the profile grid, whose FWHM its moments
    and half-maximum contour fall short of (:mod:`skytwin.agents.quality.profile_grid`).
    ``sizes``: the stack's own FWHMs (arcsec; NaN where not measured); it is
    broad when the larger reaches :data:`PROFILE_FROM_PIXELS`. A match whose
    FWHM is not within :data:`PROFILE_AGREEMENT` of that larger one is no
    match: on seed 11 the good ones lie at 0.92-1.41 of it, and one at 6.6
    had matched a saturated star's halo in a stack of two stars.
    """
    known = [v for v in sizes if math.isfinite(v)]
    if not known or max(known) / scale < PROFILE_FROM_PIXELS:
        return math.nan
    profile = profile_fwhm(stack) * scale
    if not PROFILE_AGREEMENT[0] <= profile / max(known) <= PROFILE_AGREEMENT[1]:
        return math.nan
    return profile


def snr_stack(stack: NDArray) -> float:
    """Peak of the stack over the robust noise of its border pixels."""
    b = np.concatenate([stack[0], stack[-1], stack[1:-1, 0], stack[1:-1, -1]])
    noise = 1.4826 * float(median(np.abs(b - median(b)))) + 1e-12
    return float(stack.max()) / noise


def weighted_median(values: NDArray, weights: NDArray) -> float:
    """The value where the cumulative weight (in value order) first reaches half the total."""
    order = np.argsort(values)
    c = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(c, 0.5 * c[-1])])


def trimmed_mean(values: NDArray, weights: NDArray, trim: float = TRIM) -> float:
    """Weighted mean of the values left when ``trim`` of the weight is cut from each end.

    The label's transparency is the mean over a patchy sky, which a median
    misses; the trim keeps a few blended or variable stars out.
    """
    order = np.argsort(values)
    v, w = values[order], weights[order] / weights.sum()
    upper = np.cumsum(w)
    keep = (upper >= trim) & (upper - w <= 1.0 - trim)
    if not keep.any():
        return weighted_median(values, weights)
    return float((v[keep] * w[keep]).sum() / w[keep].sum())


def _peaks(arr: NDArray[np.float32], level: float, sigma: float, n: int,
           too_bright: float) -> tuple[NDArray, NDArray]:
    """The ``n`` brightest local maxima of the smoothed image, each under ``too_bright`` ADU
    (fallback without a catalogue)."""
    sm = ndimage.gaussian_filter(arr, 1.5)
    peak = (sm == ndimage.maximum_filter(sm, size=2 * int(ISOLATION_PIX) + 1)) & \
        (sm > level + 5.0 * sigma / 3.0) & (arr < too_bright)
    peak[[0, -1], :] = peak[:, [0, -1]] = False
    ys, xs = np.nonzero(peak)
    # a star spreads over its neighbours; a hot pixel or cosmic-ray hit does not
    above = arr - np.float32(level)
    centre = above[ys, xs]
    neigh = 0.25 * (above[ys - 1, xs] + above[ys + 1, xs] + above[ys, xs - 1] + above[ys, xs + 1])
    keep = neigh > 0.25 * centre
    ys, xs = ys[keep], xs[keep]
    order = np.argsort(sm[ys, xs])[::-1][:n]
    return xs[order].astype(float), ys[order].astype(float)


def _star_like(stamps: NDArray[np.float64]) -> NDArray[np.intp]:
    """Indices of the background-subtracted peak ``stamps`` that look like stars.

    Without a catalogue the brightest maxima of a frame include pieces of
    satellite trails (a trail is a ridge of maxima, one per isolation
    length, brighter than most stars) and knots of a galaxy's arms. A star
    is isolated (its stamp's border stays under :data:`ISOLATED_BORDER` of
    its peak: a trail crosses the border, an arm fills it) and the most
    compact source of the frame (its 3 x 3 over 7 x 7 flux reaches
    :data:`COMPACT_FRACTION` of the candidates' at
    :data:`COMPACT_PERCENTILE`). Either test is skipped where it would
    leave no candidate (none isolated) or fewer than three (compact).
    On 400 frames of seed 11 that did not choose the thresholds, stacked
    without their catalogue, the stack FWHM's robust scatter about the truth
    went 4.1% -> 2.6% and the frames more than 20% off 12.9% -> 5.2% (mostly
    defocus doughnuts, whose FWHM the profile grid gives); on the real M51
    frame of ``shared/realdata`` 4.7 -> 2.6 pixels (Moffat fits to its
    isolated stars: 2.4).
    """
    c = STAMP
    idx = np.arange(len(stamps))
    border = np.concatenate([stamps[:, 0], stamps[:, -1], stamps[:, 1:-1, 0],
                             stamps[:, 1:-1, -1]], axis=1)
    isolated = np.flatnonzero(border.max(axis=1) < ISOLATED_BORDER * stamps[:, c, c])
    if isolated.size:
        idx = isolated
    core = stamps[idx, c - 1:c + 2, c - 1:c + 2].sum(axis=(1, 2))
    box = stamps[idx, c - 3:c + 4, c - 3:c + 4].sum(axis=(1, 2))
    conc = np.where(box > 0, core / np.maximum(box, 1e-30), 0.0)
    compact = np.flatnonzero(conc >= COMPACT_FRACTION * np.percentile(conc, COMPACT_PERCENTILE))
    return idx[compact] if compact.size >= 3 else idx


def _stamps(arr: NDArray[np.float32], ix: NDArray[np.intp], iy: NDArray[np.intp]
            ) -> NDArray[np.float64]:
    """The ``(2 * STAMP + 1)``-square float64 stamps of ``arr`` centred on pixels ``(ix, iy)``.

    Cut as windows of a strided view: a gather of whole rows, not of single pixels.
    """
    size = 2 * STAMP + 1
    windows = np.lib.stride_tricks.sliding_window_view(arr, (size, size))
    return windows[iy - STAMP, ix - STAMP].astype(np.float64)


def _select(stars: ReferenceStars, nx: int, ny: int) -> NDArray[np.intp]:
    """Indices of the brightest isolated catalogue stars well inside the frame."""
    star = np.ones(len(stars), bool) if stars.is_star is None else stars.is_star
    inside = np.flatnonzero(star & (stars.x >= STAMP) & (stars.x < nx - 1 - STAMP)
                            & (stars.y >= STAMP) & (stars.y < ny - 1 - STAMP))
    order = inside[np.argsort(stars.mag[inside])][:4 * MAX_STARS]
    if order.size == 0:
        return order
    # only sources bright enough to spoil a candidate can be its neighbours
    near = np.flatnonzero(stars.mag < stars.mag[order].max() + ISOLATION_DMAG)
    cand, d2, j = _pairs_within(stars.x[order], stars.y[order], stars, near, ISOLATION_PIX)
    i = order[cand]
    close = (d2 < ISOLATION_PIX ** 2) & (stars.mag[j] < stars.mag[i] + ISOLATION_DMAG) & (i != j)
    crowded = np.zeros(order.size, bool)
    crowded[cand[close]] = True
    return order[~crowded]


def _pairs_within(px: NDArray, py: NDArray, stars: ReferenceStars, near: NDArray[np.intp],
                  radius: float) -> tuple[NDArray[np.intp], NDArray, NDArray[np.intp]]:
    """Pairs of points ``(px, py)`` and catalogue sources ``near`` that may lie within ``radius``.

    Returns the point index, the squared distance and the source index of
    each pair whose x differ by at most ``radius + 1``, found in the sources
    sorted by x (a 1024² frame holds a thousand of them), so callers apply
    their exact tests to these pairs only, not to every point x every source.
    """
    near = near[np.argsort(stars.x[near], kind="stable")]
    xn = stars.x[near]
    lo = np.searchsorted(xn, px - (radius + 1.0), "left")
    hi = np.searchsorted(xn, px + (radius + 1.0), "right")
    count = hi - lo
    i = np.repeat(np.arange(len(px)), count)
    first = np.repeat(lo - (np.cumsum(count) - count), count)
    j = near[np.arange(i.size) + first]
    d2 = (px[i] - stars.x[j]) ** 2 + (py[i] - stars.y[j]) ** 2
    return i, d2, j


def catalogue_transparency(arr: NDArray[np.float32], phot: PhotometryStars, rad: float,
                           sigma: float, gain: float, header: Mapping[str, Any] | None,
                           fwhm_px: float | None = None) -> float:
    """Measured over predicted flux of the catalogue stars, their trimmed weighted mean.

    ``phot``: the stars and their stamps (:class:`PhotometryStars`). A star with a catalogue
    neighbour less than :data:`BLEND_DMAG` fainter within reach of its
    aperture is left out.
    Every usable star counts, not only the PSF stars: clouds are patchy, and
    the label's transparency is the mean over the frame. Each star's flux in
    a circular aperture of radius ``rad`` pixels at its catalogue position,
    above the frame's background model there (:func:`background_model`), is
    divided by the vignetting there; its weight is the inverse of its
    relative variance (sky and read noise over the aperture, the star's
    shot noise) plus :data:`PHOT_FLOOR` squared, so that no few bright
    stars stand for the whole frame. The background model leaves out the
    light of every catalogue source (:func:`source_discs`, for a PSF of
    ``fwhm_px`` pixels; None: ``rad / 2.5``): where broad stars crowd the
    frame their light would lift the sky under each star.
    """
    use, stamps, border, ix, iy, fx, fy, expected, mags, stars, adu_mag0 = phot
    # no catalogue source that could add a tenth of the star's flux within reach of the aperture
    reach = rad + 4.0
    near = np.flatnonzero(stars.mag < mags[use].max() + BLEND_DMAG)
    i, d2, j = _pairs_within(ix[use] + fx[use], iy[use] + fy[use], stars, near, reach)
    close = (d2 < reach ** 2) & (d2 > 1e-6) & (stars.mag[j] < mags[use[i]] + BLEND_DMAG)
    blended = np.zeros(use.size, bool)
    blended[i[close]] = True
    use = use[~blended]
    if use.size == 0:
        return math.nan
    ny, nx = arr.shape
    # the aperture lies within rad + 1/2 pixels of the stamp centre (|fx|, |fy| <= 1/2)
    w = min(STAMP, int(rad + 0.5))
    off = np.arange(-w, w + 1, dtype=np.float64)
    dy = off[None, :, None] - fy[use, None, None]
    dx = off[None, None, :] - fx[use, None, None]
    aperture = dx ** 2 + dy ** 2 <= rad ** 2
    core = stamps[use, STAMP - w:STAMP + w + 1, STAMP - w:STAMP + w + 1]
    discs = source_discs(stars, adu_mag0, rad / 2.5 if fwhm_px is None else fwhm_px, sigma)
    coef, _, _ = background_model(arr, sources=discs)
    xr = (ix[use] + fx[use] - nx / 2) / (nx / 2)
    yr = (iy[use] + fy[use] - ny / 2) / (ny / 2)
    # the background under each star from the frame's smooth model, not the stamp's border:
    # the border of a 33-pixel stamp holds a broad star's wings, and its median's noise, summed
    # over an aperture of hundreds of pixels, outweighs a faint star's own (a 24% smaller
    # scatter of the transparency on the twin's frames with under 30 stars, 9% on all)
    sky = coef[0] + coef[1] * xr + coef[2] * yr + coef[3] * (xr ** 2 + yr ** 2)
    n_ap = aperture.sum(axis=(1, 2))
    flux = np.where(aperture, core, 0.0).sum(axis=(1, 2)) + n_ap * (border[use] - sky)
    flat = 1.0 + coef[3] / max(coef[0] - header_value(header, "BIASLEV", 0.0), 1e-6) \
        * (xr ** 2 + yr ** 2)
    f_exp = np.maximum(expected[use], 1e-12)
    ratio = flux / np.maximum(flat, 0.2) / f_exp
    rel_var = (n_ap * sigma ** 2 + f_exp / gain) / f_exp ** 2
    weight = 1.0 / (rel_var + PHOT_FLOOR ** 2)
    return trimmed_mean(ratio, weight)


def measure_stars(arr: NDArray[np.float32], level: float, sigma: float,
                  header: Mapping[str, Any] | None = None,
                  stars: ReferenceStars | None = None) -> StarMeasurement:
    """Stacked PSF, its FWHM and ellipticity, and the transparency (see the module docstring).

    ``arr`` is a finite 2-D image in ADU; ``level`` and ``sigma`` its
    background and noise (:func:`skytwin.agents.preprocess.robust_stats`).
    """
    import galsim  # the adaptive-moments code lives in GalSim's HSM module

    ny, nx = arr.shape
    size = 2 * STAMP + 1
    scale = header_value(header, "PIXSCALE", 1.0)
    saturate = header_value(header, "SATURATE", math.nan)
    # a star whose peak reaches this is left out as (possibly) saturated; without SATURATE, one
    # that stands SATURATION_FRACTION of the frame's maximum above the background: a plate or a
    # non-linear detector saturates softly (read_calibration gives a hard clip's level)
    too_bright = SATURATION_FRACTION * saturate if not math.isnan(saturate) \
        else level + SATURATION_FRACTION * (float(arr.max()) - level)
    gain = max(header_value(header, "GAIN", 1.0), 1e-6)
    expected_adu = None
    if stars is not None and len(stars):
        idx = _select(stars, nx, ny)
        xs, ys = stars.x[idx], stars.y[idx]
        zp = header_value(header, "MAGZERO", math.nan) * header_value(header, "EXPTIME", math.nan) / gain
        expected_adu = zp * 10.0 ** (-0.4 * stars.mag[idx])
    elif min(nx, ny) > size:
        xs, ys = _peaks(arr, level, sigma, PEAK_CANDIDATES, too_bright)
    else:
        xs = ys = np.zeros(0)
    ix, iy = np.rint(xs).astype(np.intp), np.rint(ys).astype(np.intp)
    ok = (ix >= STAMP) & (ix < nx - STAMP) & (iy >= STAMP) & (iy < ny - STAMP)
    ix, iy = ix[ok], iy[ok]
    if expected_adu is not None:
        expected_adu = expected_adu[ok]
    stack = np.zeros((size, size), np.float64)
    if ix.size == 0:
        return StarMeasurement(stack.astype(np.float32), math.nan, math.nan, math.nan, 0,
                               math.nan, 0.0)
    stamps = _stamps(arr, ix, iy)
    border = np.concatenate([stamps[:, 0], stamps[:, -1], stamps[:, 1:-1, 0],
                             stamps[:, 1:-1, -1]], axis=1)
    border_level = median(border, axis=1)
    stamps -= border_level[:, None, None]
    unsat = arr[iy, ix] < too_bright
    unsat &= stamps.max(axis=(1, 2)) + level < too_bright
    phot = None
    if expected_adu is not None:
        fx_all, fy_all = xs[ok] - ix, ys[ok] - iy  # sub-pixel offsets of the catalogue positions
        phot = PhotometryStars(np.flatnonzero(unsat), stamps, border_level, ix, iy, fx_all, fy_all,
                               expected_adu, stars.mag[idx][ok], stars, zp)
        # stars the catalogue says are bright enough to measure (the 3 brightest in any case)
        snr = expected_adu / (sigma * 4.0 * math.sqrt(math.pi))
        if np.isfinite(snr).all():  # without MAGZERO / EXPTIME the catalogue gives no flux
            unsat &= (snr > MIN_SNR) | (np.arange(unsat.size) < 3)
    use = np.flatnonzero(unsat)
    if expected_adu is not None:
        # the stars nearest the centre (see the module docstring)
        use = use[np.argsort(np.hypot(ix[use] - nx / 2, iy[use] - ny / 2), kind="stable")]
    elif use.size:
        use = use[_star_like(stamps[use])]  # still brightest first
    use = use[:MAX_STARS]
    stamps, ix, iy = stamps[use], ix[use], iy[use]
    if expected_adu is not None:
        expected_adu = expected_adu[use]
    n = len(stamps)
    if n == 0:
        return StarMeasurement(stack.astype(np.float32), math.nan, math.nan, math.nan, 0,
                               math.nan, 0.0)
    # the median of flux-normalised stamps: a galaxy, trail or halo in a few stamps drops out;
    # each stamp weighs its catalogue flux, or its own central flux where there is none
    weight = np.maximum(stamps[:, STAMP - 1:STAMP + 2, STAMP - 1:STAMP + 2].sum(axis=(1, 2)),
                        1e-12)
    if phot is not None:
        if np.isfinite(expected_adu).all():
            weight = np.maximum(expected_adu, 1e-12)
        # centre each stamp on its catalogue position
        stamps = _fourier_shift(stamps, phot.fx[use], phot.fy[use])
    stack = median(stamps / weight[:, None, None], axis=0)
    fwhm, ell = math.nan, math.nan
    fine = upsample(stack, UPSAMPLE)
    hm_fine = half_max_diameter(fine, closing=UPSAMPLE)
    halfmax = hm_fine * scale / UPSAMPLE
    # start HSM at the half-maximum size: from its default guess it fails to converge on
    # long tracking trails ("too many iterations")
    guess = hm_fine / 2.3548 if math.isfinite(hm_fine) and hm_fine > 1 else 5.0
    mom = galsim.hsm.FindAdaptiveMom(galsim.Image(fine), strict=False, guess_sig=guess)
    if mom.moments_status == 0 and mom.moments_sigma > 0:
        fwhm = 2.3548 * mom.moments_sigma * scale / UPSAMPLE
        g = min(abs(mom.observed_shape.g), 0.999)
        ell = 1.0 - (1.0 - g) / (1.0 + g)
    elif math.isfinite(halfmax):  # HSM failed (a noisy stack of few stars): the area's values
        fwhm, ell = halfmax, core_ellipticity(fine)
    profile = broad_stack_fwhm(stack, (fwhm, halfmax), scale)
    trans = math.nan
    if phot is not None and np.isfinite(phot.expected).all():
        rad = max(4.0, 2.5 * fwhm / scale) if math.isfinite(fwhm) else 8.0
        trans = catalogue_transparency(arr, phot, min(rad, float(STAMP)), sigma, gain, header,
                                       fwhm / scale if math.isfinite(fwhm) else None)
    peak = stack.max()
    norm = (stack / peak if peak > 0 else stack).astype(np.float32)
    return StarMeasurement(norm, fwhm, ell, trans, n, halfmax, snr_stack(stack), profile)
