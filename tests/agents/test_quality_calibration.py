"""ECE, reliability bins and temperature scaling on constructed examples."""

from __future__ import annotations

import numpy as np
import pytest

from skytwin.agents.calibration import (calibrated_ece_draws, expected_calibration_error,
                                        fit_temperature, reliability, reliability_diagram,
                                        softmax)


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


def test_calibrated_ece_floor_by_hand() -> None:
    # four predictions at confidence 0.5, k ~ Binomial(4, 1/2) right: ECE = |k/4 - 1/2|,
    # whose mean is (2 * 1/2 * 1/16 + 2 * 1/4 * 4/16) = 3/16
    draws = calibrated_ece_draws(np.full((4, 2), 0.5), n_draws=20000)
    assert draws.mean() == pytest.approx(3 / 16, abs=0.005)
    assert set(np.unique(draws)) <= {0.0, 0.25, 0.5}
    # certain predictions are always right: no floor
    assert np.all(calibrated_ece_draws(np.array([[1.0, 0.0]] * 10), n_draws=50) == 0.0)
    # the floor shrinks as 1/sqrt(N): 400 predictions at 0.5 give sqrt(2/pi) * 0.025 ~ 0.02
    big = calibrated_ece_draws(np.full((400, 2), 0.5), n_draws=4000)
    assert big.mean() == pytest.approx(0.02, abs=0.002)


def test_calibrated_ece_floor_is_the_mean_over_all_outcomes_with_several_bins() -> None:
    # three predictions in three bins: the floor's mean is the ECE averaged over the 8
    # right/wrong outcomes, each weighted by its probability under calibration
    import itertools

    conf = np.array([0.95, 0.7, 0.55])
    p = np.stack([conf, 1 - conf], axis=1)
    exact = 0.0
    for right in itertools.product([True, False], repeat=3):
        y = np.where(right, 0, 1)
        exact += np.prod(np.where(right, conf, 1 - conf)) * expected_calibration_error(p, y)
    assert calibrated_ece_draws(p, n_draws=40000).mean() == pytest.approx(exact, abs=0.004)


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
