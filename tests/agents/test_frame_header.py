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
    image = _star_field(np.random.default_rng(3))
    res = load_default().predict(image, headers=[{"PIXSCALE": 0.0, "MAGZERO": 0.0, "EXPTIME": 60.0}])
    assert res.labels[0] in ("good", "medium", "bad") and not res.reasons[0].startswith("unreadable")
    assert set(res.unjudged[0]) == {"blur", "sky", "clouds"}
    assert math.isnan(res.measurements[0]["fwhm_arcsec"])


def test_cards_fits_cannot_hold_are_left_out() -> None:
    from skytwin.agents.frame_header import fits_header
    hdr = fits_header({"OBJECT": "a\tb", "A=B": 1, "BIG": 10 ** 400, "NAN": math.nan, "NAME": "Müller",
                       "LONGKEYWORD": 1, "OK": (1.5, "kept")})
    assert list(hdr.keys()) == ["OK"] and hdr["OK"] == 1.5


def _star_field(rng, size: int = 128, n: int = 12, peak: float = 3000.0):  # type: ignore[no-untyped-def]
    """Noise around 1000 ADU with ``n`` round Gaussian stars (FWHM 3 pixels) of up to ``peak``."""
    import numpy as np

    yy, xx = np.mgrid[:size, :size]
    image = rng.normal(1000.0, 10.0, (size, size))
    for x, y, a in zip(*rng.uniform(20, size - 20, (2, n)), rng.uniform(0.2, 1.0, n) * peak):
        image += a * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 1.274 ** 2))
    return image.astype(np.float32)


def test_without_saturate_the_frame_says_where_it_clips() -> None:
    import numpy as np

    rng = np.random.default_rng(4)
    clipped = np.minimum(_star_field(rng, peak=60000.0), 20000.0)  # the brightest cores clip
    cal = read_calibration({"EXPTIME": 30.0}, clipped)
    assert cal.header["SATURATE"] == 20000.0 and "plateau" in cal.derived["SATURATE"]
    # what the header says wins
    assert read_calibration({"SATURATE": 65535.0}, clipped).header["SATURATE"] == 65535.0
    assert "SATURATE" not in read_calibration({"SATURATE": 65535.0}, clipped).derived
    # an unusable one counts as missing (a SATURATE of 0 would leave every star out as saturated)
    for bad in (0.0, -1.0, "n/a"):
        assert read_calibration({"SATURATE": bad}, clipped).header["SATURATE"] == 20000.0
        assert "SATURATE" not in read_calibration({"SATURATE": bad}).header
    # no plateau: a frame that does not clip, integer noise whose top value several pixels
    # share, a constant frame, a frame of NaN
    ints = rng.integers(0, 10, (64, 64)).astype(np.uint16)
    assert np.count_nonzero(ints == ints.max()) >= 4
    for image in (_star_field(rng), ints, np.full((64, 64), 7.0), np.full((8, 8), np.nan)):
        cal = read_calibration({}, image)
        assert "SATURATE" not in cal.header and cal.derived["SATURATE"].startswith("none")
    assert read_calibration({}).derived == {}  # no image: nothing to find


def test_a_frame_that_does_not_clip_is_not_judged_saturated() -> None:
    """Its brightest pixels are not saturated: without the keyword, only a plateau counts."""
    import numpy as np

    from skytwin.agents.quality import load_default
    model = load_default()
    rng = np.random.default_rng(5)
    image = _star_field(rng, size=256, n=8, peak=400.0)  # faint stars: a wide top of the noise
    res = model.predict(image, headers={"EXPTIME": 30.0, "PIXSCALE": 1.0})
    assert res.measurements[0]["saturated_fraction"] < 1e-5 and "saturation" not in res.reasons[0]
    # the stars are measured: without SATURATE, near the frame's maximum *above its background*
    # is what counts as possibly saturated (its 1000 ADU of sky put every star there before)
    assert math.isfinite(res.measurements[0]["fwhm_pixels"])
    clipped = image.copy()
    clipped[236:, 236:] = 20000.0  # a 400-pixel plateau in a corner: 0.6% of the frame
    res = model.predict(clipped, headers={"EXPTIME": 30.0, "PIXSCALE": 1.0})
    assert res.measurements[0]["saturated_fraction"] > 1e-3 and "saturation" in res.reasons[0]
