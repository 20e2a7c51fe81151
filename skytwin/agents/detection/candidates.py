"""Candidate detection on a difference image, triplet cutouts, and the threshold baseline.

Units: positions 0-based pixels (x along columns, y along rows); fluxes in the
difference's ADU; SNR in noise sigmas; FWHM in pixels.

Detection: the difference (NaN as 0) is smoothed with a Gaussian of the
science PSF's sigma (a matched filter for point sources); the smoothed
image's robust noise sets the threshold; every local maximum (5 x 5) at or
above ``nsigma`` is a candidate. Only brightenings (positive peaks) are
candidates; fading sources show as negatives and are not reported.

The noise is not the same everywhere: on a star of the reference the
difference also holds the star's photon noise and whatever the subtraction
left of it (a flux-scale or sub-pixel alignment error grows with the star's
flux). :func:`noise_ratio_map` measures this on the frame itself, as the
filtered difference's scatter against the reference's flux under the filter,
``sigma_local^2 = sigma^2 (1 + b t + c t^2)``, so that a candidate's SNR is
against the noise where it lies (as a variance plane gives a survey
pipeline; ZOGY's corrected score does the same with a noise model). Without
it, every bright star's noise peaks at "5 sigma" of the empty sky.

Cutouts are ``size`` x ``size`` (default 31) science, reference and
difference stamps centred on the candidate's pixel, NaN beyond the frame.

The threshold baseline (:func:`baseline_score`) is what a pipeline without a
learned model does: it accepts a candidate by its SNR and its shape in the
difference (FWHM near the PSF's, few negative pixels around it, not a single
sharp pixel), combined into one score so that it has an ROC curve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage, optimize

CUTOUT = 31  # default cutout side (pixels)
FEATURES = ("snr", "fwhm_ratio", "negative_fraction", "sharpness", "peak_snr")


@dataclass
class Candidates:
    """Candidates of one difference image (arrays of equal length)."""

    x: NDArray[np.intp]
    y: NDArray[np.intp]
    snr: NDArray[np.float32]  # matched-filter SNR
    features: NDArray[np.float32]  # (N, len(FEATURES))

    def __len__(self) -> int:
        return int(self.x.size)


def _filter_sigma(fwhm_pix: float) -> float:
    return max(fwhm_pix / 2.3548, 0.5) if math.isfinite(fwhm_pix) else 1.2


def _matched(diff: NDArray, fwhm_pix: float) -> tuple[NDArray[np.float32], float]:
    """The matched-filtered difference (NaN as 0) and its robust background sigma."""
    d = np.nan_to_num(np.asarray(diff, np.float32), nan=0.0)
    sm = ndimage.gaussian_filter(d, _filter_sigma(fwhm_pix), truncate=3.0)
    step = max(1, int(math.sqrt(sm.size / 65536)))
    sub = sm[::step, ::step]
    sig = 1.4826 * float(np.median(np.abs(sub - np.median(sub)))) or 1.0
    return sm, sig


RATIO_BINS = 16  # log-spaced bins of reference flux for the local-noise fit
RATIO_MIN_PIXELS = 25  # fewest pixels for a bin's scatter
CHI2_1_MEDIAN = 0.45494  # median of a chi-square with one degree of freedom


def noise_ratio_map(diff: NDArray, template: NDArray, fwhm_pix: float) -> NDArray[np.float32]:
    """Local noise of the matched-filtered difference over its empty-sky noise (>= 1).

    ``template`` is the reference's sources on the difference's scale
    (:attr:`~skytwin.agents.detection.subtract.Subtraction.template`). Its
    flux under the filter, ``t``, is binned (log-spaced, above 3 sigma of its
    own background, or 1e-4 of its peak for a noiseless template); each
    bin's median square of the filtered difference (about zero, so residuals
    of one sign count), over the sky's, gives
    ``1 + b t + c t^2``, fitted with ``b, c >= 0`` (non-negative least
    squares in relative terms). A frame where the fit has nothing to use gives
    ones. Written here because the survey pipelines that do this (a variance
    plane carried from the raw frame) need the gain and the raw frames, which
    the detection API does not get.
    """
    return _ratio(*_matched(diff, fwhm_pix), np.isfinite(np.asarray(diff)), template, fwhm_pix)


def _ratio(sm: NDArray[np.float32], sig: float, valid: NDArray[np.bool_], template: NDArray,
           fwhm_pix: float) -> NDArray[np.float32]:
    """:func:`noise_ratio_map` from the matched-filtered difference ``sm`` and its sigma."""
    t = ndimage.gaussian_filter(np.nan_to_num(np.asarray(template, np.float32), nan=0.0),
                                _filter_sigma(fwhm_pix), truncate=3.0)
    ones = np.ones(sm.shape, np.float32)
    step = max(1, int(math.sqrt(t.size / 65536)))
    tb = t[::step, ::step]
    t_sig = 1.4826 * float(np.median(np.abs(tb - np.median(tb))))
    t_max = float(t.max())
    # a noiseless template (a model, not a stacked image) has no scatter of its own
    lo = 3 * t_sig if t_sig > 0 else 1e-4 * t_max
    pick = np.flatnonzero((t > lo).ravel() & valid.ravel())
    if pick.size < 2 * RATIO_MIN_PIXELS or not lo > 0:
        return ones
    tv, v = t.ravel()[pick], (sm.ravel()[pick] / sig) ** 2
    edges = np.geomspace(lo, float(tv.max()) * 1.0001, RATIO_BINS + 1)
    which = np.digitize(tv, edges) - 1
    rows, excess = [], []
    for k in range(RATIO_BINS):
        sel = which == k
        if sel.sum() < RATIO_MIN_PIXELS:
            continue
        tk = float(np.median(tv[sel]))
        ratio2 = float(np.median(v[sel])) / CHI2_1_MEDIAN
        w = 1.0 / max(ratio2, 1.0)  # relative residuals: faint and bright bins both count
        rows.append([tk * w, tk * tk * w])
        excess.append((ratio2 - 1.0) * w)
    if len(rows) < 2:
        return ones
    a = np.asarray(rows)
    scale = np.abs(a).max(axis=0) + 1e-30
    coef, _ = optimize.nnls(a / scale, np.asarray(excess))
    b, c = coef / scale
    t = np.clip(t, 0, None)
    return np.sqrt(1.0 + b * t + c * t * t).astype(np.float32)


def detect_candidates(diff: NDArray, noise: float, fwhm_pix: float, nsigma: float = 5.0,
                      max_candidates: int = 2000, noise_ratio: NDArray | None = None,
                      template: NDArray | None = None) -> Candidates:
    """Local maxima of the matched-filtered difference above ``nsigma`` (module docstring).

    ``noise_ratio`` (:func:`noise_ratio_map`) raises the noise where the
    reference has sources; or give ``template`` and it is computed here;
    with neither, the empty sky's noise holds everywhere.
    """
    valid = np.isfinite(np.asarray(diff))
    d = np.nan_to_num(np.asarray(diff, np.float32), nan=0.0)
    sm, sig = _matched(d, fwhm_pix)
    if noise_ratio is None and template is not None:
        noise_ratio = _ratio(sm, sig, valid, template, fwhm_pix)
    z = sm / sig if noise_ratio is None else sm / (sig * noise_ratio)
    mx = ndimage.maximum_filter(sm, size=5)  # peaks of flux; significance against local noise
    ys, xs = np.nonzero((sm == mx) & (z >= nsigma))
    snr = z[ys, xs]
    order = np.argsort(-snr)[:max_candidates]
    ys, xs, snr = ys[order], xs[order], snr[order]
    feats = shape_features(d, xs, ys, noise, fwhm_pix)
    feats[:, 0] = snr
    return Candidates(xs.astype(np.intp), ys.astype(np.intp), snr.astype(np.float32), feats)


def shape_features(d: NDArray[np.float32], xs: NDArray, ys: NDArray, noise: float,
                   fwhm_pix: float, half: int = 4) -> NDArray[np.float32]:
    """:data:`FEATURES` of each candidate from a ``2 half + 1`` box of the difference."""
    out = np.zeros((len(xs), len(FEATURES)), np.float32)
    pad = np.pad(d, half, mode="constant")
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1]
    psf = fwhm_pix if math.isfinite(fwhm_pix) and fwhm_pix > 0 else 3.0
    for i, (x, y) in enumerate(zip(xs, ys)):
        st = pad[y:y + 2 * half + 1, x:x + 2 * half + 1]
        pk = float(st[half, half])
        pos = np.clip(st, 0, None)
        tot = float(pos.sum()) or 1e-9
        r2 = float((pos * (xx ** 2 + yy ** 2)).sum()) / tot
        fwhm = 2.3548 * math.sqrt(max(r2 / 2.0, 1e-6))
        neg = float((st < -3 * noise).sum()) / st.size
        core = float(st[half - 1:half + 2, half - 1:half + 2].sum()) or 1e-9
        out[i] = (0.0, fwhm / psf, neg, pk / core if core > 0 else 1.0, pk / max(noise, 1e-9))
    return out


def baseline_score(features: NDArray) -> NDArray[np.float32]:
    """Threshold-style real/bogus score in [0, 1] from SNR and shape (module docstring).

    ``log(SNR / 5)`` minus penalties for a FWHM off the PSF's by more than 40%,
    negative pixels beside the peak (dipoles, bad subtractions) and a peak
    holding over half of its 3 x 3 core (cosmic rays, hot pixels); squashed by
    a logistic.
    """
    f = np.asarray(features, np.float32).reshape(-1, len(FEATURES))
    snr, ratio, neg, sharp = f[:, 0], f[:, 1], f[:, 2], f[:, 3]
    z = (np.log(np.clip(snr, 1e-3, None) / 5.0)
         - 3.0 * np.clip(np.abs(np.log(np.clip(ratio, 1e-3, None))) - math.log(1.4), 0, None)
         - 8.0 * neg - 6.0 * np.clip(sharp - 0.5, 0, None))
    return (1.0 / (1.0 + np.exp(-2.0 * np.clip(z, -30, 30)))).astype(np.float32)


def cutouts(science: NDArray, reference: NDArray, difference: NDArray, xs: NDArray,
            ys: NDArray, size: int = CUTOUT) -> NDArray[np.float32]:
    """Science/reference/difference stamps ``(N, 3, size, size)``, NaN beyond the frame."""
    h = size // 2
    stack = np.stack([np.asarray(a, np.float32) for a in (science, reference, difference)])
    pad = np.pad(stack, ((0, 0), (h, h), (h, h)), constant_values=np.nan)
    out = np.empty((len(xs), 3, size, size), np.float32)
    for i, (x, y) in enumerate(zip(xs, ys)):
        out[i] = pad[:, y:y + size, x:x + size]
    return out
