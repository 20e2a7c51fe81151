"""Export the edge models to ONNX (the path to a Jetson's TensorRT) and run them with onnxruntime.

Units: the exported graphs take the normalised inputs of
:mod:`skytwin.agents.preprocess` (normalisation stays in numpy on the edge
computer) and return probabilities (quality, detection) or scores (anomaly).
The batch axis is dynamic; opset 17.

=========  ====================================  =================================
model      inputs                                outputs
=========  ====================================  =================================
quality    x (N, 2, 64, 64), s (N, 18)           probs (N, 3), reasons (N, 8)
detection  x (N, 3, 31, 31)                      prob (N,)
anomaly    m (N, 5, 32, 32), p (N, 8, 256), g (N, 3)  score (N,)
=========  ====================================  =================================
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from skytwin.agents.preprocess import CUTOUT_SIZE, QUALITY_SIZE
from skytwin.agents.quality.inputs import QUALITY_SCALARS

OPSET = 17


def _export(module: torch.nn.Module, args: tuple[torch.Tensor, ...], names: list[str],
            outputs: list[str], path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    axes = {n: {0: "batch"} for n in names + outputs}
    torch.onnx.export(module.eval(), args, str(out), input_names=names, output_names=outputs,
                      dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    return out


def export_quality(model: Any, path: str | Path) -> Path:
    """Write the quality CNN (temperature and softmax included) as ONNX."""
    from skytwin.agents.quality.model import CalibratedQualityNet
    args = (torch.zeros(2, 2, QUALITY_SIZE, QUALITY_SIZE), torch.zeros(2, len(QUALITY_SCALARS)))
    return _export(CalibratedQualityNet(model.net), args, ["x", "s"], ["probs", "reasons"], path)


def export_detection(model: Any, path: str | Path) -> Path:
    """Write the real/bogus CNN (sigmoid included) as ONNX."""
    from skytwin.agents.detection.model import ProbabilityNet
    args = (torch.zeros(2, 3, CUTOUT_SIZE, CUTOUT_SIZE),)
    return _export(ProbabilityNet(model.net), args, ["x"], ["prob"], path)


def export_anomaly(model: Any, path: str | Path) -> Path:
    """Write the autoencoder's score as ONNX."""
    from skytwin.agents.anomaly.features import (MAP_SIZE, N_MAPS, N_PROFILES, N_SCALARS,
                                                 PROFILE_SIZE)
    from skytwin.agents.anomaly.model import ScoreNet
    args = (torch.zeros(2, N_MAPS, MAP_SIZE, MAP_SIZE), torch.zeros(2, N_PROFILES, PROFILE_SIZE),
            torch.zeros(2, N_SCALARS))
    return _export(ScoreNet(model.ae), args, ["m", "p", "g"], ["score"], path)


def run_onnx(path: str | Path, **inputs: np.ndarray) -> list[np.ndarray]:
    """Run an exported model with onnxruntime on CPU."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, {k: np.asarray(v, np.float32) for k, v in inputs.items()})
