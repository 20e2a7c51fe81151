"""Detection agents: PSF-matched subtraction, candidates, and the real/bogus CNN.

    from skytwin.agents.detection import load_default
    p = load_default().score(triplets)      # (N, 3, H, W) science, reference, difference
    det = load_default().detect(science, reference)   # the whole pipeline on one frame
    # on the edge, the exported single pass inside the same cascade of scores
    # (run_onnx from skytwin.agents.onnx_export, cutout_input from skytwin.agents.preprocess):
    p = cascade_scores(lambda v: run_onnx("detection.onnx", x=v)[0], cutout_input(triplets))
"""

from __future__ import annotations

from skytwin.agents.detection.candidates import (Candidates, baseline_score, cutouts,
                                                 detect_candidates, noise_ratio_map)
from skytwin.agents.detection.model import (Detection, DetectionModel, cascade_scores,
                                            load_default)
from skytwin.agents.detection.subtract import Subtraction, stack_reference, subtract

_DEFAULT: DetectionModel | None = None


def score(triplets):  # type: ignore[no-untyped-def]
    """``load_default().score(triplets)`` with the model cached."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_default()
    return _DEFAULT.score(triplets)


__all__ = ["Candidates", "Detection", "DetectionModel", "Subtraction", "baseline_score",
           "cascade_scores", "cutouts", "detect_candidates", "load_default", "noise_ratio_map",
           "score", "stack_reference", "subtract"]
