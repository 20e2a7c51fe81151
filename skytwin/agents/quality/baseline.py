"""Classical quality baseline: measured FWHM, ellipticity, background, source count, zero point.

The zero point is the catalogue transparency of
:func:`skytwin.agents.quality.stars.measure_stars` (flux of reference stars
over the flux their magnitudes predict).

Units: FWHM arcsec; ellipticity 1 - b/a; sky excess in mag/arcsec^2 brighter
than the band's dark sky; source fluxes relative to a magnitude-0 star
(``log10``, a zero-point proxy); the rest dimensionless.

The features come from :func:`skytwin.twin.frames.measure_frame` (Moffat fits
of the brightest isolated stars; works on real images) and from the frame's
header; the classifier is a multinomial logistic regression on the
standardised features and indicator features at the labelling rule's
thresholds (FWHM > 2 and 3.5 arcsec, ellipticity > 0.15 and 0.3, sky excess
> 1 and 2.5 mag, transparency < 0.8 and 0.5), fitted by :mod:`skytwin.training.train_quality`. It sees
what an astronomer's pipeline would measure, so the CNN's gain over it is
measured, not assumed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from skytwin.agents.preprocess import as_image, fill_nonfinite, frame_scalars, robust_stats
from skytwin.agents.quality.stars import ReferenceStars, measure_stars

BASELINE_FEATURES: tuple[str, ...] = (
    "fwhm_arcsec", "ellipticity", "sky_excess_mag", "log_n_sources", "log_source_flux",
    "log_peak_flux", "log_saturated_fraction", "moon_lit_near", "galactic_density",
    "n_stars_fitted", "log_transparency",
)


def baseline_features(image: Any, header: Mapping[str, Any] | None = None,
                      moon: tuple[float, float] | None = None,
                      stars: ReferenceStars | None = None) -> NDArray[np.float32]:
    """The measured features of one frame (:data:`BASELINE_FEATURES`); NaN where unmeasurable."""
    from skytwin.twin.frames.measure import MeasureError, measure_frame  # measurement code

    arr = as_image(image)
    level, sigma = robust_stats(arr)
    out = np.full(len(BASELINE_FEATURES), np.nan, np.float32)
    if not math.isfinite(level):
        return out
    arr, frac = fill_nonfinite(arr, level)
    sc = frame_scalars(arr, level, sigma, frac, header, moon)
    scale = float(sc[0])
    sat = None
    if header and "SATURATE" in header:
        v = header["SATURATE"]
        sat = float(v[0] if isinstance(v, tuple) else v)
    try:
        m = measure_frame(arr, pixel_scale_arcsec=scale, saturation=sat, max_stars=12)
        fwhm, ell, nsrc, nst = m.fwhm_arcsec, m.ellipticity, m.n_sources, len(m.stars)
    except MeasureError:
        fwhm, ell, nsrc, nst = math.nan, math.nan, 0, 0
    trans = measure_stars(arr, level, sigma, header, stars).transparency
    log_t = math.log10(trans) if trans > 0 else math.nan
    out[:] = [fwhm, ell, sc[1], math.log10(nsrc + 1.0), sc[4], sc[5], sc[2], sc[3], sc[6], nst,
              log_t]
    return out


def design_matrix(f: NDArray[np.float32]) -> NDArray[np.float32]:
    """Features -> logistic-regression inputs (NaN filled, rule-threshold indicators added)."""
    f = np.asarray(f, np.float32).reshape(-1, len(BASELINE_FEATURES))
    fwhm = np.nan_to_num(f[:, 0], nan=6.0)  # no star measured: treat as very blurred
    ell = np.nan_to_num(f[:, 1], nan=0.5)
    rest = np.nan_to_num(f[:, 2:-1], nan=0.0)
    log_t = np.nan_to_num(f[:, -1], nan=-1.0)  # no catalogue star: treat as clouded
    ind = np.stack([fwhm > 2.0, fwhm > 3.5, ell > 0.15, ell > 0.3, rest[:, 0] > 1.0,
                    rest[:, 0] > 2.5, np.isnan(f[:, 0]), log_t < math.log10(0.8),
                    log_t < math.log10(0.5)], axis=1).astype(np.float32)
    return np.concatenate([fwhm[:, None], np.log(fwhm[:, None] + 0.1), ell[:, None], rest,
                           log_t[:, None], ind], axis=1)


class QualityBaseline:
    """Logistic regression on measured features (weights from :meth:`load`)."""

    def __init__(self, mean: NDArray, std: NDArray, w: NDArray, b: NDArray) -> None:
        self.mean, self.std, self.w, self.b = mean, std, w, b

    def proba(self, features: NDArray) -> NDArray[np.float32]:
        """Class probabilities (N, 3) from :func:`baseline_features` rows."""
        z = (design_matrix(features) - self.mean) / self.std
        logits = z @ self.w + self.b
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)

    def save(self, path: str | Path) -> None:
        np.savez(path, mean=self.mean, std=self.std, w=self.w, b=self.b)

    @classmethod
    def load(cls, path: str | Path) -> QualityBaseline:
        with np.load(path) as z:
            return cls(z["mean"], z["std"], z["w"], z["b"])
