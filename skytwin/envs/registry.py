"""Registration of skytwin's environments (done on ``import skytwin.envs``).

Gymnasium ids carry a version and a time limit (``max_episode_steps``, a
``TimeLimit`` wrapper), never a limit inside the environment. PettingZoo
environments have no global registry; :data:`PETTINGZOO_ENVS` lists them with
the role combinations they are tested over.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gymnasium.envs.registration import register, registry

from skytwin.envs import network_v0

GYM_ENVS = {
    "skytwin/Dispatch-v0": ("skytwin.envs.dispatch:DispatchEnv", 20_000),
    "skytwin/Quality-v0": ("skytwin.envs.roles:QualityEnv", 20_000),
    "skytwin/Detection-v0": ("skytwin.envs.roles:DetectionEnv", 20_000),
}

PETTINGZOO_ENVS: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "skytwin/network_v0": (network_v0.env, network_v0.parallel_env),
}

ROLE_COMBINATIONS: tuple[tuple[str, ...], ...] = (
    ("scheduler", "quality", "detector"),
    ("scheduler",),
    ("quality",),
    ("detector",),
    ("scheduler", "quality"),
)


def register_all() -> None:
    for env_id, (entry, steps) in GYM_ENVS.items():
        if env_id not in registry:
            register(id=env_id, entry_point=entry, max_episode_steps=steps, kwargs={"scenario": "one_site_night"})
