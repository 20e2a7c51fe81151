"""The quality model's catalogue transparency on synthetic frames of faint stars, by crowding.

    python benchmarks/transparency_crowding.py      # a table, then one JSON line

Each star's flux is measured above the frame's background model
(:func:`skytwin.agents.quality.stars.catalogue_transparency`). Block medians
would take in the stars' own light, the more the more broad stars crowd the
frame; the model leaves a disc around each catalogue source out of them,
and this measures what is left of that bias. Frames as in
``tests/agents/test_quality_stars.py``: 256², sky 400 e- per pixel, faint
stars (16.5-17.5 mag) of a Gaussian PSF at random places, transparency 0.7,
six frames per row; printed is the measured over the true transparency
(mean and scatter over the frames).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
from scipy.special import erf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from skytwin.agents.preprocess import robust_stats  # noqa: E402
from skytwin.agents.quality.stars import ReferenceStars, measure_stars  # noqa: E402

SIZE, SKY, BIAS, EXPTIME, MAGZERO, TRANSPARENCY = 256, 400.0, 1000.0, 60.0, 1.0e9, 0.7
CASES = ((15, 3.0), (40, 3.0), (80, 3.0), (40, 1.5))  # (stars on the frame, Gaussian sigma px)


def gauss_pix(x0: float, y0: float, s: float) -> np.ndarray:
    """A unit-flux round Gaussian integrated over the pixels of the frame."""
    e = np.arange(SIZE + 1) - 0.5
    fx = np.diff(0.5 * (1 + erf((e - x0) / (math.sqrt(2) * s))))
    fy = np.diff(0.5 * (1 + erf((e - y0) / (math.sqrt(2) * s))))
    return np.outer(fy, fx)


def ratio(n: int, sigma_px: float, seed: int) -> float:
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(20, SIZE - 21, n), rng.uniform(20, SIZE - 21, n)
    mag = rng.uniform(16.5, 17.5, n)
    img = np.full((SIZE, SIZE), SKY)
    for xi, yi, m in zip(x, y, mag):
        img += MAGZERO * EXPTIME * 10 ** (-0.4 * m) * TRANSPARENCY * gauss_pix(xi, yi, sigma_px)
    img = (rng.poisson(img) + rng.normal(0.0, 5.0, img.shape) + BIAS).astype(np.float32)
    header = {"PIXSCALE": 0.5, "GAIN": 1.0, "EXPTIME": EXPTIME, "MAGZERO": MAGZERO,
              "BIASLEV": BIAS, "SATURATE": 1e12}
    level, sigma = robust_stats(img)
    m = measure_stars(img, level, sigma, header, ReferenceStars(x, y, mag))
    return m.transparency / TRANSPARENCY


def main() -> None:
    out = {}
    print("stars  sigma px  measured / true: mean  scatter")
    for n, s in CASES:
        r = np.array([ratio(n, s, seed) for seed in range(6)])
        print(f"{n:5d}  {s:8.1f}  {r.mean():21.3f}  {r.std():7.3f}")
        out[f"stars{n}_sigma{s:g}_mean"] = round(float(r.mean()), 4)
        out[f"stars{n}_sigma{s:g}_std"] = round(float(r.std()), 4)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
