"""Frame anomaly detector: an autoencoder of normal frames, scored by its worst local error.

Units: inputs are the noise-normalised maps, row/column profiles and scalars
of :func:`skytwin.agents.anomaly.features.anomaly_input`; the score is
dimensionless (robust z-scores scaled so that 1 is the 99.5th percentile of
normal training frames), and a frame is anomalous above the threshold
stored with the weights (the 99th percentile of the score on normal
validation frames, i.e. 1% false alarms by construction).

Architecture: the maps ``(5, 32, 32)`` go through stride-2 3x3 convolutions
5 -> 16 -> 32 -> 64 channels (4 x 4), the profiles ``(8, 256)`` through
stride-2 1-D convolutions 8 -> 16 -> 32 -> 32 -> 64 (16 positions); both,
with the 3 scalars, meet in a 32-number bottleneck, and mirrored decoders
(transposed convolutions) reconstruct them. Inputs are standardised with
the training frames' per-element median and per-channel spread.

Score (:meth:`FrameAutoencoder.indicators`): for each scored channel, the
largest squared error over 2 x 2 blocks of the maps or 4 rows/columns of the
profiles (failures are local: a band of rows, a few columns, a corner), in
log; the mean error of maps and of profiles; and the frame-wide median of
every input channel and the scalars (what the reconstruction cannot see: a
uniform shift, such as pattern noise raising the noise everywhere). Each is
a robust z-score against normal training frames (median, and the 99.5th or
0.5th percentile as the unit), and the score is the largest. The saturation
channels are context only: bright stars' bleed columns are normal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from skytwin.agents.anomaly.features import (MAP_SIZE, N_MAPS, N_PROFILES, N_SCALARS,
                                             PROFILE_SIZE, anomaly_input)
from skytwin.agents.checkpoint import load_state, save_state, shipped
from skytwin.errors import SkytwinError

WEIGHTS = "anomaly_ae.pt"
LATENT = 32
CLIP = 10.0  # standardised inputs are clipped to +-CLIP before encoding
SCORED_MAPS = (0, 1, 2, 3)  # the saturation map (4) is context only
SCORED_PROFILES = (0, 1, 2, 3, 4, 5)  # the saturation profiles (6, 7) are context only
N_INDICATORS = len(SCORED_MAPS) + len(SCORED_PROFILES) + 2 + N_MAPS + N_PROFILES + N_SCALARS
N_ERRORS = len(SCORED_MAPS) + len(SCORED_PROFILES) + 2  # the reconstruction part


def _median(x: torch.Tensor) -> torch.Tensor:
    """Median over the last axis (the lower of the middle two), in ops that export to ONNX."""
    return torch.sort(x, dim=-1).values[..., (x.shape[-1] - 1) // 2]


class FrameAutoencoder(nn.Module):
    """See the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self.enc_m = nn.Sequential(
            nn.Conv2d(N_MAPS, 16, 3, 2, 1), nn.ReLU(inplace=True),
            nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(inplace=True))
        self.enc_p = nn.Sequential(
            nn.Conv1d(N_PROFILES, 16, 5, 2, 2), nn.ReLU(inplace=True),
            nn.Conv1d(16, 32, 5, 2, 2), nn.ReLU(inplace=True),
            nn.Conv1d(32, 32, 5, 2, 2), nn.ReLU(inplace=True),
            nn.Conv1d(32, 64, 5, 2, 2), nn.ReLU(inplace=True))
        self.n_m, self.n_p = 64 * (MAP_SIZE // 8) ** 2, 64 * (PROFILE_SIZE // 16)
        self.to_z = nn.Linear(self.n_m + self.n_p + N_SCALARS, LATENT)
        self.from_z = nn.Linear(LATENT, self.n_m + self.n_p + N_SCALARS)
        self.dec_m = nn.Sequential(
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(32, 16, 4, 2, 1), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(16, N_MAPS, 4, 2, 1))
        self.dec_p = nn.Sequential(
            nn.ConvTranspose1d(64, 32, 4, 2, 1), nn.ReLU(inplace=True),
            nn.ConvTranspose1d(32, 32, 4, 2, 1), nn.ReLU(inplace=True),
            nn.ConvTranspose1d(32, 16, 4, 2, 1), nn.ReLU(inplace=True),
            nn.ConvTranspose1d(16, N_PROFILES, 4, 2, 1))
        # input standardisation: per-element median, per-channel spread (training frames)
        self.register_buffer("m_center", torch.zeros(N_MAPS, MAP_SIZE, MAP_SIZE))
        self.register_buffer("m_scale", torch.ones(N_MAPS, 1, 1))
        self.register_buffer("p_center", torch.zeros(N_PROFILES, PROFILE_SIZE))
        self.register_buffer("p_scale", torch.ones(N_PROFILES, 1))
        self.register_buffer("g_center", torch.zeros(N_SCALARS))
        self.register_buffer("g_scale", torch.ones(N_SCALARS))
        # indicator z-scores: median, upper and lower units (normal training frames)
        self.register_buffer("h_center", torch.zeros(N_INDICATORS))
        self.register_buffer("h_hi", torch.ones(N_INDICATORS))
        self.register_buffer("h_lo", torch.full((N_INDICATORS,), 1e9))
        self.register_buffer("threshold", torch.tensor(float("inf")))

    def standardise(self, m: torch.Tensor, p: torch.Tensor, g: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return ((m - self.m_center) / self.m_scale, (p - self.p_center) / self.p_scale,
                (g - self.g_center) / self.g_scale)

    def forward(self, m: torch.Tensor, p: torch.Tensor, g: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction of *standardised* inputs (clipped to +-CLIP on the way in)."""
        h = torch.cat([self.enc_m(m.clamp(-CLIP, CLIP)).flatten(1),
                       self.enc_p(p.clamp(-CLIP, CLIP)).flatten(1), g.clamp(-CLIP, CLIP)], 1)
        o = self.from_z(torch.relu(self.to_z(h)))
        rm = self.dec_m(torch.relu(o[:, :self.n_m]).view(-1, 64, MAP_SIZE // 8, MAP_SIZE // 8))
        rp = self.dec_p(torch.relu(o[:, self.n_m:self.n_m + self.n_p]).view(
            -1, 64, PROFILE_SIZE // 16))
        return rm, rp, o[:, self.n_m + self.n_p:]

    def loss(self, m: torch.Tensor, p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """Training loss on standardised inputs: mean squared error, scalars weighted 0.1."""
        rm, rp, rg = self(m, p, g)
        return (((rm - m) ** 2).mean() + ((rp - p) ** 2).mean()
                + 0.1 * ((rg - g) ** 2).mean())

    def indicators(self, m: torch.Tensor, p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """Localised log errors and frame-wide medians ``(N, N_INDICATORS)`` (module docstring)."""
        sm, sp, sg = self.standardise(m, p, g)
        rm, rp, _ = self(sm, sp, sg)
        em, ep = (rm - sm) ** 2, (rp - sp) ** 2
        lm = nn.functional.avg_pool2d(em[:, list(SCORED_MAPS)], 2).flatten(2).amax(2)
        lp = nn.functional.avg_pool1d(ep[:, list(SCORED_PROFILES)], 4).amax(2)
        err = torch.cat([lm, lp, em.mean((1, 2, 3))[:, None], ep.mean((1, 2))[:, None]], 1)
        glob = torch.cat([_median(m.flatten(2)), _median(p), g], 1)
        return torch.cat([torch.log(err + 1e-2), glob], 1)

    def error(self, m: torch.Tensor, p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """Anomaly score per frame: the largest robust z-score of :meth:`indicators`."""
        d = self.indicators(m, p, g) - self.h_center
        return torch.maximum(d / self.h_hi, -d / self.h_lo).amax(dim=1)


class ScoreNet(nn.Module):
    """The exported graph: inputs in, anomaly scores out."""

    def __init__(self, ae: FrameAutoencoder) -> None:
        super().__init__()
        self.ae = ae

    def forward(self, m: torch.Tensor, p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return self.ae.error(m, p, g)


class AnomalyModel:
    """Scores frames; ``is_anomalous`` compares with the stored threshold."""

    name = "anomaly_ae"

    def __init__(self, ae: FrameAutoencoder) -> None:
        self.ae = ae.eval()

    @property
    def threshold(self) -> float:
        return float(self.ae.threshold)

    def score_arrays(self, m: NDArray, p: NDArray, g: NDArray) -> NDArray[np.float32]:
        """Scores of :func:`~skytwin.agents.anomaly.features.anomaly_input` outputs, stacked.

        ``m`` ``(N, 5, 32, 32)``, ``p`` ``(N, 8, 256)``, ``g`` ``(N, 3)``.
        """
        def t(a: NDArray, i: int) -> torch.Tensor:
            return torch.as_tensor(np.asarray(a[i:i + 256], np.float32))
        out = []
        with torch.inference_mode():
            for i in range(0, len(m), 256):
                out.append(self.ae.error(t(m, i), t(p, i), t(g, i)).numpy())
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def score(self, frames: Any) -> NDArray[np.float32]:
        """Scores of frames (2-D images, a ``(N, ny, nx)`` stack, ``RenderedFrame`` or FITS paths).

        A frame that cannot be read or normalised scores ``inf`` (anomalous).
        """
        from skytwin.agents.quality.model import _as_inputs
        items = list(frames) if isinstance(frames, (list, tuple)) or (
            isinstance(frames, np.ndarray) and frames.ndim == 3) else [frames]
        out = np.full(len(items), np.inf, np.float32)
        ins: list[tuple[NDArray, NDArray, NDArray]] = []
        ok = []
        for i, item in enumerate(items):
            try:
                img, hdr, _ = _as_inputs(item)
                ins.append(anomaly_input(img, hdr))
            except SkytwinError:
                continue
            ok.append(i)
        if ok:
            out[ok] = self.score_arrays(*(np.stack(a) for a in zip(*ins)))
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
