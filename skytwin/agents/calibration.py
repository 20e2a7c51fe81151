"""Confidence calibration: temperature scaling, expected calibration error, reliability diagram.

Temperature scaling (Guo et al. 2017): one scalar ``T > 0`` divides the
logits, ``softmax(z / T)``, fitted on held-out data by minimising the negative
log-likelihood; it changes confidences, never the predicted class.

ECE: the predictions are put in ``n_bins`` equal-width bins of confidence
(the top-class probability, bins ``(lo, hi]``, the first also holds 0); ECE
is ``sum_b (n_b / N) |accuracy_b - mean confidence_b|``.

ECE is biased upward on a finite sample: even a perfectly calibrated model
shows the binomial scatter of each bin's accuracy.
:func:`calibrated_ece_draws` gives the ECEs such a model would show with the
same confidences and sample size, so that a measured ECE can be read
against its sampling floor (on 500 frames the quality model's floor is
about 0.016-0.019, close to the 0.02 goal).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from numpy.typing import NDArray


def softmax(logits: NDArray, temperature: float = 1.0) -> NDArray[np.float64]:
    """Row-wise softmax of ``logits / temperature``."""
    z = np.asarray(logits, np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(logits: NDArray, labels: NDArray, lo: float = 0.05, hi: float = 20.0
                    ) -> float:
    """The temperature minimising the NLL of ``labels`` under ``softmax(logits / T)``.

    A golden-section search on ``log T`` in ``[lo, hi]`` (the NLL is convex in 1/T).
    """
    labels = np.asarray(labels, np.int64)
    z = np.asarray(logits, np.float64)

    def nll(log_t: float) -> float:
        p = softmax(z, math.exp(log_t))
        return float(-np.mean(np.log(np.clip(p[np.arange(len(labels)), labels], 1e-300, 1))))

    a, b = math.log(lo), math.log(hi)
    g = (math.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = nll(c), nll(d)
    for _ in range(80):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = nll(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = nll(d)
    return float(math.exp((a + b) / 2))


def reliability(probs: NDArray, labels: NDArray, n_bins: int = 15
                ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """Per-bin mean confidence, accuracy and count (see the module docstring)."""
    probs = np.asarray(probs, np.float64)
    labels = np.asarray(labels, np.int64)
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    conf_sum = np.bincount(idx, weights=conf, minlength=n_bins)
    acc_sum = np.bincount(idx, weights=correct, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return conf_sum / count, acc_sum / count, count.astype(np.int64)


def expected_calibration_error(probs: NDArray, labels: NDArray, n_bins: int = 15) -> float:
    """ECE of class probabilities ``(N, K)`` against integer labels (module docstring)."""
    conf, acc, count = reliability(probs, labels, n_bins)
    n = count.sum()
    if n == 0:
        return math.nan
    ok = count > 0
    return float(np.sum(count[ok] / n * np.abs(acc[ok] - conf[ok])))


def calibrated_ece_draws(probs: NDArray, n_draws: int = 2000, seed: int = 0,
                         n_bins: int = 15) -> NDArray[np.float64]:
    """ECEs ``(n_draws,)`` of a perfectly calibrated model with these probabilities.

    Each draw makes every prediction right with probability its confidence
    (what calibration means) and computes the ECE with the same bins; the
    draws' distribution is the ECE's sampling floor for this sample size.
    """
    probs = np.asarray(probs, np.float64)
    if len(probs) == 0:
        return np.full(n_draws, math.nan)
    conf = probs.max(axis=1)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    conf_sum = np.bincount(idx, weights=conf, minlength=n_bins)
    rng = np.random.default_rng(seed)
    right = (rng.uniform(size=(n_draws, conf.size)) < conf).astype(np.float64)
    one_hot = np.zeros((conf.size, n_bins))
    one_hot[np.arange(conf.size), idx] = 1.0
    # sum_b (n_b / N) |acc_b - conf_b| = sum_b |right_b - conf_sum_b| / N
    return np.abs(right @ one_hot - conf_sum).sum(axis=1) / conf.size


def reliability_diagram(probs: NDArray, labels: NDArray, path: str | Path, title: str = "",
                        n_bins: int = 15) -> Path:
    """Save a reliability diagram (accuracy against confidence per bin) as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conf, acc, count = reliability(probs, labels, n_bins)
    ece = expected_calibration_error(probs, labels, n_bins)
    edges = np.linspace(0, 1, n_bins + 1)
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    ok = count > 0
    ax.bar(edges[:-1][ok], acc[ok], width=1.0 / n_bins, align="edge", edgecolor="k",
           alpha=0.7, label="accuracy")
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    ax.set_xlabel("confidence (top-class probability)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(f"{title} ECE = {ece:.4f} (N = {int(count.sum())})")
    # under the axes: inside, any corner can hold a bar
    fig.legend(loc="lower center", ncol=2, fontsize="small", frameon=False)
    fig.tight_layout(rect=(0.0, 0.05, 1.0, 1.0))
    out = Path(path)
    fig.savefig(out)
    plt.close(fig)
    return out
