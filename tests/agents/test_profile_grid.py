"""The profile grid's FWHM of broad PSF stacks, and its place in the quality model's estimates."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from skytwin.agents.quality.inputs import QUALITY_SCALARS
from skytwin.agents.quality.profile_grid import (DEFOCUS_PX, HALF, SEEING_PX, _octant_index,
                                                 draw_profile, load_grid, profile_fwhm)
from skytwin.agents.quality.rule_head import (PROFILE_LOG_BIAS, PROFILE_LOG_SIGMA,
                                              PROFILE_MIN_PIXELS, broad_psf_estimate)


@pytest.mark.parametrize("i, j", [(3, 0), (41, 13), (59, 26)])
def test_the_shipped_grid_is_the_one_galsim_draws(i, j) -> None:
    """The shipped file holds what ``draw_profile`` draws (re-run ``python -m ...profile_grid``
    after changing the recipe)."""
    import skytwin.agents.quality.profile_grid as pg
    from skytwin.agents.checkpoint import weights_path

    with np.load(weights_path(pg.GRID_FILE)) as z:
        stored, fwhm = z["octants"][i, j][_octant_index()], z["fwhm_px"][i, j]
        assert np.allclose(z["seeing_px"], SEEING_PX) and np.allclose(z["defocus_px"], DEFOCUS_PX)
    stamp, f = draw_profile(float(SEEING_PX[i]), float(DEFOCUS_PX[j]))
    assert np.abs(stamp - stored).max() < 1e-6 * stamp.max()
    assert f == pytest.approx(fwhm, rel=1e-9)


@pytest.mark.parametrize("seeing, defocus", [(5.3, 0.0), (2.1, 9.4), (3.7, 17.2)])
def test_profile_fwhm_recovers_an_off_grid_doughnut(seeing, defocus) -> None:
    """Between grid points, with noise and a scale of its own, the match is within 2% of the
    profile's half-maximum diameter, where adaptive moments of a doughnut fall far short."""
    import galsim

    stamp, truth = draw_profile(seeing, defocus)
    rng = np.random.default_rng(3)
    noisy = 40.0 * stamp + rng.normal(0.0, 0.01 * 40.0 * stamp.max(), stamp.shape)
    assert profile_fwhm(noisy) == pytest.approx(truth, rel=0.02)
    if defocus > 10:  # why the grid is there
        mom = galsim.hsm.FindAdaptiveMom(galsim.Image(stamp), strict=False)
        assert 2.3548 * mom.moments_sigma < 0.9 * truth


def test_profile_fwhm_of_what_it_cannot_match_is_nan() -> None:
    size = 2 * HALF + 1
    assert math.isnan(profile_fwhm(np.zeros((size - 2, size - 2))))  # not the stack's size
    assert math.isnan(profile_fwhm(-np.ones((size, size))))  # no positive match
    bad = np.ones((size, size))
    bad[3, 3] = np.nan
    assert math.isnan(profile_fwhm(bad))
    assert load_grid().profiles.shape[:2] == (SEEING_PX.size, DEFOCUS_PX.size)


def test_profile_fwhm_of_noise_is_a_number_or_nan_never_an_error() -> None:
    """A stack of pure noise can match best where a neighbouring profile is no match at all
    (an infinite misfit); the refinement then stays on the grid point (CI found it this way)."""
    size = 2 * HALF + 1
    for seed in range(40):
        f = profile_fwhm(np.random.default_rng(seed).normal(0.0, 0.1, (size, size)))
        assert math.isnan(f) or load_grid().fwhm_px.min() <= f <= load_grid().fwhm_px.max()


