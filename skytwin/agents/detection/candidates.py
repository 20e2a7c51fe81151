"""Candidate detection on a difference image, triplet cutouts, and the threshold baseline.

Units: positions 0-based pixels (x along columns, y along rows); fluxes in the
difference's ADU; SNR in noise sigmas; FWHM in pixels.

Detection: the difference (NaN as 0) is smoothed with a Gaussian of the
science PSF's sigma (a matched filter for point sources); the smoothed
image's robust noise sets the threshold; every local maximum (5 x 5) at or
above ``nsigma`` is a candidate. Only brightenings (positive peaks) are
candidates; fading sources show as negatives and are not reported.

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
from scipy import ndimage

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


def detect_candidates(diff: NDArray, noise: float, fwhm_pix: float, nsigma: float = 5.0,
                      max_candidates: int = 2000) -> Candidates:
    """Local maxima of the matched-filtered difference above ``nsigma`` (module docstring)."""
    d = np.nan_to_num(np.asarray(diff, np.float32), nan=0.0)
    s = max(fwhm_pix / 2.3548, 0.5) if math.isfinite(fwhm_pix) else 1.2
    sm = ndimage.gaussian_filter(d, s, truncate=3.0)
    step = max(1, int(math.sqrt(sm.size / 65536)))
    sub = sm[::step, ::step]
    sig = 1.4826 * float(np.median(np.abs(sub - np.median(sub)))) or 1.0
    mx = ndimage.maximum_filter(sm, size=5)
    ys, xs = np.nonzero((sm == mx) & (sm >= nsigma * sig))
    snr = sm[ys, xs] / sig
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
    return (1.0 / (1.0 + np.exp(-2.0 * z))).astype(np.float32)


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
