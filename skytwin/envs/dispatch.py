"""A single-agent Gymnasium view: one central dispatcher for the whole network.

Units: seconds of simulation time; observations are normalised floats.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from skytwin.envs import observations as O
from skytwin.envs.core import DEFAULT_K, Item, NetworkCore
from skytwin.scenarios.schema import Scenario
from skytwin.site.interface import DecisionPoint
from skytwin.site.types import Calibrate, Decision, Observe


class DispatchEnv(gym.Env):
    """One dispatcher deciding for whichever telescope of the network is free next.

    ## Description

    The network's sites run their quality and detection roles with the
    built-in scripted baselines; every scheduler decision of every site goes
    to this one agent, in simulation-time order. Built for Stable-Baselines3:
    flat ``Box`` observations and a ``Discrete`` action, and an
    ``action_masks()`` method as sb3-contrib's ``MaskablePPO`` reads it.

    ## Observation Space

    ``Box(float32, (n_sites + 24 + 10 K,))``: a one-hot of the site that asks,
    then the scheduler observation of :mod:`skytwin.envs.observations`
    (conditions now and forecast, telescope, network knowledge, ``K``
    candidates ranked feasible first, then priority x sin(altitude), then pool
    order).

    ## Action Space

    ``Discrete(K + 2)``: candidate ``0..K-1``, ``K`` calibrate, ``K + 1`` close and
    wait 10 min. ``action_masks()`` gives the hard constraints; a forbidden
    candidate is refused by the site's safety layer (30 s lost) and penalised.

    ## Rewards

    The sum over sites of the scheduler rewards of :mod:`skytwin.envs.rewards`
    (science value of kept frames weighted by priority and true quality,
    timeliness of target-of-opportunity frames, penalties for refusals and
    idling).

    ## Episode End

    Terminates when the scenario's nights are over; ``max_episode_steps`` in
    the registration truncates.

    ## Arguments

    ``scenario`` (default ``"one_site_night"``), ``k`` (default 16), ``nights``,
    ``render_mode`` (``None`` or ``"ansi"``).

    ## Version History

    * v0: initial version.
    """

    metadata = {"render_modes": ["ansi"]}

    def __init__(self, scenario: Scenario | str = "one_site_night", k: int = DEFAULT_K, nights: int | None = None,
                 render_mode: str | None = None) -> None:
        self.core = NetworkCore(scenario, ("scheduler",), k=k, nights=nights)
        self.k = self.core.k
        self.sites = list(self.core.site_names)
        self._site_index = {s: i for i, s in enumerate(self.sites)}
        n = len(self.sites) + O.scheduler_obs_size(self.k)
        self.observation_space = spaces.Box(-np.inf, np.inf, (n,), np.float32)
        self.action_space = spaces.Discrete(self.k + 2)
        self.render_mode = render_mode
        self._item: Item | None = None
        self._mask = np.zeros(self.k + 2, dtype=bool)
        self._last_obs = np.zeros(n, dtype=np.float32)

    def _obs(self, item: Item | None) -> np.ndarray:
        if item is None:
            self._mask = np.zeros(self.k + 2, dtype=bool)
            self._mask[-1] = True
            return self._last_obs
        out = np.zeros(self.observation_space.shape, dtype=np.float32)
        out[self._site_index[item.payload.site]] = 1.0
        out[len(self.sites):] = item.obs
        self._mask = item.mask.astype(bool)
        self._last_obs = out
        return out

    def action_for(self, decision: Decision) -> int:
        """The action that asks for ``decision`` at the pending decision (to run planners through the env)."""
        k = self.k
        if isinstance(decision, Calibrate):
            return k
        if isinstance(decision, Observe) and self._item is not None and self._item.shown is not None:
            for a, j in enumerate(self._item.shown):
                if self._item.payload.candidates[int(j)].id == decision.request_id:
                    return a
        return k + 1

    @property
    def decision_point(self) -> DecisionPoint | None:
        """The pending decision point (``None`` at the end)."""
        return None if self._item is None else self._item.payload

    def action_masks(self) -> np.ndarray:
        """Allowed actions now (sb3-contrib's ``MaskablePPO`` calls this)."""
        return self._mask.copy()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        twin_seed = seed if seed is not None else int(self.np_random.integers(0, 2**31 - 1))
        self.core.reset(twin_seed)
        self._item = self.core.next_item()
        return self._obs(self._item), dict(self._item.info) if self._item else {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self._item is None:
            return self._last_obs, 0.0, True, False, {}
        self.core.act(self._item, int(action))
        self._item = self.core.next_item()
        reward = float(sum(self.core.take_rewards().values()))
        done = self._item is None
        info = dict(self._item.info) if self._item else {"stats": dict(self.core.stats)}
        return self._obs(self._item), reward, done, False, info

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        it = self._item
        return f"t={self.core.now_s:.0f}s " + (f"{it.agent} {it.info.get('telescope')}" if it else "done")
