"""Where the shipped quality model's errors come from, and how precise its estimates must be.

    python benchmarks/quality_error_budget.py --seeds 1 2      # ~2 minutes a seed on 2 cores

Makes the benchmark's quality frames (as ``benchmarks/agents.py`` does: the
training sites and the held-out sites, with their catalogue) for each seed,
runs the shipped network and prints:

* the criteria the wrong frames get wrong (``blur``, ``clouds``, ...: the
  criteria whose estimated grade differs from the truth's);
* the accuracy with one estimate at a time replaced by the truth (what each
  criterion is worth), and with blur and clouds both;
* each estimate's robust scatter (1.4826 MAD of estimate - truth, in the
  units of :data:`skytwin.agents.quality.rule_head.MEASURED`) and the share
  of frames beyond three robust sigmas (0.27% for Gaussian errors);
* the accuracy the frames would get were the FWHM and transparency
  estimates the truth plus Gaussian noise of each scatter in ``--grid``
  (that scatter as their sigma, the other estimates the network's; mean
  of ``--draws`` draws);
* the clouds criterion against what the frames allow (``--no-ideal`` skips
  it: it renders every frame again, ~1 minute a seed): the accuracy with every
  other criterion the truth's and the transparency the network's, and the
  same with the transparency of an ideal photometer of the same catalogue
  (:func:`ideal_transparency`; mean of ``--draws`` draws of its noise);

then one JSON line. Nothing here trains or chooses anything.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from skytwin.agents.preprocess import header_value  # noqa: E402
from skytwin.agents.quality import load_default  # noqa: E402
from skytwin.agents.quality.stars import (PHOT_FLOOR, SATURATION_FRACTION, STAMP,  # noqa: E402
                                          ReferenceStars)
from skytwin.agents.quality.rule_head import (CRITERIA, MEASURED, RuleProbabilities,  # noqa: E402
                                              targets)
from skytwin.training.datasets import (CONDITIONS, QUALITY_FRAME_SIZE,  # noqa: E402
                                       make_quality_dataset, quality_request, render_safe)
from skytwin.training.sites import HELDOUT_SITES, SITES, TRAIN_SITES  # noqa: E402
from transparency_twin import robust_scatter  # noqa: E402  (this folder is on the path)

BLUR, CLOUDS = MEASURED.index("log_fwhm_arcsec"), MEASURED.index("log_transparency")


def frames(seed: int, n: int, n_heldout: int, workers: int) -> dict[str, np.ndarray]:
    """The benchmark's quality frames of ``seed`` with their catalogue, both site groups."""
    parts = [make_quality_dataset(k, seed, sites=sites, measure_every=0, workers=workers,
                                  no_catalogue_every=0)
             for sites, k in ((TRAIN_SITES, n), (HELDOUT_SITES, n_heldout)) if k > 0]
    return {key: np.concatenate([p[key] for p in parts]) for key in ("x", "s", "label",
                                                                     "conditions")}


