"""Train the frame autoencoder on normal frames; test it on failure modes it never saw.

Units: times seconds; recall and false-positive rate fractions.

``train(seed)``: the normal frames are rendered like the quality data set's
(every weather and quality condition; :func:`make_anomaly_dataset`, cached)
at the training sites only, and reduced to the autoencoder's inputs
(:func:`skytwin.agents.anomaly.features.anomaly_input`). AdamW on the mean
squared reconstruction error of the standardised inputs, with random flips
of the frame; the indicators' tail scales come from the training frames,
the threshold is the 99th percentile of the score on the validation and
test splits' frames (1% false alarms; the autoencoder never fitted them).
The test set is freshly rendered (``seed + 1000``, training and held-out
sites): each frame once as it is, once with one of
:data:`skytwin.training.failures.FAILURE_MODES`; the failures enter neither
training nor the threshold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from skytwin.agents.anomaly.features import FEATURES_VERSION, anomaly_input
from skytwin.agents.anomaly.model import WEIGHTS, AnomalyModel, FrameAutoencoder, wide_profiles
from skytwin.errors import SkytwinError
from skytwin.training.common import (RUNS, Timer, cached, machine, plot_curves, progress_bar,
                                     record_run, seed_everything)
from skytwin.training.datasets import _map, quality_request, render_safe, split_of
from skytwin.training.failures import FAILURE_MODES, apply_failure
from skytwin.training.sites import HELDOUT_SITES, SITES

DEFAULT_N = 2400  # frame draws (held-out sites' draws skipped: ~1,800 frames)
Inputs = tuple[NDArray, NDArray, NDArray]


def normal_sample(args: tuple[int, int]) -> tuple[Inputs, str] | None:
    """The autoencoder's inputs of normal frame ``i`` and its split; None when skipped."""
    seed, i = args
    req = quality_request(seed, i, SITES)
    if req.site in HELDOUT_SITES:
        return None
    try:
        frame = render_safe(req)
        return anomaly_input(frame.image, frame.header), split_of(seed, i, req.site)
    except (ValueError, SkytwinError):
        return None


def make_anomaly_dataset(n: int, seed: int, workers: int = 2, progress: Any = None
                         ) -> dict[str, NDArray]:
    """Inputs ``m``, ``p``, ``g`` and ``split`` of the normal frames among ``n`` draws."""
    parts = [q for q in _map(normal_sample, [(seed, i) for i in range(n)], workers, progress)
             if q is not None]
    return dict(m=np.stack([q[0][0] for q in parts]), p=np.stack([q[0][1] for q in parts]),
                g=np.stack([q[0][2] for q in parts]), split=np.array([q[1] for q in parts]))


def failure_pair(args: tuple[int, int]) -> tuple[Inputs, Inputs, int] | None:
    """A fresh frame's inputs, normal and with a failure, and the mode index.

    None for a draw the renderer cannot make (see
    :func:`skytwin.training.datasets.render_safe`).
    """
    seed, i = args
    req = quality_request(seed, i, SITES)
    try:
        frame = render_safe(req)
    except (ValueError, SkytwinError):
        return None
    rng = np.random.default_rng([seed, i, 99])
    mode = i % len(FAILURE_MODES)
    bad = apply_failure(frame.image, FAILURE_MODES[mode], rng, req.bias_adu,
                        req.read_noise_e / req.gain_e_per_adu)
    return anomaly_input(frame.image, frame.header), anomaly_input(bad, frame.header), mode


def make_failure_set(n: int, seed: int, workers: int = 2, progress: Any = None
                     ) -> dict[str, NDArray]:
    """Inputs ``m``, ``p``, ``g`` of fresh normal frames, ``m_fail``... of the same with a failure."""
    parts = [q for q in _map(failure_pair, [(seed, i) for i in range(n)], workers, progress)
             if q is not None]
    out = {k: np.stack([q[0][j] for q in parts]) for j, k in enumerate("mpg")}
    out.update({f"{k}_fail": np.stack([q[1][j] for q in parts]) for j, k in enumerate("mpg")})
    out["mode"] = np.array([q[2] for q in parts], np.int64)
    return out


