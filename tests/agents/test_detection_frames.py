"""What the twin drew under each candidate of ``skytwin detect`` (constructed truth tables)."""

from __future__ import annotations

import numpy as np

from skytwin.agents.detection.frames import _truth_labels
from skytwin.twin.frames.render import TRUTH_DTYPE


def _truth(*rows: tuple[str, str, float, float, float, float]) -> np.ndarray:
    t = np.zeros(len(rows), TRUTH_DTYPE)
    for i, (kind, name, x, y, x1, y1) in enumerate(rows):
        t[i]["kind"], t[i]["name"], t[i]["x"], t[i]["y"] = kind, name, x, y
        t[i]["x_end"], t[i]["y_end"] = x1, y1
    return t


def test_candidates_are_matched_to_segments_and_transients_first() -> None:
    nan = float("nan")
    truth = _truth(("cosmic_ray", "", 10.0, 10.0, 30.0, 10.0),   # a 20-pixel track
                   ("galaxy", "", 60.0, 60.0, nan, nan),
                   ("sn", "sn7", 61.0, 60.5, nan, nan),          # on its host galaxy
                   ("satellite", "", 0.0, 90.0, 100.0, 90.0),
                   ("star", "", 80.0, 20.0, nan, nan))
    x = np.array([20, 60, 50, 80, 45])
    y = np.array([11, 60, 89, 21, 40])
    assert _truth_labels(truth, x, y) == ["cosmic_ray", "sn sn7", "satellite", "star", "-"]