def ideal_transparency(args: tuple[int, int, tuple[str, ...], int]
                       ) -> tuple[np.ndarray, np.ndarray] | None:
    """A frame's truth conditions and ``draws`` transparencies an ideal photometer would give.

    The frame is the data set's frame ``index`` of ``seed`` on the sites
    named. The photometer measures the stars the pipeline could: those the
    catalogue lists (:meth:`ReferenceStars.from_truth`, seeded as the data
    set's, so with the same 0.03 mag errors), at least a stamp inside the
    frame, unsaturated, whose predicted flux reaches 3 sigma of the sky and
    read noise in the pipeline's aperture (2.5 FWHM, at least 4 pixels).
    Each star is measured at its true cloud transmission with only the
    aperture's photon, sky and read noise (no background, blending or
    aperture error) and the stars are averaged with the pipeline's weights
    (inverse relative variance plus the 3% floor). None for a draw the
    renderer cannot make (as the data set skips it).
    """
    seed, index, site_names, draws = args
    sites = [s for s in SITES if s.name in site_names]
    try:
        f = render_safe(quality_request(seed, index, sites, QUALITY_FRAME_SIZE))
    except ValueError:
        return None
    def h(key: str) -> float:
        return header_value(f.header, key, math.nan)

    t = np.asarray(f.truth)
    keep = np.isin(t["kind"], ("star", "bright_star", "galaxy")) & np.isfinite(t["mag"])
    t = t[keep]
    cat = ReferenceStars.from_truth(f.truth, seed=index)
    fwhm_px = f.conditions["fwhm_arcsec"] / h("PIXSCALE")
    gain = h("GAIN")
    n_ap = math.pi * max(4.0, 2.5 * fwhm_px) ** 2
    noise_e = math.sqrt(n_ap * (h("SKYLEVEL") * gain + h("RDNOISE") ** 2))
    expected = t["flux_e"] * 10.0 ** (-0.4 * (cat.mag - t["mag"]))  # the catalogue's flux
    observed = t["flux_e"] * t["transmission"]
    peak_adu = observed / (2.0 * math.pi * (fwhm_px / 2.3548) ** 2) / gain \
        + h("SKYLEVEL") + h("BIASLEV")
    n = f.image.shape[0]
    use = (cat.is_star & (t["x"] >= STAMP) & (t["x"] < n - 1 - STAMP) & (t["y"] >= STAMP)
           & (t["y"] < n - 1 - STAMP) & (peak_adu < SATURATION_FRACTION * h("SATURATE"))
           & (expected > 3.0 * noise_e))
    cond = np.array([f.conditions[k] for k in CONDITIONS], np.float64)
    if not use.any():
        return cond, np.full(draws, f.conditions["transparency"])
    noise = np.sqrt(noise_e ** 2 + observed[use]) / expected[use]  # relative, per star
    weight = 1.0 / (noise ** 2 + PHOT_FLOOR ** 2)
    rng = np.random.default_rng([seed, index, 91])
    ratio = observed[use] / expected[use] + noise * rng.standard_normal((draws, use.sum()))
    return cond, (ratio * weight).sum(axis=1) / weight.sum()


