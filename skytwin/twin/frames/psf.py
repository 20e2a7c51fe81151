"""The point-spread function of one frame, drawn once with GalSim.

Model (angles in arcsec, profiles normalised to unit flux)::

    PSF = Kolmogorov(seeing) * Gaussian(optics) * TopHat(defocus disc)
          sheared to axis ratio 1 - ellipticity   (tracking error, wind shake)
          * line of length trail                  (tracking drift)

``*`` is convolution. The atmospheric part is a Kolmogorov profile with the
FWHM the twin gives for the frame's airmass and band; the optics add a small
Gaussian; defocus is the pupil image, a uniform disc; elongation is an
area-preserving shear; trailing is a line of delta functions.

The renderer never draws the profile per object. :func:`build_psf` draws the
pixel-convolved PSF once on a grid ``oversample`` times finer than the
detector and cuts it into ``(K+1)^2`` sub-pixel phases; a point source at a
fractional position is the bilinear blend of the four neighbouring phases
(exact in flux and centroid). A second, pixel-free kernel at detector
sampling convolves galaxies that were already integrated over pixels.

Field variation (``field_curvature``): the PSF is dilated by
``1 + field_curvature * (r / r_corner)^2``; the renderer draws it in a few
radial zones and each source takes its zone's PSF.

Truth values: ``fwhm_arcsec`` is the FWHM of the PSF as it lands on the
pixels (pixel response included), measured on the oversampled image as the
diameter of the circle with the area inside its half-maximum contour (a
defocus doughnut's central dip counted in); this is what an image
measurement should recover. For a round PSF it is the radial FWHM; for an
elongated or trailed one it is the geometric mean of the axes' widths
(GalSim's ``calculateFWHM`` assumes a round profile and returns NaN or the
narrowest width there). ``ellipticity`` is 1 - b/a from
its adaptive moments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import galsim
import numpy as np
from numpy.typing import NDArray

from scipy import ndimage

from skytwin.twin.frames.request import RenderRequest

OVERSAMPLE = 8  # sub-pixel phases per pixel in each axis
MIN_STAMP = 16  # smallest PSF stamp side, pixels


def psf_profile(req: RenderRequest, dilation: float = 1.0) -> galsim.GSObject:
    """The GalSim profile of the PSF (unit flux, arcsec units), without pixel."""
    parts: list[galsim.GSObject] = [galsim.Kolmogorov(fwhm=req.seeing_arcsec)]
    if req.optics_fwhm_arcsec > 0:
        parts.append(galsim.Gaussian(fwhm=req.optics_fwhm_arcsec))
    if req.defocus_arcsec > 0:
        parts.append(galsim.TopHat(radius=0.5 * req.defocus_arcsec))
    prof: galsim.GSObject = galsim.Convolve(parts) if len(parts) > 1 else parts[0]
    if req.ellipticity > 0:
        prof = prof.shear(q=1.0 - req.ellipticity, beta=req.ellipticity_pa_deg * galsim.degrees)
    if req.trail_arcsec > 0:
        n = max(2, int(math.ceil(req.trail_arcsec / (0.25 * req.pixel_scale_arcsec))) + 1)
        c, s = math.cos(math.radians(req.trail_pa_deg)), math.sin(math.radians(req.trail_pa_deg))
        offs = np.linspace(-0.5, 0.5, n) * req.trail_arcsec
        line = galsim.Sum([galsim.DeltaFunction(flux=1.0 / n).shift(o * c, o * s) for o in offs])
        prof = galsim.Convolve(prof, line)
    if dilation != 1.0:
        prof = prof.dilate(dilation)
    return prof


def half_max_area_diameter(image: NDArray, scale: float) -> float:
    """Diameter (units of ``scale``) of the circle with the area inside the half-maximum contour.

    Holes in the region above half the peak (the dip of a defocus doughnut)
    are filled, so the contour is the outer one.
    """
    arr = np.asarray(image, np.float64)
    inside = ndimage.binary_fill_holes(arr > 0.5 * arr.max())
    return 2.0 * math.sqrt(float(inside.sum()) / math.pi) * scale


def nominal_fwhm_arcsec(req: RenderRequest) -> float:
    """Quadrature estimate of the delivered FWHM (arcsec, no pixel, no trail)."""
    return math.sqrt(req.seeing_arcsec ** 2 + req.optics_fwhm_arcsec ** 2
                     + (0.85 * req.defocus_arcsec) ** 2)


@dataclass(frozen=True)
class PSFModel:
    """A PSF drawn for one frame (or one field zone).

    Attributes
    ----------
    profile
        GalSim profile without the pixel (arcsec units, unit flux).
    phases
        ``(K+1, K+1, S, S)`` float32 stamps of the pixel-convolved PSF shifted
        by ``(jy/K, jx/K)`` pixels; each sums to 1.
    kernel
        ``(S, S)`` float32 pixel-free PSF sampled at pixel centres, sums to 1.
    stamp
        Stamp side ``S`` in pixels (even); the PSF centre sits at index ``S//2``.
    fwhm_arcsec
        FWHM of the pixel-convolved PSF (arcsec).
    ellipticity
        1 - b/a of the pixel-convolved PSF.
    enclosed
        Fraction of the profile's flux inside the stamp before renormalising.
    """

    profile: galsim.GSObject
    phases: NDArray[np.float32]
    kernel: NDArray[np.float32]
    stamp: int
    fwhm_arcsec: float
    ellipticity: float
    enclosed: float

    @property
    def oversample(self) -> int:
        return self.phases.shape[0] - 1


def stamp_size(req: RenderRequest, dilation: float = 1.0) -> int:
    """Side of the PSF stamp in pixels: about 8 FWHM plus the trail, even."""
    fwhm_pix = dilation * nominal_fwhm_arcsec(req) / req.pixel_scale_arcsec
    extent = 8.0 * fwhm_pix + (req.trail_arcsec + req.defocus_arcsec) / req.pixel_scale_arcsec
    s = max(MIN_STAMP, int(math.ceil(extent)))
    return s + (s % 2)


def build_psf(req: RenderRequest, dilation: float = 1.0, oversample: int = OVERSAMPLE) -> PSFModel:
    """Draw the frame's PSF once and cut it into sub-pixel phases."""
    k = oversample
    s = stamp_size(req, dilation)
    scale = req.pixel_scale_arcsec
    prof = psf_profile(req, dilation)
    n = k * (s + 2) + 1  # odd: the profile centre falls on index n // 2
    eff = galsim.Convolve(prof, galsim.Pixel(scale))
    big = eff.drawImage(nx=n, ny=n, scale=scale / k, method="no_pixel")
    arr = big.array.astype(np.float64) * (k * k)  # per native pixel area
    # phase j: stamp pixel m samples index k + k*m - j (see module docstring)
    phases = np.empty((k + 1, k + 1, s, s), dtype=np.float32)
    enclosed = 0.0
    for jy in range(k + 1):
        rows = arr[k - jy: k - jy + k * s: k]
        for jx in range(k + 1):
            st = rows[:, k - jx: k - jx + k * s: k]
            tot = st.sum()
            if jy == 0 and jx == 0:
                enclosed = float(tot)
            phases[jy, jx] = st / tot
    raw = prof.drawImage(nx=s + 1, ny=s + 1, scale=scale, method="no_pixel").array
    kernel = raw[:s, :s].astype(np.float64)  # centre at index s//2 (odd image, centre s//2)
    kernel = (kernel / kernel.sum()).astype(np.float32)
    fwhm = half_max_area_diameter(big.array, scale / k)
    try:
        # started at the half-maximum size: from its default guess HSM fails to converge on a
        # trailed PSF ("too many iterations"), a quarter of the tracking-drift frames
        mom = galsim.hsm.FindAdaptiveMom(big, guess_sig=fwhm / (scale / k) / 2.3548)
        ell = 1.0 - float(mom.observed_shape.q)
    except galsim.GalSimError:  # still no convergence: the core's unweighted moments
        ell = core_ellipticity(big.array)
    return PSFModel(prof, phases, kernel, s, fwhm, max(ell, 0.0), enclosed)


