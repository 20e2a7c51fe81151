"""The edge bundle: the shipped networks as ONNX files, with what an edge computer needs beside them.

A site's edge computer (a Jetson) runs the networks in onnxruntime or
TensorRT, not in PyTorch. :func:`write_bundle` writes, into one folder,

* ``<model>.onnx`` for each of ``quality``, ``detection``, ``anomaly``
  (:mod:`skytwin.agents.onnx_export`: opset 17, dynamic batch, output
  activation included);
* ``<model>.md``: the model card, with its training data, seed and metrics;
* ``manifest.json``: per model, the file and its SHA-256, the SHA-256 of the
  weights it came from, the inputs and outputs with their shapes (``-1`` is
  the batch), the Python function that makes the inputs from a frame (the
  normalisation stays in numpy), the decision rule with its numbers (class
  order, the anomaly threshold, the detection cascade's band), and a parity
  check.

The parity check runs each written file in onnxruntime on inputs made from
frames the twin renders for the purpose (the quality and anomaly inputs of
five frames, the detection pipeline's candidates of one field with six
supernovae, found down to 4 sigma so that some fall in the cascade's
undecided band) and compares with the shipped PyTorch model: the largest
absolute difference of each output, and for detection also of the cascade's
final scores. A difference above :data:`PARITY_TOLERANCE` marks the model
failed (``passed: false``); the files are still written, so they can be
looked at.

Nothing in the manifest depends on the time or the machine beyond the
library versions, so the same weights give the same bundle.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from skytwin.agents.checkpoint import load_meta, weights_path
from skytwin.errors import SkytwinError

MODELS = ("quality", "detection", "anomaly")
PARITY_TOLERANCE = 1e-4  # largest |onnxruntime - torch| on a probability or a score
CHECK_SEED = 20251  # the twin's seed for the parity frames
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ParityCheck:
    """One model's onnxruntime-against-PyTorch comparison on twin inputs."""

    n_inputs: int
    max_abs_diff: dict[str, float]  # per output (and "cascade" for detection)
    counts: dict[str, int] = field(default_factory=dict)  # e.g. the inputs the cascade re-scored

    @property
    def passed(self) -> bool:
        return all(math.isfinite(d) and d <= PARITY_TOLERANCE for d in self.max_abs_diff.values())


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


# ------------------------------------------------------------------ parity inputs (the twin)
def _check_frames() -> list[Any]:
    """Five 256² twin frames, good and bad: sharp, blurred, defocused, trailed, clouded."""
    from skytwin.twin.frames import RenderRequest, render_frame
    base = dict(ra_deg=150.0, dec_deg=2.0, nx=256, ny=256, pixel_scale_arcsec=0.6,
                seed=CHECK_SEED, star_density=2.0, exptime_s=60.0)
    variants = [dict(seeing_arcsec=1.0), dict(seeing_arcsec=2.8),
                dict(seeing_arcsec=1.2, defocus_arcsec=2.5),
                dict(seeing_arcsec=1.1, ellipticity=0.35, ellipticity_pa_deg=30.0),
                dict(seeing_arcsec=1.3, transparency=0.4)]
    return [render_frame(RenderRequest(**base, **v, frame_id=f"check{k}"))
            for k, v in enumerate(variants)]


def _check_triplets() -> NDArray[np.float32]:
    """Normalised cutouts of the detection pipeline's candidates in one twin field."""
    from skytwin.agents.detection.model import load_default
    from skytwin.agents.detection.subtract import stack_reference
    from skytwin.agents.preprocess import CUTOUT_SIZE, cutout_input
    from skytwin.twin.frames import RenderRequest, Transient, render_frame
    base = dict(ra_deg=150.0, dec_deg=2.0, nx=256, ny=256, pixel_scale_arcsec=0.6,
                seed=CHECK_SEED, star_density=3.0, cosmic_ray_rate=0.3)
    ref = stack_reference([render_frame(RenderRequest(**base, seeing_arcsec=1.0,
                                                      frame_id=f"ref{k}")).image
                           for k in range(3)])
    sne = tuple(Transient("sn", 19.5 + 0.4 * k, 60676.01, ra_deg=150.0 + 0.005 * (k - 2.5),
                          dec_deg=2.0 + 0.003 * (k % 3 - 1)) for k in range(6))
    sci = render_frame(RenderRequest(**base, seeing_arcsec=1.5, frame_id="sci",
                                     transients=sne))
    # 4 sigma: faint candidates too, some of which the cascade re-scores in 8 orientations
    det = load_default().detect(sci.image, ref, nsigma=4.0)
    return cutout_input(det.triplets, CUTOUT_SIZE)


