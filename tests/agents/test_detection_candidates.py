"""Candidate detection against the local noise of a difference image."""

from __future__ import annotations

import numpy as np
import pytest

from skytwin.agents.detection import detect_candidates, noise_ratio_map

SIZE = 200
FWHM = 3.0


def _stars(rng: np.random.Generator, n: int = 12, peak: float = 2000.0
           ) -> tuple[np.ndarray, np.ndarray]:
    """A template of ``n`` Gaussian stars and their positions ``(n, 2)`` (x, y)."""
    yy, xx = np.mgrid[:SIZE, :SIZE]
    pos = rng.uniform(20, SIZE - 20, (n, 2))
    s = FWHM / 2.3548
    t = np.zeros((SIZE, SIZE))
    for x, y in pos:
        t += peak * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * s * s))
    return t.astype(np.float32), pos


def _near(c, pos: np.ndarray, r: float = 4.0) -> np.ndarray:
    """Per candidate: within ``r`` pixels of one of ``pos``."""
    if not len(c):
        return np.zeros(0, bool)
    return np.hypot(c.x[:, None] - pos[None, :, 0], c.y[:, None] - pos[None, :, 1]).min(1) <= r


def _transient(x: float, y: float, flux: float) -> np.ndarray:
    yy, xx = np.mgrid[:SIZE, :SIZE]
    s = FWHM / 2.3548
    return (flux / (2 * np.pi * s * s) * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * s * s))
            ).astype(np.float32)


def test_photon_noise_of_template_stars_is_not_a_candidate() -> None:
    rng = np.random.default_rng(3)
    template, pos = _stars(rng)
    # the difference holds each star's photon noise (gain 1) on top of the sky's
    diff = (rng.normal(0, 1, (SIZE, SIZE)) * np.sqrt(1 + template)).astype(np.float32)
    diff += _transient(100.5, 12.0, 150.0)  # a new source on empty sky, SNR ~ 20
    ratio = noise_ratio_map(diff, template, FWHM)
    ix, iy = np.rint(pos).astype(int).T
    assert np.median(ratio[iy, ix]) > 5  # the stars' noise is many times the sky's
    assert np.median(ratio[template < 1e-3]) == pytest.approx(1.0, abs=0.05)

    plain = detect_candidates(diff, 1.0, FWHM)
    local = detect_candidates(diff, 1.0, FWHM, noise_ratio=ratio)
    assert _near(plain, pos).sum() >= 5  # sky noise alone calls the stars' noise peaks
    assert _near(local, pos).sum() <= 1
    found = np.hypot(local.x - 100.5, local.y - 12.0).min()
    assert found <= 1.5


def test_a_flux_scaling_residual_is_absorbed_but_a_large_change_is_kept() -> None:
    rng = np.random.default_rng(4)
    template, pos = _stars(rng)
    diff = 0.01 * template + rng.normal(0, 1, (SIZE, SIZE)).astype(np.float32)
    x0, y0 = pos[0]
    diff += 0.3 * template * (np.hypot(*np.mgrid[:SIZE, :SIZE][::-1] - pos[0][:, None, None])
                              < 8)  # one star brightened by 30%
    ratio = noise_ratio_map(diff, template, FWHM)
    c = detect_candidates(diff, 1.0, FWHM, noise_ratio=ratio)
    on = _near(c, pos)
    assert on.sum() >= 1 and _near(c, pos[:1]).sum() == 1
    assert _near(c, pos[1:]).sum() <= 1  # the 1% residuals of the others are not candidates
    assert np.hypot(c.x - x0, c.y - y0).min() <= 1.5


def test_no_template_sources_leaves_the_sky_noise() -> None:
    rng = np.random.default_rng(5)
    diff = rng.normal(0, 1, (64, 64)).astype(np.float32)
    assert (noise_ratio_map(diff, np.zeros((64, 64), np.float32), FWHM) == 1).all()
    diff[:5] = np.nan  # NaN edges of a difference are fine
    r = noise_ratio_map(diff, np.zeros((64, 64), np.float32), FWHM)
    assert r.shape == (64, 64) and np.isfinite(r).all()


