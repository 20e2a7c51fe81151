"""The shipped quality CNN: a floor on fresh frames, batch/single inference, ONNX, bad FITS."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from skytwin.agents.onnx_export import export_quality, run_onnx
from skytwin.agents.quality import LABELS, load_default
from skytwin.agents.quality.inputs import quality_model_input
from skytwin.agents.quality.labels import REASONS
from skytwin.agents.quality.model import QualityModel, rule_reason
from skytwin.agents.quality.rule_head import CRITERIA
from skytwin.twin.frames import quality as rule
from skytwin.agents.quality.stars import ReferenceStars
from skytwin.training.datasets import quality_request
from skytwin.training.sites import SITES
from skytwin.twin.frames import render_frame, write_fits

FLOOR = 0.75  # accuracy on 16 fresh frames; the benchmark measures ~0.96 on 1000


@pytest.fixture(scope="module")
def model():
    return load_default()


@pytest.fixture(scope="module")
def frames():
    return [render_frame(quality_request(424242, i, SITES, size=512)) for i in range(16)]


def test_fresh_frames_reach_floor(model, frames) -> None:
    labels, probs, reasons = model.predict(frames)
    truth = [f.quality for f in frames]
    acc = np.mean([a == b for a, b in zip(labels, truth)])
    assert acc >= FLOOR, (labels, truth)
    assert probs.shape == (16, 3) and np.allclose(probs.sum(1), 1.0, atol=1e-5)
    for lab, r in zip(labels, reasons):
        assert (r == "") == (lab == "good")


def test_measurements_behind_the_labels_follow_the_truth(model, frames) -> None:
    res = model.predict(frames)
    fwhm_ok = [abs(m["fwhm_arcsec"] / f.conditions["fwhm_arcsec"] - 1.0) < 0.15
               for m, f in zip(res.measurements, frames)]
    trans_ok = [abs(m["transparency"] - f.conditions["transparency"]) < 0.1
                for m, f in zip(res.measurements, frames)]
    assert sum(fwhm_ok) >= 14 and sum(trans_ok) >= 14, (fwhm_ok, trans_ok)
    assert {m["trails"] for m in res.measurements} <= {"none", "1-2", "3+"}


def test_each_estimate_comes_with_an_error_that_covers_the_truth(model, frames) -> None:
    """The one-sigma errors are the network's own Gaussians: neither vanishing nor vacuous."""
    res = model.predict(frames)
    for key, truth in (("fwhm_arcsec", "fwhm_arcsec"), ("transparency", "transparency"),
                       ("ellipticity", "ellipticity")):
        est = np.array([m[key] for m in res.measurements])
        err = np.array([m[key + "_err"] for m in res.measurements])
        true = np.array([f.conditions[truth] for f in frames])
        assert (err > 0).all(), (key, err)
        # within 3 sigma on nearly every frame, and the sigma a few per cent, not tens
        assert np.sum(np.abs(est - true) <= 3 * err) >= 14, (key, est, true, err)
    rel = [m["fwhm_arcsec_err"] / m["fwhm_arcsec"] for m in res.measurements]
    assert 0.005 < np.median(rel) < 0.1, rel
    assert all(m["fwhm_pixels_err"] > 0 for m in res.measurements)
    # no catalogue: the transparency and its error are both unknown
    bare = model.predict(frames[0].image, headers=[frames[0].header])
    assert math.isnan(bare.measurements[0]["transparency_err"])
    assert bare.measurements[0]["fwhm_arcsec_err"] > 0

def _grades(**at: tuple[float, float, float]) -> np.ndarray:
    g = np.tile([[0.9, 0.08, 0.02]], (len(CRITERIA), 1))
    for name, p in at.items():
        g[CRITERIA.index(name)] = p
    return g


def test_reasons_are_the_criteria_at_the_label_grade() -> None:
    head = np.full(len(REASONS), 0.1)
    head[REASONS.index("defocus")] = 0.3  # the head ranks defocus above seeing
    g = _grades(clouds=(0.0, 0.1, 0.9), blur=(0.1, 0.3, 0.6), sky=(0.1, 0.7, 0.2))
    assert rule_reason(2, g, head, moon=False) == "clouds+defocus"
    assert rule_reason(1, g, head, moon=False) == "background"
    assert rule_reason(1, g, head, moon=True) == "moonlight"
    assert rule_reason(0, g, head, moon=True) == ""
    # no criterion is bad with probability above one half: the likeliest one is named
    g = _grades(trail=(0.2, 0.4, 0.4), tracking=(0.5, 0.2, 0.3))
    assert rule_reason(2, g, head, moon=False) == "trail"


