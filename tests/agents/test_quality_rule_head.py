"""The labelling rule on the quality network's estimates (skytwin.agents.quality.rule_head)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from skytwin.agents.quality.labels import LABELS
from skytwin.agents.quality.rule_head import (MEASURED, SATURATION_FLOOR, RuleProbabilities,
                                              targets)
from skytwin.twin.frames.quality import QualityInputs, quality_label

NAMES = QualityInputs.__slots__


def _random_conditions(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        q = QualityInputs(
            fwhm_arcsec=rng.uniform(0.8, 5.0), transparency=rng.uniform(0.3, 1.0),
            sky_mag_arcsec2=rng.uniform(17.0, 21.5), dark_sky_mag_arcsec2=21.5,
            ellipticity=rng.uniform(0.0, 0.5), seeing_arcsec=1.0, defocus_arcsec=0.2,
            n_trails=int(rng.poisson(0.7)), saturated_fraction=float(rng.choice(
                [0.0, 10 ** rng.uniform(-6, -2)])))
        rows.append([getattr(q, k) for k in NAMES])
    return np.array(rows, np.float64)


def test_sharp_estimates_reproduce_the_labelling_rule() -> None:
    cond = _random_conditions(400, seed=3)
    t, trail = targets(cond, NAMES)
    logits = torch.full((len(t), 3), -30.0)
    logits[torch.arange(len(t)), torch.as_tensor(trail)] = 30.0
    p = RuleProbabilities()(torch.as_tensor(t), torch.full(t.shape, 1e-5), logits)
    expected = [LABELS.index(quality_label(QualityInputs(*row))[0]) for row in cond]
    assert p.argmax(1).tolist() == expected
    assert torch.allclose(p.sum(1), torch.ones(len(t)))
    assert len(set(expected)) == 3  # the sample covers every class


def test_an_estimate_on_a_threshold_splits_the_probability() -> None:
    cond = _random_conditions(1, seed=0)
    cond[0, NAMES.index("fwhm_arcsec")] = 2.0  # the medium threshold
    for k, v in (("transparency", 1.0), ("ellipticity", 0.0), ("n_trails", 0.0),
                 ("saturated_fraction", 0.0), ("sky_mag_arcsec2", 21.5)):
        cond[0, NAMES.index(k)] = v
    t, _ = targets(cond, NAMES)
    sigma = torch.full(t.shape, 1e-3)
    sigma[0, MEASURED.index("log_fwhm_arcsec")] = 0.05
    logits = torch.tensor([[30.0, -30.0, -30.0]])
    p = RuleProbabilities()(torch.as_tensor(t), sigma, logits)[0]
    assert p[0].item() == pytest.approx(0.5, abs=1e-3)
    assert p[1].item() == pytest.approx(0.5, abs=1e-3)


def test_targets_floor_the_saturation_and_grade_the_trails() -> None:
    cond = _random_conditions(3, seed=1)
    cond[:, NAMES.index("saturated_fraction")] = (0.0, 1e-3, 0.5)
    cond[:, NAMES.index("n_trails")] = (0, 2, 5)
    t, trail = targets(cond, NAMES)
    sat = t[:, MEASURED.index("log10_saturated_fraction")]
    assert sat.tolist() == pytest.approx([np.log10(SATURATION_FLOOR), -3.0, np.log10(0.5)])
    assert trail.tolist() == [0, 1, 2]
