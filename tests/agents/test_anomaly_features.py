"""The anomaly model's general-purpose views of a frame: power-spectrum peak, wide profiles."""

from __future__ import annotations

import math

import numpy as np
import torch

from skytwin.agents.anomaly.features import anomaly_input, spectral_peak
from skytwin.agents.anomaly.model import wide_profiles


def _noise(seed: int = 0, n: int = 256) -> np.ndarray:
    return np.random.default_rng(seed).normal(1000.0, 10.0, (n, n))


def test_spectral_peak_white_noise_is_low() -> None:
    assert 0.8 < spectral_peak(_noise(), 10.0) < 1.6


def test_spectral_peak_sees_weak_periodic_interference() -> None:
    yy, xx = np.mgrid[0:256, 0:256]
    img = _noise() + 10.0 * 1.0 * np.sin(2 * math.pi * (0.6 * xx + 0.8 * yy) / 7.0)  # 1 sigma
    assert spectral_peak(img, 10.0) > 3.0


def test_spectral_peak_ignores_smooth_gradients_and_clips_stars() -> None:
    yy, xx = np.mgrid[0:256, 0:256]
    img = _noise() + 0.5 * xx + 0.002 * (yy - 128.0) ** 2  # 128 + 33 sigma across the frame
    img[100:103, 40:43] += 1e5  # a saturated star
    assert spectral_peak(img, 10.0) < 1.8


def test_scalars_include_the_spectral_peak() -> None:
    _, _, g = anomaly_input(_noise().astype(np.float32))
    assert g.shape == (4,) and math.isclose(g[3], spectral_peak(_noise(), float(np.std(_noise()))),
                                            rel_tol=0.05)


def test_wide_profiles_drop_narrow_features_and_keep_bands() -> None:
    p = torch.zeros(1, 1, 256)
    p[0, 0, 50:53] = 9.0  # a trail three rows wide
    p[0, 0, 120:160] = 4.0  # a band of 40 rows
    w = wide_profiles(p)
    assert w.shape == (1, 2, 256) and torch.equal(w[:, 0], p[:, 0])
    assert float(w[0, 1, 45:58].abs().max()) == 0.0
    assert torch.all(w[0, 1, 125:155] == 4.0)
