"""Scripted frame-quality baseline: thresholds on FWHM, background and transparency.

Works on the quality role's fast-mode observation (see
:data:`skytwin.envs.observations.QUALITY_FEATURES`): a frame is ``bad`` if any
metric passes its bad threshold, ``medium`` if any passes its medium threshold,
``good`` otherwise. Actions: 0 good (keep), 1 medium (keep, ask a re-take),
2 bad (discard, ask a re-take).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

GOOD, MEDIUM, BAD = 0, 1, 2


@dataclass(frozen=True)
class QualityThresholds:
    fwhm_arcsec: tuple[float, float] = (2.0, 3.5)  # medium, bad (arcsec)
    transparency: tuple[float, float] = (0.8, 0.5)  # medium, bad (below)
    sky_excess_mag: tuple[float, float] = (1.0, 2.5)  # sky brighter than dark by (mag)
    ellipticity: tuple[float, float] = (0.15, 0.3)


class ScriptedQuality:
    """Threshold rule on the frame metrics; the quality role's baseline."""

    name = "scripted_quality"

    def __init__(self, thresholds: QualityThresholds | None = None) -> None:
        self.thresholds = thresholds or QualityThresholds()

    def reset(self, seed: int | None = None) -> None:
        pass

    def predict(self, observation: Any, deterministic: bool = True) -> int:
        x = observation["observation"] if isinstance(observation, dict) else observation
        x = np.asarray(x, dtype=float)
        th = self.thresholds
        fwhm, ell, excess, transp = x[0] * 5.0, x[1], x[2] * 3.0, x[3]
        if fwhm > th.fwhm_arcsec[1] or transp < th.transparency[1] or excess > th.sky_excess_mag[1] or ell > th.ellipticity[1]:
            return BAD
        if fwhm > th.fwhm_arcsec[0] or transp < th.transparency[0] or excess > th.sky_excess_mag[0] or ell > th.ellipticity[0]:
            return MEDIUM
        return GOOD

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"name": self.name, "thresholds": asdict(self.thresholds)}))

    @classmethod
    def load(cls, path: str | Path) -> "ScriptedQuality":
        d = json.loads(Path(path).read_text())["thresholds"]
        return cls(QualityThresholds(**{k: tuple(v) for k, v in d.items()}))
