"""How many of the subtraction kernel's stamps are stars, and where the false positives lie.

    python benchmarks/kernel_stamps.py --seed 3          # per-seed lines, then one JSON line

Makes the benchmark's detection candidates of ``--fields`` fields of a seed
(the fields of ``benchmarks/agents.py --seed S``, two science epochs each),
records for each epoch's subtraction how many stamps its kernel kept and how
many of them are stars (``Subtraction.n_star_stamps``), and scores the
candidates with the shipped detection model. It then reports the epochs whose
kernel rests on no star (at least three stamps, none a star: hot pixels,
which the reference stack keeps), and the share of the bogus candidates and
of the false positives at 1% FNR that the fields with such an epoch hold.

The fields run one after another in this process (a few minutes for 200):
each subtraction is recorded by wrapping the data set's ``subtract``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import skytwin.training.detection_data as detection_data  # noqa: E402
from skytwin.agents.detection import load_default  # noqa: E402
from skytwin.agents.preprocess import center_crop  # noqa: E402
from skytwin.training.sites import SITES  # noqa: E402
from skytwin.training.train_detection import fpr_at_fnr  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--fields", type=int, default=200)
    args = ap.parse_args(argv)

    epochs: list[tuple[int, int, int]] = []  # (field, stamps, star stamps)
    field = [-1]
    subtract = detection_data.subtract

    def recorded(*a, **k):  # type: ignore[no-untyped-def]
        sub = subtract(*a, **k)
        epochs.append((field[0], sub.n_stamps, sub.n_star_stamps))
        return sub

    detection_data.subtract = recorded
    names = tuple(s.name for s in SITES)
    parts = []
    for i in range(args.fields):
        field[0] = i
        p = detection_data.field_candidates((args.seed, i, names))
        if p is not None and len(p["label"]):
            parts.append(p)
    detection_data.subtract = subtract
    d = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    y = d["label"]
    prob = load_default().score(center_crop(d["cutouts"], 31))
    real = np.sort(prob[y == 1])
    threshold = real[int(np.floor(0.01 * real.size))]  # 1% of the reals score below it
    false_pos = (y == 0) & (prob >= threshold)

    e = np.array(epochs)
    starless = (e[:, 1] >= 3) & (e[:, 2] == 0)
    starless_fields = np.unique(e[starless, 0])
    in_starless = np.isin(d["field"], starless_fields)
    out = dict(
        seed=args.seed, fields=args.fields, epochs=int(len(e)),
        epochs_kernel_without_stars=int(starless.sum()),
        median_stamps=float(np.median(e[:, 1])), median_star_stamps=float(np.median(e[:, 2])),
        candidates=int(len(y)), reals=int(y.sum()),
        detection_fpr_at_1pct_fnr=round(fpr_at_fnr(prob, y), 4),
        false_positives=int(false_pos.sum()),
        false_positives_in_starless_fields=int((false_pos & in_starless).sum()),
        bogus_share_in_starless_fields=round(float(in_starless[y == 0].mean()), 3),
    )
    print(f"seed {args.seed}: {out['epochs_kernel_without_stars']} of {out['epochs']} epochs' "
          f"kernels rest on no star (median {out['median_star_stamps']:.0f} stars among "
          f"{out['median_stamps']:.0f} stamps)")
    print(f"their {len(starless_fields)} fields hold {out['false_positives_in_starless_fields']} "
          f"of {out['false_positives']} false positives at 1% FNR and "
          f"{out['bogus_share_in_starless_fields']:.0%} of the bogus candidates")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
