"""Frame anomaly detector: a convolutional autoencoder's reconstruction error.

Units: inputs are the quality model's normalised channels and scalars
(:func:`skytwin.agents.preprocess.quality_input`); the score is a
dimensionless reconstruction error, and a frame is anomalous above the
threshold stored with the weights (the 99th percentile of the error on
normal validation frames, i.e. 1% false alarms by construction).

The score is the largest robust z-score (distance from the training frames'
median in units of their MAD-sigma) over three kinds of indicators: the
autoencoder's reconstruction error, the nine photometric scalars, and eight
simple detector-health indicators (:func:`health`). The autoencoder alone
misses smooth or regular failures it reconstructs well (light leaks, pattern
noise); the indicators catch those.

Architecture: encoder 2 -> 16 -> 32 -> 64 channels (stride-2 3x3
convolutions, 64 -> 8 pixels), a 32-number bottleneck (332k parameters in all) that also encodes the
scalars, decoder mirrored with transposed convolutions. The score is the
mean of the squared error over the 8 x 8 blocks of the image, taking the
worst block (failures are often local: stripes, dead columns, a leak), plus
the scalars' squared error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from skytwin.agents.checkpoint import load_state, save_state, shipped
from skytwin.agents.preprocess import SCALAR_NAMES, quality_input
from skytwin.errors import SkytwinError

WEIGHTS = "anomaly_ae.pt"
LATENT = 32
N_HEALTH = 8


def health(x: torch.Tensor) -> torch.Tensor:
    """Simple detector-health indicators of normalised frames ``(N, 2, 64, 64)`` -> ``(N, 8)``.

    Spread of the row and column means of the whole-frame channel (stripes,
    dead columns), spread of its 8 x 8 block means (leaks, occlusion,
    gradients), the smallest and the mean row-to-row and pixel-to-pixel
    differences of the full-resolution channel (frozen readout, periodic
    pattern noise), and the fraction of exactly repeated rows.
    """
    w, f = x[:, 0], x[:, 1]
    rows, cols = w.mean(dim=2), w.mean(dim=1)
    blocks = nn.functional.avg_pool2d(x[:, :1], 8).flatten(1)
    drow = (f[:, 1:] - f[:, :-1]).abs().mean(dim=2)
    dcol = (f[:, :, 1:] - f[:, :, :-1]).abs().mean(dim=1)
    return torch.stack([
        rows.std(dim=1), cols.std(dim=1), blocks.amax(dim=1) - blocks.amin(dim=1),
        blocks.std(dim=1), drow.amin(dim=1), drow.mean(dim=1), dcol.mean(dim=1),
        (drow < 1e-6).float().mean(dim=1)], dim=1)


class FrameAutoencoder(nn.Module):
    """See the module docstring."""

    def __init__(self, n_scalars: int = len(SCALAR_NAMES)) -> None:
        super().__init__()
        self.enc = nn.Sequential(
            nn.Conv2d(2, 16, 3, 2, 1), nn.ReLU(inplace=True),
            nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(inplace=True))
        self.to_z = nn.Linear(64 * 8 * 8 + n_scalars, LATENT)
        self.from_z = nn.Linear(LATENT, 64 * 8 * 8 + n_scalars)
        self.dec = nn.Sequential(
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(32, 16, 4, 2, 1), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(16, 2, 4, 2, 1))
        self.n_scalars = n_scalars
        self.register_buffer("s_mean", torch.zeros(n_scalars))
        self.register_buffer("s_std", torch.ones(n_scalars))
        self.register_buffer("threshold", torch.tensor(float("inf")))
        n_h = N_HEALTH + n_scalars + 1
        self.register_buffer("h_center", torch.zeros(n_h))
        self.register_buffer("h_scale", torch.ones(n_h))

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reconstructed image and (standardised) scalars."""
        sn = (s - self.s_mean) / self.s_std
        h = self.enc(x).flatten(1)
        z = self.to_z(torch.cat([h, sn], dim=1))
        o = self.from_z(torch.relu(z))
        img = self.dec(torch.relu(o[:, :64 * 8 * 8]).view(-1, 64, 8, 8))
        return img, o[:, 64 * 8 * 8:]

    def recon_error(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """Reconstruction part of the score (module docstring)."""
        img, sr = self(x, s)
        sn = (s - self.s_mean) / self.s_std
        e = ((img - x) ** 2).mean(dim=1, keepdim=True)
        blocks = nn.functional.avg_pool2d(e, 8).flatten(1)
        return blocks.amax(dim=1) + 0.01 * ((sr - sn) ** 2).mean(dim=1)

    def indicators(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """Health indicators, the scalars and the reconstruction error ``(N, N_HEALTH + S + 1)``."""
        return torch.cat([health(x), s, self.recon_error(x, s)[:, None]], dim=1)

    def error(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """Anomaly score per frame: the largest robust z-score of :meth:`indicators`."""
        z = (self.indicators(x, s) - self.h_center) / self.h_scale
        return z.abs().amax(dim=1)


class ScoreNet(nn.Module):
    """The exported graph: inputs in, anomaly scores out."""

    def __init__(self, ae: FrameAutoencoder) -> None:
        super().__init__()
        self.ae = ae

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return self.ae.error(x, s)


class AnomalyModel:
    """Scores frames; ``is_anomalous`` compares with the stored threshold."""

    name = "anomaly_ae"

    def __init__(self, ae: FrameAutoencoder) -> None:
        self.ae = ae.eval()

    @property
    def threshold(self) -> float:
        return float(self.ae.threshold)

    def score_arrays(self, x: NDArray, s: NDArray) -> NDArray[np.float32]:
        """Scores of preprocessed inputs ``(N, 2, 64, 64)`` and ``(N, S)``."""
        out = []
        with torch.inference_mode():
            for i in range(0, len(x), 256):
                out.append(self.ae.error(torch.as_tensor(np.asarray(x[i:i + 256], np.float32)),
                                         torch.as_tensor(np.asarray(s[i:i + 256], np.float32))
                                         ).numpy())
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def score(self, frames: Any) -> NDArray[np.float32]:
        """Scores of frames (2-D images, a ``(N, ny, nx)`` stack, ``RenderedFrame`` or FITS paths).

        A frame that cannot be read or normalised scores ``inf`` (anomalous).
        """
        from skytwin.agents.quality.model import _as_inputs
        items = list(frames) if isinstance(frames, (list, tuple)) or (
            isinstance(frames, np.ndarray) and frames.ndim == 3) else [frames]
        out = np.full(len(items), np.inf, np.float32)
        xs, ss, ok = [], [], []
        for i, item in enumerate(items):
            try:
                img, hdr, moon = _as_inputs(item)
                x, s = quality_input(img, hdr, moon)
            except SkytwinError:
                continue
            xs.append(x)
            ss.append(s)
            ok.append(i)
        if ok:
            out[ok] = self.score_arrays(np.stack(xs), np.stack(ss))
        return out

    def is_anomalous(self, frames: Any) -> NDArray[np.bool_]:
        return self.score(frames) > self.threshold

    def predict(self, observation: Any, deterministic: bool = True) -> NDArray[np.bool_]:
        """Policy-protocol alias of :meth:`is_anomalous`."""
        return self.is_anomalous(observation)

    def save(self, path: str | Path, meta: dict[str, Any] | None = None) -> None:
        save_state(self.ae, path, meta)

    @classmethod
    def load(cls, path: str | Path) -> AnomalyModel:
        return cls(load_state(FrameAutoencoder(), path, "anomaly"))  # type: ignore[arg-type]


def load_default() -> AnomalyModel:
    """The shipped autoencoder (``skytwin/agents/weights/anomaly_ae.pt``)."""
    return AnomalyModel.load(shipped(WEIGHTS, "anomaly", "anomaly"))