def scores(model: AnomalyModel, f: dict[str, NDArray]) -> tuple[NDArray, NDArray]:
    """Scores of a failure set's normal frames and of its failure frames."""
    return (model.score_arrays(f["m"], f["p"], f["g"]),
            model.score_arrays(f["m_fail"], f["p_fail"], f["g_fail"]))


def recall_at_fpr(normal: NDArray, anomalous: NDArray, fpr: float = 0.01) -> float:
    """Fraction of anomalous scores above the ``1 - fpr`` quantile of the normal ones."""
    thr = np.quantile(normal, 1.0 - fpr)
    return float((anomalous > thr).mean())


def evaluate(model: AnomalyModel, f: dict[str, NDArray]) -> dict[str, Any]:
    sn, sa = scores(model, f)
    per_mode = {m: recall_at_fpr(sn, sa[f["mode"] == k]) for k, m in enumerate(FAILURE_MODES)}
    return {"n_normal": int(len(sn)), "n_failures": int(len(sa)),
            "recall_at_1pct_fpr": recall_at_fpr(sn, sa),
            "recall_at_stored_threshold": float((sa > model.threshold).mean()),
            "fpr_at_stored_threshold": float((sn > model.threshold).mean()),
            "recall_per_mode": per_mode}


def _flip(m: torch.Tensor, p: torch.Tensor, axis: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mirror standardised inputs along x (``axis`` -1) or y (-2): maps flip, profiles reverse."""
    p = p.clone()
    along = slice(1, None, 2) if axis == -1 else slice(0, None, 2)  # columns / rows
    p[:, along] = p[:, along].flip(-1)
    return m.flip(axis), p


def _calibrate(ae: FrameAutoencoder, ind: torch.Tensor, q: float = 0.9, q_unit: float = 0.999
               ) -> None:
    """Indicator tail scores from normal frames: 0 at the ``q`` quantile, 1 at ``q_unit``.

    Both ends of the scale sit in the normal frames' tail, so that each
    indicator's score measures how far beyond its own tail a frame lies
    (heavy- and light-tailed indicators alike), and likewise downwards
    (quantiles ``1 - q`` and ``1 - q_unit``). Reconstruction errors count
    only upwards; floors keep barely varying indicators from dividing by ~0.
    """
    from skytwin.agents.anomaly.model import N_ERRORS
    hi, hi_unit = torch.quantile(ind, q, dim=0), torch.quantile(ind, q_unit, dim=0)
    lo, lo_unit = torch.quantile(ind, 1 - q, dim=0), torch.quantile(ind, 1 - q_unit, dim=0)
    floor = torch.full_like(hi, 0.05)
    floor[:N_ERRORS] = 0.1
    ae.h_center.copy_(hi)
    ae.h_hi.copy_(torch.maximum(hi_unit - hi, floor))
    ae.h_center_lo.copy_(lo)
    lo_u = torch.maximum(lo - lo_unit, floor)
    lo_u[:N_ERRORS] = 1e9
    ae.h_lo.copy_(lo_u)


def _spread(x: torch.Tensor, center: torch.Tensor) -> torch.Tensor:
    """Per-channel robust spread of ``x - center`` (axis 1 is the channel)."""
    d = (x - center).transpose(0, 1).flatten(1)
    mad = 1.4826 * d.abs().median(dim=1).values
    return torch.maximum(mad, 0.25 * d.std(dim=1)).clamp_min(1e-3)


def train(seed: int = 0, n: int = DEFAULT_N, epochs: int = 80, n_test: int = 350,
          out: Path | None = None, quiet: bool = False, threads: int = 2,
          ship: bool = True) -> dict[str, Any]:
    """Train, set the threshold, evaluate (see the module docstring); return the metrics."""
    timer = Timer()
    g = seed_everything(seed, threads)
    out = out or RUNS / f"train_anomaly_seed{seed}"
    out.mkdir(parents=True, exist_ok=True)

    def make() -> dict[str, NDArray]:
        with progress_bar(n, "render normal frames", quiet) as adv:
            return make_anomaly_dataset(n, seed, workers=threads, progress=adv)

    d = cached(RUNS / "data" / f"anomaly_f{FEATURES_VERSION}_seed{seed}_n{n}.npz", make)

    def make_fail() -> dict[str, NDArray]:
        with progress_bar(n_test, "render failure test frames", quiet) as adv:
            return make_failure_set(n_test, seed + 1000, threads, adv)

    fset = cached(RUNS / "data" / f"anomaly_f{FEATURES_VERSION}_failures_seed{seed + 1000}"
                  f"_n{n_test}.npz", make_fail)
    t_data = timer.s
    tr, va = d["split"] == "train", d["split"] == "val"
    m, p, gs = (torch.as_tensor(d[k]) for k in "mpg")
    ae = FrameAutoencoder()
    with torch.no_grad():
        ae.m_center.copy_(m[tr].median(dim=0).values)
        pw = wide_profiles(p[tr])
        ae.p_center.copy_(pw.median(dim=0).values)
        ae.g_center.copy_(gs[tr].median(dim=0).values)
        ae.m_scale.copy_(_spread(m[tr], ae.m_center)[:, None, None])
        ae.p_scale.copy_(_spread(pw, ae.p_center)[:, None])
        ae.g_scale.copy_(_spread(gs[tr], ae.g_center))
        sm, sp, sg = ae.standardise(m, p, gs)
    model = AnomalyModel(ae)
    idx = torch.as_tensor(np.flatnonzero(tr))
    bs = 64
    opt = torch.optim.AdamW(ae.parameters(), lr=2e-3, weight_decay=1e-5)
    steps = epochs * ((len(idx) + bs - 1) // bs)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    hist: dict[str, list[float]] = {"train loss": [], "val loss": []}
    with progress_bar(epochs, "train autoencoder", quiet) as adv:
        for _ in range(epochs):
            ae.train()
            perm = idx[torch.randperm(len(idx), generator=g)]
            tot = 0.0
            for i in range(0, len(perm), bs):
                b = perm[i:i + bs]
                bm, bp, bg = sm[b], sp[b], sg[b]
                for axis in (-1, -2):
                    if float(torch.rand(1, generator=g)) < 0.5:
                        bm, bp = _flip(bm, bp, axis)
                loss = ae.loss(bm, bp, bg)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                tot += loss.item() * len(b)
            ae.eval()
            hist["train loss"].append(tot / len(perm))
            with torch.no_grad():
                hist["val loss"].append(float(ae.loss(sm[va], sp[va], sg[va])))
            adv(1)
    ae.eval()
    with torch.inference_mode():
        ind = torch.cat([ae.indicators(m[idx[i:i + 256]], p[idx[i:i + 256]], gs[idx[i:i + 256]])
                         for i in range(0, len(idx), 256)])
    _calibrate(ae, ind)
    held = ~tr  # validation and test splits: normal frames the autoencoder never fitted
    ae.threshold.fill_(float(np.quantile(
        model.score_arrays(d["m"][held], d["p"][held], d["g"][held]), 0.99)))
    t_train = timer.s - t_data
    metrics: dict[str, Any] = {"seed": seed, "n_train": int(tr.sum()), "n_val": int(va.sum()),
                               "n_threshold": int(held.sum()),
                               "threshold": model.threshold, "test": evaluate(model, fset),
                               "time_s": {"data": t_data, "train": t_train, "total": timer.s},
                               "machine": machine()}
    plot_curves(hist, out / "anomaly_curve.png", f"frame autoencoder, seed {seed}")
    model.save(out / WEIGHTS, meta=metrics)
    record_run(out, metrics, hist, (WEIGHTS, "anomaly_curve.png"), "anomaly_ae", ship)
    return metrics
