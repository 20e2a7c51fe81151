"""Environment speed: scheduler decisions per second vs PettingZoo's classic rps_v2.

Runs skytwin's parallel network environment in fast mode on ``six_site_week``
with only the scheduler role as agents (quality and detection built in), each
agent taking a random action its mask allows, and counts scheduler decisions
per second of wall time (reset excluded). In the same run it steps
PettingZoo's ``classic.rps_v2`` parallel environment with random actions.
Prints one JSON line last.

    python benchmarks/env_speed.py [--nights 2] [--rps-steps 50000]
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

from skytwin.envs import network_v0  # noqa: E402


def skytwin_rate(nights: int, seed: int) -> tuple[float, int]:
    env = network_v0.parallel_env(scenario="six_site_week", roles=("scheduler",), nights=nights)
    env.reset(seed=seed + 1)  # warm-up: astropy reads its IERS tables once per process, on first use
    for _ in range(200):
        env.step({})
    obs, infos = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    steps = 0
    t = time.perf_counter()
    while env.agents:
        actions = {}
        for a in env.agents:
            if infos[a]["pending"]:
                m = np.flatnonzero(obs[a]["action_mask"])
                actions[a] = int(m[rng.integers(len(m))])
        obs, _, _, _, infos = env.step(actions)
        steps += 1
    wall = time.perf_counter() - t
    return steps / wall, steps


def twin_rate(nights: int, seed: int) -> float:
    """The bare twin driven by a trivial policy (first feasible request, else wait): the ceiling for the env."""
    from skytwin.scenarios import load_scenario
    from skytwin.site.types import Observe, Wait
    from skytwin.twin.network import TwinNetwork

    net = TwinNetwork(load_scenario("six_site_week"), seed=seed, nights=nights)

    def first(point):
        j = np.flatnonzero(point.feasible)
        return Observe(point.candidates[int(j[0])].id) if len(j) else Wait(600.0)

    net.next_decision(0.0)
    t = time.perf_counter()
    n = net.run(first)
    return n / (time.perf_counter() - t)


def rps_rate(n: int) -> float:
    try:
        import pygame  # noqa: F401
    except ImportError:  # rps needs pygame only to render (reset makes an off-screen Surface); steps never touch it
        import types

        stub = types.ModuleType("pygame")
        stub.Surface = lambda *a, **k: None  # type: ignore[attr-defined]
        sys.modules["pygame"] = stub
    from pettingzoo.classic import rps_v2

    env = rps_v2.parallel_env()
    env.reset(seed=0)
    for a in env.possible_agents:
        env.action_space(a).seed(0)
    steps = 0
    t = time.perf_counter()
    while steps < n:
        actions = {a: env.action_space(a).sample() for a in env.agents}
        _, _, term, trunc, _ = env.step(actions)
        steps += 1
        if not env.agents or any(term.values()) or any(trunc.values()):
            env.reset()
    return steps / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nights", type=int, default=2)
    ap.add_argument("--rps-steps", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    env_rate, steps = skytwin_rate(args.nights, args.seed)
    twin = twin_rate(args.nights, args.seed)
    rps = rps_rate(args.rps_steps)
    print(f"skytwin six_site_week: {steps} scheduler decisions at {env_rate:.0f}/s (bare twin: {twin:.0f}/s); rps_v2: {rps:.0f} steps/s")
    print(json.dumps({"env_steps_per_s": round(env_rate, 1), "env_steps": steps, "twin_decisions_per_s": round(twin, 1),
                      "rps_steps_per_s": round(rps, 1),
                      "ratio": round(env_rate / rps, 3), "nights": args.nights,
                      "machine": f"{platform.machine()} python {platform.python_version()}"}))


if __name__ == "__main__":
    main()
