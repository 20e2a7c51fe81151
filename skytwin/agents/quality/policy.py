"""The shipped quality CNN as a policy of the quality role (pixel observations).

Units: observations are the model's own preprocessed input (dimensionless);
actions are label indices.

The observation is ``{"image": x, "scalars": s}``, the output of the model's
preprocessing for one frame (optionally inside the environments'
``{"observation": ..., "action_mask": ...}``). The action is the index of
the model's most probable label in :data:`~skytwin.agents.quality.labels.LABELS`: 0 good
(keep), 1 medium (keep, ask a re-take), 2 bad (discard, ask a re-take). The
model is loaded on the first call, once per policy object.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from skytwin.agents.inference import ShippedModelPolicy, torch_threads
from skytwin.agents.quality.model import QualityModel, load_default


class QualityCNNPolicy(ShippedModelPolicy):
    """Label each frame with the quality CNN (see the module docstring).

    Parameters
    ----------
    model
        A loaded model; ``None`` loads the shipped one on first use.
    threads
        torch intra-op threads during a call (``None``: torch's setting).
    """

    name = "quality_cnn"
    load_model = staticmethod(load_default)

    def __init__(self, model: QualityModel | None = None, threads: int | None = 1) -> None:
        super().__init__(model, threads)
        self.last_probabilities: np.ndarray | None = None

    def predict(self, observation: Any, deterministic: bool = True) -> int:
        obs = observation.get("observation", observation) if isinstance(observation, dict) else observation
        x, s = np.asarray(obs["image"], np.float32), np.asarray(obs["scalars"], np.float32)
        with torch_threads(self.threads):
            p, _ = self.model.predict_arrays(x[None], s[None])
        self.last_probabilities = p[0]
        return int(np.argmax(p[0]))

    def save(self, path: str | Path) -> None:
        self.model.save(path)

    @classmethod
    def load(cls, path: str | Path) -> QualityCNNPolicy:
        return cls(QualityModel.load(path))