def test_broad_stack_fwhm_matches_broad_stacks_only_and_checks_the_match() -> None:
    from skytwin.agents.quality.stars import PROFILE_FROM_PIXELS, broad_stack_fwhm

    stamp, truth = draw_profile(3.0, 8.0)  # a doughnut of ~8.5 pixels
    scale = 0.5
    moments = 0.8 * truth * scale  # what adaptive moments would say of it (arcsec)
    assert broad_stack_fwhm(stamp, (moments, math.nan), scale) == \
        pytest.approx(truth * scale, rel=0.01)
    # a stack whose own sizes are under the limit is not matched
    narrow = 0.9 * PROFILE_FROM_PIXELS * scale
    assert math.isnan(broad_stack_fwhm(stamp, (narrow, narrow), scale))
    assert math.isnan(broad_stack_fwhm(stamp, (math.nan, math.nan), scale))
    # a match far above the stack's own sizes (a halo, not the PSF) is dropped
    assert math.isnan(broad_stack_fwhm(stamp, (0.4 * truth * scale, math.nan), scale))


def _scalars(profile_arcsec: float, scale: float) -> torch.Tensor:
    s = torch.zeros(1, len(QUALITY_SCALARS))
    s[0, QUALITY_SCALARS.index("pixel_scale_arcsec")] = scale
    s[0, QUALITY_SCALARS.index("psf_profile_fwhm_arcsec")] = profile_arcsec
    return s


def test_broad_psf_estimate_takes_the_grid_above_its_pixel_limit_only() -> None:
    mean = torch.tensor([[math.log(2.0), 0.1, -0.1, 0.5, -6.0]]).repeat(3, 1)
    log_sigma = torch.full((3, 5), -3.0)
    limit = PROFILE_MIN_PIXELS * 0.5  # arcsec at 0.5"/pixel
    s = torch.cat([_scalars(limit * 1.5, 0.5),  # broad: replaced
                   _scalars(limit * 0.9, 0.5),  # under the limit: the network's
                   _scalars(0.0, 0.5)])  # not matched: the network's
    m, ls = broad_psf_estimate(mean, log_sigma, s)
    assert m[0, 0].item() == pytest.approx(math.log(limit * 1.5) - PROFILE_LOG_BIAS)
    assert ls[0, 0].item() == pytest.approx(math.log(PROFILE_LOG_SIGMA))
    assert torch.equal(m[1:], mean[1:]) and torch.equal(ls[1:], log_sigma[1:])
    assert torch.equal(m[:, 1:], mean[:, 1:]) and torch.equal(ls[:, 1:], log_sigma[:, 1:])


def test_a_defocused_twin_frame_is_matched_and_judged_by_the_grid() -> None:
    """A doughnut of ~9 pixels: the stack is matched, the verdict's FWHM is the match's (less
    its offset) and near the truth, where the moments of the stack are far below it."""
    from skytwin.agents.quality import load_default
    from skytwin.twin.frames import RenderRequest, render_frame

    req = RenderRequest(ra_deg=150.0, dec_deg=2.0, nx=512, ny=512, pixel_scale_arcsec=0.5,
                        seeing_arcsec=1.0, defocus_arcsec=4.0, exptime_s=120.0,
                        star_density=3.0, seed=5, frame_id="doughnut")
    frame = render_frame(req)
    truth = frame.conditions["fwhm_arcsec"]
    model = load_default(engine="torch")
    res = model.predict(frame)
    from skytwin.agents.quality.inputs import quality_model_input
    from skytwin.agents.quality.stars import ReferenceStars
    _, s = quality_model_input(frame.image, frame.header, None,
                               ReferenceStars.from_truth(frame.truth))
    profile = float(s[QUALITY_SCALARS.index("psf_profile_fwhm_arcsec")])
    moments = float(s[QUALITY_SCALARS.index("psf_fwhm_arcsec")])
    assert profile / 0.5 > PROFILE_MIN_PIXELS
    assert profile == pytest.approx(truth, rel=0.05) and moments < 0.9 * truth
    reported = res.measurements[0]["fwhm_arcsec"]
    assert reported == pytest.approx(profile * math.exp(-PROFILE_LOG_BIAS), rel=1e-4)
    assert res.labels[0] == "bad" and truth > 3.5  # the rule's bad-seeing threshold
