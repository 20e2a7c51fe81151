"""Equipment failure modes applied to rendered frames, for testing the anomaly detector.

Units: images ADU; amplitudes in multiples of the frame's noise sigma.

None of these ever enters the anomaly model's training data: the
autoencoder learns normal frames only (all weather and quality conditions
included), and is scored on how well its reconstruction error separates
these failures from fresh normal frames.

=================  =============================================================
mode               what breaks
=================  =============================================================
readout_stripes    a band of rows offset by 5-50 sigma (a bad amplifier read)
dead_columns       5-40 adjacent columns stuck at the bias level or saturated
light_leak         a bright glow (20-500 sigma) from one edge or corner
no_exposure        shutter stays shut: bias and read noise only, no sky, no stars
pattern_noise      periodic stripes of 2-10 sigma (electronic interference)
dome_occlusion     30-70% of the frame blocked by the dome slit (bias + noise)
frozen_readout     the lower part of the frame repeats a 1-row snapshot
=================  =============================================================
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from skytwin.agents.preprocess import robust_stats

FAILURE_MODES = ("readout_stripes", "dead_columns", "light_leak", "no_exposure",
                 "pattern_noise", "dome_occlusion", "frozen_readout")


def apply_failure(image: NDArray, mode: str, rng: np.random.Generator, bias_adu: float,
                  read_noise_adu: float, saturation_adu: float = 65535.0
                  ) -> NDArray[np.float32]:
    """A copy of ``image`` with the failure ``mode`` (see the module table)."""
    img = np.array(image, np.float32, copy=True)
    ny, nx = img.shape
    level, sig = robust_stats(img)
    yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float32)
    if mode == "readout_stripes":
        h = int(rng.integers(ny // 16, ny // 3))
        y0 = int(rng.integers(0, ny - h))
        img[y0:y0 + h] += np.float32(rng.choice([-1, 1]) * rng.uniform(5, 50) * sig)
    elif mode == "dead_columns":
        w = int(rng.integers(5, 40))
        x0 = int(rng.integers(0, nx - w))
        img[:, x0:x0 + w] = saturation_adu if rng.uniform() < 0.5 else \
            bias_adu + rng.normal(0, read_noise_adu, (ny, w))
    elif mode == "light_leak":
        cx, cy = rng.choice([0, nx]), rng.uniform(0, ny)
        r = np.hypot(xx - cx, yy - cy) / rng.uniform(0.2 * nx, 0.8 * nx)
        img += np.float32(rng.uniform(20, 500) * sig) * np.exp(-r * r).astype(np.float32)
    elif mode == "no_exposure":
        img = (bias_adu + rng.normal(0, read_noise_adu, (ny, nx))).astype(np.float32)
    elif mode == "pattern_noise":
        period = rng.uniform(3, 20)
        th = rng.uniform(0, math.pi)
        phase = (xx * math.cos(th) + yy * math.sin(th)) * (2 * math.pi / period)
        img += np.float32(rng.uniform(2, 10) * sig) * np.sin(phase).astype(np.float32)
    elif mode == "dome_occlusion":
        frac = rng.uniform(0.3, 0.7)
        th = rng.uniform(0, 2 * math.pi)
        u = (xx - nx / 2) * math.cos(th) + (yy - ny / 2) * math.sin(th)
        cut = np.quantile(u, 1 - frac)
        blocked = u > cut
        img[blocked] = (bias_adu + rng.normal(0, read_noise_adu, int(blocked.sum()))
                        ).astype(np.float32)
    elif mode == "frozen_readout":
        y0 = int(rng.integers(ny // 4, 3 * ny // 4))
        img[y0:] = img[y0][None, :]
    else:
        raise ValueError(f"unknown failure mode {mode!r}; known: {', '.join(FAILURE_MODES)}")
    del level
    return img