def _max_diffs(names: Sequence[str], onnx_out: Sequence[NDArray],
               torch_out: Sequence[NDArray]) -> dict[str, float]:
    out = {}
    for name, a, b in zip(names, onnx_out, torch_out, strict=True):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        out[name] = float(np.abs(a - b).max()) if a.shape == b.shape and a.size else \
            (0.0 if a.shape == b.shape else math.inf)
    return out


# ------------------------------------------------------------------------- one model each
def _quality(out: Path, frames: list[Any]) -> dict[str, Any]:
    from skytwin.agents.onnx_export import QUALITY_OUTPUTS, export_quality, run_onnx
    from skytwin.agents.quality.inputs import QUALITY_SCALARS, quality_model_input
    from skytwin.agents.quality.labels import LABELS, REASONS
    from skytwin.agents.quality.model import WEIGHTS, QualityModel, load_default
    from skytwin.agents.quality.rule_head import CRITERIA, TRAIL_CLASSES
    from skytwin.agents.quality.stars import ReferenceStars
    model = load_default(engine="torch")
    path = export_quality(model, out / "quality.onnx")
    xs, ss = zip(*(quality_model_input(f.image, f.header, None,
                                       ReferenceStars.from_truth(f.truth)) for f in frames))
    x, s = np.stack(xs), np.stack(ss)
    torch_engine = QualityModel(model.net, engine="torch")
    check = ParityCheck(len(x), _max_diffs(QUALITY_OUTPUTS, run_onnx(path, x=x, s=s),
                                           torch_engine._infer(x, s)))
    return {
        "inputs": {"x": [-1, 2, *x.shape[2:]], "s": [-1, len(QUALITY_SCALARS)]},
        "outputs": {"probs": [-1, len(LABELS)], "reasons": [-1, len(REASONS)],
                    "estimates": [-1, 5], "trails": [-1, len(TRAIL_CLASSES)],
                    "criteria": [-1, len(CRITERIA), len(LABELS)], "sigmas": [-1, 5]},
        "preprocess": "skytwin.agents.quality.inputs.quality_model_input(image, "
                      "skytwin.agents.frame_header.read_calibration(header, image).header, "
                      "moon, stars) -> (x, s)",
        "scalars": list(QUALITY_SCALARS),
        "decision": {"labels": list(LABELS), "rule": "label = labels[argmax(probs)]",
                     "reasons": list(REASONS), "criteria": list(CRITERIA),
                     "reason_rule": "skytwin.agents.quality.model.rule_reason(label, criteria, "
                                    "reasons, moon)",
                     "temperature": model.temperature,
                     "note": "the temperature is inside the graph; the criteria a frame's "
                             "header or catalogue cannot support (read_calibration(header, "
                             "image).unjudged; clouds without a catalogue) are set to good and "
                             "the label recombined, and a frame whose scalar log_n_stars is 0 "
                             "(no star measured) is bad with the reason 'no stars', as "
                             "QualityModel.predict does"},
        "weights": weights_path(WEIGHTS), "check": check,
    }


def _detection(out: Path, triplets: NDArray[np.float32]) -> dict[str, Any]:
    from skytwin.agents.detection.model import UNSURE, WEIGHTS, cascade_scores, load_default
    from skytwin.agents.onnx_export import export_detection, run_onnx
    from skytwin.agents.preprocess import CUTOUT_SIZE
    model = load_default()
    path = export_detection(model, out / "detection.onnx")
    single = run_onnx(path, x=triplets)[0]
    diffs = _max_diffs(["prob"], [single], [model.single_pass(triplets)])
    cascade = cascade_scores(lambda v: run_onnx(path, x=v)[0], triplets)
    diffs.update(_max_diffs(["cascade"], [cascade], [model.score_normalised(triplets)]))
    return {
        "inputs": {"x": [-1, 3, CUTOUT_SIZE, CUTOUT_SIZE]}, "outputs": {"prob": [-1]},
        "preprocess": "skytwin.agents.preprocess.cutout_input(triplets) -> x "
                      "(channels science, reference, difference; any size from 21x21)",
        "decision": {"rule": "p_real = skytwin.agents.detection.cascade_scores(onnx_pass, x)",
                     "cascade_unsure": UNSURE,
                     "note": f"a single-pass p within ({UNSURE}, {1 - UNSURE}) is replaced by "
                             "the mean over the cutout's 8 orientations"},
        "weights": weights_path(WEIGHTS),
        "check": ParityCheck(len(triplets), diffs, {"rescored_by_cascade": int(
            ((single > UNSURE) & (single < 1.0 - UNSURE)).sum())}),
    }


