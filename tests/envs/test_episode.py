"""A whole one_site_night episode through the AEC and Parallel forms."""

from __future__ import annotations

import math

import numpy as np

from skytwin.envs import network_v0


def test_full_aec_episode_all_roles():
    env = network_v0.env(scenario="one_site_night")
    env.reset(seed=4)
    totals: dict[str, float] = {}
    roles_seen = set()
    last_t = -math.inf
    for agent in env.agent_iter():
        obs, reward, term, trunc, info = env.last()
        totals[agent] = totals.get(agent, 0.0) + reward
        if term or trunc:
            env.step(None)
            continue
        roles_seen.add(agent.rsplit(".", 1)[1])
        assert info["t_s"] >= last_t - 3600.0  # decisions come in (near) time order
        last_t = max(last_t, info["t_s"])
        env.step(int(np.flatnonzero(obs["action_mask"])[0]))
    assert roles_seen == {"scheduler", "quality", "detector"}
    assert all(math.isfinite(v) for v in totals.values())
    assert not env.agents


def test_parallel_batches_hold_one_decision_per_agent_and_end_at_a_scheduler():
    env = network_v0.parallel_env(scenario="one_site_night")
    obs, infos = env.reset(seed=4)
    steps = 0
    while env.agents:
        pending = [a for a in env.agents if infos[a]["pending"]]
        assert pending
        sched = [a for a in pending if a.endswith(".scheduler")]
        assert len(sched) <= 1
        actions = {a: int(np.flatnonzero(obs[a]["action_mask"])[-1]) for a in env.agents}
        obs, rewards, terms, truncs, infos = env.step(actions)
        steps += 1
    assert steps > 20
