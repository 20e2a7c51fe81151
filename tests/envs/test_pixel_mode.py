"""Pixel mode: rendered frames for the quality role, rendered triplets for the detector role."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from pettingzoo.test import api_test, parallel_api_test

import skytwin.envs  # noqa: F401  (registers the Gymnasium ids)
from skytwin.agents.detection.policy import DetectionCNNPolicy
from skytwin.agents.detection.scripted import ScriptedDetector
from skytwin.agents.quality.policy import QualityCNNPolicy
from skytwin.agents.quality.scripted import ScriptedQuality
from skytwin.envs import network_v0
from skytwin.envs import pixels as P
from skytwin.envs.core import NetworkCore
from skytwin.errors import SkytwinError
from skytwin.twin.frames import RenderRequest, render_frame
from skytwin.twin.pixels import render_request

SIZE = 96  # small rendered frames keep these tests fast
PIX = dict(observation_mode="pixels", pixel_size=SIZE)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # dict observations, differing space sizes: by design
        yield


def _run(core: NetworkCore, n: int, action) -> list:  # type: ignore[no-untyped-def]
    """The first ``n`` agent items, each answered with ``action(item)``."""
    out = []
    while len(out) < n:
        it = core.next_item()
        if it is None:
            break
        out.append(it)
        core.act(it, action(it))
    return out


def test_quality_space_comes_from_the_models_preprocessing():
    frame = render_frame(RenderRequest(ra_deg=200.0, dec_deg=10.0, nx=80, ny=80, exptime_s=5.0, frame_id="t"))
    x, s = P.quality_pixels(frame)
    space = P.quality_space()
    assert space["image"].shape == x.shape and space["scalars"].shape == s.shape


def test_unknown_mode_and_bad_size_are_refused():
    with pytest.raises(SkytwinError):
        NetworkCore("one_site_night", observation_mode="images")
    with pytest.raises(ValueError):
        NetworkCore("one_site_night", observation_mode="pixels", pixel_size=4)


def test_aec_and_parallel_api_in_pixel_mode(seed_actions):
    # api_test reads obs["observation"].shape, so it cannot take the quality role's Dict
    # observation; the quality role's spaces are checked by test_random_episode_slice_stays_in_spaces
    api_test(seed_actions(network_v0.env(roles=("scheduler", "detector"), **PIX)), num_cycles=6)
    parallel_api_test(seed_actions(network_v0.parallel_env(roles=("quality", "detector"), **PIX)),
                      num_cycles=6)


@pytest.mark.parametrize("env_id", [
    "skytwin/Quality-v0",
    # check_env resets several times, and each reset runs built-in quality until a kept frame has a candidate: ~15-30 s
    pytest.param("skytwin/Detection-v0", marks=pytest.mark.slow),
])
def test_gym_views_in_pixel_mode(env_id):
    env = gym.make(env_id, **PIX)
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=2)
    env.action_space.seed(2)
    for _ in range(8):
        assert env.observation_space.contains(obs)
        obs, _, term, trunc, info = env.step(env.action_space.sample())
        if term or trunc:
            break


def test_random_episode_slice_stays_in_spaces():
    env = network_v0.env(**PIX)
    env.reset(seed=5)
    rng = np.random.default_rng(0)
    roles = set()
    for n, agent in enumerate(env.agent_iter(max_iter=80)):
        obs, _, term, trunc, info = env.last()
        if term or trunc:
            env.step(None)
            continue
        assert env.observation_space(agent).contains(obs), agent
        roles.add(agent.rsplit(".", 1)[1])
        env.step(int(rng.choice(np.flatnonzero(obs["action_mask"]))))
    assert roles == {"scheduler", "quality", "detector"}


def _trace(seed: int) -> list:
    core = NetworkCore("one_site_night", ("quality", "detector"), **PIX)
    core.reset(seed)
    items = _run(core, 14, lambda it: 0 if it.role == "quality" else 1)
    return [(it.agent, it.obs) for it in items]


def _same(a, b) -> bool:  # type: ignore[no-untyped-def]
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return np.array_equal(a, b)


def test_same_seed_same_pixels_other_seed_other_pixels():
    a, b, c = _trace(11), _trace(11), _trace(12)
    assert any(agent.endswith("detector") for agent, _ in a)
    assert len(a) == len(b) and all(x[0] == y[0] and _same(x[1], y[1]) for x, y in zip(a, b))
    assert not all(_same(x[1], y[1]) for x, y in zip(a, c))


def test_builtin_roles_are_the_cnns_in_pixel_mode_and_scripted_in_fast_mode(monkeypatch):
    fast = NetworkCore("one_site_night", ("scheduler",))
    assert isinstance(fast.builtin_quality, ScriptedQuality) and isinstance(fast.builtin_detector, ScriptedDetector)
    core = NetworkCore("one_site_night", ("scheduler",), **PIX)
    assert isinstance(core.builtin_quality, QualityCNNPolicy) and isinstance(core.builtin_detector, DetectionCNNPolicy)
    seen: dict[str, list] = {"quality": [], "detector": []}
    for role, pol in (("quality", core.builtin_quality), ("detector", core.builtin_detector)):
        real = pol.predict
        monkeypatch.setattr(pol, "predict", lambda obs, deterministic=True, _r=real, _k=role: seen[_k].append(obs) or _r(obs))
    core.reset(3)
    while not (seen["quality"] and seen["detector"]):
        it = core.next_item()
        assert it is not None, "the night ended before both built-in roles acted"
        core.act(it, core.k + 1 if not it.mask[: core.k].any() else int(np.flatnonzero(it.mask)[0]))
    assert P.quality_space().contains(seen["quality"][0])
    assert P.detector_space().contains(seen["detector"][0])
    assert core.stats["frames"] >= len(seen["quality"]) and core.stats["candidates"] >= 1


def test_truth_in_infos_is_the_rendered_frames_label():
    core = NetworkCore("one_site_night", ("quality",), **PIX)
    core.reset(3)
    items = _run(core, 10, lambda it: 0)
    labels = set()
    for it in items:
        again = render_frame(render_request(core.net, it.payload, SIZE))
        assert (it.info["truth"], it.info["truth_reason"]) == (again.quality, again.reason)
        labels.add(again.quality)
    assert len(labels) >= 2  # the slice holds more than one label, so the check can tell them apart


@pytest.mark.parametrize("mode", ["fast", "pixels"])
def test_a_frame_called_bad_is_discarded_and_retaken_in_both_modes(mode):
    core = NetworkCore("one_site_night", ("quality", "detector"), observation_mode=mode, pixel_size=SIZE)
    core.reset(3)
    pool = core.net.pool
    retaken = 0
    for k in range(12):
        it = core.next_item()
        assert it is not None and it.role == "quality"  # nothing kept, so no candidates to vet
        j = pool.index[it.payload.request_id]
        before = int(pool.visits_left[j])
        core.act(it, 2)
        retaken += int(pool.visits_left[j]) == before + 1  # one more visit: the re-take
    assert retaken >= 6 and core.stats["retakes"] == retaken and core.stats["kept"] == 0
