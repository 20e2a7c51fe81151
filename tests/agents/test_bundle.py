"""The edge bundle: ONNX files, cards and a manifest whose parity check can fail."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from skytwin.agents import bundle
from skytwin.agents.bundle import MANIFEST, ParityCheck, sha256, write_bundle
from skytwin.agents.checkpoint import weights_path
from skytwin.agents.onnx_export import run_onnx
from skytwin.cli import main
from skytwin.errors import SkytwinError


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("edge")
    return out, write_bundle(out)


def test_every_model_is_written_with_its_card_and_hashes(edge) -> None:
    out, manifest = edge
    assert json.loads((out / MANIFEST).read_text()) == manifest
    assert set(manifest["models"]) == {"quality", "detection", "anomaly"} and manifest["passed"]
    for name, m in manifest["models"].items():
        assert m["sha256"] == sha256(out / m["file"]) and m["bytes"] == (out / m["file"]).stat().st_size
        assert m["weights_sha256"] == sha256(weights_path(m["weights"]))
        assert (out / m["card"]).read_text() == weights_path(m["weights"]).with_suffix(".md").read_text()
        assert m["parity"]["passed"] and m["parity"]["inputs"] >= 5, name
        assert max(m["parity"]["max_abs_diff"].values()) <= bundle.PARITY_TOLERANCE


def test_detection_check_reaches_the_cascade(edge) -> None:
    m = edge[1]["models"]["detection"]
    assert m["parity"]["rescored_by_cascade"] > 0 and "cascade" in m["parity"]["max_abs_diff"]
    assert m["decision"]["cascade_unsure"] == pytest.approx(0.01)


def test_declared_shapes_run_in_onnxruntime(edge) -> None:
    out, manifest = edge
    for name, m in manifest["models"].items():
        inputs = {k: np.zeros([3 if d < 0 else d for d in shape], np.float32)
                  for k, shape in m["inputs"].items()}
        got = run_onnx(out / m["file"], **inputs)
        assert [list(g.shape) for g in got] == [[3 if d < 0 else d for d in shape]
                                                for shape in m["outputs"].values()], name


def test_anomaly_threshold_and_quality_labels_are_the_models(edge) -> None:
    from skytwin.agents import anomaly, quality
    models = edge[1]["models"]
    assert models["anomaly"]["decision"]["threshold"] == anomaly.load_default().threshold
    q = quality.load_default(engine="torch")
    assert models["quality"]["decision"]["temperature"] == pytest.approx(q.temperature)
    assert models["quality"]["decision"]["labels"] == ["good", "medium", "bad"]


def test_same_weights_give_the_same_bundle(edge, tmp_path: Path) -> None:
    write_bundle(tmp_path)
    assert (tmp_path / MANIFEST).read_bytes() == (edge[0] / MANIFEST).read_bytes()
    for name in ("quality", "detection", "anomaly"):
        assert (tmp_path / f"{name}.onnx").read_bytes() == (edge[0] / f"{name}.onnx").read_bytes()


def test_parity_check_fails_on_a_difference_or_nan() -> None:
    assert ParityCheck(3, {"p": 0.0}).passed
    assert not ParityCheck(3, {"p": 0.0, "q": 2 * bundle.PARITY_TOLERANCE}).passed
    assert not ParityCheck(3, {"p": math.nan}).passed


def test_cli_exits_1_when_parity_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "detection", "--out", str(tmp_path / "ok")]) == 0
    assert "detection.onnx" in capsys.readouterr().out
    monkeypatch.setattr(bundle, "PARITY_TOLERANCE", -1.0)  # nothing can pass
    assert main(["export", "detection", "--out", str(tmp_path / "bad")]) == 1
    err = capsys.readouterr().err
    assert "should not be deployed" in err
    assert (tmp_path / "bad" / "detection.onnx").is_file()  # written, to be looked at
    assert not json.loads((tmp_path / "bad" / MANIFEST).read_text())["passed"]


def test_a_failed_comparison_is_null_in_strict_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundle, "_max_diffs", lambda names, a, b: {n: math.inf for n in names})
    manifest = write_bundle(tmp_path, ["anomaly"])
    text = (tmp_path / MANIFEST).read_text()
    assert "Infinity" not in text and json.loads(text)["models"]["anomaly"]["parity"]["max_abs_diff"] == {"score": None}
    assert not manifest["passed"]


def test_bad_requests_get_one_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SkytwinError, match="unknown model 'foo'"):
        write_bundle(tmp_path, ["quality", "foo"])
    afile = tmp_path / "afile"
    afile.write_text("")
    assert main(["export", "--out", str(afile)]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err


def test_a_sites_anomaly_threshold_goes_into_the_manifest(tmp_path: Path) -> None:
    from skytwin.agents.anomaly import load_default
    from skytwin.training.datasets import quality_request
    from skytwin.training.sites import SITES
    from skytwin.twin.frames import render_frame
    shipped = load_default()
    site = shipped.calibrated([render_frame(quality_request(8080, i, SITES, size=128)) for i in range(10)], 0.1)
    site.save(tmp_path / "site.pt")
    m = write_bundle(tmp_path / "edge", ["anomaly"], anomaly_weights=tmp_path / "site.pt")["models"]["anomaly"]
    assert m["decision"]["threshold"] == site.threshold != shipped.threshold
    assert m["weights"] == "site.pt" and m["weights_sha256"] == sha256(tmp_path / "site.pt")
    with pytest.raises(SkytwinError, match="no such anomaly weights file"):
        write_bundle(tmp_path / "edge", ["anomaly"], anomaly_weights=tmp_path / "none.pt")
