"""The shipped real/bogus CNN: API on Rubin and odd-sized cutouts, a floor, ONNX, the pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skytwin.agents.detection import load_default, subtract
from skytwin.agents.detection.subtract import SubtractionError
from skytwin.agents.onnx_export import export_detection, run_onnx
from skytwin.agents.preprocess import PreprocessError, cutout_input
from skytwin.training.detection_data import field_candidates
from skytwin.training.sites import HELDOUT_SITES
from skytwin.training.train_detection import roc_auc

FLOOR_AUC = 0.95  # 3 fresh fields of held-out sites (0.989 when set); benchmark: real figure


@pytest.fixture(scope="module")
def model():
    return load_default()


def test_rubin_cutouts_of_their_own_size(model, realdata: Path) -> None:
    t = np.load(realdata / "rubin_triplets" / "rubin_triplets.npz")["triplets"]
    assert t.shape[1:] == (3, 30, 30)
    p = model.score(t)
    assert p.shape == (len(t),) and p.dtype == np.float32
    assert np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()


def test_undecided_cutouts_are_averaged_over_their_eight_orientations(model, realdata: Path
                                                                      ) -> None:
    from skytwin.agents.detection.model import UNSURE
    t = np.load(realdata / "rubin_triplets" / "rubin_triplets.npz")["triplets"][:80]
    x = cutout_input(t)
    turned = np.ascontiguousarray(np.rot90(x, 1, axes=(2, 3))[..., ::-1])
    one, one_turned = model.single_pass(x), model.single_pass(turned)
    unsure = (one > UNSURE) & (one < 1 - UNSURE)
    assert 0 < unsure.sum() < len(x)
    cascade = model.score_normalised(x)
    assert np.array_equal(cascade[~unsure], one[~unsure])  # one pass decides the sure ones
    both = unsure & (one_turned > UNSURE) & (one_turned < 1 - UNSURE)
    # a single pass depends on the orientation; the average over all eight does not
    assert np.abs(one[both] - one_turned[both]).max() > 1e-3
    assert np.allclose(cascade[both], model.score_normalised(turned)[both], atol=1e-5)


def test_63_pixel_and_nan_cutouts(model) -> None:
    rng = np.random.default_rng(0)
    t = rng.normal(0, 1, (5, 3, 63, 63)).astype(np.float32)
    yy, xx = np.mgrid[-31:32, -31:32]
    t[:, 0] += 50 * np.exp(-(xx ** 2 + yy ** 2) / 8.0)
    t[:, 2] += 50 * np.exp(-(xx ** 2 + yy ** 2) / 8.0)
    t[1, :, :, :20] = np.nan
    t[2] = np.nan
    p = model.score(t)
    assert p.shape == (5,) and np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()
    assert model.score(t[0]).shape == (1,)  # a single triplet (3, H, W)


def test_bad_triplet_shapes_raise(model) -> None:
    with pytest.raises(PreprocessError):
        model.score(np.zeros((2, 3, 15, 15)))
    with pytest.raises(PreprocessError):
        model.score(np.zeros((2, 4, 30, 30)))


def test_fresh_candidates_reach_floor(model) -> None:
    parts = [field_candidates((777, i, HELDOUT_SITES)) for i in range(3)]
    c = np.concatenate([p["cutouts"] for p in parts])
    y = np.concatenate([p["label"] for p in parts])
    assert 0 < y.sum() < len(y)
    assert roc_auc(model.score(c), y) >= FLOOR_AUC


def test_onnx_parity(model, tmp_path: Path) -> None:
    x = cutout_input(np.random.default_rng(1).normal(0, 1, (16, 3, 31, 31)))
    path = export_detection(model, tmp_path / "d.onnx")
    (p,) = run_onnx(path, x=x)
    assert np.abs(p - model.single_pass(x)).max() < 1e-5


def test_onnx_in_the_cascade_gives_the_model_scores(model, realdata: Path, tmp_path: Path
                                                    ) -> None:
    from skytwin.agents.detection.model import cascade_scores
    x = cutout_input(np.load(realdata / "rubin_triplets" / "rubin_triplets.npz")["triplets"][:40])
    path = export_detection(model, tmp_path / "d.onnx")
    edge = cascade_scores(lambda v: run_onnx(path, x=v)[0], x)
    assert np.abs(edge - model.score_normalised(x)).max() < 1e-5


def test_pipeline_finds_injected_transient(model) -> None:
    from skytwin.twin.frames import RenderRequest, Transient, render_frame
    from skytwin.agents.detection import stack_reference
    base = dict(ra_deg=40.0, dec_deg=-20.0, nx=192, ny=192, pixel_scale_arcsec=0.7, seed=9,
                star_density=4.0)
    ref = stack_reference([render_frame(RenderRequest(**base, seeing_arcsec=1.0,
                                                      frame_id=f"r{k}")).image
                           for k in range(3)])
    sn = Transient("sn", 16.5, 60676.01, ra_deg=40.0, dec_deg=-20.0)
    sci = render_frame(RenderRequest(**base, seeing_arcsec=1.5, frame_id="s", transients=(sn,)))
    det = model.detect(sci.image, ref)
    t = sci.truth[sci.truth["kind"] == "sn"][0]
    d = np.hypot(det.x - t["x"], det.y - t["y"])
    assert d.min() <= 2.0
    assert det.probability[np.argmin(d)] > 0.5


def test_subtraction_needs_same_shapes() -> None:
    with pytest.raises(SubtractionError, match="same shape"):
        subtract(np.zeros((10, 10)), np.zeros((10, 12)))


def test_a_saturated_star_does_not_spoil_the_subtraction_without_a_saturate_level(model) -> None:
    from skytwin.agents.detection import stack_reference
    from skytwin.agents.preprocess import saturation_level
    from skytwin.twin.frames import RenderRequest, Transient, render_frame
    # the benchmark's timing field with seed 2 holds a star saturated in every frame
    base = dict(ra_deg=120.0, dec_deg=5.0, nx=1024, ny=1024, pixel_scale_arcsec=0.6, seed=2,
                star_density=2.0)
    ref = stack_reference([render_frame(RenderRequest(**base, seeing_arcsec=1.0,
                                                      frame_id=f"r{k}")).image for k in range(3)])
    sn = tuple(Transient("sn", 17.0, 60676.01, ra_deg=120.0 + 0.02 * k, dec_deg=5.0)
               for k in range(-3, 4))
    sci = render_frame(RenderRequest(**base, seeing_arcsec=1.4, frame_id="s", transients=sn))
    sat = float(sci.header["SATURATE"][0] if isinstance(sci.header["SATURATE"], tuple)
                else sci.header["SATURATE"])
    assert saturation_level(sci.image, ref) == sat
    found = model.detect(sci.image, ref)  # no level given: found from the clipped pixels
    given = model.detect(sci.image, ref, saturation=sat)
    assert len(found.x) == len(given.x) < 200  # a spoiled difference gives ~2000 candidates
    assert (found.probability > 0.5).sum() >= 5  # the supernovae are found
