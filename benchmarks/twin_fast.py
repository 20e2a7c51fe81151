"""Fast-mode twin throughput: six sites for a simulated year with the greedy dispatcher.

    python benchmarks/twin_fast.py [--nights 365] [--seed 7]

Prints, last, one JSON line: decisions_per_s (scheduler decisions per wall
second of simulation), observation_decisions_per_s (those that chose a
request), sim_nights, wall_s (simulation, after building), build_s,
peak_rss_mb, frames.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

from skytwin.evaluation.runner import run_scenario  # noqa: E402
from skytwin.scenarios import load_scenario  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--nights", type=int, default=365)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    base = load_scenario("six_site_week")
    # A survey that never runs out over a year: revisit every field every 3 days.
    programs = tuple(
        p.model_copy(update={"visits": 100000, "cadence_h": 72.0}) if p.kind == "survey" else p for p in base.programs
    )
    scenario = base.model_copy(update={"nights": args.nights, "programs": programs})
    t0 = time.perf_counter()
    result = run_scenario(scenario, "greedy", seed=args.seed)
    total = time.perf_counter() - t0
    log = result.log
    observe = sum(1 for d in log.column("decision", "decision") if d == "observe")
    out = {
        "benchmark": "twin_fast",
        "sites": len(scenario.sites),
        "sim_nights": args.nights,
        "decisions": result.decisions,
        "observation_decisions": observe,
        "frames": result.summary["frames"],
        "wall_s": round(result.wall_s, 2),
        "build_s": round(total - result.wall_s, 2),
        "decisions_per_s": round(result.decisions / result.wall_s, 1),
        "observation_decisions_per_s": round(observe / result.wall_s, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "python": sys.version.split()[0],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
