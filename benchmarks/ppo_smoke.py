"""MaskablePPO smoke test on skytwin/Dispatch-v0 (one_site_night).

Trains sb3-contrib's MaskablePPO with an MlpPolicy for ``--steps`` steps on
training seeds (1000, 1001, ...), then judges it, a masked random policy and
the greedy scheduler on evaluation seeds it never saw (1..``--eval``), all
through the same environment (quality and detection built in). The judged
figure is the run summary's science value (sum of priority over completed
visits). Prints one JSON line last.

    python benchmarks/ppo_smoke.py [--steps 50000] [--eval 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's skytwin

import skytwin.envs  # noqa: E402,F401
from skytwin.agents.scheduling.baselines import GreedyScheduler  # noqa: E402
from skytwin.evaluation.summary import summarize  # noqa: E402

TRAIN_SEED0 = 1000


class TrainSeeds(gym.Wrapper):
    """Resets on training seeds only (1000, 1001, ...), so evaluation seeds stay unseen."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._next = TRAIN_SEED0

    def reset(self, *, seed=None, options=None):
        self._next += 1
        return self.env.reset(seed=self._next - 1, options=options)


def science(env: gym.Env) -> float:
    net = env.unwrapped.core.net
    return float(summarize(net.log, list(net.sites))["science_value"])


def evaluate(policy, seeds: list[int]) -> list[float]:
    out = []
    for seed in seeds:
        env = gym.make("skytwin/Dispatch-v0", scenario="one_site_night")
        obs, _ = env.reset(seed=seed)
        done = False
        while not done:
            obs, _, term, trunc, _ = env.step(policy(env, obs, seed))
            done = term or trunc
        out.append(science(env))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=50_000)
    ap.add_argument("--eval", type=int, default=5)
    args = ap.parse_args()
    import torch
    from sb3_contrib import MaskablePPO

    torch.set_num_threads(1)
    seeds = list(range(1, args.eval + 1))
    env = TrainSeeds(gym.make("skytwin/Dispatch-v0", scenario="one_site_night"))
    t = time.perf_counter()
    model = MaskablePPO("MlpPolicy", env, n_steps=1024, batch_size=256, n_epochs=10, learning_rate=3e-4, gamma=0.99,
                        ent_coef=0.01, seed=0, verbose=0, device="cpu")
    model.learn(total_timesteps=args.steps)
    train_s = time.perf_counter() - t

    def ppo(e, obs, seed):
        a, _ = model.predict(obs, action_masks=e.unwrapped.action_masks(), deterministic=True)
        return int(a)

    rngs: dict[int, np.random.Generator] = {}

    def random_(e, obs, seed):
        rng = rngs.setdefault(seed, np.random.default_rng(seed))
        return int(rng.choice(np.flatnonzero(e.unwrapped.action_masks())))

    greedy = GreedyScheduler()

    def greedy_(e, obs, seed):
        return e.unwrapped.action_for(greedy.decide(e.unwrapped.decision_point))

    res = {name: evaluate(fn, seeds) for name, fn in (("ppo", ppo), ("random", random_), ("greedy", greedy_))}
    for name, v in res.items():
        print(f"{name}: science value {np.mean(v):.1f} +- {np.std(v):.1f} over seeds {seeds}: {v}")
    print(json.dumps({"steps": args.steps, "train_wall_s": round(train_s, 1), "eval_seeds": seeds,
                      "ppo_science": round(float(np.mean(res["ppo"])), 2), "random_science": round(float(np.mean(res["random"])), 2),
                      "greedy_science": round(float(np.mean(res["greedy"])), 2),
                      "ppo_above_random": bool(np.mean(res["ppo"]) > np.mean(res["random"])),
                      "machine": f"{platform.machine()} python {platform.python_version()}, torch threads 1"}))


if __name__ == "__main__":
    main()