def test_a_poor_seeing_frame_full_of_cosmic_rays_is_measured_at_the_reference_stars() -> None:
    from skytwin.agents.detection.subtract import fwhm_estimate, star_peaks, subtract
    rng = np.random.default_rng(6)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    pos = rng.uniform(20, SIZE - 20, (15, 2))

    def frame(fwhm: float, flux: float) -> np.ndarray:
        s = fwhm / 2.3548
        im = rng.normal(100, 3, (SIZE, SIZE))
        for x, y in pos:
            im += flux / (2 * np.pi * s * s) * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * s * s))
        return im.astype(np.float32)

    ref = frame(3.0, 40000.0)
    sci = frame(8.0, 40000.0)  # poor seeing: the stars' peaks are low
    for y, x in rng.integers(5, SIZE - 6, (150, 2)):  # 3 x 3 cosmic-ray hits (light all round)
        sci[y:y + 3, x:x + 3] += rng.uniform(800, 3000)
    alone = fwhm_estimate(sci - 100, 0.0, 3.0)
    at_stars = fwhm_estimate(sci - 100, 0.0, 3.0, at=star_peaks(ref - 100, 3.0))
    assert alone < 4  # the frame's own brightest compact peaks are the cosmic rays
    assert at_stars == pytest.approx(8.0, rel=0.15)
    assert subtract(sci, ref).convolved == "reference"  # the sharp reference is matched


def test_hot_pixel_pairs_are_not_stars() -> None:
    from skytwin.agents.detection.subtract import star_peaks
    rng = np.random.default_rng(7)
    im = rng.normal(0, 1, (SIZE, SIZE)).astype(np.float32)
    im[50, 60:62] = 500.0  # two adjacent hot pixels: light on one side only
    im[120, 30] = 800.0  # a single hot pixel
    yy, xx = np.mgrid[:SIZE, :SIZE]
    im += 300 * np.exp(-((xx - 150.3) ** 2 + (yy - 90.6) ** 2) / (2 * 0.65 ** 2))  # FWHM 1.5
    ys, xs = star_peaks(im, 1.0)
    assert list(zip(ys.tolist(), xs.tolist())) == [(91, 150)]


def _field(rng: np.random.Generator, pos: np.ndarray, fwhm: float, flux: float,
           noise: float) -> np.ndarray:
    yy, xx = np.mgrid[:SIZE, :SIZE]
    s = fwhm / 2.3548
    im = rng.normal(100, noise, (SIZE, SIZE))
    for x, y in pos:
        im += flux / (2 * np.pi * s * s) * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * s * s))
    return im.astype(np.float32)


def test_an_unmeasurable_science_frame_is_not_taken_as_the_sharper() -> None:
    from skytwin.agents.detection.subtract import subtract
    rng = np.random.default_rng(8)
    pos = rng.uniform(30, SIZE - 30, (12, 2))
    ref = _field(rng, pos, 4.0, 60000.0, 3.0)  # a 4-pixel reference, well measured
    sci = _field(rng, pos, 6.0, 300.0, 3.0)  # thick cloud, poor seeing: stars in the noise
    sub = subtract(sci, ref)
    assert np.isnan(sub.fwhm_science) and sub.fwhm_reference == pytest.approx(4.0, rel=0.15)
    assert sub.convolved == "reference"  # a 3-pixel guess had convolved the science


def test_a_kernel_fitted_on_few_faint_stars_keeps_the_flux_scale() -> None:
    from skytwin.agents.detection.subtract import FEW_STAMPS, subtract
    errors = []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        pos = rng.uniform(30, SIZE - 30, (4, 2))  # a sparse field: four stars at ~30 sigma
        ref = _field(rng, pos, 3.0, 1500.0, 5.0)
        sci = _field(rng, pos, 5.0, 0.7 * 1500.0, 5.0)  # worse seeing, 30% cloud
        sub = subtract(sci, ref)
        assert 3 <= sub.n_stamps < FEW_STAMPS
        errors.append(abs(sub.kernel.sum() - 0.7))
    # 31 terms on four stars followed their noise: mean error 0.11 (0.52 to 0.82)
    assert np.mean(errors) < 0.05


def test_the_subtraction_counts_which_kernel_stamps_are_stars() -> None:
    from skytwin.agents.detection.subtract import star_shaped, subtract
    rng = np.random.default_rng(12)
    pos = rng.uniform(30, SIZE - 30, (4, 2))
    ref = _field(rng, pos, 3.0, 40000.0, 3.0)
    sci = _field(rng, pos, 4.0, 40000.0, 3.0)
    clean = subtract(sci, ref)
    assert clean.n_stamps == clean.n_star_stamps == 4
    # hot pixels: single bright pixels that both images share (a stack keeps them)
    hot = rng.integers(20, SIZE - 20, (30, 2))
    for im in (ref, sci):
        im[hot[:, 1], hot[:, 0]] += 2000.0
    assert not star_shaped(ref, hot[:, 1], hot[:, 0]).any()
    sub = subtract(sci, ref)
    assert sub.n_stamps > 20 and sub.n_star_stamps <= 4


