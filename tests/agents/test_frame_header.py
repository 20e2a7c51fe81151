"""Header calibration: the pixel scale however a header gives it, and what cannot be judged without."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from skytwin.agents.frame_header import pixel_scale, read_calibration

TAN = {"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRPIX1": 50.0, "CRPIX2": 50.0,
       "CRVAL1": 150.0, "CRVAL2": 2.0}


@pytest.mark.parametrize("header,scale,source", [
    ({"PIXSCALE": 0.6, "SECPIX": 9.0}, 0.6, "PIXSCALE"),
    ({"SECPIX": (0.39, "arcsec/pixel")}, 0.39, "SECPIX"),
    ({"PIXSCAL1": 1.2, "PIXSCAL2": 1.3}, 1.25, "PIXSCAL1/2"),
    ({**TAN, "CD1_1": -0.5 / 3600, "CD1_2": 0.0, "CD2_1": 0.0, "CD2_2": 0.5 / 3600}, 0.5, "the WCS"),
    ({**TAN, "CDELT1": -1.1 / 3600, "CDELT2": 1.1 / 3600}, 1.1, "the WCS"),
    ({"PLTSCALE": 67.2, "XPIXELSZ": 25.28445}, 67.2 * 0.02528445, "PLTSCALE x XPIXELSZ"),
])
def test_pixel_scale_however_the_header_gives_it(header, scale, source) -> None:
    got, where = pixel_scale(header)
    assert got == pytest.approx(scale, rel=1e-6) and where == source


@pytest.mark.parametrize("header", [
    None, {}, {"CDELT1": 1.0, "CTYPE1": "", "CTYPE2": ""},  # pixel units, not the sky
    {**TAN, "CTYPE1": "RA---XYZ", "CDELT1": 1e-4, "CDELT2": 1e-4},  # a projection wcslib lacks
    {"PIXSCALE": "n/a"}, {"PIXSCALE": -1.0}, {"PIXSCALE": 0.0}, {"PLTSCALE": 67.2},
    {"CTYPE1": 5, "CTYPE2": 6, "CDELT1": 1e-4, "CDELT2": 1e-4},  # not strings
    {**TAN},  # no CDELT or CD: astropy would take 1 degree per pixel
    {**TAN, "CDELT1": (math.nan, "deg"), "CDELT2": 1e-4, "OBSERVER": "Müller"},
])
def test_no_usable_scale_is_nan_not_an_error(header) -> None:
    assert math.isnan(pixel_scale(header)[0])


def test_what_is_left_out_and_why() -> None:
    full = read_calibration({"PIXSCALE": 0.6, "MAGZERO": 1e9, "EXPTIME": 60.0})
    assert full.unjudged == {} and full.derived == {}
    bare = read_calibration(None)
    assert set(bare.unjudged) == {"blur", "sky", "clouds"}
    assert "PIXSCALE" in bare.unjudged["blur"] and "MAGZERO" in bare.unjudged["sky"]
    plate = read_calibration({"PLTSCALE": 67.2, "XPIXELSZ": 25.28445, "EXPTIME": 60.0})
    assert set(plate.unjudged) == {"sky", "clouds"} and "EXPTIME" not in plate.unjudged["sky"]
    assert plate.header["PIXSCALE"] == pytest.approx(1.699, abs=1e-3)
    assert "PLTSCALE" in plate.derived["PIXSCALE"]


def test_a_real_plate_and_a_real_space_image(realdata: Path) -> None:
    from skytwin.twin.frames import read_fits
    dss = read_calibration(read_fits(realdata / "starfields" / "M6707HH.fits").header)
    assert dss.header["PIXSCALE"] == pytest.approx(1.70, abs=0.01) and "blur" not in dss.unjudged
    irac = read_calibration(read_fits(realdata / "starfields" / "spitzer_example_image.fits").header)
    assert irac.header["PIXSCALE"] == pytest.approx(1.2, abs=0.05)


def test_unusable_values_count_as_missing_and_are_dropped() -> None:
    cal = read_calibration({"PIXSCALE": 0.0, "MAGZERO": 0.0, "EXPTIME": -5.0, "GAIN": 2.0})
    assert set(cal.unjudged) == {"blur", "sky", "clouds"}
    assert not {"PIXSCALE", "MAGZERO", "EXPTIME"} & set(cal.header) and cal.header["GAIN"] == 2.0
    assert "MAGZERO" in cal.unjudged["sky"] and "EXPTIME" in cal.unjudged["sky"]


def test_the_model_judges_a_frame_with_a_zero_scale_without_it() -> None:
    import numpy as np

    from skytwin.agents.quality import load_default
    image = np.random.default_rng(3).normal(1000.0, 10.0, (128, 128)).astype(np.float32)
    res = load_default().predict(image, headers=[{"PIXSCALE": 0.0, "MAGZERO": 0.0, "EXPTIME": 60.0}])
    assert res.labels[0] in ("good", "medium", "bad") and not res.reasons[0].startswith("unreadable")
    assert set(res.unjudged[0]) == {"blur", "sky", "clouds"}
    assert math.isnan(res.measurements[0]["fwhm_arcsec"])


def test_cards_fits_cannot_hold_are_left_out() -> None:
    from skytwin.agents.frame_header import fits_header
    hdr = fits_header({"OBJECT": "a\tb", "A=B": 1, "BIG": 10 ** 400, "NAN": math.nan, "NAME": "Müller",
                       "LONGKEYWORD": 1, "OK": (1.5, "kept")})
    assert list(hdr.keys()) == ["OK"] and hdr["OK"] == 1.5
