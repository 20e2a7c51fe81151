"""Train the frame autoencoder on normal frames; test it on failure modes it never saw.

Units: times seconds; recall and false-positive rate fractions.

``train(seed)``: the normal frames are the quality data set's (every weather
and quality condition of every training site; cached, shared with
``train quality``); Adam on the mean squared reconstruction error of the
image channels plus 0.01 times that of the standardised scalars; the
threshold is the 99th percentile of the score on the validation frames (1%
false alarms). The test set is freshly rendered (``seed + 1000``, training
and held-out sites): each frame once as it is, once with one of
:data:`skytwin.training.failures.FAILURE_MODES`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from skytwin.agents.anomaly.model import WEIGHTS, AnomalyModel, FrameAutoencoder
from skytwin.agents.preprocess import quality_input
from skytwin.training.common import (record_run, RUNS, Timer, cached, machine, plot_curves, progress_bar, seed_everything)
from skytwin.errors import SkytwinError
from skytwin.training.datasets import _map, make_quality_dataset, quality_request, render_safe
from skytwin.training.failures import FAILURE_MODES, apply_failure
from skytwin.training.sites import SITES
from skytwin.training.train_quality import DEFAULT_N


def failure_pair(args: tuple[int, int]) -> tuple[NDArray, NDArray, NDArray, NDArray, int] | None:
    """A fresh frame, normal and with a failure: (x, s, x_fail, s_fail, mode index).

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
    moon = (req.moon_illumination, req.moon_sep_deg)
    x, s = quality_input(frame.image, frame.header, moon)
    xf, sf = quality_input(bad, frame.header, moon)
    return x, s, xf, sf, mode


def make_failure_set(n: int, seed: int, workers: int = 2, progress: Any = None
                     ) -> dict[str, NDArray]:
    parts = [p for p in _map(failure_pair, [(seed, i) for i in range(n)], workers, progress)
             if p is not None]
    return dict(x=np.stack([p[0] for p in parts]), s=np.stack([p[1] for p in parts]),
                x_fail=np.stack([p[2] for p in parts]), s_fail=np.stack([p[3] for p in parts]),
                mode=np.array([p[4] for p in parts], np.int64))


def recall_at_fpr(normal: NDArray, anomalous: NDArray, fpr: float = 0.01) -> float:
    """Fraction of anomalous scores above the ``1 - fpr`` quantile of the normal ones."""
    thr = np.quantile(normal, 1.0 - fpr)
    return float((anomalous > thr).mean())


def evaluate(model: AnomalyModel, f: dict[str, NDArray]) -> dict[str, Any]:
    sn = model.score_arrays(f["x"], f["s"])
    sa = model.score_arrays(f["x_fail"], f["s_fail"])
    per_mode = {m: recall_at_fpr(sn, sa[f["mode"] == k]) for k, m in enumerate(FAILURE_MODES)}
    return {"n_normal": int(len(sn)), "n_failures": int(len(sa)),
            "recall_at_1pct_fpr": recall_at_fpr(sn, sa),
            "recall_at_stored_threshold": float((sa > model.threshold).mean()),
            "fpr_at_stored_threshold": float((sn > model.threshold).mean()),
            "recall_per_mode": per_mode}


def train(seed: int = 0, n: int = DEFAULT_N, epochs: int = 30, n_test: int = 350,
          out: Path | None = None, quiet: bool = False, threads: int = 2,
          ship: bool = True) -> dict[str, Any]:
    """Train, set the threshold, evaluate (see the module docstring); return the metrics."""
    timer = Timer()
    g = seed_everything(seed, threads)
    out = out or RUNS / f"train_anomaly_seed{seed}"
    out.mkdir(parents=True, exist_ok=True)

    def make() -> dict[str, NDArray]:
        with progress_bar(n, "render normal frames", quiet) as adv:
            return make_quality_dataset(n, seed, workers=threads, progress=adv)

    d = cached(RUNS / "data" / f"quality_seed{seed}_n{n}.npz", make)

    def make_fail() -> dict[str, NDArray]:
        with progress_bar(n_test, "render failure test frames", quiet) as adv:
            return make_failure_set(n_test, seed + 1000, threads, adv)

    fset = cached(RUNS / "data" / f"failures_seed{seed + 1000}_n{n_test}.npz", make_fail)
    t_data = timer.s
    sp = d["split"]
    tr, va = sp == "train", sp == "val"
    x, s = torch.as_tensor(d["x"]), torch.as_tensor(d["s"])
    ae = FrameAutoencoder()
    ae.s_mean.copy_(s[tr].mean(0))
    ae.s_std.copy_(s[tr].std(0) + 1e-3)
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
                xb = x[b]
                k = int(torch.randint(0, 4, (1,), generator=g))
                xb = torch.rot90(xb, k, dims=(2, 3))
                img, sr = ae(xb, s[b])
                sn = (s[b] - ae.s_mean) / ae.s_std
                loss = ((img - xb) ** 2).mean() + 0.01 * ((sr - sn) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                tot += loss.item() * len(b)
            ae.eval()
            hist["train loss"].append(tot / len(perm))
            hist["val loss"].append(float(model.score_arrays(d["x"][va], d["s"][va]).mean()))
            adv(1)
    ae.eval()
    with torch.inference_mode():
        ind = torch.cat([ae.indicators(x[idx[i:i + 256]], s[idx[i:i + 256]])
                         for i in range(0, len(idx), 256)])
    med = ind.median(dim=0).values
    mad = 1.4826 * (ind - med).abs().median(dim=0).values
    ae.h_center.copy_(med)
    # robust scale, floored where a feature barely varies on normal frames
    ae.h_scale.copy_(torch.maximum(torch.maximum(mad, 0.25 * ind.std(dim=0)),
                                   torch.full_like(mad, 1e-3)))
    ae.threshold.fill_(float(np.quantile(model.score_arrays(d["x"][va], d["s"][va]), 0.99)))
    t_train = timer.s - t_data
    metrics: dict[str, Any] = {"seed": seed, "n_train": int(tr.sum()),
                               "threshold": model.threshold, "test": evaluate(model, fset),
                               "time_s": {"data": t_data, "train": t_train, "total": timer.s},
                               "machine": machine()}
    plot_curves(hist, out / "anomaly_curve.png", f"frame autoencoder, seed {seed}")
    model.save(out / WEIGHTS, meta=metrics)
    record_run(out, metrics, hist, (WEIGHTS, "anomaly_curve.png"), "anomaly_ae", ship)
    return metrics