def clouds_against_the_ideal(seeds: list[int], n: int, n_heldout: int, draws: int,
                             workers: int, network: float) -> dict[str, float]:
    """The clouds criterion's accuracy (all else the truth's): the network's and the ideal's."""
    items = [(seed, i, sites, draws) for seed in seeds
             for sites, k in ((TRAIN_SITES, n), (HELDOUT_SITES, n_heldout)) for i in range(k)]
    with Pool(workers) as pool:
        rows = [r for r in pool.imap(ideal_transparency, items, chunksize=8) if r is not None]
    cond = np.stack([r[0] for r in rows])
    ideal = np.stack([r[1] for r in rows])  # (frames, draws)
    rule = RuleProbabilities().double()
    t_np, trail = targets(cond, CONDITIONS)
    truth = torch.as_tensor(t_np).double()
    sure_trail = 50.0 * torch.nn.functional.one_hot(torch.as_tensor(trail), 3).double()
    tiny = torch.full_like(truth, 1e-12)
    labels = rule.combine(rule.criteria(truth, tiny, sure_trail)).numpy().argmax(1)
    acc = []
    for k in range(ideal.shape[1]):
        m = truth.clone()
        m[:, CLOUDS] = torch.as_tensor(np.log(np.clip(ideal[:, k], 1e-3, None)))
        acc.append(float((rule.combine(rule.criteria(m, tiny, sure_trail)).numpy().argmax(1)
                          == labels).mean()))
    out = {"frames": int(len(rows)), "network": network, "ideal_photometer": float(np.mean(acc))}
    print(f"the clouds criterion alone (every other one the truth's), {len(rows)} frames:")
    print(f"  network's transparency           {network:.4f}")
    print(f"  an ideal photometer's (the same catalogue, photon noise only; mean of "
          f"{len(acc)} draws) {out['ideal_photometer']:.4f}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1])
    ap.add_argument("--n", type=int, default=1000, help="frames of the training sites per seed")
    ap.add_argument("--n-heldout", type=int, default=500, help="frames of the held-out sites")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--grid", type=float, nargs="+", default=[0.005, 0.01, 0.015, 0.02, 0.025])
    ap.add_argument("--no-ideal", action="store_true",
                    help="skip the ideal photometer (it renders every frame again)")
    args = ap.parse_args()
    if args.n < 0 or args.n_heldout < 0 or args.n + args.n_heldout == 0:
        ap.error("--n and --n-heldout must be >= 0, and not both 0")

    model = load_default(engine="torch")
    rule = RuleProbabilities().double()
    data = [frames(s, args.n, args.n_heldout, args.workers) for s in args.seeds]
    d = {k: np.concatenate([p[k] for p in data]) for k in data[0]}
    with torch.inference_mode():
        mean, log_sigma, trail_logits, _ = (t.double() for t in model.net.heads(
            torch.as_tensor(d["x"]), torch.as_tensor(d["s"])))
    sigma = log_sigma.exp()
    t_np, trail = targets(d["conditions"], CONDITIONS)
    truth = torch.as_tensor(t_np).double()
    y = d["label"]
    # the truth's grade of every criterion: the rule with vanishing sigmas and a sure trail class
    truth_crit = rule.criteria(truth, torch.full_like(truth, 1e-12),
                               50.0 * torch.nn.functional.one_hot(torch.as_tensor(trail), 3).double())
    crit = rule.criteria(mean, sigma, trail_logits)

    def accuracy(c: torch.Tensor) -> float:
        return float((rule.combine(c).numpy().argmax(1) == y).mean())

    acc = accuracy(crit)
    wrong = np.flatnonzero(rule.combine(crit).numpy().argmax(1) != y)
    differ = (crit.argmax(2) != truth_crit.argmax(2)).numpy()
    by_criteria = Counter("+".join(CRITERIA[j] for j in np.flatnonzero(differ[i])) or "none"
                          for i in wrong)
    print(f"{len(y)} frames (seeds {args.seeds}), accuracy {acc:.4f}, {len(wrong)} wrong")
    print("wrong frames by the criteria misgraded:")
    for k, v in by_criteria.most_common():
        print(f"  {v:5d}  {k}")

    worth: dict[str, float] = {}
    for names in [[c] for c in CRITERIA] + [["blur", "clouds"]]:
        c = crit.clone()
        for name in names:
            j = CRITERIA.index(name)
            c[:, j] = truth_crit[:, j]
        worth["+".join(names)] = accuracy(c)
    print("accuracy with one estimate replaced by the truth:")
    for k, v in worth.items():
        print(f"  {k:12s} {v:.4f}")

    err = (mean - truth).numpy()
    scatter = {}
    for j, name in enumerate(MEASURED):
        r = robust_scatter(err[:, j])
        tail = float((np.abs(err[:, j] - np.median(err[:, j])) > 3 * r).mean())
        scatter[name] = {"robust_sigma": r, "median": float(np.median(err[:, j])),
                         "beyond_3_robust_sigma": tail}
        print(f"{name:26s} robust sigma {r:.4f}  median {np.median(err[:, j]):+.4f}  "
              f"beyond 3 robust sigma {tail:.4f}")

    g = torch.Generator().manual_seed(min(args.seeds))
    grid: list[list[float]] = []
    print("accuracy with Gaussian FWHM (rows) and transparency (columns) errors:", args.grid)
    for s_blur in args.grid:
        row = []
        for s_clouds in args.grid:
            draws = []
            for _ in range(args.draws):
                m, s = mean.clone(), sigma.clone()
                for j, sd in ((BLUR, s_blur), (CLOUDS, s_clouds)):
                    m[:, j] = truth[:, j] + sd * torch.randn(len(y), generator=g,
                                                             dtype=torch.float64)
                    s[:, j] = sd
                draws.append(accuracy(rule.criteria(m, s, trail_logits)))
            row.append(float(np.mean(draws)))
        grid.append(row)
        print(f"  {s_blur:.3f}  " + "  ".join(f"{a:.4f}" for a in row))

    clouds = None
    if not args.no_ideal:
        # the network's transparency with every other criterion the truth's, on these frames
        c = truth_crit.clone()
        c[:, CRITERIA.index("clouds")] = rule.criteria(mean, torch.full_like(mean, 1e-12),
                                                       trail_logits)[:, CRITERIA.index("clouds")]
        truth_labels = rule.combine(truth_crit).numpy().argmax(1)
        network = float((rule.combine(c).numpy().argmax(1) == truth_labels).mean())
        clouds = clouds_against_the_ideal(args.seeds, args.n, args.n_heldout, args.draws,
                                          args.workers, network)

    print(json.dumps({"benchmark": "quality_error_budget", "seeds": args.seeds,
                      "n": int(len(y)), "accuracy": acc, "wrong": int(len(wrong)),
                      "wrong_by_criteria": dict(by_criteria), "accuracy_with_truth": worth,
                      "estimates": scatter, "grid": args.grid, "accuracy_gaussian": grid,
                      "clouds_alone": clouds}))


if __name__ == "__main__":
    main()
