"""PSF-matched image subtraction (Alard & Lupton 1998) and reference stacking.

Units: images in ADU (any linear unit, the same for science and reference);
FWHM and kernel sizes in pixels. Both images must already lie on the same
pixel grid (the twin's repeat visits of a field do; real frames need
resampling by their WCS first, which this module does not do).

Method (Alard & Lupton 1998, "A method for optimal image subtraction"):

* each image's background is its median; noise its MAD-based sigma;
* the sharper image (smaller FWHM, from half-maximum areas of bright stars
  of the reference, each counted on a 3x band-limited upsampling so that
  undersampled stars are not quantised to whole pixels, measured at the
  same stars in the science frame) is
  convolved to match the other with a kernel ``K = sum_i c_i B_i``, where
  ``B_i = x^p y^q exp(-(x^2 + y^2) / (2 s^2))`` for three widths ``s`` (0.5,
  1 and 2 times the matching width ``sqrt(s_blur^2 - s_sharp^2)``, at least
  0.5 pixel) and polynomial degrees 4, 3, 2 (31 basis functions; 2, 1, 0
  and 10 functions with under 15 stamps), plus a differential background
  constant; a science frame whose FWHM cannot be measured is taken as no
  sharper than the reference;
* the coefficients are a least-squares fit over stamps around up to 40
  bright, unsaturated, isolated stars; stamps whose residual is an outlier
  (over 3 robust sigmas) are dropped and the fit is repeated once;
* where a fitted kernel's kept stamps hold under three stars (a sparse field: the rest
  are hot pixels, which both images share), its flux scale is checked against the
  reference's sources over 8 sigma, faint stars and galaxies included: the median of
  their 7 x 7 box-sum ratios, blurred image over convolved sharp one, rescales it. The
  hot pixels give the exposure times' ratio and clouds only dim the science (the
  reference stacks clear frames), so the sources may only lower a convolved reference's
  scale or raise a convolved science's;
* the kernel is spatially constant; it is applied to the whole image by FFT;
  the difference is NaN within the kernel's half-width of the frame's edge
  (and of NaN pixels), where the convolution would need pixels beyond them.
  ``D = science - K * reference`` (or ``K * science - reference`` when the
  science image is the sharper one), so a brightening is positive either way
  and its flux is in the blurrier image's photometric scale.

Alard-Lupton was chosen over ZOGY because it needs no PSF model of either
image, fits the photometric scaling and the background difference by
itself, and its one FFT convolution keeps a 1024 x 1024 frame well under the
edge computer's time budget; its difference noise is not whitened (ZOGY's
would be), so detection thresholds use the difference's own robust noise,
raised where the reference has sources (see
:func:`skytwin.agents.detection.candidates.noise_ratio_map`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.fft
import torch
from numpy.typing import NDArray
from scipy import ndimage

from skytwin.agents.preprocess import robust_stats, saturation_level, upsample
from skytwin.errors import SkytwinError

BASIS_DEGREES = (4, 3, 2)  # polynomial degree per Gaussian width
# with fewer stamps than FEW_STAMPS, lower degrees (10 terms, not 31): a fit of 31 terms on
# three to a dozen faint stars follows their noise (one sparse field's kernel summed to 0.08)
FEW_STAMPS = 15
FEW_DEGREES = (2, 1, 0)
BASIS_WIDTHS = (0.5, 1.0, 2.0)  # times the matching width
MAX_STAMPS = 40
MIN_KERNEL_STAMPS = 3  # with fewer stamps the kernel is a plain blur of the matching width


class SubtractionError(SkytwinError):
    """Science and reference that cannot be subtracted (shapes differ, no usable pixel)."""


@dataclass
class Subtraction:
    """The result of :func:`subtract` (images in the science's ADU scale)."""

    difference: NDArray[np.float32]
    noise: float  # robust sigma of the difference (ADU)
    kernel: NDArray[np.float32]
    convolved: str  # "reference" or "science": which image was convolved
    fwhm_science: float  # pixels
    fwhm_reference: float  # pixels
    n_stamps: int
    science_level: float
    reference_level: float
    # the reference's sources on the difference's flux scale and PSF (background 0):
    # where subtraction residuals and source noise can arise (candidates.noise_ratio_map)
    template: NDArray[np.float32]
    # stamps of the fit that are stars (:func:`star_shaped`); the rest are hot pixels,
    # which science and reference share, or cosmic rays of a sharper science frame: in a
    # sparse field they can outnumber the stars and then set the kernel's shape and scale
    n_star_stamps: int = 0


STAR_SIDE = 0.1  # a star's four neighbours of its peak each hold more than this of it


def star_shaped(image: NDArray, ys: NDArray, xs: NDArray) -> NDArray[np.bool_]:
    """Whether the peaks ``(ys, xs)`` (not on the edge) have light on all four sides.

    The test of :func:`star_peaks`: a single-pixel peak (a hot pixel, which a stack keeps,
    or a cosmic-ray hit) fails it.
    """
    ys, xs = np.asarray(ys, np.intp), np.asarray(xs, np.intp)
    side = np.minimum(np.minimum(image[ys - 1, xs], image[ys + 1, xs]),
                      np.minimum(image[ys, xs - 1], image[ys, xs + 1]))
    return side > STAR_SIDE * image[ys, xs]


def star_peaks(image: NDArray, sigma: float, saturation: float = np.inf, max_stars: int = 30,
               nsigma: float = 30.0) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """(y, x) of up to ``max_stars`` peaks over ``nsigma``, unsaturated, that look like stars.

    ``image`` has its background removed. Each of a peak's four neighbours
    must hold over 10% of it (a star has light on every side; even a 1.5
    pixel FWHM gives ~30%), which rejects hot pixels, adjacent pairs of them
    (a stack keeps them; in a sparse field of poor seeing they were the
    brightest "stars") and most cosmic-ray hits.
    """
    sub = np.nan_to_num(image, nan=0.0)
    mx = ndimage.maximum_filter(sub, size=7)
    peaks = (sub == mx) & (sub > nsigma * sigma) & (image < 0.8 * saturation)
    ys, xs = np.nonzero(peaks[5:-5, 5:-5])
    ys, xs = ys + 5, xs + 5
    star = star_shaped(sub, ys, xs)
    ys, xs = ys[star], xs[star]
    order = np.argsort(-sub[ys, xs])[:max_stars]
    return ys[order], xs[order]


def fwhm_estimate(image: NDArray, level: float, sigma: float, saturation: float = np.inf,
                  max_stars: int = 30, at: tuple[NDArray, NDArray] | None = None) -> float:
    """Median FWHM (pixels) from the half-maximum area of bright stars (NaN if none).

    ``at``: (y, x) of the stars to measure (each moved to its highest pixel
    within 2 pixels), e.g. the reference's :func:`star_peaks`; without it,
    the image's own peaks. A science frame is measured at the reference's
    stars: in a frame of poor seeing and many cosmic rays, its own brightest
    compact peaks are the cosmic rays, and a sharp FWHM then picks the wrong
    image to convolve.
    """
    sub = np.nan_to_num(image - level, nan=0.0)
    if at is None:
        return _median_fwhm(sub, *star_peaks(image - level, sigma, saturation - level,
                                             max_stars))
    ny, nx = sub.shape
    ok = (at[0] >= 7) & (at[0] < ny - 7) & (at[1] >= 7) & (at[1] < nx - 7)
    ys, xs = [], []
    for y, x in zip(at[0][ok], at[1][ok]):
        box = sub[y - 2:y + 3, x - 2:x + 3]
        dy, dx = np.unravel_index(int(np.argmax(box)), box.shape)
        y, x = y + dy - 2, x + dx - 2
        if sub[y, x] > 30 * sigma and image[y, x] < 0.8 * saturation:
            ys.append(y)
            xs.append(x)
    return _median_fwhm(sub, ys, xs)


STACK_HALF = 12  # half-side of the stacked-star box (pixels): FWHM up to ~24 pixels


def _stacked_fwhm(sub: NDArray, ys: NDArray, xs: NDArray, sigma: float) -> float:
    """FWHM (pixels) of the median of stamps at ``(ys, xs)``, for stars too faint or broad
    to measure one by one (a science frame of poor seeing); NaN when the stack is weak.

    A median, not a sum: in a sum the brightest star rules, and one with a hot pixel on
    its peak made a 6-pixel PSF measure 1.1 pixels.
    """
    h = STACK_HALF
    ny, nx = sub.shape
    ok = (ys >= h) & (ys < ny - h) & (xs >= h) & (xs < nx - h)
    if ok.sum() < 3:
        return math.nan
    stack = np.median([sub[y - h:y + h + 1, x - h:x + h + 1] for y, x in zip(ys[ok], xs[ok])],
                      axis=0)
    pk = float(stack[h, h])
    # the median of n stamps has noise ~1.25 sigma / sqrt(n): its peak at 12.5 of those
    if not pk > 12.5 * sigma / math.sqrt(ok.sum()):
        return math.nan
    lab, _ = ndimage.label(stack > 0.5 * pk)
    area = float((lab == lab[h, h]).sum())  # the part connected to the centre
    return 2.0 * math.sqrt(area / math.pi) if area < (2 * h + 1) ** 2 / 2 else math.nan


MIN_STARS = 3  # a FWHM from fewer stars is NaN (the stack of fainter stars stands in)
FWHM_UPSAMPLE = 3  # each star's half-maximum area is counted on pixels this many times finer


def _median_fwhm(sub: NDArray, ys: Any, xs: Any) -> float:
    """Median half-maximum-area diameter of the peaks ``(ys, xs)`` (at least 5 from the edge);
    NaN from under :data:`MIN_STARS`: one star with a hot pixel on its peak measured a
    6-pixel science PSF as 1.1 pixels, and the sharp reference was convolved the wrong way.

    Each 11 x 11 stamp is measured on a
    :data:`FWHM_UPSAMPLE` times finer grid by band-limited interpolation: on
    native pixels the area counts whole pixels, and a 1.8- and a 2.1-pixel
    PSF both measured 2.26 pixels, so the sharper image was a coin toss.
    """
    out = []
    for y, x in zip(ys, xs):
        st = np.asarray(sub[y - 5:y + 6, x - 5:x + 6], np.float64)
        if st.shape != (11, 11):
            continue
        fine = upsample(st, FWHM_UPSAMPLE)  # ``sub`` is background-free already
        area = float((fine > 0.5 * fine.max()).sum()) / FWHM_UPSAMPLE ** 2
        if 1.0 <= area < 100:
            out.append(2.0 * math.sqrt(area / math.pi))
    return float(np.median(out)) if len(out) >= MIN_STARS else math.nan


def basis_kernels(match_sigma: float, half: int,
                  degrees: tuple[int, ...] = BASIS_DEGREES) -> NDArray[np.float64]:
    """The Gaussian-polynomial basis ``(K, 2 half + 1, 2 half + 1)`` (unit-sum Gaussians).

    ``degrees``: the polynomial degree for each of :data:`BASIS_WIDTHS`.
    """
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1].astype(np.float64)
    out = []
    for w, deg in zip(BASIS_WIDTHS, degrees):
        s = max(0.5, w * match_sigma)
        g = np.exp(-(xx ** 2 + yy ** 2) / (2 * s * s))
        g /= g.sum()
        for p in range(deg + 1):
            for q in range(deg + 1 - p):
                out.append(g * (xx / s) ** p * (yy / s) ** q)
    return np.array(out)


