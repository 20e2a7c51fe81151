"""Frame anomaly detector: an autoencoder of normal frames, scored by its worst local error.

Units: inputs are the noise-normalised maps, row/column profiles and scalars
of :func:`skytwin.agents.anomaly.features.anomaly_input`; the score is
dimensionless (per-indicator tail scores, 0 at the normal training frames'
90th percentile and 1 at their 99.9th), and a frame is anomalous above the
threshold stored with the weights (the 99th percentile of the score on
normal validation and test frames, i.e. 1% false alarms by construction).

The profiles enter twice: as they are, and as their running median over
:data:`WIDE` rows or columns (:func:`wide_profiles`), which keeps bands of
rows or columns and removes narrow features (satellite trails along a row,
bright stars' bleed columns) that give the profiles their heavy tails on
normal frames.

Architecture: the maps ``(5, 32, 32)`` go through stride-2 3x3 convolutions
5 -> 16 -> 32 -> 64 channels (4 x 4), the profiles with their running
medians ``(16, 256)`` through stride-2 1-D convolutions 16 -> 16 -> 32 -> 32
-> 64 (16 positions); both, with the scalars, meet in a 32-number
bottleneck, and mirrored decoders (transposed convolutions) reconstruct
them. Inputs are standardised with the training frames' per-element median
and per-channel spread.

Score (:meth:`FrameAutoencoder.indicators`): for each scored channel, the
largest squared error over 2 x 2 blocks of the maps or 4 rows/columns of the
profiles (failures are local: a band of rows, a few columns, a corner), in
log; the mean error of maps and of profiles; the sharpest edge of each wide
profile (its largest change over ``2 * EDGE`` rows or columns, in the
profile's own units: normal frames' wide structure, such as vignetting, Moon
and twilight gradients, is smooth, whereas a failing detector or shutter
starts and ends abruptly); and the frame-wide median of
every input channel and the scalars (what the reconstruction cannot see: a
uniform shift, such as pattern noise raising the noise everywhere). Each
indicator is put on a tail scale fitted to the normal training frames
(``(x - q90) / (q99.9 - q90)`` upwards, the mirror image downwards for the
medians; errors and edges count upwards only), so that heavy- and
light-tailed indicators count alike, and the
score is the largest. The narrow saturation channels are context only:
bright stars' bleed columns are normal; the wide ones are scored.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from skytwin.agents.anomaly.features import (MAP_SIZE, N_MAPS, N_PROFILES, N_SCALARS,
                                             PROFILE_SIZE, anomaly_input)
from skytwin.agents.checkpoint import load_state, save_state, shipped
from skytwin.agents.preprocess import frame_inputs
from skytwin.errors import SkytwinError

WEIGHTS = "anomaly_ae.pt"
LATENT = 32
CLIP = 10.0  # standardised inputs are clipped to +-CLIP before encoding
WIDE = 21  # rows/columns: running median of the profiles (removes features <= 10 wide)
N_PROF_IN = 2 * N_PROFILES  # the profiles, then their running medians
SCORED_MAPS = (0, 1, 2, 3)  # the saturation map (4) is context only
# the narrow profiles' saturation channels (6, 7) are context only (bleed columns);
# the wide ones' are scored (a saturated band wider than WIDE // 2)
SCORED_PROFILES = (0, 1, 2, 3, 4, 5) + tuple(N_PROFILES + k for k in range(N_PROFILES))
EDGE = 2  # rows/columns: a band's edge is the change of a wide profile over 2 * EDGE
# upward-only indicators: reconstruction errors, then the wide profiles' sharpest edges
N_ERRORS = len(SCORED_MAPS) + len(SCORED_PROFILES) + 2 + N_PROFILES
N_INDICATORS = N_ERRORS + N_MAPS + N_PROFILES + N_SCALARS


def _median(x: torch.Tensor) -> torch.Tensor:
    """Median over the last axis (the lower of the middle two), in ops that export to ONNX."""
    return torch.sort(x, dim=-1).values[..., (x.shape[-1] - 1) // 2]


def wide_profiles(p: torch.Tensor, width: int = WIDE) -> torch.Tensor:
    """``p`` ``(N, C, L)`` and its running median over ``width`` positions ``(N, 2C, L)``.

    The running median keeps bands of rows or columns at least ``width // 2 + 1``
    wide and removes narrower ones (satellite trails along a row, bleed columns).
    """
    h = width // 2
    q = nn.functional.pad(p, (h, h), mode="replicate")
    L = p.shape[-1]
    win = torch.stack([q[..., k:k + L] for k in range(width)], -1)
    return torch.cat([p, _median(win)], 1)


class FrameAutoencoder(nn.Module):
    """See the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self.enc_m = nn.Sequential(
            nn.Conv2d(N_MAPS, 16, 3, 2, 1), nn.ReLU(inplace=True),
            nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(inplace=True))
        self.enc_p = nn.Sequential(
            nn.Conv1d(N_PROF_IN, 16, 5, 2, 2), nn.ReLU(inplace=True),
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
            nn.ConvTranspose1d(16, N_PROF_IN, 4, 2, 1))
        # input standardisation: per-element median, per-channel spread (training frames)
        self.register_buffer("m_center", torch.zeros(N_MAPS, MAP_SIZE, MAP_SIZE))
        self.register_buffer("m_scale", torch.ones(N_MAPS, 1, 1))
        self.register_buffer("p_center", torch.zeros(N_PROF_IN, PROFILE_SIZE))
        self.register_buffer("p_scale", torch.ones(N_PROF_IN, 1))
        self.register_buffer("g_center", torch.zeros(N_SCALARS))
        self.register_buffer("g_scale", torch.ones(N_SCALARS))
        # indicator tail scores: upper and lower anchors and units (normal training frames)
        self.register_buffer("h_center", torch.zeros(N_INDICATORS))
        self.register_buffer("h_hi", torch.ones(N_INDICATORS))
        self.register_buffer("h_center_lo", torch.zeros(N_INDICATORS))
        self.register_buffer("h_lo", torch.full((N_INDICATORS,), 1e9))
        self.register_buffer("threshold", torch.tensor(float("inf")))

    def standardise(self, m: torch.Tensor, p: torch.Tensor, g: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Standardised maps, profiles and their running medians (:func:`wide_profiles`), scalars."""
        return self._standardise(m, wide_profiles(p), g)

    def _standardise(self, m: torch.Tensor, pw: torch.Tensor, g: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return ((m - self.m_center) / self.m_scale, (pw - self.p_center) / self.p_scale,
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
        """Local log errors, wide-profile edges, frame-wide medians ``(N, N_INDICATORS)``."""
        pw = wide_profiles(p)
        sm, sp, sg = self._standardise(m, pw, g)
        rm, rp, _ = self(sm, sp, sg)
        em, ep = (rm - sm) ** 2, (rp - sp) ** 2
        lm = nn.functional.avg_pool2d(em[:, list(SCORED_MAPS)], 2).flatten(2).amax(2)
        lp = nn.functional.avg_pool1d(ep[:, list(SCORED_PROFILES)], 4).amax(2)
        err = torch.cat([lm, lp, em.mean((1, 2, 3))[:, None], ep.mean((1, 2))[:, None]], 1)
        wide = pw[:, N_PROFILES:]
        edge = (wide[..., 2 * EDGE:] - wide[..., :-2 * EDGE]).abs().amax(2)
        glob = torch.cat([_median(m.flatten(2)), _median(p), g], 1)
        return torch.cat([torch.log(err + 1e-2), edge, glob], 1)

    def error(self, m: torch.Tensor, p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """Anomaly score per frame: the largest tail score of :meth:`indicators`."""
        h = self.indicators(m, p, g)
        return torch.maximum((h - self.h_center) / self.h_hi,
                             (self.h_center_lo - h) / self.h_lo).amax(dim=1)


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

        ``m`` ``(N, 5, 32, 32)``, ``p`` ``(N, 8, 256)``, ``g`` ``(N, 4)``.
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
        items = _items(frames)
        out = np.full(len(items), np.inf, np.float32)
        ins: list[tuple[NDArray, NDArray, NDArray]] = []
        ok = []
        for i, item in enumerate(items):
            try:
                img, hdr = frame_inputs(item)[:2]
                ins.append(anomaly_input(img, hdr))
            except SkytwinError:
                continue
            ok.append(i)
        if ok:
            out[ok] = self.score_arrays(*(np.stack(a) for a in zip(*ins)))
        return out

    def is_anomalous(self, frames: Any) -> NDArray[np.bool_]:
        return self.score(frames) > self.threshold

    def calibrated(self, frames: Any, false_alarm_rate: float = 0.01,
                   names: Sequence[str] | None = None) -> AnomalyModel:
        """A copy whose threshold flags ``false_alarm_rate`` of ``frames``, a site's normal frames.

        The stored threshold is the twin's (1% of its normal frames). A real
        camera's normal frames (its sky, optics, detector) score otherwise,
        so a site sets its own false-alarm rate from frames its staff call
        normal: with ``k = floor(rate x N)`` of the N frames allowed above
        it, the threshold lies halfway between the k-th and the (k+1)-th
        highest score. Frames the site has never shown (a failure mode)
        still score on the autoencoder learnt in the twin.

        Raises
        ------
        SkytwinError
            A rate outside (0, 0.5], fewer than ``ceil(1 / false_alarm_rate)``
            frames (the rate could not be seen), or a frame that cannot be
            read (it cannot count as normal); ``names`` label the frames in
            the message (default: their index, or the path).
        """
        if not 0.0 < false_alarm_rate <= 0.5:
            raise SkytwinError(f"false-alarm rate {false_alarm_rate} must lie in (0, 0.5]")
        items = _items(frames)
        labels = list(names) if names is not None else [
            str(f) if isinstance(f, (str, Path)) else f"frame {i}" for i, f in enumerate(items)]
        need = math.ceil(1.0 / false_alarm_rate - 1e-9)
        if len(items) < need:
            raise SkytwinError(f"a {false_alarm_rate:g} false-alarm rate needs at least {need} "
                               f"normal frames to set it on; got {len(items)}")
        scores = self.score(items)
        unreadable = [labels[i] for i in np.flatnonzero(~np.isfinite(scores))]
        if unreadable:
            raise SkytwinError(f"{len(unreadable)} frame(s) cannot be read, so cannot count as "
                               f"normal: {', '.join(unreadable[:5])}")
        # at most floor(rate * n) of them above it: halfway between the (k+1)-th and the k-th
        # highest score (ties are not above), so that a score differing in its last bits (a
        # frame scored alone, not in a batch) does not cross it
        allowed = false_alarms_allowed(false_alarm_rate, len(scores))
        top = np.sort(scores.astype(np.float64))[::-1]
        ae = copy.deepcopy(self.ae)
        ae.threshold.fill_(float(0.5 * (top[allowed] + top[allowed - 1])))
        return AnomalyModel(ae)

    def predict(self, observation: Any, deterministic: bool = True) -> NDArray[np.bool_]:
        """Policy-protocol alias of :meth:`is_anomalous`."""
        return self.is_anomalous(observation)

    def save(self, path: str | Path, meta: dict[str, Any] | None = None) -> None:
        save_state(self.ae, path, meta)

    @classmethod
    def load(cls, path: str | Path) -> AnomalyModel:
        return cls(load_state(FrameAutoencoder(), path, "anomaly"))  # type: ignore[arg-type]


def false_alarms_allowed(rate: float, n: int) -> int:
    """How many of ``n`` normal frames a threshold set for ``rate`` leaves above it: floor(rate n)."""
    return math.floor(rate * n + 1e-9)  # 1e-9: 0.1 x 30 is 3, not 2.9999...


def _items(frames: Any) -> list[Any]:
    """One frame or many (a list, a tuple, a ``(N, ny, nx)`` stack) as a list."""
    return list(frames) if isinstance(frames, (list, tuple)) or (
        isinstance(frames, np.ndarray) and frames.ndim == 3) else [frames]


def load_default() -> AnomalyModel:
    """The shipped autoencoder (``skytwin/agents/weights/anomaly_ae.pt``)."""
    return AnomalyModel.load(shipped(WEIGHTS, "anomaly", "anomaly"))
