"""What the Rubin reliability labels of ``shared/realdata/rubin_triplets`` say about themselves.

    python benchmarks/rubin_labels.py            # a table, then one JSON line

The issue's Rubin goal counts reliability > 0.9 as real and < 0.1 as bogus.
This script measures, without any model, what the three groups those
thresholds make look like: LSSTCam reals, LSSTCam bogus, and the bogus of
the HSC (COSMOS 2016) set, which has no reliability above 0.9. Per group:
the pipeline's own difference SNR (``snr``), the template's source at the
centre (aperture SNR within 5 pixels), how balanced the difference's positive
and negative flux are there (1: a pure dipole, 0: one sign only), and the net
difference flux as a fraction of the template source's.

It then asks whether anything physical separates the LSSTCam reals from the
HSC bogus (AUC of each measure, real as the positive class), and what AUC
the goal's two classes give a scorer that orders every LSSTCam bogus below
every real but ranks the HSC bogus against the reals at random (pair AUC
0.5), and which pair AUC it would need to reach 0.9.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from skytwin.training.train_detection import roc_auc  # noqa: E402

APERTURE = 5.0  # pixels around the cutout's centre
OUTER = 10.0  # pixels: beyond this, the cutout's background and noise


def measures(triplets: np.ndarray) -> dict[str, np.ndarray]:
    """Template aperture SNR, dipole balance and fractional net change of each triplet."""
    n, _, h, w = triplets.shape
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot(yy - (h - 1) / 2, xx - (w - 1) / 2)
    ap, out = r < APERTURE, r > OUTER
    tmpl, diff = triplets[:, 1], triplets[:, 2]
    with np.errstate(all="ignore"):
        t_bg = np.nanmedian(tmpl[:, out], axis=1)
        t_noise = np.nanstd(tmpl[:, out], axis=1)
        t_flux = np.nansum(tmpl[:, ap] - t_bg[:, None], axis=1)
        d = diff[:, ap]
        pos = np.nansum(np.clip(d, 0, None), axis=1)
        neg = -np.nansum(np.clip(d, None, 0), axis=1)
        return {
            "template_snr": t_flux / (t_noise * np.sqrt(ap.sum())),
            "dipole_balance": np.minimum(pos, neg) / np.maximum(np.maximum(pos, neg), 1e-30),
            "net_over_template": np.abs(pos - neg) / np.maximum(np.abs(t_flux), 1e-30),
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--realdata", type=Path, default=REPO.parent / "shared" / "realdata")
    args = ap.parse_args()
    folder = args.realdata / "rubin_triplets"
    trip = np.load(folder / "rubin_triplets.npz")["triplets"].astype(np.float64)
    with open(folder / "rubin_alerts_meta.csv") as fh:
        rows = list(csv.DictReader(fh))
    rel = np.array([float(r["reliability"]) for r in rows])
    lsst = np.array([r["instrument"].startswith("LSSTCam") for r in rows])
    band = np.array([r["band"] for r in rows])
    m = measures(trip)
    m["abs_snr"] = np.abs([float(r["snr"]) for r in rows])
    groups = {"lsstcam_real": lsst & (rel > 0.9), "lsstcam_bogus": lsst & (rel < 0.1),
              "hsc_bogus": ~lsst & (rel < 0.1), "hsc_real": ~lsst & (rel > 0.9)}
    res: dict[str, float | int | str] = {}
    print(f"{'group':15s} {'n':>4s} band  {'|snr|':>6s} {'tmpl SNR':>9s} {'dipole':>7s} "
          f"{'net/tmpl':>9s}   (medians)")
    for g, k in groups.items():
        res[f"{g}_n"] = int(k.sum())
        if not k.any():
            print(f"{g:15s} {0:4d}")
            continue
        med = {q: float(np.nanmedian(v[k])) for q, v in m.items()}
        print(f"{g:15s} {k.sum():4d} {','.join(sorted(set(band[k]))):5s} {med['abs_snr']:6.1f} "
              f"{med['template_snr']:9.0f} {med['dipole_balance']:7.2f} "
              f"{med['net_over_template']:9.4f}")
        res.update({f"{g}_median_{q}": v for q, v in med.items()})
    pair = groups["lsstcam_real"] | groups["hsc_bogus"]
    y = groups["lsstcam_real"][pair]
    print("LSSTCam reals against HSC bogus, AUC of each measure (0.5: no separation):")
    for q, v in m.items():
        a = roc_auc(v[pair], y)
        res[f"real_vs_hsc_bogus_auc_{q}"] = a
        print(f"  {q:18s} {a:.3f}")
    n_lb, n_hb = res["lsstcam_bogus_n"], res["hsc_bogus_n"]
    n_b = n_lb + n_hb
    res["auc_bound_if_hsc_bogus_unseparated"] = (n_lb + 0.5 * n_hb) / n_b
    res["pair_auc_needed_for_0_9"] = (0.9 * n_b - n_lb) / n_hb
    print(f"AUC of a scorer perfect on LSSTCam bogus that ranks HSC bogus against reals at random: "
          f"{res['auc_bound_if_hsc_bogus_unseparated']:.3f}; "
          f"0.9 needs a pair AUC of {res['pair_auc_needed_for_0_9']:.3f}")
    print(json.dumps({k: (round(v, 5) if isinstance(v, float) else v) for k, v in res.items()}))


if __name__ == "__main__":
    main()
