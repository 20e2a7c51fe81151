"""The real/bogus CNN on science/reference/difference triplets, and the whole pipeline.

Units: cutouts in any linear unit (each is normalised on its own by
:func:`skytwin.agents.preprocess.cutout_input`); scores are probabilities of
being a real astrophysical source.

The network follows ZTF's braai (Duev et al. 2019) in spirit, smaller: two
blocks of two 3x3 convolutions (3 -> 16 -> 32 channels) with max pooling,
a third block of 64 channels (80k parameters), global average + max pooling, a 64-unit
dense layer with dropout, one logit. Inputs are centre-cropped or zero-padded
to 31 x 31, so any cutout from 21 x 21 up is accepted; NaN (edge cutouts)
reads as zero.

Scores are a cascade: one pass decides every cutout it scores outside
``(UNSURE, 1 - UNSURE)``; the others (about a fifth of the twin's
candidates) get the mean over the cutout's eight orientations (rotations by
90 degrees, with and without a flip: the sky has no preferred one, and the
network was trained on all eight). Averaging the undecided ones lowered the
false positives at 1% false negatives by about a quarter on the benchmark's
fields, for about 2.3 single passes instead of the 8 of averaging all
(``docs/benchmarks.md``). The
exported ONNX graph is the single pass (:meth:`DetectionModel.single_pass`);
an edge runtime wraps it in :func:`cascade_scores`, as
``cascade_scores(lambda v: run_onnx(path, x=v)[0], x)``.

:func:`DetectionModel.detect` runs the whole pipeline on one frame:
Alard-Lupton subtraction (:mod:`.subtract`), candidate detection against
the local noise (:mod:`.candidates`), cutouts, and the CNN.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from skytwin.agents.checkpoint import load_state, save_state, shipped
from skytwin.agents.detection.candidates import cutouts, detect_candidates
from skytwin.agents.detection.subtract import Subtraction, subtract
from skytwin.agents.preprocess import CUTOUT_SIZE, cutout_input

WEIGHTS = "detection_cnn.pt"
UNSURE = 0.01  # a single-pass probability within (UNSURE, 1 - UNSURE) is averaged over 8 views


def cascade_scores(single_pass: Callable[[NDArray[np.float32]], NDArray],
                   x: NDArray[np.float32]) -> NDArray[np.float32]:
    """Probabilities of normalised ``(N, 3, 31, 31)`` cutouts by the cascade (module docstring).

    ``single_pass`` maps a batch to its probabilities: the network in torch
    (:meth:`DetectionModel.single_pass`) or its ONNX export in onnxruntime.
    """
    p = np.array(single_pass(x), np.float32).reshape(len(x))
    unsure = np.flatnonzero((p > UNSURE) & (p < 1.0 - UNSURE))
    if unsure.size:
        u = x[unsure]
        views = [p[unsure]]
        for k in range(4):
            r = np.rot90(u, k, axes=(2, 3))
            if k:
                views.append(np.asarray(single_pass(np.ascontiguousarray(r))).reshape(-1))
            views.append(np.asarray(single_pass(np.ascontiguousarray(r[..., ::-1]))).reshape(-1))
        p[unsure] = np.mean(views, axis=0)
    return p


def _block(a: int, b: int) -> list[nn.Module]:
    return [nn.Conv2d(a, b, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(b, b, 3, padding=1), nn.ReLU(inplace=True)]


class DetectionNet(nn.Module):
    """The braai-like CNN (see the module docstring); input ``(N, 3, 31, 31)``."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(*_block(3, 16), nn.MaxPool2d(2), *_block(16, 32),
                                      nn.MaxPool2d(2), *_block(32, 64))
        self.head = nn.Sequential(nn.Linear(128, 64), nn.ReLU(inplace=True), nn.Dropout(0.3),
                                  nn.Linear(64, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N,)``."""
        f = self.features(x)
        return self.head(torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1))[:, 0]


class ProbabilityNet(nn.Module):
    """The exported graph: normalised cutouts in, probabilities out."""

    def __init__(self, net: DetectionNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(x))


@dataclass
class Detection:
    """Candidates of one frame with their scores (arrays of equal length)."""

    x: NDArray[np.intp]
    y: NDArray[np.intp]
    snr: NDArray[np.float32]
    probability: NDArray[np.float32]
    triplets: NDArray[np.float32]
    subtraction: Subtraction | None = None  # the difference and its kernel fit


class DetectionModel:
    """Real/bogus scorer (see the module docstring)."""

    name = "detection_cnn"

    def __init__(self, net: DetectionNet, batch_size: int = 1024) -> None:
        self.net = net.eval()
        self.prob = ProbabilityNet(self.net).eval()
        self.batch_size = batch_size

    def score(self, triplets: Any) -> NDArray[np.float32]:
        """Probabilities of being real, ``(N,)``, for cutouts ``(N, 3, H, W)`` (H, W >= 21).

        The channel order is science, reference, difference. NaN is allowed.

        Raises
        ------
        skytwin.agents.preprocess.PreprocessError
            Wrong number of dimensions or channels, or cutouts under 21 x 21.
        """
        x = cutout_input(triplets, CUTOUT_SIZE)
        return self.score_normalised(x)

    def score_normalised(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        """Probabilities of already normalised ``(N, 3, 31, 31)`` inputs (the cascade of the
        module docstring)."""
        return cascade_scores(self.single_pass, x)

    def single_pass(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        """One pass of the network (the exported graph) on normalised ``(N, 3, 31, 31)``."""
        out = np.empty(len(x), np.float32)
        with torch.inference_mode():
            for i in range(0, len(x), self.batch_size):
                out[i:i + self.batch_size] = self.prob(
                    torch.as_tensor(x[i:i + self.batch_size])).float().numpy()  # bf16 autocast
        return out

    __call__ = score

    def predict(self, observation: Any, deterministic: bool = True) -> NDArray[np.float32]:
        """Policy-protocol alias of :meth:`score`."""
        return self.score(observation)

    def detect(self, science: NDArray, reference: NDArray, nsigma: float = 5.0,
               saturation: float | None = None) -> Detection:
        """Subtract, detect and score the candidates of one frame (module docstring).

        ``saturation``: the frames' SATURATE level in ADU; ``None`` finds it as
        their clipping plateau (:func:`~skytwin.agents.preprocess.saturation_level`).
        """
        sub = subtract(science, reference, saturation)
        fwhm = max(sub.fwhm_science, sub.fwhm_reference) if np.isfinite(
            sub.fwhm_science) and np.isfinite(sub.fwhm_reference) else 3.0
        cands = detect_candidates(sub.difference, sub.noise, fwhm, nsigma,
                                  template=sub.template)
        trip = cutouts(science, reference, sub.difference, cands.x, cands.y)
        p = self.score(trip) if len(cands) else np.zeros(0, np.float32)
        return Detection(cands.x, cands.y, cands.snr, p, trip, sub)

    def save(self, path: str | Path, meta: dict[str, Any] | None = None) -> None:
        save_state(self.net, path, meta)

    @classmethod
    def load(cls, path: str | Path) -> DetectionModel:
        return cls(load_state(DetectionNet(), path, "detection"))  # type: ignore[arg-type]


def load_default() -> DetectionModel:
    """The shipped real/bogus CNN (``skytwin/agents/weights/detection_cnn.pt``)."""
    return DetectionModel.load(shipped(WEIGHTS, "detection", "detection"))
