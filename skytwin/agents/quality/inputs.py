"""The quality CNN's input: the whole frame, the stacked PSF, and the measured scalars.

Units: channels are dimensionless (stretched); scalars as named in
:data:`QUALITY_SCALARS` (arcsec, fractions, log10 of ratios).

Channel 0 is the whole frame block-averaged to 64 x 64 and stretched with
its background and noise (trails, gradients, patchy clouds, bright stars).
Channel 1 is the stacked PSF of the reference stars
(:func:`skytwin.agents.quality.stars.measure_stars`): its central 32 x 32
pixels at native resolution, each repeated 2 x 2, divided by the peak and
stretched by ``asinh(20 z) / asinh(20)`` so the wings show. The scalars are
the photometric ones of :func:`skytwin.agents.preprocess.frame_scalars`
followed by what the stars measure (an unmeasurable value is replaced by a
pessimistic stand-in and flagged by its ``has_*`` scalar), and last the
number of trails found on channel 0 (:mod:`skytwin.agents.quality.trails`);
these are the network's (:data:`NETWORK_SCALARS`). The last scalar is for
the rule head alone: the FWHM of a broad stack matched to the profile grid
(:mod:`skytwin.agents.quality.profile_grid`), 0 where not measured.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from skytwin.agents.preprocess import (QUALITY_SIZE, SATURATED_AT, SCALAR_NAMES, PreprocessError,
                                       as_image, downsample, downsample_counting, fill_nonfinite,
                                       frame_scalars, header_value, robust_stats, stretch)
from skytwin.agents.quality.stars import STAMP, ReferenceStars, measure_stars
from skytwin.agents.quality.trails import count_trails, saturated_columns

# the scalars the network reads
NETWORK_SCALARS: tuple[str, ...] = SCALAR_NAMES + (
    "psf_fwhm_arcsec", "psf_halfmax_arcsec", "psf_fwhm_pixels", "psf_ellipticity",
    "log_transparency", "log_n_stars", "log_psf_snr", "has_psf", "has_transparency",
    "trail_lines",
)
# and after them the measurements the rule head takes in place of the network's estimate
# (0: not measured): the profile-grid FWHM of a broad stack (rule_head.broad_psf_estimate)
QUALITY_SCALARS: tuple[str, ...] = NETWORK_SCALARS + ("psf_profile_fwhm_arcsec",)
PSF_STRETCH = 20.0

# stand-ins for values the stars could not give (pessimistic: a blurred, clouded frame)
_NO_FWHM, _NO_ELL, _NO_LOG_TRANS = 8.0, 0.5, -1.0
# log10(saturated fraction + 1e-6) above this: at least one saturated pixel on a frame of up to
# 4096 x 4096 (its bleed columns are not trails)
_ANY_SATURATED = -5.99


def quality_model_input(image: Any, header: Mapping[str, Any] | None = None,
                        moon: tuple[float, float] | None = None,
                        stars: ReferenceStars | None = None
                        ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Channels ``(2, 64, 64)`` and scalars ``(len(QUALITY_SCALARS),)`` of one frame.

    Raises
    ------
    PreprocessError
        Not a 2-D numeric image, or no finite pixel.
    """
    arr = as_image(image, copy=False)  # read only below: no copy of a float32 frame
    level, sigma = robust_stats(arr)
    if not math.isfinite(level):
        raise PreprocessError("image holds no finite pixel (all NaN or inf)")
    # the saturated pixels are counted in the same pass where the header gives the level
    saturate = header_value(header, "SATURATE", math.nan)
    saturated_at = SATURATED_AT * saturate
    n_sat: int | None = None
    if saturate > level:
        small, n_sat = downsample_counting(arr, QUALITY_SIZE, saturated_at)
    else:
        small = downsample(arr, QUALITY_SIZE)
    # every pixel is in one block sum, so finite blocks mean a finite frame: no second pass
    frac = 1.0
    if not np.isfinite(small).all():
        arr, frac = fill_nonfinite(arr, level)
        small, n_sat = downsample(arr, QUALITY_SIZE), None
    f = max(1.0, arr.shape[0] / QUALITY_SIZE) * max(1.0, arr.shape[1] / QUALITY_SIZE)
    ch0 = stretch(small, level, sigma / math.sqrt(f))
    m = measure_stars(arr, level, sigma, header, stars)
    half = QUALITY_SIZE // 4
    core = m.stack[STAMP - half:STAMP + half, STAMP - half:STAMP + half]
    ch1 = np.arcsinh(PSF_STRETCH * np.clip(core, -0.5, 1.0)) / math.asinh(PSF_STRETCH)
    ch1 = np.kron(ch1, np.ones((2, 2), np.float32)).astype(np.float32)
    base = frame_scalars(arr, level, sigma, frac, header, moon, n_sat)
    scale = float(base[0])
    # where the header gives the saturation level, the trail count asks the frame which
    # columns bleed (see skytwin.agents.quality.trails)
    bleeds = saturated_columns(arr, saturated_at, QUALITY_SIZE) if saturate > level else None
    has_psf = math.isfinite(m.fwhm_arcsec) and math.isfinite(m.halfmax_arcsec)
    has_trans = math.isfinite(m.transparency) and m.transparency > 0
    fwhm = m.fwhm_arcsec if has_psf else _NO_FWHM
    extra = np.array([
        fwhm,
        m.halfmax_arcsec if has_psf else _NO_FWHM,
        fwhm / max(scale, 1e-3),
        m.ellipticity if has_psf else _NO_ELL,
        math.log10(m.transparency) if has_trans else _NO_LOG_TRANS,
        math.log10(m.n_stars + 1.0),
        math.log10(max(m.snr, 0.0) + 1.0),
        float(has_psf),
        float(has_trans),
        float(count_trails(ch0, saturated=bool(base[2] > _ANY_SATURATED), bleeds=bleeds)),
        m.profile_fwhm_arcsec if has_psf and math.isfinite(m.profile_fwhm_arcsec) else 0.0,
    ], np.float32)
    scalars = np.concatenate([base, extra])
    return np.stack([ch0, ch1]), np.nan_to_num(scalars, nan=0.0, posinf=10.0, neginf=-10.0)
