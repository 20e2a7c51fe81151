"""Pixel-mode environment speed, and what one frame and one candidate cost.

Runs ``network_v0.env`` (AEC) on ``one_site_night`` in
``observation_mode="pixels"`` two ways, each for ``--steps`` agent steps
(or until the night ends) after 20 warm-up steps (reset and the first
frames excluded):

* ``all_roles``: scheduler, quality and detector are agents taking random
  actions their masks allow (every frame rendered, every candidate of a kept
  frame rendered as a triplet; no model runs);
* ``scheduler_only``: only the scheduler is an agent; quality and detection
  run the built-in policies, the shipped CNNs.

Then, on frames and candidates of the same night, the median cost of each
part: rendering a ``--size`` frame, the quality model's preprocessing and
CNN; rendering a candidate's science and reference cut-outs, the
Alard-Lupton subtraction, the real/bogus CNN. The CNN policies run torch on
one thread (their default). Prints one JSON line last.

    python benchmarks/env_pixels.py [--size 512] [--steps 300] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's skytwin

from skytwin.agents.detection.candidates import cutouts  # noqa: E402
from skytwin.agents.detection.subtract import subtract  # noqa: E402
from skytwin.envs import network_v0  # noqa: E402
from skytwin.envs import pixels as P  # noqa: E402
from skytwin.twin.candidate_pixels import render_candidate  # noqa: E402
from skytwin.twin.frames import render_frame  # noqa: E402


def env_rate(roles: tuple[str, ...], size: int, steps: int, seed: int, warmup: int = 20) -> tuple[float, int, dict]:
    env = network_v0.env(scenario="one_site_night", roles=roles, observation_mode="pixels", pixel_size=size)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    n, t0, counts = 0, 0.0, {"scheduler": 0, "quality": 0, "detector": 0}
    for agent in env.agent_iter():
        obs, _, term, trunc, _ = env.last()
        if term or trunc:
            env.step(None)
            continue
        if n == warmup:
            t0 = time.perf_counter()
        if n >= warmup:
            counts[agent.rsplit(".", 1)[1]] += 1
        env.step(int(rng.choice(np.flatnonzero(obs["action_mask"]))))
        n += 1
        if n == warmup + steps:
            break
    wall = time.perf_counter() - t0
    core = env.unwrapped.core
    return (n - warmup) / wall, n - warmup, {**counts, "frames": int(core.stats["frames"]),
                                             "candidates": int(core.stats["candidates"])}


def part_costs(size: int, seed: int, n_frames: int = 20) -> dict[str, float]:
    """Median ms of each part, on the first frames and candidates of the night."""
    from skytwin.envs.core import NetworkCore

    core = NetworkCore("one_site_night", ("quality", "detector"), observation_mode="pixels", pixel_size=size)
    core.reset(seed)
    frames, cands = [], []
    while len(frames) < n_frames or len(cands) < n_frames:
        it = core.next_item()
        if it is None:
            break
        if it.role == "quality":
            frames.append(it.request)
        else:
            cands.append((it.request, it.payload))
        core.act(it, 0)  # keep every frame, call every candidate bogus
    qpol, dpol = core.builtin_quality, core.builtin_detector
    t: dict[str, list[float]] = {k: [] for k in ("render", "prep", "qcnn", "cut", "sub", "dcnn")}
    for req in frames[:n_frames]:
        a = time.perf_counter()
        rf = render_frame(req)
        b = time.perf_counter()
        obs = P.quality_observation(rf)
        c = time.perf_counter()
        qpol.predict(obs)
        d = time.perf_counter()
        t["render"].append(b - a), t["prep"].append(c - b), t["qcnn"].append(d - c)
    for req, cand in cands[:n_frames]:
        a = time.perf_counter()
        im = render_candidate(req, cand)
        b = time.perf_counter()
        sub = subtract(im.science, im.reference, im.saturation_adu)
        mid = np.array([im.science.shape[0] // 2])
        trip = cutouts(im.science, im.reference, sub.difference, mid, mid, P.TRIPLET_SIZE)[0]
        c = time.perf_counter()
        dpol.predict(np.nan_to_num(trip))
        d = time.perf_counter()
        t["cut"].append(b - a), t["sub"].append(c - b), t["dcnn"].append(d - c)
    med = {k: round(1e3 * float(np.median(v[1:] if len(v) > 1 else v)), 2) for k, v in t.items()}  # first call warms up
    return {"frame_render_ms": med["render"], "quality_preprocess_ms": med["prep"], "quality_cnn_ms": med["qcnn"],
            "candidate_render_ms": med["cut"], "subtraction_ms": med["sub"], "detection_cnn_ms": med["dcnn"],
            "n_frames_timed": len(t["render"]), "n_candidates_timed": len(t["cut"])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=P.DEFAULT_PIXEL_SIZE)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    wall0 = time.perf_counter()
    costs = part_costs(args.size, args.seed)
    all_rate, all_n, all_counts = env_rate(("scheduler", "quality", "detector"), args.size, args.steps, args.seed)
    sch_rate, sch_n, sch_counts = env_rate(("scheduler",), args.size, args.steps, args.seed)
    print(f"pixels {args.size}: all roles {all_rate:.1f} steps/s over {all_n} ({all_counts}); "
          f"scheduler only, CNNs built in: {sch_rate:.1f} steps/s over {sch_n} ({sch_counts}); parts {costs}")
    print(json.dumps({"pixel_size": args.size, "all_roles_steps_per_s": round(all_rate, 2), "all_roles_steps": all_n,
                      "all_roles_counts": all_counts, "scheduler_only_steps_per_s": round(sch_rate, 2),
                      "scheduler_only_steps": sch_n, "scheduler_only_counts": sch_counts, **costs,
                      "wall_s": round(time.perf_counter() - wall0, 1),
                      "machine": f"{platform.machine()} python {platform.python_version()}"}))


if __name__ == "__main__":
    main()
