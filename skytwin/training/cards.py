"""Model cards: one Markdown file per shipped model, written from its training metrics.

Each card says what the model is, what data it saw (and with which seed),
how it was trained (command, time, machine), and the measured figures, with
the training plots beside it. Benchmark figures on fresh data are added by
hand from ``benchmarks/agents.py`` (the card says which command made them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from skytwin.training.sites import HELDOUT_SITES, TRAIN_SITES


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def _table(d: dict[str, Any]) -> str:
    rows = [f"| {k} | {_fmt(v)} |" for k, v in d.items() if not isinstance(v, dict)]
    return "| metric | value |\n| --- | --- |\n" + "\n".join(rows)


def _size(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.2f} MB" if path.is_file() else "missing"


def write_card(model: str, metrics: dict[str, Any], weights: Path, extra: str = "") -> Path:
    """Write ``<weights dir>/<model>.md`` from the training metrics."""
    seed = metrics.get("seed", 0)
    t = metrics.get("time_s", {})
    blocks = [f"# Model card: {model}\n",
              f"Weights: `{weights.name}` ({_size(weights)}), loaded by "
              f"`skytwin.agents.{_PKG[model]}.load_default()`.\n",
              "## Training\n",
              f"Command: `skytwin train {_CMD[model]} --seed {seed}` (from the repository "
              "root; data cached under `runs/data`).\n",
              f"Seed: {seed}. Training sites: {', '.join(TRAIN_SITES)}; held out of all "
              f"training: {', '.join(HELDOUT_SITES)}.\n",
              f"Time: data {t.get('data', float('nan')):.0f} s, training "
              f"{t.get('train', float('nan')):.0f} s, total {t.get('total', float('nan')):.0f} s "
              f"on {metrics.get('machine', '?')} (2 cores shared with other jobs; no GPU).\n",
              _DATA[model] + "\n",
              "## Metrics at training time\n"]
    for name, sub in metrics.items():
        if isinstance(sub, dict) and name != "time_s":
            blocks.append(f"### {name}\n\n{_table(sub)}\n")
    blocks.append(_table({k: v for k, v in metrics.items()
                          if not isinstance(v, dict) and k not in ("machine",)}) + "\n")
    blocks.append(extra)
    out = weights.with_suffix(".md")
    out.write_text("\n".join(blocks))
    return out


_PKG = {"quality_cnn": "quality", "detection_cnn": "detection", "anomaly_ae": "anomaly"}
_CMD = {"quality_cnn": "quality", "detection_cnn": "detection", "anomaly_ae": "anomaly"}
_DATA = {
    "quality_cnn": (
        "Data: 512 x 512 frames rendered by the twin (`skytwin.training.datasets`), one site "
        "profile per frame in turn, each frame with a drawn problem (none, seeing, defocus, "
        "tracking, clouds, Moon, background, trails, saturation, or two of them); labels are "
        "the twin's rule on the physical truth. Inputs "
        "(`skytwin.agents.quality.inputs`): the frame block-averaged to 64 x 64, the stacked "
        "PSF of the catalogue stars, and scalars (photometry from the header, the stack's "
        "FWHM and ellipticity from GalSim's adaptive moments and its half-maximum area on a "
        "3x band-limited upsampling, the catalogue transparency of all usable stars above "
        "the frame's background model, a disc around every catalogue source left out of it, the "
        "number of trails a Hough transform counts on the block-averaged frame); "
        "the catalogue is the twin's own star list with 0.03 mag scatter, standing in for "
        "Gaia at a real site; one frame in four (drawn) is also preprocessed without it "
        "(trained on, judged without the clouds criterion as `predict` does, "
        "scored apart; the epoch, the temperature and the corrections' scale come from the "
        "frames with it). "
        "The network estimates the labelling rule's quantities (FWHM, "
        "ellipticity, transparency, sky excess, saturated fraction, trail class) with "
        "uncertainties, trained on the twin's truth, and the rule turns them into class "
        "probabilities (`skytwin.agents.quality.rule_head`); on a PSF of more than 4 pixels "
        "the FWHM is the stack's match to a grid of seeing x defocus profiles instead "
        "(`skytwin.agents.quality.profile_grid`, applied after the network, at validation "
        "and inference). Split 80/10/10 by a hash of "
        "(seed, frame) "
        "for the training sites; the held-out sites form their own split. Temperature "
        "fitted on the validation split and 2400 fresh frames of the training sites (a seed "
        "stream of their own). Plots: `quality_curve.png` (training curve), "
        "`quality_reliability.png` (reliability diagram, test split)."),
    "detection_cnn": (
        "Data: candidates of the twin's own pipeline (`skytwin.training.detection_data`): "
        "256 x 256 fields, pixel scales 0.2-1.2\"/pixel, reference = median of three "
        "good-seeing frames, two science epochs per field, Alard-Lupton subtraction (its "
        "flux scale checked against the reference's sources where the kernel rests on hot "
        "pixels), "
        "candidates at 5 sigma of the local noise (raised on the reference's stars by their "
        "photon noise and subtraction residuals) in the difference and in its negative. "
        "Reals: supernovae (random places, "
        "beside galaxies), flux changes of catalogue stars (variables and flares, 1% of a "
        "bright star to 2.5x a faint one), nuclear transients on galaxy cores, and fadings "
        "(stars and nuclei brighter in the reference: negative candidates); a candidate is "
        "real within max(2, 0.6 FWHM) pixels of a change of its own sign that explains its "
        "SNR (at most 3x the change's expected SNR), and left out when the near change does "
        "not explain it, lies on a satellite or aircraft trail, or only a change of the "
        "other sign is near. Bogus: cosmic rays, hot pixels, dipoles "
        "from pointing errors, bright-star and PSF-mismatch residuals (both signs), "
        "satellites; edge cutouts (NaN beyond the frame; the difference is NaN within the "
        "kernel's half-width of the edge). The Rubin cutouts were never used for training, "
        "thresholds or model selection: before the data change their difference signs and "
        "template sources were counted and 20 were looked at, to see what Rubin calls real (mostly flux changes of template stars; 62% "
        "of the confident reals are negative), and the Rubin AUC was read after each of the "
        "three trainings made while changing the data (0.455, 0.511, 0.522), and after each "
        "of the six trainings of the local-noise version (0.43-0.54), and after the "
        "retrain with 10-term kernels on few stamps (0.460) and the one after the "
        "hot-pixel FWHM fix (0.470), and after the move to 3500 fields (0.571) and the two "
        "retrains of the flux-scale check (0.600, 0.561); every change was chosen from the "
        "twin's own worst candidates. Training: 20 epochs, the forward "
        "pass in bfloat16 where the CPU has bfloat16 units (the metrics say which; the "
        "shipped weights and all scores are float32). Scores: one CNN pass, and the "
        "mean over the eight orientations of a cutout when that pass is within "
        "(0.01, 0.99). Plot: `detection_curve.png`."),
    "anomaly_ae": (
        "Data: normal 256 x 256 frames of the training sites drawn like the quality data "
        "set's (all weather and quality conditions; no failure frames), reduced to "
        "noise-normalised block maps, row/column profiles (and, in the model, their "
        "21-row running medians) and scalars, one of them the peak of the power spectrum "
        "(`skytwin.agents.anomaly.features`). Indicator tail scales: the training frames' "
        "90th and 99.9th percentiles (10th and 0.1st downwards). Threshold: 99th "
        "percentile of the score on the validation and test splits' normal frames. Test: "
        "fresh frames (seed + 1000, training and held-out sites) each shown once normal "
        "and once with a failure from `skytwin.training.failures` (never seen in training "
        "or in the threshold). Plot: `anomaly_curve.png`."),
}


def load_metrics(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())