def _stamp_centres(img: NDArray, sigma: float, saturation: float, margin: int,
                   iso: int) -> list[tuple[int, int]]:
    mx = ndimage.maximum_filter(img, size=2 * iso + 1)
    ok = (img == mx) & (img > 20 * sigma) & (img < 0.5 * saturation)
    ok[:margin] = ok[-margin:] = False
    ok[:, :margin] = ok[:, -margin:] = False
    ys, xs = np.nonzero(ok)
    order = np.argsort(-img[ys, xs])
    return [(int(ys[i]), int(xs[i])) for i in order[:MAX_STAMPS]]


def _correlate_full(img: NDArray, kernel: NDArray) -> NDArray[np.float32]:
    """``img`` cross-correlated with ``kernel`` (same size, zero edges), by FFT."""
    ky, kx = kernel.shape
    ny, nx = img.shape
    sy = scipy.fft.next_fast_len(ny + ky - 1, real=True)
    sx = scipy.fft.next_fast_len(nx + kx - 1, real=True)
    f = scipy.fft.rfft2(img, s=(sy, sx), workers=1)
    f *= scipy.fft.rfft2(kernel[::-1, ::-1], s=(sy, sx), workers=1)
    full = scipy.fft.irfft2(f, s=(sy, sx), workers=1)
    return full[ky // 2:ky // 2 + ny, kx // 2:kx // 2 + nx].astype(np.float32)


def fit_kernel(sharp: NDArray[np.float32], blur: NDArray[np.float32], sigma: float,
               saturation: float, match_sigma: float, half: int
               ) -> tuple[NDArray[np.float64], float, int, int]:
    """Least-squares kernel (and background) so that ``sharp (x) K + bg ~= blur``.

    Returns the kernel, the background, the number of stamps the fit kept and how many
    of them are :func:`star_shaped` (the others: hot pixels, which both images share, or
    cosmic rays in a sharp science frame).
    """
    hs = max(half, 6)
    centres = _stamp_centres(sharp, sigma, saturation, hs + half + 1, hs)
    basis = basis_kernels(match_sigma, half,
                          FEW_DEGREES if len(centres) < FEW_STAMPS else BASIS_DEGREES)
    if len(centres) < MIN_KERNEL_STAMPS:
        # too few stars: a plain Gaussian blur of the matching width, no flux scaling
        yy, xx = np.mgrid[-half:half + 1, -half:half + 1]
        k = np.exp(-(xx ** 2 + yy ** 2) / (2 * max(match_sigma, 0.3) ** 2))
        return k / k.sum(), 0.0, 0, 0
    r = half + hs
    patches = np.stack([sharp[y - r:y + r + 1, x - r:x + r + 1] for y, x in centres])
    targets = np.stack([blur[y - hs:y + hs + 1, x - hs:x + hs + 1] for y, x in centres])
    with torch.inference_mode():
        cols = torch.nn.functional.conv2d(torch.as_tensor(patches[:, None], dtype=torch.float64),
                                          torch.as_tensor(basis[:, None]))
    cols = cols.numpy()  # (S, K, 2hs+1, 2hs+1): cross-correlation, like _correlate_full
    nst, nk = cols.shape[:2]
    a = np.concatenate([cols.reshape(nst, nk, -1).transpose(0, 2, 1),
                        np.ones((nst, cols.shape[2] * cols.shape[3], 1))], axis=2)
    b = targets.reshape(nst, -1).astype(np.float64)
    keep = np.ones(nst, bool)
    coef = np.zeros(nk + 1)
    for _ in range(2):
        am = a[keep].reshape(-1, nk + 1)
        bm = b[keep].reshape(-1)
        coef, *_ = np.linalg.lstsq(am, bm, rcond=None)
        res = np.sqrt(np.mean((a @ coef - b) ** 2, axis=1))
        med = np.median(res[keep])
        mad = 1.4826 * np.median(np.abs(res[keep] - med)) + 1e-12
        new = res < med + 3 * mad
        if new.sum() < 3 or (new == keep).all():
            break
        keep = new
    kernel = np.tensordot(coef[:nk], basis, axes=1)
    ys, xs = np.array(centres).T
    stars = int(star_shaped(sharp, ys, xs)[keep].sum())
    return kernel, float(coef[nk]), int(keep.sum()), stars


# the reference's fainter sources (up to FAINT_MAX over FAINT_NSIGMA): stacked for a FWHM
# where single stars cannot be measured, and checking a kernel's flux scale
FAINT_MAX, FAINT_NSIGMA = 60, 8.0
MIN_SCALE_SOURCES = 5  # fewest such sources for the check
SCALE_BOX = 3  # half-side (pixels) of the box each source's flux ratio is taken over


def _flux_scale(model: NDArray, target: NDArray, at: tuple[NDArray, NDArray]) -> float | None:
    """The median over the sources ``at`` of the ratio of box sums, ``target`` (the blurred
    image less the fitted background) over ``model`` (the sharp image convolved with the
    kernel); None from under :data:`MIN_SCALE_SOURCES`.

    A kernel fitted on hot pixels takes their ratio, the exposure times', and misses the
    clouds': in the twin it over-subtracted stars by a median 13% (a twentieth of frames
    by more than half), and their negative residuals scored as fading stars. The median
    over many sources, faint stars and galaxies included, is little moved by the few
    that vary.
    """
    ys, xs = at
    h = SCALE_BOX
    ny, nx = model.shape
    ok = (ys >= h) & (ys < ny - h) & (xs >= h) & (xs < nx - h)
    ratios = []
    for y, x in zip(ys[ok], xs[ok]):
        # box sums, not a least-squares scale: where the model is the convolved science its
        # noise biases such a scale low (in the twin a median 7%, a quarter of frames 40%)
        m = float(model[y - h:y + h + 1, x - h:x + h + 1].sum())
        if m > 0:
            ratios.append(float(target[y - h:y + h + 1, x - h:x + h + 1].sum()) / m)
    scale = float(np.median(ratios)) if len(ratios) >= MIN_SCALE_SOURCES else math.nan
    return scale if scale > 0 else None


def subtract(science: NDArray, reference: NDArray, saturation: float | None = None
             ) -> Subtraction:
    """PSF-matched difference ``science - reference`` (see the module docstring).

    ``saturation`` (ADU) keeps saturated stars out of the kernel fit; ``None``
    finds it as the images' clipping plateau (:func:`saturation_level`): a
    saturated star in the fit spoils the whole difference.

    Raises
    ------
    SubtractionError
        Shapes differ, or an image has no finite pixel.
    """
    sci = np.asarray(science, np.float32)
    ref = np.asarray(reference, np.float32)
    if sci.shape != ref.shape or sci.ndim != 2:
        raise SubtractionError(f"science {sci.shape} and reference {ref.shape} must be 2-D "
                               "images of the same shape")
    ls, ss = robust_stats(sci)
    lr, sr = robust_stats(ref)
    if not (math.isfinite(ls) and math.isfinite(lr)):
        raise SubtractionError("an image holds no finite pixel")
    s0 = np.nan_to_num(sci - ls, nan=0.0)
    r0 = np.nan_to_num(ref - lr, nan=0.0)
    if saturation is None:
        saturation = saturation_level(sci, ref)
    sat_s, sat_r = saturation - ls, saturation - lr
    stars = star_peaks(r0, sr, sat_r)
    fr = _median_fwhm(r0, *stars)
    # the science at the reference's stars (the stack has no cosmic rays)
    fs = fwhm_estimate(s0, 0.0, ss, sat_s, at=stars)
    faint: tuple[NDArray[np.intp], NDArray[np.intp]] | None = None
    if not (math.isfinite(fr) and math.isfinite(fs)):
        # stars too faint or broad one by one (poor seeing, sparse field): stack them
        faint = star_peaks(r0, sr, sat_r, max_stars=FAINT_MAX, nsigma=FAINT_NSIGMA)
        fr = fr if math.isfinite(fr) else _stacked_fwhm(r0, *faint, sr)
        fs = fs if math.isfinite(fs) else _stacked_fwhm(s0, *faint, ss)
    fr_ = fr if math.isfinite(fr) else 3.0
    # a science frame whose stars cannot be measured where the reference's can is no sharper
    # than the reference (poor seeing or clouds): a 3-pixel guess under a broader reference
    # convolved the science, the wrong way
    fs_ = fs if math.isfinite(fs) else max(3.0, fr_)
    sci_sharper = fs_ < fr_
    sharp, blur = (s0, r0) if sci_sharper else (r0, s0)
    sig_sharp, sat_sharp = (ss, sat_s) if sci_sharper else (sr, sat_r)
    s_sharp, s_blur = min(fs_, fr_) / 2.3548, max(fs_, fr_) / 2.3548
    match = math.sqrt(max(s_blur ** 2 - s_sharp ** 2, 0.0))
    half = int(np.clip(math.ceil(3.0 * max(BASIS_WIDTHS[-1] * max(match, 0.5), 1.0)), 3, 12))
    kernel, bg, nst, n_stars = fit_kernel(sharp, blur, sig_sharp, sat_sharp, match, half)
    conv = _correlate_full(sharp, kernel)
    if nst >= MIN_KERNEL_STAMPS and n_stars < MIN_KERNEL_STAMPS:  # fitted on hot pixels
        if faint is None:
            faint = star_peaks(r0, sr, sat_r, max_stars=FAINT_MAX, nsigma=FAINT_NSIGMA)
        scale = _flux_scale(conv, blur - np.float32(bg), faint)
        # the hot pixels give the exposure times' ratio, and clouds only dim the science
        # (the reference is a stack of clear frames): its sources may lower the convolved
        # reference's scale, or raise the convolved science's, never the other way (a few
        # variable stars among a sparse field's sources pulled it up by a quarter)
        if scale is not None:
            scale = min(scale, 1.0) if not sci_sharper else max(scale, 1.0)
            kernel = kernel * scale
            conv *= np.float32(scale)
    conv += np.float32(bg)
    diff = (s0 - conv) if not sci_sharper else (conv - r0)
    bad = ~np.isfinite(sci) | ~np.isfinite(ref)
    if bad.any():
        diff[ndimage.binary_dilation(bad, iterations=half)] = np.nan
    # the kernel reaches beyond the frame within ``half`` of its edge: no valid difference
    diff[:half] = diff[-half:] = np.nan
    diff[:, :half] = diff[:, -half:] = np.nan
    _, noise = robust_stats(diff)
    template = (conv - np.float32(bg)) if not sci_sharper else r0
    return Subtraction(diff.astype(np.float32), noise, kernel.astype(np.float32),
                       "science" if sci_sharper else "reference", fs, fr, nst, ls, lr,
                       template.astype(np.float32), n_stars)


def stack_reference(frames: list[NDArray]) -> NDArray[np.float32]:
    """Median of aligned frames after matching their background levels (cosmic rays drop out).

    No photometric scaling between frames: stack good frames of one site,
    band and exposure time.
    """
    if not frames:
        raise SubtractionError("no frames to stack")
    levels = [robust_stats(np.asarray(f, np.float32))[0] for f in frames]
    cube = np.stack([np.asarray(f, np.float32) - np.float32(lv - levels[0])
                     for f, lv in zip(frames, levels)])
    return np.nanmedian(cube, axis=0).astype(np.float32)