def test_reasons_agree_with_the_estimates(model, frames) -> None:
    """On a frame called bad, the measured criteria named are those whose estimate is past the
    bad threshold (a Gaussian estimate is past it exactly when that is the likelier side)."""
    res = model.predict(frames)
    checked = 0
    for label, reason, m in zip(res.labels, res.reasons, res.measurements):
        if label != "bad":
            continue
        past = {"clouds": m["transparency"] < rule.CLOUDS[1],
                "tracking": m["ellipticity"] > rule.ELLIPTICITY[1],
                "blur": m["fwhm_arcsec"] > rule.FWHM_ARCSEC[1]}
        blur = {"seeing": "blur", "defocus": "blur"}
        named = {blur.get(r, r) for r in reason.split("+")} & set(past)
        if any(past.values()):
            assert named == {k for k, v in past.items() if v}, (reason, m)
            checked += 1
    assert checked >= 2


def test_without_a_catalogue_the_clouds_are_not_judged(model, frames) -> None:
    """No reference stars, no zero point: the transparency is unknown, not taken as cloud."""
    bare = model.predict([f.image for f in frames[:8]], headers=[f.header for f in frames[:8]])
    assert all(math.isnan(m["transparency"]) for m in bare.measurements)
    assert not any("clouds" in r for r in bare.reasons), bare.reasons
    clear = [i for i, f in enumerate(frames[:8]) if f.quality == "good"]
    assert clear and all(bare.labels[i] != "bad" for i in clear), (bare.labels, clear)
    assert all(math.isfinite(m["transparency"]) for m in model.predict(frames[:8]).measurements)
    # a catalogue matched to nothing is no catalogue either
    empty = ReferenceStars(np.zeros(0), np.zeros(0), np.zeros(0))
    one = model.predict(frames[1].image, headers=[frames[1].header], stars=[empty])
    assert math.isnan(one.measurements[0]["transparency"])


def test_single_image_with_header_matches_batch(model, frames) -> None:
    stars = ReferenceStars.from_truth(frames[3].truth)
    one = model.predict(frames[3].image, headers=[frames[3].header], stars=[stars])
    batch = model.predict(frames[:5])
    assert one.labels[0] == batch.labels[3]
    # the Moon is only known from the frame object, so allow a small difference
    assert np.abs(one.probabilities[0] - batch.probabilities[3]).max() < 0.3


def test_a_lone_frame_takes_a_lone_header_and_catalogue(model, frames) -> None:
    f = frames[3]
    stars = ReferenceStars.from_truth(f.truth)
    lone = model.predict(f.image, headers=f.header, stars=stars)
    listed = model.predict(f.image, headers=[f.header], stars=[stars])
    assert np.array_equal(lone.probabilities, listed.probabilities)
    with pytest.raises(ValueError, match="headers: 1 given for 2 frames"):
        model.predict([f.image, f.image], headers=[f.header])
    with pytest.raises(ValueError, match="stars: 2 given for 1 frames"):
        model.predict(f.image, stars=[stars, stars])


def test_onnx_parity(model, frames, tmp_path: Path) -> None:
    xs, ss = zip(*(quality_model_input(f.image, f.header, None, ReferenceStars.from_truth(f.truth))
                   for f in frames[:8]))
    x, s = np.stack(xs), np.stack(ss)
    path = export_quality(model, tmp_path / "q.onnx")
    exported = run_onnx(path, x=x, s=s)
    torch_engine = QualityModel(model.net, engine="torch")
    # probabilities, reason head, estimates, trail classes, criteria's grades, estimates' sigmas
    for a, b in zip(exported, torch_engine._infer(x, s), strict=True):
        assert a.shape == b.shape and np.abs(a - b).max() < 1e-4


