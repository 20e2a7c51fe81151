"""The labelling rule applied to the network's estimates of the physical conditions.

Units: the regressed quantities are in the units of :data:`MEASURED`
(natural log of arcsec, ``1 - b/a``, natural log of a fraction, magnitudes,
log10 of a fraction); probabilities are fractions.

The twin's label (``docs/frames.md``) is a published rule: thresholds on the
FWHM, transparency, sky excess, ellipticity, trail count and saturated
fraction. Rather than learn those thresholds from labels alone, the quality
network estimates each quantity with an uncertainty (a Gaussian: mean and
standard deviation, trained on the twin's truth) and the trail count as
three classes (none, 1-2, 3 or more), and this module turns the estimates
into class probabilities with the rule itself:

* per criterion, ``P(worse than the medium threshold)`` and ``P(worse than
  the bad threshold)`` are the Gaussian tail beyond each threshold;
* the frame is good when every criterion is good and not bad when no
  criterion is bad; the criteria are taken as independent:
  ``P(good) = prod_c P_c(good)``, ``P(bad) = 1 - prod_c (1 - P_c(bad))``,
  ``P(medium)`` the rest.

Every label thus comes with the measurements behind it, and a frame near
a threshold gets the split probability its measurement error implies. Each
mean is the measured scalar (:func:`measured_scalars`) plus a learned
correction, so the network starts from the measurement and learns its bias.

One measurement replaces the network's estimate where it is known to be
better (:func:`broad_psf_estimate`): on a PSF of more than
:data:`PROFILE_MIN_PIXELS` the FWHM is the profile grid's match to the stack
(:mod:`skytwin.agents.quality.profile_grid`), whose error there is a
third of the network's. The network is trained on its own estimates; the
replacement is applied after it, at validation and inference.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numpy.typing import NDArray

from skytwin.agents.quality.inputs import QUALITY_SCALARS
from skytwin.twin.frames import quality as rule

# regressed quantity: (name, the measured scalar it starts from, medium and bad thresholds, sign)
# sign +1: higher is worse; -1: lower is worse
_SPEC = (
    ("log_fwhm_arcsec", "psf_fwhm_arcsec", tuple(math.log(t) for t in rule.FWHM_ARCSEC), 1.0),
    ("ellipticity", "psf_ellipticity", rule.ELLIPTICITY, 1.0),
    ("log_transparency", "log_transparency", tuple(math.log(t) for t in rule.CLOUDS), -1.0),
    ("sky_excess_mag", "sky_excess_mag", rule.SKY_EXCESS_MAG, 1.0),
    ("log10_saturated_fraction", "log_saturated_fraction",
     tuple(math.log10(t) for t in rule.SATURATED_FRACTION), 1.0),
)
MEASURED: tuple[str, ...] = tuple(name for name, *_ in _SPEC)
TRAIL_CLASSES: tuple[str, ...] = ("none", "1-2", "3+")  # the rule's trail grades
# the rule's criteria in the order of :meth:`RuleProbabilities.criteria`: the estimates', then
# the trail count's; "blur" is the reasons' seeing or defocus, "sky" their moonlight or background
CRITERIA: tuple[str, ...] = ("blur", "tracking", "clouds", "sky", "saturation", "trail")
SATURATION_FLOOR = 1e-6  # saturated fractions below this count as this (log10 -6)
# the profile grid's FWHM replaces the network's on PSFs above this many pixels, less its
# median offset from the truth, with this uncertainty (natural log). Measured on 1400 frames
# of seed 11 (neither a training nor a benchmark seed): above 4 pixels the match is +1.3%
# off the truth with a robust scatter of 1.8-2.8%, against the network's -2% to -7% and
# 3-6%; under 4 pixels the network's scatter (1.9-2.4%) is the smaller
PROFILE_MIN_PIXELS = 4.0
PROFILE_LOG_BIAS = 0.013
PROFILE_LOG_SIGMA = 0.03


def targets(conditions: NDArray, names: tuple[str, ...]) -> tuple[NDArray, NDArray]:
    """Regression targets ``(N, len(MEASURED))`` and trail classes ``(N,)`` of truth conditions.

    ``conditions`` is ``(N, len(names))`` over the labelling rule's inputs
    (:class:`skytwin.twin.frames.quality.QualityInputs` field names).
    """
    c = np.asarray(conditions, np.float64)

    def col(k: str) -> NDArray:
        return c[:, names.index(k)]

    t = np.stack([
        np.log(np.clip(col("fwhm_arcsec"), 0.05, None)),
        col("ellipticity"),
        np.log(np.clip(col("transparency"), 1e-3, None)),
        col("dark_sky_mag_arcsec2") - col("sky_mag_arcsec2"),
        np.log10(np.maximum(col("saturated_fraction"), SATURATION_FLOOR)),
    ], axis=1)
    n = col("n_trails")
    trail = np.where(n >= rule.TRAILS[1], 2, np.where(n >= rule.TRAILS[0], 1, 0))
    return np.nan_to_num(t, nan=0.0).astype(np.float32), trail.astype(np.int64)


def measured_scalars(s: torch.Tensor) -> torch.Tensor:
    """The measurements ``(N, len(MEASURED))`` the estimates start from, from the raw scalars."""
    q = QUALITY_SCALARS.index
    return torch.stack([
        torch.log(s[:, q("psf_fwhm_arcsec")].clamp_min(0.05)),
        s[:, q("psf_ellipticity")],
        s[:, q("log_transparency")] * math.log(10.0),
        s[:, q("sky_excess_mag")],
        s[:, q("log_saturated_fraction")].clamp_min(math.log10(SATURATION_FLOOR)),
    ], dim=1)


def broad_psf_estimate(mean: torch.Tensor, log_sigma: torch.Tensor, s: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """The estimates with the FWHM's taken from the profile grid on broad PSFs.

    ``mean`` and ``log_sigma`` are ``(N, len(MEASURED))``; ``s`` the raw
    scalars (:data:`QUALITY_SCALARS`), whose ``psf_profile_fwhm_arcsec`` is 0
    where the stack was not matched.
    """
    q = QUALITY_SCALARS.index
    profile = s[:, q("psf_profile_fwhm_arcsec")]
    broad = profile / s[:, q("pixel_scale_arcsec")].clamp_min(1e-6) > PROFILE_MIN_PIXELS
    fwhm = torch.where(broad, torch.log(profile.clamp_min(0.05)) - PROFILE_LOG_BIAS, mean[:, 0])
    sigma = torch.where(broad, torch.full_like(fwhm, math.log(PROFILE_LOG_SIGMA)), log_sigma[:, 0])
    return (torch.cat([fwhm[:, None], mean[:, 1:]], dim=1),
            torch.cat([sigma[:, None], log_sigma[:, 1:]], dim=1))


class RuleProbabilities(torch.nn.Module):
    """Class probabilities ``(N, 3)`` from estimates (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("medium", torch.tensor([t[0] for *_, t, _ in _SPEC]), persistent=False)
        self.register_buffer("bad", torch.tensor([t[1] for *_, t, _ in _SPEC]), persistent=False)
        self.register_buffer("sign", torch.tensor([g for *_, g in _SPEC]), persistent=False)

    def criteria(self, mean: torch.Tensor, sigma: torch.Tensor, trail_logits: torch.Tensor
                 ) -> torch.Tensor:
        """Each criterion's grade probabilities ``(N, len(CRITERIA), 3)`` (good, medium, bad)."""
        def beyond(t: torch.Tensor) -> torch.Tensor:  # P(the quantity is worse than t)
            return 0.5 * (1.0 + torch.erf(self.sign * (mean - t) / (sigma * math.sqrt(2.0))))

        worse_m, worse_b = beyond(self.medium), beyond(self.bad)
        graded = torch.stack([1.0 - worse_m, (worse_m - worse_b).clamp_min(0.0), worse_b], dim=2)
        return torch.cat([graded, torch.softmax(trail_logits, dim=1)[:, None]], dim=1)

    def forward(self, mean: torch.Tensor, sigma: torch.Tensor, trail_logits: torch.Tensor
                ) -> torch.Tensor:
        return self.combine(self.criteria(mean, sigma, trail_logits))

    @staticmethod
    def combine(criteria: torch.Tensor) -> torch.Tensor:
        """The frame's class probabilities from its criteria's (taken as independent)."""
        good = criteria[:, :, 0].clamp(1e-7, 1.0).log().sum(dim=1).exp()
        not_bad = (1.0 - criteria[:, :, 2]).clamp(1e-7, 1.0).log().sum(dim=1).exp()
        p = torch.stack([good, (not_bad - good).clamp_min(1e-7), (1.0 - not_bad).clamp_min(1e-7)],
                        dim=1)
        return p / p.sum(dim=1, keepdim=True)


def gaussian_nll(target: torch.Tensor, mean: torch.Tensor, log_sigma: torch.Tensor
                 ) -> torch.Tensor:
    """Mean negative log-likelihood (constant dropped) of targets under the estimates."""
    return (0.5 * ((target - mean) / log_sigma.exp()) ** 2 + log_sigma).mean()