def _anomaly(out: Path, frames: list[Any], weights: Path | None = None) -> dict[str, Any]:
    from skytwin.agents.anomaly.features import anomaly_input
    from skytwin.agents.anomaly.model import WEIGHTS, AnomalyModel
    from skytwin.agents.onnx_export import export_anomaly, run_onnx
    weights = weights or weights_path(WEIGHTS)  # a site's own threshold: skytwin calibrate-anomaly
    model = AnomalyModel.load(weights)
    path = export_anomaly(model, out / "anomaly.onnx")
    m, p, g = (np.stack(a) for a in zip(*(anomaly_input(f.image, f.header) for f in frames)))
    check = ParityCheck(len(m), _max_diffs(["score"], run_onnx(path, m=m, p=p, g=g),
                                           [model.score_arrays(m, p, g)]))
    entry = {
        "inputs": {"m": [-1, *m.shape[1:]], "p": [-1, *p.shape[1:]], "g": [-1, *g.shape[1:]]},
        "outputs": {"score": [-1]},
        "preprocess": "skytwin.agents.anomaly.features.anomaly_input(image, header) -> (m, p, g)",
        "decision": {"rule": "anomalous = score > threshold", "threshold": model.threshold},
        "weights": weights, "check": check,
    }
    if weights != weights_path(WEIGHTS):  # a site's threshold: where it came from
        meta = load_meta(weights)
        entry["decision"]["threshold_from"] = {
            k: meta[k] for k in ("threshold_frames", "false_alarm_rate", "twin_threshold") if k in meta}
    return entry


_CARDS = {"quality": "quality_cnn.md", "detection": "detection_cnn.md",
          "anomaly": "anomaly_ae.md"}


def write_bundle(out_dir: str | Path, models: Sequence[str] = MODELS,
                 progress: Callable[[str], None] | None = None,
                 anomaly_weights: str | Path | None = None) -> dict[str, Any]:
    """Write the edge bundle of ``models`` into ``out_dir`` and return its manifest.

    ``anomaly_weights``: an anomaly model with a site's own threshold
    (:meth:`~skytwin.agents.anomaly.AnomalyModel.calibrated`, ``skytwin
    calibrate-anomaly``) instead of the shipped one; the threshold is the
    manifest's, the graph only scores.

    Raises
    ------
    SkytwinError
        An unknown model name, ``out_dir`` exists and is not a folder or cannot be
        written, or ``anomaly_weights`` is no file.
    """
    from skytwin.agents.onnx_export import OPSET
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        raise SkytwinError(f"unknown model {unknown[0]!r}; expected any of {', '.join(MODELS)}"
                           if unknown else "no model to export")
    if anomaly_weights is not None and not Path(anomaly_weights).is_file():
        raise SkytwinError(f"{anomaly_weights}: no such anomaly weights file")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise SkytwinError(f"{out}: exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".skytwin-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise SkytwinError(f"{out}: cannot write the bundle there ({exc.strerror or exc})"
                           ) from exc
    frames = _check_frames() if {"quality", "anomaly"} & set(models) else []
    manifest: dict[str, Any] = {
        "skytwin": _version("skytwin"), "torch": _version("torch"),
        "onnxruntime": _version("onnxruntime"), "opset": OPSET,
        "parity_tolerance": PARITY_TOLERANCE, "models": {}}
    for name in dict.fromkeys(models):  # each once, in the order asked
        if progress is not None:
            progress(name)
        if name == "detection":
            entry = _detection(out, _check_triplets())
        elif name == "anomaly":
            entry = _anomaly(out, frames, None if anomaly_weights is None else Path(anomaly_weights))
        else:
            entry = _quality(out, frames)
        check: ParityCheck = entry.pop("check")
        weights: Path = entry.pop("weights")
        card = weights_path(_CARDS[name]).read_text()
        site = entry["decision"].get("threshold_from")
        if site is not None:  # the card's figures are the twin's; say what this bundle's threshold is
            card += (f"\n## In this bundle: a site's own threshold\n\nThe threshold is "
                     f"{entry['decision']['threshold']:.4g} (the twin's: {site.get('twin_threshold', math.nan):.4g}), "
                     f"set with `skytwin calibrate-anomaly` on {site.get('threshold_frames', '?')} of the "
                     f"site's normal frames for a false-alarm rate of {site.get('false_alarm_rate', '?')} "
                     f"({weights.name}). The figures above are the twin's.\n")
        (out / f"{name}.md").write_text(card)
        onnx_file = out / f"{name}.onnx"
        manifest["models"][name] = {
            "file": onnx_file.name, "sha256": sha256(onnx_file),
            "bytes": onnx_file.stat().st_size,
            "weights": weights.name, "weights_sha256": sha256(weights),
            "card": f"{name}.md", **entry,
            "parity": {"inputs": check.n_inputs, **check.counts,
                       # strict JSON has no NaN or Infinity: a comparison that failed is null
                       "max_abs_diff": {k: v if math.isfinite(v) else None
                                        for k, v in check.max_abs_diff.items()},
                       "passed": check.passed}}
    manifest["passed"] = all(m["parity"]["passed"] for m in manifest["models"].values())
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, allow_nan=False) + "\n")
    return manifest
