"""The libraries' own checkers over every registered environment and role combination."""

from __future__ import annotations

import warnings

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, seed_test

import skytwin.envs  # noqa: F401  (registers the Gymnasium ids)
from skytwin.envs.registry import GYM_ENVS, PETTINGZOO_ENVS, ROLE_COMBINATIONS

CYCLES = 60  # steps per agent: a slice of one_site_night keeps these fast

PZ_CASES = [
    pytest.param(name, roles, id=f"{name}-{'+'.join(roles)}")
    for name in PETTINGZOO_ENVS
    for roles in ROLE_COMBINATIONS
]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # dict observations, differing space sizes: by design
        yield


@pytest.mark.parametrize("name,roles", PZ_CASES)
def test_aec_api(name, roles, seed_actions):
    aec, _ = PETTINGZOO_ENVS[name]
    api_test(seed_actions(aec(roles=roles)), num_cycles=CYCLES)


@pytest.mark.parametrize("name,roles", PZ_CASES)
def test_parallel_api(name, roles, seed_actions):
    _, par = PETTINGZOO_ENVS[name]
    parallel_api_test(seed_actions(par(roles=roles)), num_cycles=CYCLES)


@pytest.mark.parametrize("name,roles", PZ_CASES)
def test_seed(name, roles):
    aec, par = PETTINGZOO_ENVS[name]
    seed_test(lambda: aec(roles=roles), num_cycles=CYCLES)
    parallel_seed_test(lambda: par(roles=roles), num_cycles=CYCLES)


@pytest.mark.parametrize("env_id", sorted(GYM_ENVS))
def test_gym_check_env(env_id):
    env = gym.make(env_id)
    assert env.spec is not None and env.spec.max_episode_steps == GYM_ENVS[env_id][1]
    check_env(env.unwrapped, skip_render_check=False)


@pytest.mark.parametrize("env_id", sorted(GYM_ENVS))
def test_gym_episode_is_deterministic(env_id):
    def trace(seed: int) -> list:
        env = gym.make(env_id)
        obs, _ = env.reset(seed=seed)
        env.action_space.seed(seed)
        out = [obs.tolist()]
        for _ in range(40):
            mask = env.unwrapped.action_masks().astype("int8")
            obs, r, term, trunc, _ = env.step(env.action_space.sample(mask))
            out.append((obs.tolist(), r, term))
            if term or trunc:
                break
        return out

    assert trace(3) == trace(3)
