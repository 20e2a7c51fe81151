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

then one JSON line. Nothing here trains or chooses anything.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from skytwin.agents.quality import load_default  # noqa: E402
from skytwin.agents.quality.rule_head import (CRITERIA, MEASURED, RuleProbabilities,  # noqa: E402
                                              targets)
from skytwin.training.datasets import CONDITIONS, make_quality_dataset  # noqa: E402
from skytwin.training.sites import HELDOUT_SITES, TRAIN_SITES  # noqa: E402
from transparency_twin import robust_scatter  # noqa: E402  (this folder is on the path)

BLUR, CLOUDS = MEASURED.index("log_fwhm_arcsec"), MEASURED.index("log_transparency")


def frames(seed: int, n: int, n_heldout: int, workers: int) -> dict[str, np.ndarray]:
    """The benchmark's quality frames of ``seed`` with their catalogue, both site groups."""
    parts = [make_quality_dataset(k, seed, sites=sites, measure_every=0, workers=workers,
                                  no_catalogue_every=0)
             for sites, k in ((TRAIN_SITES, n), (HELDOUT_SITES, n_heldout)) if k > 0]
    return {key: np.concatenate([p[key] for p in parts]) for key in ("x", "s", "label",
                                                                     "conditions")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1])
    ap.add_argument("--n", type=int, default=1000, help="frames of the training sites per seed")
    ap.add_argument("--n-heldout", type=int, default=500, help="frames of the held-out sites")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--grid", type=float, nargs="+", default=[0.005, 0.01, 0.015, 0.02, 0.025])
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

    print(json.dumps({"benchmark": "quality_error_budget", "seeds": args.seeds,
                      "n": int(len(y)), "accuracy": acc, "wrong": int(len(wrong)),
                      "wrong_by_criteria": dict(by_criteria), "accuracy_with_truth": worth,
                      "estimates": scatter, "grid": args.grid, "accuracy_gaussian": grid}))


if __name__ == "__main__":
    main()