def core_ellipticity(image: NDArray, floor: float = 0.1) -> float:
    """``1 - b/a`` from the unweighted second moments of the core (above ``floor`` x peak).

    The fallback where adaptive moments fail; only the region joined to the
    peak counts.
    """
    z = np.asarray(image, np.float64)
    z = z / float(z.max())
    labels, _ = ndimage.label(z > floor)
    w = np.where(labels == labels[np.unravel_index(int(np.argmax(z)), z.shape)], z, 0.0)
    yy, xx = np.indices(z.shape)
    t = float(w.sum())
    cx, cy = float((w * xx).sum()) / t, float((w * yy).sum()) / t
    ixx = float((w * (xx - cx) ** 2).sum()) / t
    iyy = float((w * (yy - cy) ** 2).sum()) / t
    ixy = float((w * (xx - cx) * (yy - cy)).sum()) / t
    e = min(math.hypot(ixx - iyy, 2.0 * ixy) / max(ixx + iyy, 1e-12), 0.999)  # distortion
    return 1.0 - math.sqrt((1.0 - e) / (1.0 + e))


def point_stamps(psf: PSFModel, fx: NDArray[np.float64], fy: NDArray[np.float64]
                 ) -> NDArray[np.float32]:
    """Unit-flux stamps ``(N, S, S)`` for sources at fractional offsets ``fx, fy`` in [0, 1)."""
    k = psf.oversample
    ux, uy = fx * k, fy * k
    jx, jy = np.floor(ux).astype(np.intp), np.floor(uy).astype(np.intp)
    jx, jy = np.clip(jx, 0, k - 1), np.clip(jy, 0, k - 1)
    wx = (ux - jx).astype(np.float32)[:, None, None]
    wy = (uy - jy).astype(np.float32)[:, None, None]
    p = psf.phases
    return ((1 - wy) * ((1 - wx) * p[jy, jx] + wx * p[jy, jx + 1])
            + wy * ((1 - wx) * p[jy + 1, jx] + wx * p[jy + 1, jx + 1]))