def test_onnxruntime_and_torch_engines_agree(model, frames) -> None:
    torch_engine = QualityModel(model.net, engine="torch")
    onnx_engine = QualityModel(model.net, engine="onnx")
    a, b = torch_engine.predict(frames[:6]), onnx_engine.predict(frames[:6])
    assert a.labels == b.labels and a.reasons == b.reasons
    assert np.abs(a.probabilities - b.probabilities).max() < 1e-4
    for ma, mb in zip(a.measurements, b.measurements):
        assert ma["trails"] == mb["trails"]
        assert abs(ma["fwhm_arcsec"] - mb["fwhm_arcsec"]) < 1e-3 * ma["fwhm_arcsec"]
    with pytest.raises(ValueError, match="engine must be one of"):
        QualityModel(model.net, engine="tensorrt")
    # a model that has built its session still pickles (worker processes, vector envs)
    copy = pickle.loads(pickle.dumps(onnx_engine))
    assert np.abs(copy.predict(frames[:2]).probabilities - b.probabilities[:2]).max() < 1e-6


def _bad_files(tmp: Path, frame) -> dict[str, tuple[Path, str]]:
    good = tmp / "good.fits"
    write_fits(frame, good)
    trunc = tmp / "truncated.fits"
    trunc.write_bytes(good.read_bytes()[:4000])
    empty = tmp / "empty.fits"
    empty.write_bytes(b"")
    nan = tmp / "nan.fits"
    fits.PrimaryHDU(np.full((32, 32), np.nan, np.float32)).writeto(nan)
    cube = tmp / "cube.fits"
    fits.PrimaryHDU(np.zeros((2, 16, 16), np.float32)).writeto(cube)
    table = tmp / "table.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(
        [fits.Column("a", "E", array=np.arange(3.0))])]).writeto(table)
    text = tmp / "notfits.fits"
    text.write_text("SIMPLE but not really a FITS file\n")
    return {
        "truncated": (trunc, "not a readable FITS file"),
        "empty": (empty, "empty file (0 bytes)"),
        "all_nan": (nan, "no finite pixel"),
        "wrong_shape": (cube, "expected a 2-D"),
        "wrong_type": (table, "no image HDU with data"),
        "not_fits": (text, "not a readable FITS file"),
        "missing": (tmp / "missing.fits", "no such file"),
    }


def test_bad_fits_inputs_get_bad_verdict_with_reason(model, frames, tmp_path: Path) -> None:
    cases = _bad_files(tmp_path, frames[0])
    names = list(cases)
    res = model.predict([cases[n][0] for n in names] + [tmp_path / "good.fits"])
    for i, n in enumerate(names):
        assert res.labels[i] == "bad", n
        assert res.reasons[i].startswith("unreadable: "), n
        assert res.measurements[i] == {}, n
        assert cases[n][1] in res.reasons[i], (n, res.reasons[i])
        assert np.allclose(res.probabilities[i], (0, 0, 1))
    assert res.labels[-1] in LABELS and not res.reasons[-1].startswith("unreadable")


@pytest.mark.parametrize("image,message", [
    (np.full((40, 40), np.nan), "no finite pixel"),
    (np.zeros((4, 4, 4)), "2-D"),
    (np.array([["x"]]), "dtype"),
])
def test_bad_arrays_get_bad_verdict(model, image, message) -> None:
    res = model.predict([image])
    assert res.labels == ["bad"] and message in res.reasons[0]


HEADER = {"EXPTIME": 30.0, "GAIN": 1.5, "PIXSCALE": 1.2, "MAGZERO": 2e9, "SATURATE": 65535.0,
          "FILTER": "r"}


@pytest.mark.parametrize("image", [
    np.zeros((64, 64)),  # an empty readout
    np.full((128, 128), 1000.0),  # a constant one
    np.random.default_rng(1).normal(1000.0, 10.0, (256, 256)),  # a closed dome's sky noise
    np.random.default_rng(2).normal(1000.0, 10.0, (256, 256)).astype(np.uint16),
], ids=["zeros", "constant", "noise", "uint16 noise"])
def test_a_frame_without_stars_is_bad_for_that_reason(model, image) -> None:
    """Nothing to measure a PSF on: "bad" with the reason "no stars", not a guess at the seeing
    from the model's stand-ins (these gave "defocus", "seeing" or "good")."""
    from skytwin.agents.quality.model import NO_STARS
    res = model.predict(image, headers=HEADER)
    assert res.labels == ["bad"] and res.reasons == [NO_STARS]
    assert np.allclose(res.probabilities[0], (0, 0, 1))
    m = res.measurements[0]
    assert all(math.isnan(m[k]) for k in ("fwhm_arcsec", "fwhm_pixels", "ellipticity",
                                          "transparency", "fwhm_arcsec_err"))
    assert math.isfinite(m["sky_excess_mag"])  # the sky is still measured
    assert "no unsaturated star found" in res.unjudged[0]["blur"]
    assert "no unsaturated star found" in res.unjudged[0]["tracking"]


