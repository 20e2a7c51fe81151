"""The label a verdict without the clouds criterion is scored against."""

from __future__ import annotations

import dataclasses

import numpy as np

from skytwin.agents.quality.labels import LABELS
from skytwin.training.datasets import CONDITIONS
from skytwin.training.train_quality import labels_apart_from_clouds
from skytwin.twin.frames.quality import QualityInputs, quality_label


def _row(q: QualityInputs) -> list[float]:
    return [float(getattr(q, name)) for name in CONDITIONS]


def test_clouds_alone_no_longer_count_and_the_rest_still_do() -> None:
    clear_sharp = QualityInputs(fwhm_arcsec=1.2)
    cloudy_sharp = dataclasses.replace(clear_sharp, transparency=0.3)
    cloudy_blurred = dataclasses.replace(cloudy_sharp, fwhm_arcsec=6.0)
    clear_blurred = dataclasses.replace(clear_sharp, fwhm_arcsec=6.0)
    rows = np.array([_row(q) for q in (clear_sharp, cloudy_sharp, cloudy_blurred, clear_blurred)])
    got = labels_apart_from_clouds(rows)
    assert quality_label(cloudy_sharp)[0] == "bad"  # the full label: bad for clouds
    assert [LABELS[k] for k in got] == ["good", "good", quality_label(clear_blurred)[0],
                                        quality_label(clear_blurred)[0]]
    assert LABELS[got[3]] == "bad"
