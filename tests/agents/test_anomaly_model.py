"""The shipped frame autoencoder: failures score above its threshold; ONNX parity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skytwin.agents.anomaly import load_default
from skytwin.agents.onnx_export import export_anomaly, run_onnx
from skytwin.agents.anomaly.features import anomaly_input
from skytwin.training.datasets import quality_request
from skytwin.training.failures import FAILURE_MODES, apply_failure
from skytwin.training.sites import SITES
from skytwin.twin.frames import render_frame


@pytest.fixture(scope="module")
def model():
    return load_default()


@pytest.fixture(scope="module")
def frames():
    return [(quality_request(31337, i, SITES), render_frame(quality_request(31337, i, SITES)))
            for i in range(8)]


def test_failures_flagged_normals_mostly_not(model, frames) -> None:
    rng = np.random.default_rng(0)
    normal = model.score([f for _, f in frames])
    broken = []
    for k, (req, f) in enumerate(frames):
        mode = ("no_exposure", "dead_columns", "light_leak", "readout_stripes")[k % 4]
        broken.append(apply_failure(f.image, mode, rng, req.bias_adu,
                                    req.read_noise_e / req.gain_e_per_adu))
    scores = model.score([(b) for b in broken])
    assert np.isfinite(model.threshold)
    assert (normal <= model.threshold).mean() >= 0.75
    # bare arrays lose the header's photometry, so compare against the frames' own scores
    assert np.median(scores) > np.median(normal)


def test_fits_paths_score_like_frames(model, frames, tmp_path: Path) -> None:
    from skytwin.twin.frames.fits_io import write_fits
    paths = [write_fits(f, tmp_path / f"f{k}.fits") for k, (_, f) in enumerate(frames[:3])]
    assert np.allclose(model.score(paths), model.score([f for _, f in frames[:3]]), atol=1e-4)
    assert model.is_anomalous(paths).shape == (3,)


def test_failures_with_headers_score_above_threshold(model, frames) -> None:
    from skytwin.agents.anomaly.model import AnomalyModel
    rng = np.random.default_rng(5)
    ins = []
    for k, (req, f) in enumerate(frames):
        mode = ("readout_stripes", "pattern_noise", "no_exposure", "frozen_readout")[k % 4]
        bad = apply_failure(f.image, mode, rng, req.bias_adu, req.read_noise_e / req.gain_e_per_adu)
        ins.append(anomaly_input(bad, f.header))
    s = AnomalyModel.score_arrays(model, *(np.stack(a) for a in zip(*ins)))
    assert (s > model.threshold).mean() >= 0.75


def test_unreadable_frames_score_inf(model) -> None:
    s = model.score([np.full((32, 32), np.nan)])
    assert np.isinf(s[0]) and model.is_anomalous([np.full((32, 32), np.nan)])[0]


def test_onnx_parity(model, frames, tmp_path: Path) -> None:
    m, p, g = (np.stack(a) for a in zip(*(anomaly_input(f.image, f.header) for _, f in frames)))
    (o,) = run_onnx(export_anomaly(model, tmp_path / "a.onnx"), m=m, p=p, g=g)
    assert np.allclose(o, model.score_arrays(m, p, g), rtol=1e-4, atol=1e-5)


def test_all_failure_modes_apply() -> None:
    img = np.random.default_rng(1).normal(1000, 10, (64, 64)).astype(np.float32)
    for m in FAILURE_MODES:
        out = apply_failure(img, m, np.random.default_rng(2), 1000.0, 5.0)
        assert out.shape == img.shape and not np.array_equal(out, img), m


def test_a_sites_threshold_from_its_own_normal_frames(model) -> None:
    from skytwin.errors import SkytwinError
    normal = [render_frame(quality_request(4040, i, SITES)) for i in range(20)]
    site = model.calibrated(normal, false_alarm_rate=0.1)
    scores = np.sort(model.score(normal))
    # at most 2 of 20 above: halfway between the 3rd and the 2nd highest score
    assert site.threshold == pytest.approx(0.5 * (float(scores[-3]) + float(scores[-2])))
    assert (scores > site.threshold).sum() == 2 and site.threshold != model.threshold
    assert model.threshold == load_default().threshold  # the shipped model is left as it was
    # the same autoencoder: failures score as before, judged against the site's threshold
    rng = np.random.default_rng(1)
    req = quality_request(4040, 0, SITES)
    dead = apply_failure(normal[0].image, "light_leak", rng, req.bias_adu,
                         req.read_noise_e / req.gain_e_per_adu)
    assert site.score([dead])[0] == model.score([dead])[0] > site.threshold
    with pytest.raises(SkytwinError, match="at least 100 normal frames"):
        model.calibrated(normal, false_alarm_rate=0.01)
    with pytest.raises(SkytwinError, match="cannot count as normal: frame 19"):
        model.calibrated(normal[:19] + [np.full((16, 16), np.nan)], false_alarm_rate=0.1)
    with pytest.raises(SkytwinError, match="must lie in"):
        model.calibrated(normal, false_alarm_rate=0.0)


def test_weights_of_another_model_or_none_get_one_message(tmp_path: Path) -> None:
    import torch

    from skytwin.agents.anomaly import AnomalyModel
    from skytwin.agents.checkpoint import weights_path
    from skytwin.errors import SkytwinError
    (tmp_path / "text.pt").write_text("{}")
    (tmp_path / "empty.pt").write_bytes(b"")
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    for name, needle in (("text.pt", "not a weights file skytwin can read (UnpicklingError)"),
                         ("empty.pt", "not a weights file skytwin can read (EOFError)"),
                         ("tensor.pt", "no state_dict")):
        with pytest.raises(SkytwinError, match=needle.replace("(", r"\(").replace(")", r"\)")):
            AnomalyModel.load(tmp_path / name)
    with pytest.raises(SkytwinError, match="not anomaly weights"):
        AnomalyModel.load(weights_path("quality_cnn.pt"))