def _sparse_pair(star_ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """A sparse field (two bright stars, fifteen faint sources) with 40 hot pixels that
    science and reference share at one level (equal exposure times): the science's
    sources at ``star_ratio`` of the reference's (clouds), in poorer seeing."""
    rng = np.random.default_rng(14)
    bright = rng.uniform(30, SIZE - 30, (2, 2))
    faint = rng.uniform(15, SIZE - 15, (15, 2))
    hot = rng.integers(15, SIZE - 15, (40, 2))
    ref = _field(rng, bright, 3.0, 40000.0, 3.0) + _field(rng, faint, 3.0, 600.0, 0.0) - 100
    sci = (_field(rng, bright, 4.0, star_ratio * 40000.0, 3.0)
           + _field(rng, faint, 4.0, star_ratio * 600.0, 0.0) - 100)
    for im in (ref, sci):
        im[hot[:, 1], hot[:, 0]] += 3000.0
    return sci, ref


def test_a_kernel_on_hot_pixels_takes_its_flux_scale_from_the_sources() -> None:
    from skytwin.agents.detection.subtract import subtract
    sub = subtract(*_sparse_pair(0.7))
    assert sub.n_star_stamps < 3 and sub.n_stamps > 20  # the fit rests on the hot pixels
    # their ratio is the exposure times' (1.0); the sources' is the clouds' too (0.7)
    assert sub.kernel.sum() == pytest.approx(0.7, abs=0.07)


def test_sources_brighter_than_the_hot_pixels_do_not_raise_the_flux_scale() -> None:
    from skytwin.agents.detection.subtract import subtract
    # clouds only dim the science: sources brighter than the exposure times allow are
    # variables (or a brightening), not the frame's scale
    sub = subtract(*_sparse_pair(1.3))
    assert sub.kernel.sum() == pytest.approx(1.0, abs=0.1)


def test_a_hot_pixel_on_a_star_does_not_make_a_blurred_frame_sharp() -> None:
    from skytwin.agents.detection.subtract import subtract
    rng = np.random.default_rng(10)
    pos = rng.uniform(30, SIZE - 30, (5, 2))
    flux = np.array([60000.0, 8000.0, 6000.0, 5000.0, 4000.0])  # one bright star, four faint
    yy, xx = np.mgrid[:SIZE, :SIZE]

    def frame(fwhm: float) -> np.ndarray:
        s = fwhm / 2.3548
        im = rng.normal(100, 10, (SIZE, SIZE))
        for (x, y), f in zip(pos, flux):
            im += f / (2 * np.pi * s * s) * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * s * s))
        return im.astype(np.float32)

    ref = frame(2.5)
    sci = frame(6.0)  # poor seeing
    y, x = np.rint(pos[0, ::-1]).astype(int)
    sci[y, x] += 3000.0  # a hot pixel on the bright star's peak
    sub = subtract(sci, ref)
    assert not sub.fwhm_science < 3.0  # measured on the spike alone it was ~1.1 pixels
    assert sub.convolved == "reference"


def test_fwhm_of_undersampled_stars_is_not_quantised() -> None:
    """A 1.8- and a 2.1-pixel PSF: counted on native pixels both measured 2.26 pixels."""
    from skytwin.agents.detection.subtract import _median_fwhm
    rng = np.random.default_rng(11)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    got = []
    for fwhm in (1.5, 1.8, 2.1, 2.5, 3.0, 4.0):
        s = fwhm / 2.3548
        im = rng.normal(0, 2, (SIZE, SIZE))
        ys, xs = [], []
        for k in range(12):
            y, x = 25 + (k // 4) * 60 + rng.uniform(-0.5, 0.5), 25 + (k % 4) * 45 + rng.uniform(-0.5, 0.5)
            im += 5000 / (2 * np.pi * s * s) * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * s * s))
            ys.append(int(round(y)))
            xs.append(int(round(x)))
        got.append(_median_fwhm(im.astype(np.float32), ys, xs))
    assert np.all(np.diff(got) > 0.15), got  # each step of the PSF shows
    # within the pixel's own blur of the truth (a 1-pixel box adds 1/12 pixel^2 of variance)
    for fwhm, g in zip((2.5, 3.0, 4.0), got[3:]):
        assert g == pytest.approx(fwhm, rel=0.08)
