"""The shipped real/bogus CNN as a policy of the detector role (pixel observations).

Units: observations are science / reference / difference cut-outs in any
linear unit (ADU in the twin), ``(3, H, W)`` with ``H, W >= 21``; actions
0 bogus, 1 real.

A candidate is called real when the model's probability exceeds
``threshold`` (0.5). The model is loaded on the first call, once per policy
object.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from skytwin.agents.detection.model import DetectionModel, load_default
from skytwin.agents.inference import ShippedModelPolicy, torch_threads

BOGUS, REAL = 0, 1


class DetectionCNNPolicy(ShippedModelPolicy):
    """Call each candidate real or bogus with the real/bogus CNN (see the module docstring).

    Parameters
    ----------
    model
        A loaded model; ``None`` loads the shipped one on first use.
    threshold
        Probability above which a candidate is called real.
    threads
        torch intra-op threads during a call (``None``: torch's setting).
    """

    name = "detection_cnn"
    load_model = staticmethod(load_default)

    def __init__(self, model: DetectionModel | None = None, threshold: float = 0.5,
                 threads: int | None = 1) -> None:
        super().__init__(model, threads)
        self.threshold = threshold
        self.last_probability = float("nan")

    def predict(self, observation: Any, deterministic: bool = True) -> int:
        obs = observation["observation"] if isinstance(observation, dict) else observation
        with torch_threads(self.threads):
            p = float(self.model.score(np.asarray(obs, np.float32)[None])[0])
        self.last_probability = p
        return REAL if p > self.threshold else BOGUS

    def save(self, path: str | Path) -> None:
        self.model.save(path)

    @classmethod
    def load(cls, path: str | Path) -> DetectionCNNPolicy:
        return cls(DetectionModel.load(path))
