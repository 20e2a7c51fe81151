"""ECE, reliability bins and temperature scaling on constructed examples."""

from __future__ import annotations

import numpy as np
import pytest

from skytwin.agents.calibration import (expected_calibration_error, fit_temperature,
                                        reliability, reliability_diagram, softmax)


def test_ece_by_hand() -> None:
    # four predictions at confidence 0.9 (3 right), four at 0.6 (2 right)
    p = np.array([[0.9, 0.1]] * 4 + [[0.6, 0.4]] * 4)
    y = np.array([0, 0, 0, 1, 0, 0, 1, 1])
    # bins: |0.75 - 0.9| and |0.5 - 0.6|, each weight 1/2
    assert expected_calibration_error(p, y, n_bins=10) == pytest.approx(0.5 * 0.15 + 0.5 * 0.1)
    conf, acc, count = reliability(p, y, n_bins=10)
    assert count.sum() == 8 and count[8] == 4 and count[5] == 4
    assert acc[8] == pytest.approx(0.75) and conf[5] == pytest.approx(0.6)


def test_perfectly_calibrated_sample_has_small_ece() -> None:
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.5, 1.0, 200000)
    y = (rng.uniform(size=conf.size) > conf).astype(int)  # label 0 with probability conf
    p = np.stack([conf, 1 - conf], axis=1)
    assert expected_calibration_error(p, y) < 0.005


def test_temperature_recovers_overconfidence() -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 2, (20000, 3))
    y = np.array([rng.choice(3, p=q) for q in softmax(logits)])
    t = fit_temperature(logits * 3.0, y)  # logits 3x too sharp
    assert t == pytest.approx(3.0, rel=0.08)
    before = expected_calibration_error(softmax(logits * 3.0), y)
    after = expected_calibration_error(softmax(logits * 3.0, t), y)
    assert after < 0.02 < before


def test_reliability_diagram_writes_png(tmp_path) -> None:
    p = softmax(np.random.default_rng(2).normal(size=(100, 3)))
    out = reliability_diagram(p, np.zeros(100, int), tmp_path / "r.png", "test")
    assert out.read_bytes()[:4] == b"\x89PNG"
