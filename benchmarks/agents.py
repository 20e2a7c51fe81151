"""Benchmark of the shipped edge models on fresh twin data and real Rubin cutouts.

    python benchmarks/agents.py --seed 1            # prints a JSON line last

Everything is made fresh with ``--seed`` (the shipped models were trained with
seed 0): quality frames of the training sites and of the held-out sites,
detection candidates of new fields (brightenings and fadings; the
``detection_positive_*`` figures count only the positive candidates, those
``DetectionModel.detect`` reports), failure frames for the anomaly detector.
``--quality-n 0``, ``--fields 0`` or ``--anomaly-n 0`` skips that part.
Beside each quality ECE, ``*_ece_if_calibrated`` is the median ECE a
perfectly calibrated model with the same confidences would show on as many
frames (the sampling floor), and ``*_ece_p_if_calibrated`` the fraction of
such draws at or above the measured ECE; ``*_<quantity>_within_<k>_sigma``
is how often the estimate's k-sigma error covers the truth (Gaussian: 0.683,
0.954).
Real data: /work/shared/realdata/rubin_triplets (or ``--realdata``), Rubin's
reliability < 0.1 as bogus against > 0.9 as real. Timings on one CPU thread
(``torch.set_num_threads(1)``), median of repeated calls.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from skytwin.agents.anomaly import load_default as load_anomaly  # noqa: E402
from skytwin.agents.calibration import calibrated_ece_draws, expected_calibration_error  # noqa: E402
from skytwin.agents.detection import baseline_score, load_default as load_detection  # noqa: E402
from skytwin.agents.detection import stack_reference  # noqa: E402
from skytwin.agents.preprocess import center_crop  # noqa: E402
from skytwin.agents.quality import load_default as load_quality  # noqa: E402
from skytwin.agents.quality.baseline import QualityBaseline  # noqa: E402
from skytwin.agents.quality.rule_head import targets  # noqa: E402
from skytwin.agents.checkpoint import weights_path  # noqa: E402
from skytwin.training.datasets import CONDITIONS, make_quality_dataset  # noqa: E402
from skytwin.training.detection_data import make_detection_dataset  # noqa: E402
from skytwin.training.sites import HELDOUT_SITES, TRAIN_SITES  # noqa: E402
from skytwin.training.failures import FAILURE_MODES  # noqa: E402
from skytwin.training.train_quality import labels_apart_from_clouds, reason_accuracy  # noqa: E402
from skytwin.training.train_anomaly import make_failure_set, recall_at_fpr, scores  # noqa: E402
from skytwin.training.train_detection import fpr_at_fnr, roc_auc  # noqa: E402


def _median_ms(fn, n: int) -> float:
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return 1000.0 * float(np.median(ts))


def quality(seed: int, n: int, n_heldout: int, workers: int) -> dict[str, float]:
    m = load_quality()
    base = QualityBaseline.load(weights_path("quality_baseline.npz"))
    out: dict[str, float] = {}
    for name, sites, k in (("", TRAIN_SITES, n), ("heldout_site_", HELDOUT_SITES, n_heldout)):
        # every frame twice: with its reference stars (the headline figures) and without
        d = make_quality_dataset(k, seed, sites=sites, measure_every=1, workers=workers,
                                 no_catalogue_every=1)
        cat = d["catalogue"]
        p, said = m.classify_arrays(d["x"][cat], d["s"][cat])
        y = d["label"][cat]
        out[f"quality_{name}accuracy"] = float((p.argmax(1) == y).mean())
        out[f"quality_{name}reason_accuracy"] = reason_accuracy(p, said, y, d["reasons"][cat])
        out[f"quality_{name}ece"] = expected_calibration_error(p, y)
        # what a perfectly calibrated model with these confidences shows on this many frames
        floor = calibrated_ece_draws(p, seed=seed)
        out[f"quality_{name}ece_if_calibrated"] = float(np.median(floor))
        out[f"quality_{name}ece_p_if_calibrated"] = float(
            (floor >= out[f"quality_{name}ece"]).mean())
        out[f"quality_{name}n"] = int(len(y))
        # how often the estimates' one- and two-sigma errors cover the truth (Gaussian: 0.683,
        # 0.954): what the errors `skytwin judge` prints are worth
        mean, sigma = m.estimate_arrays(d["x"][cat], d["s"][cat])
        z = np.abs(mean - targets(d["conditions"][cat], CONDITIONS)[0]) / sigma
        for c, quantity in enumerate(("fwhm", "ellipticity", "transparency", "sky_excess")):
            for k in (1, 2):
                out[f"quality_{name}{quantity}_within_{k}_sigma"] = float((z[:, c] <= k).mean())
        meas = np.isfinite(d["baseline"]).any(axis=1) & cat
        pb = base.proba(d["baseline"][meas])
        out[f"quality_{name}baseline_accuracy"] = float((pb.argmax(1) == d["label"][meas]).mean())
        out[f"quality_{name}baseline_n"] = int(meas.sum())
        # as QualityModel.predict judges a frame that comes without a catalogue
        blind = ~cat
        p_nc, _ = m.classify_arrays(d["x"][blind], d["s"][blind], catalogue=False)
        out[f"quality_{name}no_catalogue_accuracy"] = float(
            (p_nc.argmax(1) == d["label"][blind]).mean())
        # against what a verdict without the clouds criterion claims: the label apart from clouds
        y_nc = labels_apart_from_clouds(d["conditions"][blind])
        out[f"quality_{name}no_catalogue_accuracy_apart_from_clouds"] = float(
            (p_nc.argmax(1) == y_nc).mean())
        out[f"quality_{name}no_catalogue_ece"] = expected_calibration_error(p_nc, y_nc)
    return out


def quality_timing(seed: int) -> dict[str, float]:
    from skytwin.training.datasets import quality_request, render_safe
    from skytwin.training.sites import SITES
    m = load_quality()
    out = {}
    for size in (256, 512, 1024):  # 512: the twin's own quality frames
        req = quality_request(seed, 0, SITES).with_(nx=size, ny=size)
        f = render_safe(req)
        m.predict(f)  # warm-up
        out[f"quality_ms_per_frame_{size}"] = _median_ms(lambda: m.predict(f), 30)
    out["quality_ms_per_frame"] = out["quality_ms_per_frame_256"]
    return out


def detection(seed: int, n_fields: int, workers: int) -> dict[str, float]:
    m = load_detection()
    d = make_detection_dataset(n_fields, seed, workers=workers)
    p = m.score(center_crop(d["cutouts"], 31))
    b = baseline_score(d["features"])
    y = d["label"]
    ho = np.isin(d["site"], HELDOUT_SITES)
    pos = d["sign"] > 0  # what DetectionModel.detect reports (brightenings)
    return {"detection_n": int(len(y)), "detection_n_real": int(y.sum()),
            "detection_auc": roc_auc(p, y), "detection_fpr_at_1pct_fnr": fpr_at_fnr(p, y),
            "detection_positive_n": int(pos.sum()),
            "detection_positive_auc": roc_auc(p[pos], y[pos]),
            "detection_positive_fpr_at_1pct_fnr": fpr_at_fnr(p[pos], y[pos]),
            "detection_baseline_auc": roc_auc(b, y),
            "detection_baseline_fpr_at_1pct_fnr": fpr_at_fnr(b, y),
            "detection_heldout_site_auc": roc_auc(p[ho], y[ho])}


def detection_timing(seed: int) -> dict[str, float]:
    from skytwin.twin.frames import RenderRequest, Transient, render_frame
    m = load_detection()
    base = dict(ra_deg=120.0, dec_deg=5.0, nx=1024, ny=1024, pixel_scale_arcsec=0.6,
                seed=seed, star_density=2.0)
    ref = stack_reference([render_frame(RenderRequest(**base, seeing_arcsec=1.0,
                                                      frame_id=f"r{k}")).image
                           for k in range(3)])
    trs = tuple(Transient("sn", 17.0, 60676.01, ra_deg=120.0 + 0.02 * k, dec_deg=5.0)
                for k in range(-3, 4))
    sci = render_frame(RenderRequest(**base, seeing_arcsec=1.4, frame_id="s", transients=trs))
    m.detect(sci.image, ref)
    det = m.detect(sci.image, ref)
    ms = _median_ms(lambda: m.detect(sci.image, ref), 5)
    return {"detection_ms_per_1024_frame": ms, "detection_timing_candidates": int(len(det.x))}


def anomaly(seed: int, n: int, workers: int) -> dict[str, float]:
    m = load_anomaly()
    f = make_failure_set(n, seed + 5000, workers)
    sn, sa = scores(m, f)
    out = {"anomaly_recall_at_1pct_fpr": recall_at_fpr(sn, sa),
           "anomaly_recall_at_stored_threshold": float((sa > m.threshold).mean()),
           "anomaly_fpr_at_stored_threshold": float((sn > m.threshold).mean()),
           "anomaly_n": int(n)}
    for k, mode in enumerate(FAILURE_MODES):  # recall per mode, 1%-FPR threshold of all normals
        out[f"anomaly_recall_{mode}"] = recall_at_fpr(sn, sa[f["mode"] == k])
    return out


def rubin(realdata: Path) -> dict[str, float]:
    import csv
    z = np.load(realdata / "rubin_triplets" / "rubin_triplets.npz")["triplets"]
    with open(realdata / "rubin_triplets" / "rubin_alerts_meta.csv") as fh:
        rel = np.array([float(r["reliability"]) for r in csv.DictReader(fh)])
    keep = (rel < 0.1) | (rel > 0.9)
    p = load_detection().score(z[keep])
    y = (rel[keep] > 0.9).astype(int)
    return {"rubin_auc": roc_auc(p, y), "rubin_n_real": int(y.sum()),
            "rubin_n_bogus": int((1 - y).sum()), "rubin_fpr_at_1pct_fnr": fpr_at_fnr(p, y)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quality-n", type=int, default=1000, help="0 skips the quality part")
    ap.add_argument("--heldout-n", type=int, default=500, help="0 skips the quality part")
    # 200 fields hold ~1800 reals, so the 1%-FNR point rests on ~18 of them (60 fields: ~5)
    ap.add_argument("--fields", type=int, default=200, help="0 skips the detection part")
    ap.add_argument("--anomaly-n", type=int, default=210, help="0 skips the anomaly part")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--realdata", type=Path, default=REPO.parent / "shared" / "realdata")
    args = ap.parse_args()
    torch.set_num_threads(1)
    res: dict[str, float] = {"seed": args.seed}
    t0 = time.perf_counter()
    res.update(rubin(args.realdata))
    res.update(quality_timing(args.seed))
    res.update(detection_timing(args.seed))
    if args.quality_n and args.heldout_n:
        res.update(quality(args.seed, args.quality_n, args.heldout_n, args.workers))
    if args.fields:
        res.update(detection(args.seed, args.fields, args.workers))
    if args.anomaly_n:
        res.update(anomaly(args.seed, args.anomaly_n, args.workers))
    res["wall_s"] = time.perf_counter() - t0
    for k, v in list(res.items()):
        if isinstance(v, float) and not math.isfinite(v):
            res[k] = None
    print(json.dumps({k: (round(v, 5) if isinstance(v, float) else v) for k, v in res.items()}))


if __name__ == "__main__":
    main()