def test_why_no_star_was_measured(model, frames) -> None:
    from skytwin.agents.quality.model import NO_STARS
    small = model.predict(frames[0].image[:24, :24], headers=HEADER)
    assert small.reasons == [NO_STARS] and "24 x 24 frame is too small" in small.unjudged[0]["blur"]
    # a catalogue whose stars all lie off the frame
    far = ReferenceStars(np.array([-500.0, 900.0]), np.array([10.0, 2000.0]), np.array([12.0, 13.0]))
    off = model.predict(np.random.default_rng(3).normal(1000.0, 10.0, (128, 128)),
                        headers=HEADER, stars=far)
    assert off.reasons == [NO_STARS] and "no catalogue star" in off.unjudged[0]["clouds"]
    # a frame of stars is measured, not "no stars"
    assert NO_STARS not in model.predict(frames[:4]).reasons


def test_without_a_catalogue_the_clouds_go_unmeasured(model, frames) -> None:
    """A bare image has no zero point: the scalars say so and the model still answers."""
    from skytwin.agents.quality.inputs import QUALITY_SCALARS
    f = frames[0]
    _, s = quality_model_input(f.image, f.header)
    assert s[QUALITY_SCALARS.index("has_transparency")] == 0.0
    assert s[QUALITY_SCALARS.index("has_psf")] == 1.0  # the brightest peaks stand in for stars
    res = model.predict(f.image, headers=[f.header])
    assert res.labels[0] in LABELS


def test_a_header_without_calibration_leaves_those_criteria_out(model, frames) -> None:
    f = frames[10]  # medium: clouds + seeing + saturation
    full = model.predict(f)
    # its FWHM (2.01") lies 0.5% above the seeing threshold, within the estimate's error: the
    # seeing may or may not be named; clouds and saturation must be
    assert full.labels == ["medium"] and {"clouds", "saturation"} <= set(full.reasons[0].split("+"))
    assert full.unjudged == [{}] and math.isfinite(full.measurements[0]["fwhm_arcsec"])
    scale = f.header["PIXSCALE"][0]
    assert full.measurements[0]["fwhm_pixels"] == pytest.approx(full.measurements[0]["fwhm_arcsec"] / scale)
    # the twin also writes a WCS: without PIXSCALE the scale comes from it, same verdict
    no_scale = {k: v for k, v in f.header.items() if k != "PIXSCALE"}
    via_wcs = model.predict(f.image, headers=[no_scale], stars=[ReferenceStars.from_truth(f.truth)])
    assert via_wcs.derived[0]["PIXSCALE"].endswith("the WCS") and via_wcs.unjudged == [{}]
    assert np.abs(via_wcs.probabilities - full.probabilities).max() < 1e-3
    # no scale at all and no zero point: blur, sky and clouds are left out, their estimates NaN
    bare = {k: v for k, v in no_scale.items() if not k.startswith(("CD", "CTYPE", "CRPIX", "CRVAL", "MAGZERO"))}
    res = model.predict(f.image, headers=[bare], stars=[ReferenceStars.from_truth(f.truth)])
    assert set(res.unjudged[0]) == {"blur", "sky", "clouds"}
    m = res.measurements[0]
    assert all(math.isnan(m[k]) for k in ("fwhm_arcsec", "sky_excess_mag", "transparency"))
    assert m["fwhm_pixels"] == pytest.approx(full.measurements[0]["fwhm_pixels"], rel=0.25)
    assert not {"seeing", "defocus", "background", "moonlight", "clouds"} & set(res.reasons[0].split("+"))
    assert (res.labels[0], res.reasons[0]) == ("medium", "saturation")  # what is still judged
