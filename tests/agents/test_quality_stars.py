"""The reference-star measurements behind the quality model: PSF stack, FWHM, transparency."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import erf

from skytwin.agents.preprocess import robust_stats
from skytwin.agents.quality.stars import (DISC_LEVEL, DISC_WINGS, ReferenceStars, SourceDiscs,
                                          background_model, half_max_diameter, measure_stars,
                                          source_discs, weighted_median)

SIZE = 256
BIAS, SKY, GAIN, EXPTIME, MAGZERO = 1000.0, 400.0, 1.0, 60.0, 1.0e9
HEADER = {"PIXSCALE": 0.5, "GAIN": GAIN, "EXPTIME": EXPTIME, "MAGZERO": MAGZERO,
          "BIASLEV": BIAS, "SATURATE": 1e12}


def _gauss_pix(x0: float, y0: float, sx: float, sy: float, n: int = SIZE) -> np.ndarray:
    """A unit-flux elliptical Gaussian integrated over pixels (axes along x and y)."""
    e = np.arange(n + 1) - 0.5
    fx = np.diff(0.5 * (1 + erf((e - x0) / (math.sqrt(2) * sx))))
    fy = np.diff(0.5 * (1 + erf((e - y0) / (math.sqrt(2) * sy))))
    return np.outer(fy, fx)


def _frame(transparency: float, sigma_px: float = 2.0, q: float = 1.0, vignetting: float = 0.0,
           seed: int = 0) -> tuple[np.ndarray, dict, ReferenceStars]:
    rng = np.random.default_rng(seed)
    n = 40
    x = rng.uniform(20, SIZE - 21, n)
    y = rng.uniform(20, SIZE - 21, n)
    mag = rng.uniform(14.0, 17.0, n)
    img = np.zeros((SIZE, SIZE))
    for xi, yi, m in zip(x, y, mag):
        flux = MAGZERO * EXPTIME * 10 ** (-0.4 * m) * transparency
        img += flux * _gauss_pix(xi, yi, sigma_px, sigma_px * q)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    r2 = ((xx - SIZE / 2) ** 2 + (yy - SIZE / 2) ** 2) / (SIZE / 2) ** 2
    flat = 1.0 - vignetting * r2 / r2.max()
    img = (img + SKY) * flat
    img = rng.poisson(img).astype(np.float64) / GAIN + BIAS
    header = dict(HEADER)
    return img.astype(np.float32), header, ReferenceStars(x, y, mag)


def _measure(img, header, stars):
    level, sigma = robust_stats(img)
    return measure_stars(img, level, sigma, header, stars)


def test_half_max_diameter_of_a_gaussian_is_its_fwhm():
    stack = _gauss_pix(16.0, 16.0, 3.0, 3.0, n=33)
    assert half_max_diameter(stack) == pytest.approx(2.3548 * 3.0, rel=0.05)


def test_weighted_median_follows_the_weights():
    v = np.array([1.0, 2.0, 3.0, 100.0])
    assert weighted_median(v, np.ones(4)) in (2.0, 3.0)
    assert weighted_median(v, np.array([1.0, 1.0, 10.0, 1.0])) == 3.0


def test_background_model_recovers_the_flat_falloff():
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    x, y = (xx - SIZE / 2) / (SIZE / 2), (yy - SIZE / 2) / (SIZE / 2)
    img = (500.0 + 20.0 * x - 40.0 * (x ** 2 + y ** 2)).astype(np.float32)
    coef, _, _ = background_model(img)
    assert coef == pytest.approx([500.0, 20.0, 0.0, -40.0], abs=1.5)


@pytest.mark.parametrize("shape", [(40, 2000), (2000, 40), (5, 300), (3, 3)])
def test_background_model_of_narrow_frames(shape):
    # a stride over the long side must not leave the short side shorter than a block
    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    along = (xx - nx / 2) / (nx / 2) if nx >= ny else (yy - ny / 2) / (ny / 2)
    img = (500.0 + 60.0 * along).astype(np.float32)  # a slope along the long side
    coef, xc, yc = background_model(img)
    assert np.isfinite(coef).all() and xc.size == yc.size >= 1
    if min(shape) >= 5:  # the model where stars would be (one row of blocks: y is not fitted)
        for py, px in ((ny // 2, nx // 4), (ny // 3, nx - 3)):
            xr, yr = (px - nx / 2) / (nx / 2), (py - ny / 2) / (ny / 2)
            sky = coef[0] + coef[1] * xr + coef[2] * yr + coef[3] * (xr ** 2 + yr ** 2)
            assert sky == pytest.approx(float(img[py, px]), abs=1.0)


def test_quality_of_a_narrow_frame_with_a_catalogue():
    from skytwin.agents.quality import load_default
    rng = np.random.default_rng(2)
    img = rng.normal(1400.0, 20.0, (40, 2000)).astype(np.float32)
    x, y = rng.uniform(20, 1980, 30), np.full(30, 20.0)
    for xi in x:
        img += (1e4 * _gauss_pix(xi, 20.0, 1.5, 1.5, n=2000)[:40]).astype(np.float32)
    header = dict(HEADER)
    res = load_default().predict(img, headers=[header],
                                 stars=[ReferenceStars(x, y, np.full(30, 15.0))])
    assert res.labels[0] in ("good", "medium", "bad")


@pytest.mark.parametrize("size", [256, 512, 1024])
def test_background_model_is_evaluated_where_its_blocks_lie(size):
    # the stars' sky is the model at their pixel positions: a steep plane must come back at the
    # same pixels (blocks placed half a block off would shift it by the plane's slope)
    yy, xx = np.mgrid[0:size, 0:size]
    x, y = (xx - size / 2) / (size / 2), (yy - size / 2) / (size / 2)
    img = (500.0 + 60.0 * x + 40.0 * y).astype(np.float32)
    coef, _, _ = background_model(img)
    assert coef == pytest.approx([500.0, 60.0, 40.0, 0.0], abs=0.02)


@pytest.mark.parametrize("transparency", [0.35, 0.7, 1.0])
def test_catalogue_transparency_and_psf_are_recovered(transparency):
    img, header, stars = _frame(transparency, vignetting=0.12)
    m = _measure(img, header, stars)
    assert m.n_stars >= 10
    # the aperture of 2.5 FWHM holds ~99.9% of a Gaussian; vignetting is divided out
    assert m.transparency == pytest.approx(transparency, rel=0.04)
    assert m.halfmax_arcsec == pytest.approx(2.3548 * 2.0 * 0.5, rel=0.12)
    assert m.fwhm_arcsec == pytest.approx(2.3548 * 2.0 * 0.5, rel=0.12)
    assert m.ellipticity < 0.05


def test_elongated_stars_give_their_ellipticity():
    img, header, stars = _frame(1.0, sigma_px=2.5, q=0.6)
    m = _measure(img, header, stars)
    assert m.ellipticity == pytest.approx(0.4, abs=0.06)


def test_without_a_catalogue_the_psf_still_comes_and_the_transparency_is_missing():
    img, header, _ = _frame(0.8)
    m = _measure(img, header, None)
    assert m.n_stars >= 5
    assert math.isnan(m.transparency)
    assert m.fwhm_arcsec == pytest.approx(2.3548, rel=0.15)


def test_twin_frame_transparency_matches_its_clouds():
    from skytwin.training.datasets import quality_request, render_safe
    from skytwin.training.sites import SITES

    req = quality_request(3, 5, SITES, size=512).with_(transparency=0.6, cloud_patchiness=0.0,
                                                        bright_star_mag=math.nan)
    frame = render_safe(req)
    m = _measure(frame.image, frame.header, ReferenceStars.from_truth(frame.truth))
    assert m.transparency == pytest.approx(frame.conditions["transparency"], rel=0.1)


def test_trimmed_mean_drops_the_tails_and_follows_the_weights():
    from skytwin.agents.quality.stars import trimmed_mean
    v = np.array([0.7] * 18 + [5.0, 9.0])
    assert trimmed_mean(v, np.ones_like(v)) == pytest.approx(0.7)
    w = np.array([1.0, 1.0, 8.0])
    assert trimmed_mean(np.array([0.5, 0.6, 0.9]), w, trim=0.0) == pytest.approx(0.83)


def test_a_blended_star_does_not_bias_the_transparency():
    img, header, stars = _frame(0.7)
    # a catalogue star one magnitude fainter 6 pixels from half the stars: those drop out
    half = len(stars) // 2
    x = np.concatenate([stars.x, stars.x[:half] + 6.0])
    y = np.concatenate([stars.y, stars.y[:half]])
    mag = np.concatenate([stars.mag, stars.mag[:half] + 1.0])
    for xi, yi, m in zip(x[len(stars):], y[len(stars):], mag[len(stars):]):
        img = img + (MAGZERO * EXPTIME * 10 ** (-0.4 * m) * 0.7
                     * _gauss_pix(xi, yi, 2.0, 2.0)).astype(np.float32)
    m = _measure(img, header, ReferenceStars(x, y, mag))
    assert m.transparency == pytest.approx(0.7, rel=0.04)


def test_core_ellipticity_of_an_elliptical_gaussian():
    from skytwin.agents.quality.stars import core_ellipticity
    yy, xx = np.mgrid[-40:41, -40:41]
    g = np.exp(-(xx ** 2 / (2 * 6.0 ** 2) + yy ** 2 / (2 * 4.2 ** 2)))
    assert core_ellipticity(g, floor=0.0) == pytest.approx(0.3, abs=1e-3)


def test_without_a_zero_point_the_catalogue_still_gives_a_psf():
    from skytwin.agents.quality.inputs import quality_model_input
    img, header, stars = _frame(0.7)
    header = {k: v for k, v in header.items() if k != "MAGZERO"}
    x, s = quality_model_input(img, header, None, stars)
    assert np.isfinite(x).all() and np.isfinite(s).all()
    m = _measure(img, header, stars)
    assert m.fwhm_arcsec == pytest.approx(2.3548 * 2.0 * 0.5, rel=0.1) and math.isnan(m.transparency)


def _faint_broad_ratios(n: int, seeds: range, t: float = 0.7) -> np.ndarray:
    """Measured over true transparency on frames of ``n`` faint stars of FWHM 7 pixels."""
    ratios = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        x, y = rng.uniform(20, SIZE - 21, n), rng.uniform(20, SIZE - 21, n)
        mag = rng.uniform(16.5, 17.5, n)
        img = np.full((SIZE, SIZE), SKY)
        for xi, yi, m in zip(x, y, mag):
            img += MAGZERO * EXPTIME * 10 ** (-0.4 * m) * t * _gauss_pix(xi, yi, 3.0, 3.0)
        # read noise in floats, as the twin's frames (a median of whole ADU is quantised)
        img = (rng.poisson(img) + rng.normal(0.0, 5.0, img.shape)) / GAIN + BIAS
        m = _measure(img.astype(np.float32), dict(HEADER), ReferenceStars(x, y, mag))
        ratios.append(m.transparency / t)
    return np.array(ratios)


def test_faint_broad_stars_transparency_is_not_swamped_by_the_stamp_border():
    # faint stars of FWHM 7 pixels: the aperture is the stamp's 16 pixels (800 pixels of sky).
    # The median of a stamp's 128 border pixels would add ~26% noise to each star (a scatter of
    # ~9% over frames of 15 stars); the frame's background model adds almost none, leaving the
    # aperture's own ~9% per star
    ratios = _faint_broad_ratios(15, range(10))
    assert np.std(ratios) < 0.06
    assert abs(np.mean(ratios) - 1.0) < 0.06


def test_crowded_broad_stars_do_not_lift_the_background():
    # 80 such stars: their apertures cover the frame, and their light lifted the background
    # model's block medians by a quarter of the noise, which over 800 pixels took 59% off the
    # transparency (0.41 of the truth) before the catalogue's sources were left out of them
    ratios = _faint_broad_ratios(80, range(4))
    assert abs(np.mean(ratios) - 1.0) < 0.1


def test_background_model_leaves_out_the_source_discs():
    # a sky plane under 60 broad stars whose discs cover a quarter of the frame: without the
    # discs the block medians rise with their light; with them the plane comes back (to the
    # noise of the fewer pixels left, ~0.1 ADU here)
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    sky = 1000.0 + 0.1 * xx
    n = 60
    x, y = rng.uniform(0, SIZE, n), rng.uniform(0, SIZE, n)
    stars = np.zeros((SIZE, SIZE))
    for xi, yi in zip(x, y):
        stars += 3000.0 * _gauss_pix(xi, yi, 3.0, 3.0)
    img = (sky + stars + rng.normal(0.0, 5.0, sky.shape)).astype(np.float32)
    plain, _, _ = background_model(img)
    masked, _, _ = background_model(img, sources=SourceDiscs(x, y, np.full(n, 10.0)))
    centre, slope = 1000.0 + 0.1 * SIZE / 2, 0.1 * SIZE / 2  # a and b of the fit's units
    assert plain[0] - centre > 1.0  # lifted by a fifth of the noise
    assert masked[0] == pytest.approx(centre, abs=0.3)
    assert masked[1] == pytest.approx(slope, abs=0.3)


@pytest.mark.parametrize("shape", [(256, 48), (48, 256), (256, 32)])
def test_discs_that_leave_one_column_of_blocks_do_not_tilt_the_sky(shape):
    # on a strip two or three blocks wide, discs over all but one column of blocks left the
    # constant and the slope across the strip indistinguishable: the fit split the level
    # between them and put the sky ~500 ADU off (found in review)
    ny, nx = shape
    img = (1000.0 + np.random.default_rng(0).normal(0, 5, shape)).astype(np.float32)
    along = np.arange(0, max(shape) + 1, 8.0)
    across = np.full(along.size, 32.0)
    x, y = (across, along) if nx < ny else (along, across)
    coef, _, _ = background_model(img, sources=SourceDiscs(x, y, np.full(along.size, 20.0)))
    assert coef[0] == pytest.approx(1000.0, abs=2.0)
    assert abs(coef[1]) + abs(coef[2]) < 2.0


def test_nan_pixels_off_the_discs_leave_their_block_out():
    rng = np.random.default_rng(4)
    img = (1000.0 + rng.normal(0, 5, (256, 256))).astype(np.float32)
    img[rng.random(img.shape) < 0.3] = np.nan
    coef, _, _ = background_model(img, sources=SourceDiscs(np.array([128.0]), np.array([128.0]),
                                                           np.array([10.0])))
    # every block holds NaN: none is measured, as without the discs (the NaN off the discs
    # had been taken as pixels, and the medians read off too high: 1005 here)
    assert np.isnan(coef).all() and np.isnan(background_model(img)[0]).all()


def test_source_discs_end_where_the_light_falls_to_the_level():
    stars = ReferenceStars(np.array([10.0, 20.0, 30.0]), np.array([5.0, 5.0, 5.0]),
                           np.array([15.0, 15.0, 30.0]), np.array([True, False, True]))
    adu_mag0, fwhm, sigma = 1e9, 4.0, 10.0
    d = source_discs(stars, adu_mag0, fwhm, sigma)
    assert np.array_equal(d.x, [10.0, 20.0])  # the 30th-magnitude star nowhere reaches the level
    s = fwhm / 2.3548
    peak = adu_mag0 * 10 ** (-0.4 * 15.0) / (2 * math.pi * s ** 2)
    r = d.radius[0] / DISC_WINGS
    assert peak * math.exp(-r ** 2 / (2 * s ** 2)) == pytest.approx(DISC_LEVEL * sigma, rel=1e-9)
    assert d.radius[1] > d.radius[0]  # a galaxy's disc is wider


def _trail(img: np.ndarray, x0: float, y0: float, angle_deg: float, peak: float,
           sigma_px: float = 1.5) -> None:
    """Add a satellite trail (a Gaussian ridge) through ``(x0, y0)`` in place."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    a = math.radians(angle_deg)
    d = (xx - x0) * math.sin(a) - (yy - y0) * math.cos(a)  # distance from the line
    img += peak * np.exp(-0.5 * (d / sigma_px) ** 2)


def test_without_a_catalogue_trails_and_extended_sources_are_not_stacked():
    """Bright trails fill the list of brightest maxima (a ridge of them); a knot of extended
    light is broader than a star: neither goes into the stack (it gave ~3x the FWHM)."""
    img, header, _ = _frame(0.8, sigma_px=1.5, seed=3)
    img = img.astype(np.float64)
    for x0, y0, ang in ((60, 0, 70), (0, 180, 10), (200, 0, 100)):
        _trail(img, x0, y0, ang, peak=3000.0)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    for x0, y0 in ((40, 40), (210, 60), (128, 220)):  # round blobs of 5 pixels sigma
        img += 2500.0 * np.exp(-0.5 * ((xx - x0) ** 2 + (yy - y0) ** 2) / 5.0 ** 2)
    m = _measure(img.astype(np.float32), header, None)
    assert m.n_stars >= 5
    assert m.fwhm_arcsec == pytest.approx(2.3548 * 1.5 * 0.5, rel=0.15)
