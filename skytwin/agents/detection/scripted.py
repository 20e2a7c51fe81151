"""Scripted real/bogus baseline: cuts on difference SNR and shape.

Works on the detector role's observation (see
:mod:`skytwin.twin.candidates` for the features): a candidate is called real
(action 1) when it is significant, PSF-like (FWHM ratio near one, round),
not a dipole and not right on top of a star; bogus (action 0) otherwise.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

STAR_DIST_MAX_ARCSEC = 30.0  # arcsec; the feature scale of skytwin.twin.candidates

BOGUS, REAL = 0, 1


@dataclass(frozen=True)
class DetectionCuts:
    min_snr: float = 5.5
    fwhm_ratio: tuple[float, float] = (0.7, 1.5)
    max_elongation: float = 1.6
    max_neg_frac: float = 0.2
    min_star_dist_arcsec: float = 0.4


class ScriptedDetector:
    """Cut-based real/bogus classifier; the detector role's baseline."""

    name = "scripted_detector"

    def __init__(self, cuts: DetectionCuts | None = None) -> None:
        self.cuts = cuts or DetectionCuts()

    def reset(self, seed: int | None = None) -> None:
        pass

    def predict(self, observation: Any, deterministic: bool = True) -> int:
        x = observation["observation"] if isinstance(observation, dict) else observation
        x = np.asarray(x, dtype=float)
        c = self.cuts
        snr, ratio, elong, dist, neg = 10.0 ** x[0], x[1], x[2], x[3] * STAR_DIST_MAX_ARCSEC, x[4]
        ok = (snr >= c.min_snr and c.fwhm_ratio[0] <= ratio <= c.fwhm_ratio[1] and elong <= c.max_elongation
              and neg <= c.max_neg_frac and dist >= c.min_star_dist_arcsec)
        return REAL if ok else BOGUS

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"name": self.name, "cuts": asdict(self.cuts)}))

    @classmethod
    def load(cls, path: str | Path) -> "ScriptedDetector":
        d = json.loads(Path(path).read_text())["cuts"]
        return cls(DetectionCuts(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}))


del math
