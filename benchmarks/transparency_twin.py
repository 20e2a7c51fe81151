"""The quality model's catalogue transparency against the twin's truth, with no network.

    python benchmarks/transparency_twin.py --seed 11 --n 1400    # ~1 minute on 2 cores
    python benchmarks/transparency_twin.py --n 300 --star-density 30 --seeing 3   # crowded

Frames drawn as the quality data set's (:func:`skytwin.training.datasets.quality_request`,
all sites, 512²), each measured by
:func:`skytwin.agents.quality.stars.measure_stars` with its catalogue (the
twin's stars, 0.03 mag scatter), against the frame's true transparency.
Printed: the median and the robust scatter (1.4826 MAD) of
``ln(measured / true)``, the frames off by more than 5%, and both figures by
quarter of the catalogue's size (the sparsest quarter first); then one JSON
line. ``--star-density`` and ``--seeing`` override those of every frame
(a Galactic-plane field with a broad PSF: the crowding the background
model must not take for sky). Run it on two commits to compare two ways of
measuring.
"""

from __future__ import annotations

import argparse
import json
import sys
from multiprocessing import Pool
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from skytwin.agents.frame_header import read_calibration  # noqa: E402
from skytwin.agents.preprocess import as_image, robust_stats  # noqa: E402
from skytwin.agents.quality.stars import ReferenceStars, measure_stars  # noqa: E402
from skytwin.training.datasets import QUALITY_FRAME_SIZE, quality_request, render_safe  # noqa: E402
from skytwin.training.sites import SITES  # noqa: E402


def measure(args: tuple[int, int, dict[str, float]]) -> tuple[float, float, int]:
    """Measured and true transparency, and the catalogue's size, of frame ``index``."""
    seed, index, override = args
    f = render_safe(quality_request(seed, index, SITES, size=QUALITY_FRAME_SIZE).with_(**override))
    arr = as_image(f.image)
    level, sigma = robust_stats(arr)
    cat = ReferenceStars.from_truth(f.truth)
    m = measure_stars(arr, level, sigma, read_calibration(f.header).header, cat)
    return m.transparency, f.conditions["transparency"], len(cat)


def robust_scatter(e: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(e - np.median(e))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--n", type=int, default=1400)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--star-density", type=float, default=None,
                    help="the renderer's star density for every frame (1: the sky's mean)")
    ap.add_argument("--seeing", type=float, default=None,
                    help="seeing FWHM for every frame (arcsec)")
    a = ap.parse_args()
    override = {k: v for k, v in (("star_density", a.star_density), ("seeing_arcsec", a.seeing))
                if v is not None}
    with Pool(a.workers) as pool:
        rows = np.array(pool.map(measure, [(a.seed, i, override) for i in range(a.n)],
                                 chunksize=8))
    measured, true, n_cat = rows[:, 0], rows[:, 1], rows[:, 2]
    ok = np.isfinite(measured) & (measured > 0)
    e, n_cat = np.log(measured[ok] / true[ok]), n_cat[ok]
    out = {"seed": a.seed, **override, "n": int(ok.sum()), "n_unmeasured": int((~ok).sum()),
           "median_log_error": round(float(np.median(e)), 4),
           "robust_scatter": round(robust_scatter(e), 4),
           "off_by_over_5pct": int((np.abs(e) > 0.05).sum())}
    print(f"{out['n']} frames measured ({out['n_unmeasured']} not): median ln(measured/true) "
          f"{out['median_log_error']:+.4f}, robust scatter {out['robust_scatter']:.4f}, "
          f"{out['off_by_over_5pct']} off by more than 5%")
    quarter = np.minimum((np.argsort(np.argsort(n_cat)) * 4) // len(n_cat), 3)
    for q in range(4):
        if not (quarter == q).any():  # fewer than four frames measured
            continue
        eq = e[quarter == q]
        lo, hi = int(n_cat[quarter == q].min()), int(n_cat[quarter == q].max())
        out[f"quarter{q + 1}_median"] = round(float(np.median(eq)), 4)
        out[f"quarter{q + 1}_scatter"] = round(robust_scatter(eq), 4)
        print(f"  catalogue of {lo:4d}-{hi:4d} sources: median {np.median(eq):+.4f}, "
              f"scatter {robust_scatter(eq):.4f}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
