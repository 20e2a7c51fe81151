"""FITS round trip and bad files, the quality label rule, and real star fields."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from frames_helpers import small_request
from skytwin.errors import SkytwinError
from skytwin.twin.frames import (FrameError, MeasureError, QualityInputs, measure_frame,
                                 quality_label, read_fits, render_frame, write_fits)

REALDATA = Path(__file__).parents[3] / ".." / "shared" / "realdata" / "starfields"


def test_fits_round_trip_keeps_image_truth_and_label(tmp_path: Path) -> None:
    frame = render_frame(small_request(object_name="M51", telescope="t1", site="teide",
                                       transparency=0.6))
    path = write_fits(frame, tmp_path / "f.fits")
    back = read_fits(path)
    assert np.array_equal(back.image, frame.image)
    assert back.truth.tobytes() == frame.truth.tobytes()
    assert (back.quality, back.reason) == (frame.quality, frame.reason) == ("medium", "clouds")
    assert back.conditions["transparency"] == pytest.approx(0.6)
    with fits.open(path) as hdul:
        h = hdul[0].header
        for key in ("DATE-OBS", "EXPTIME", "FILTER", "AIRMASS", "TELESCOP", "INSTRUME", "OBJECT",
                    "OBSERVAT", "RA", "DEC", "GAIN", "RDNOISE", "SEEING", "FWHM", "SKYLEVEL"):
            assert key in h, key
        assert h["OBJECT"] == "M51" and h["CTYPE1"] == "RA---TAN"
        assert hdul["TRUTH"].header["QUALITY"] == "medium"


def _write(path: Path, data) -> Path:
    fits.PrimaryHDU(data).writeto(path)
    return path


@pytest.mark.parametrize("case, match", [
    ("missing", "no such file"),
    ("empty", "empty file"),
    ("truncated", "truncated"),
    ("text", "not a readable FITS"),
    ("all_nan", "no finite pixel"),
    ("cube", "shape"),
    ("no_image", "no image"),
])
def test_bad_fits_inputs_raise_frame_error(tmp_path: Path, case: str, match: str) -> None:
    p = tmp_path / f"{case}.fits"
    if case == "empty":
        p.write_bytes(b"")
    elif case == "truncated":
        write_fits(render_frame(small_request()), p)
        p.write_bytes(p.read_bytes()[:10000])
    elif case == "text":
        p.write_text("SIMPLE = nonsense\n" * 20)
    elif case == "all_nan":
        _write(p, np.full((16, 16), np.nan, np.float32))
    elif case == "cube":
        _write(p, np.zeros((3, 16, 16), np.float32))
    elif case == "no_image":
        fits.HDUList([fits.PrimaryHDU()]).writeto(p)
    with pytest.raises(FrameError, match=match) as info:
        read_fits(p)
    assert isinstance(info.value, SkytwinError) and str(p) in str(info.value)


def test_measure_refuses_bad_arrays() -> None:
    with pytest.raises(MeasureError, match="shape"):
        measure_frame(np.zeros(10))
    with pytest.raises(MeasureError, match="dtype"):
        measure_frame(np.zeros((8, 8), bool))
    with pytest.raises(MeasureError, match="finite"):
        measure_frame(np.full((8, 8), np.nan))


@pytest.mark.parametrize("inputs, expected", [
    (QualityInputs(fwhm_arcsec=1.2), ("good", "")),
    (QualityInputs(fwhm_arcsec=1.2, transparency=0.7), ("medium", "clouds")),
    (QualityInputs(fwhm_arcsec=1.2, transparency=0.3), ("bad", "clouds")),
    (QualityInputs(fwhm_arcsec=4.0, seeing_arcsec=3.9, defocus_arcsec=0.5), ("bad", "seeing")),
    (QualityInputs(fwhm_arcsec=2.5, seeing_arcsec=1.0, defocus_arcsec=2.2), ("medium", "defocus")),
    (QualityInputs(fwhm_arcsec=1.2, ellipticity=0.35), ("bad", "tracking")),
    (QualityInputs(fwhm_arcsec=1.2, sky_mag_arcsec2=18.0, dark_sky_mag_arcsec2=21.0,
                   moon_illumination=0.9, moon_sep_deg=30.0), ("bad", "moonlight")),
    (QualityInputs(fwhm_arcsec=1.2, sky_mag_arcsec2=19.5, dark_sky_mag_arcsec2=21.0),
     ("medium", "background")),
    (QualityInputs(fwhm_arcsec=1.2, n_trails=1), ("medium", "trail")),
    (QualityInputs(fwhm_arcsec=1.2, saturated_fraction=5e-3), ("bad", "saturation")),
    (QualityInputs(fwhm_arcsec=1.2, transparency=0.4, ellipticity=0.5, n_trails=1),
     ("bad", "clouds+tracking")),
])
def test_quality_label_rule(inputs: QualityInputs, expected: tuple[str, str]) -> None:
    assert quality_label(inputs) == expected


def test_rendered_defocus_is_labelled_defocus() -> None:
    frame = render_frame(small_request(defocus_arcsec=5.0, seeing_arcsec=1.0))
    assert frame.quality == "bad" and frame.reason == "defocus"


@pytest.mark.skipif(not REALDATA.is_dir(), reason="shared real data folder missing")
@pytest.mark.parametrize("name, fwhm_range", [
    ("M51.fits", (1.0, 8.0)),
    ("M6707HH.fits", (1.0, 8.0)),
    ("sep_image.fits", (1.0, 8.0)),
    ("spitzer_example_image.fits", (1.0, 5.0)),
])
def test_real_star_fields_measure_plausibly(name: str, fwhm_range: tuple[float, float]) -> None:
    frame = read_fits(REALDATA / name)
    m = measure_frame(frame.image, max_stars=30)
    assert m.n_sources > 0
    assert np.isfinite(m.fwhm_pix) and fwhm_range[0] < m.fwhm_pix < fwhm_range[1]
    assert 0.0 <= m.ellipticity < 0.3
    lo, hi = np.nanpercentile(frame.image, [1, 60])
    assert lo <= m.background <= hi  # background sits among the faint pixels
    assert 0 < m.noise < np.nanstd(frame.image)
