"""The candidate cut-out renderer: the truth drawn at the centre, the reference without it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from skytwin.twin.candidate_pixels import CUTOUT_FIELD, pixel_noise_adu, render_candidate
from skytwin.twin.candidates import Candidate
from skytwin.twin.frames import RenderRequest

FRAME = RenderRequest(ra_deg=150.0, dec_deg=2.2, nx=512, ny=512, pixel_scale_arcsec=0.6, exptime_s=60.0,
                      seeing_arcsec=1.5, sky_mag_arcsec2=20.5, seed=7, frame_id="f1", site="s", telescope="t1")


def _cand(kind: str, snr: float = 40.0, elongation: float = 1.0) -> Candidate:
    return Candidate(candidate_id=f"f1.{kind}", frame_id="f1", site="s", request_id="r", t_s=0.0,
                     ra_deg=150.01, dec_deg=2.19, snr=snr, fwhm_ratio=1.0, elongation=elongation,
                     star_dist_arcsec=5.0, neg_frac=0.1, frame_fwhm_arcsec=1.6, too=False, alert_id=None,
                     real=kind == "transient", kind=kind, mag=math.nan)


def _excess(a: np.ndarray, r: int) -> float:
    """Summed flux within ``r`` pixels of the centre above the image's median (ADU)."""
    c = CUTOUT_FIELD // 2
    yy, xx = np.mgrid[: a.shape[0], : a.shape[1]]
    return float((a - np.median(a))[(yy - c) ** 2 + (xx - c) ** 2 <= r * r].sum())


@pytest.mark.parametrize("kind", ["transient", "cosmic_ray", "hot_pixel"])
def test_the_candidate_is_in_the_science_image_only(kind):
    im = render_candidate(FRAME, _cand(kind, elongation=2.0))
    sigma = pixel_noise_adu(FRAME)
    assert im.science.shape == im.reference.shape == (CUTOUT_FIELD, CUTOUT_FIELD)
    assert _excess(im.science, 5) - _excess(im.reference, 5) > 20 * sigma
    c = CUTOUT_FIELD // 2
    lit = im.science[c - 3:c + 4, c - 3:c + 4] - np.median(im.science) > 10 * sigma
    if kind == "hot_pixel":
        assert lit.sum() == 1
    elif kind == "transient":
        assert lit.sum() >= 5  # PSF-wide


def test_a_residual_is_a_star_in_both_images_and_the_reference_is_sharper_and_quieter():
    im = render_candidate(FRAME, _cand("residual"))
    sigma = pixel_noise_adu(FRAME)
    assert _excess(im.science, 6) > 50 * sigma and _excess(im.reference, 6) > 50 * sigma
    assert im.reference.max() > im.science.max()  # better seeing: a higher peak for the same flux
    edge = np.s_[:10, :10]
    assert np.std(im.reference[edge]) < 0.8 * np.std(im.science[edge])


def test_pixels_depend_only_on_the_frame_and_the_candidate():
    a, b = render_candidate(FRAME, _cand("transient")), render_candidate(FRAME, _cand("transient"))
    assert np.array_equal(a.science, b.science) and np.array_equal(a.reference, b.reference)
    c = render_candidate(FRAME.with_(seed=8), _cand("transient"))
    assert not np.array_equal(a.science, c.science)
