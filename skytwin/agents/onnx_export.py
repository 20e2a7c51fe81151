"""Export the edge models to ONNX (the path to a Jetson's TensorRT) and run them with onnxruntime.

Units: the exported graphs take the normalised inputs of
:mod:`skytwin.agents.preprocess` (normalisation stays in numpy on the edge
computer) and return probabilities (quality, detection) or scores (anomaly).
The batch axis is dynamic; opset 17.

=========  ====================================  =================================
model      inputs                                outputs
=========  ====================================  =================================
quality    x (N, 2, 64, 64), s (N, 20)           probs (N, 3), reasons (N, 8),
                                                 estimates (N, 5), trails (N, 3),
                                                 criteria (N, 6, 3), sigmas (N, 5)
detection  x (N, 3, 31, 31)                      prob (N,)
anomaly    m (N, 5, 32, 32), p (N, 8, 256), g (N, 4)  score (N,)
=========  ====================================  =================================
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from skytwin.agents.preprocess import CUTOUT_SIZE, QUALITY_SIZE
from skytwin.agents.quality.inputs import QUALITY_SCALARS

OPSET = 17
QUALITY_OUTPUTS = ["probs", "reasons", "estimates", "trails", "criteria", "sigmas"]


def _write(module: torch.nn.Module, args: tuple[torch.Tensor, ...], names: list[str],
           outputs: list[str], f: str | io.BytesIO) -> None:
    axes = {n: {0: "batch"} for n in names + outputs}
    with warnings.catch_warnings():
        # the TorchScript exporter: the torch.export one needs onnxscript and traces slower
        warnings.filterwarnings("ignore", "You are using the legacy TorchScript",
                                DeprecationWarning)
        warnings.filterwarnings("ignore", "The feature will be removed", DeprecationWarning)
        # the anomaly model's strided slices: exported as Slice ops, only not pre-folded
        warnings.filterwarnings("ignore", "Constant folding - Only steps=1", UserWarning)
        torch.onnx.export(module.eval(), args, f, input_names=names, output_names=outputs,
                          dynamic_axes=axes, opset_version=OPSET, dynamo=False)


def _export(module: torch.nn.Module, args: tuple[torch.Tensor, ...], names: list[str],
            outputs: list[str], path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    _write(module, args, names, outputs, str(out))
    return out


def _session(model: bytes | str | Path, threads: int = 1) -> Any:
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    src = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"])


def quality_session(net: torch.nn.Module) -> Any:
    """An onnxruntime session of :class:`~skytwin.agents.quality.model.CalibratedQualityNet`.

    Exported in memory (about 0.2 s), one thread: the quality model's
    inference engine on CPU, where onnxruntime runs this small network
    several times faster than PyTorch's eager mode for one frame.
    """
    buf = io.BytesIO()
    _write(net, _quality_args(), ["x", "s"], QUALITY_OUTPUTS, buf)
    return _session(buf.getvalue())


def _quality_args() -> tuple[torch.Tensor, ...]:
    return torch.zeros(2, 2, QUALITY_SIZE, QUALITY_SIZE), torch.zeros(2, len(QUALITY_SCALARS))


def export_quality(model: Any, path: str | Path) -> Path:
    """Write the quality CNN (temperature and softmax included) as ONNX."""
    from skytwin.agents.quality.model import CalibratedQualityNet
    return _export(CalibratedQualityNet(model.net), _quality_args(), ["x", "s"], QUALITY_OUTPUTS,
                   path)


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
    return _session(path).run(None, {k: np.asarray(v, np.float32) for k, v in inputs.items()})
