"""The telescope network as a PettingZoo environment, AEC and Parallel.

Units: seconds of simulation time; observations are normalised floats (see
:mod:`skytwin.envs.observations`).
"""

from __future__ import annotations

import functools
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from pettingzoo import AECEnv, ParallelEnv
from pettingzoo.utils import wrappers

from skytwin.envs import observations as O
from skytwin.envs import pixels as P
from skytwin.envs.core import DEFAULT_K, ROLES, Item, NetworkCore
from skytwin.scenarios.schema import Scenario

ACTIONS = {"quality": 3, "detector": 2}


def role_observation_space(role: str, k: int, mode: str = "fast") -> gymnasium.Space:
    """The ``"observation"`` part of a role's space in an observation mode."""
    if mode == "pixels" and role == "quality":
        return P.quality_space()
    if mode == "pixels" and role == "detector":
        return P.detector_space()
    n_obs = O.scheduler_obs_size(k) if role == "scheduler" else O.N_QUALITY if role == "quality" else O.N_DETECTOR
    return spaces.Box(-np.inf, np.inf, (n_obs,), np.float32)


def _spaces(role: str, k: int, mode: str = "fast") -> tuple[spaces.Dict, spaces.Discrete]:
    n_act = k + 2 if role == "scheduler" else ACTIONS[role]
    obs = spaces.Dict({
        "observation": role_observation_space(role, k, mode),
        "action_mask": spaces.Box(0, 1, (n_act,), np.int8),
    })
    return obs, spaces.Discrete(n_act)


def _blank(role: str, k: int, mode: str = "fast") -> dict[str, Any]:
    obs_space, act = _spaces(role, k, mode)
    mask = np.ones(act.n, dtype=np.int8)
    if role == "scheduler":
        mask[:k] = 0  # nothing chosen yet: only calibrate or wait
    return {"observation": P.zeros_like_space(obs_space["observation"]), "action_mask": mask}


class raw_env(AECEnv):
    """A telescope network, one agent per site and role, acting when its decision falls due.

    ## Description

    The environment wraps a skytwin scenario (sites, weather, alerts, faults,
    requests) simulated by the twin. It is event-driven: the next agent to act
    is the one whose decision falls due next in simulation time, and simulated
    time advances between decisions as the twin says. Agents are per site and
    role, with stable string ids ``"<site>.scheduler"``, ``"<site>.quality"`` and
    ``"<site>.detector"``:

    * the scheduler decides for whichever of its site's telescopes is free (one
      scheduler per site, however many telescopes);
    * the quality agent grades each new frame (good: keep; medium: keep and ask
      a re-take; bad: discard and ask a re-take);
    * the detector vets each candidate that difference imaging finds in a kept
      frame (real or bogus); a real call adds follow-up requests (another
      filter, another site to confirm, a later epoch).

    ``roles`` chooses which roles are agents; the others run built-in policies:
    the greedy scheduler; in fast mode the scripted quality and detection
    baselines, in pixel mode the shipped quality and real/bogus CNNs.

    ## Observation Space

    A ``Dict`` with ``"observation"`` (a ``float32`` ``Box``) and
    ``"action_mask"`` (``int8``, 1 = allowed):

    * scheduler: ``24 + 10 K`` floats: the site's conditions now and forecast
      (1 h, 3 h), dome, link, the free telescope's state, what the site knows
      of the network (feasible requests, open targets of opportunity, alerts
      received through its link in the last 24 h), then ``K`` candidate
      requests (priority, altitude, visit length, kind, filter change, slew,
      Moon distance, window left, feasible). The candidates are the top ``K``
      by (feasible first, priority x sin(altitude), pool order).
    * quality: 12 frame metrics (fast mode); with ``observation_mode="pixels"``,
      ``Dict({"image": Box, "scalars": Box})``: the shipped quality CNN's
      input for the rendered frame (shapes from the model's preprocessing,
      see :mod:`skytwin.envs.pixels`).
    * detector: 7 candidate features (log SNR, FWHM ratio, elongation,
      distance to the nearest star, negative fraction, frame FWHM, ToO flag);
      with ``observation_mode="pixels"``, ``Box((3, 31, 31))``: the rendered
      science, reference and difference cut-outs (ADU).

    ## Action Space

    * scheduler: ``Discrete(K + 2)``: a shown candidate ``0..K-1``, ``K`` calibrate,
      ``K + 1`` close and wait 10 min. The mask is the hard constraints
      (visibility, window, weather, instrument); a forbidden candidate is
      refused by the safety layer (30 s lost) and penalised.
    * quality: ``Discrete(3)``: good, medium, bad.
    * detector: ``Discrete(2)``: bogus, real.

    ## Rewards

    See :mod:`skytwin.envs.rewards`: schedulers earn the science value of their
    site's kept frames (priority x true quality, plus timeliness for targets of
    opportunity) and lose for refused actions and idling; quality agents are
    scored against the true label (keeping a bad frame costs most); detectors
    gain for real transients found and lose for false alerts and (more) for
    missed transients. Truth goes to ``infos`` (``truth``, ``truth_real``); in
    pixel mode the quality truth is the rendered frame's own label.

    ## Starting State

    The scenario's epoch; the first decision is the first that falls due.

    ## Episode End

    Every agent terminates when the scenario's nights are over. Time limits
    belong in wrappers.

    ## Arguments

    ``scenario`` (a :class:`Scenario` or a bundled name, default
    ``"one_site_night"``), ``roles`` (default all three), ``k`` (candidates,
    default 16), ``nights``, ``render_mode`` (``None`` or ``"ansi"``),
    ``observation_mode`` (``"fast"`` or ``"pixels"``), ``pixel_size`` (pixel
    mode: side of the rendered frames, default 512).

    ## Version History

    * v0: initial version; ``observation_mode="pixels"`` added.
    """

    metadata = {"render_modes": ["ansi"], "name": "skytwin_network_v0", "is_parallelizable": False}

    def __init__(
        self,
        scenario: Scenario | str = "one_site_night",
        roles: tuple[str, ...] = ROLES,
        k: int = DEFAULT_K,
        nights: int | None = None,
        render_mode: str | None = None,
        observation_mode: str = "fast",
        pixel_size: int = P.DEFAULT_PIXEL_SIZE,
    ) -> None:
        super().__init__()
        self.core = NetworkCore(scenario, tuple(roles), k=k, nights=nights, observation_mode=observation_mode,
                                pixel_size=pixel_size)
        self.k = self.core.k
        self.possible_agents = list(self.core.agents)
        self.render_mode = render_mode
        self._spaces = {a: _spaces(a.rsplit(".", 1)[1], self.k, observation_mode) for a in self.possible_agents}
        self.observation_spaces = {a: s[0] for a, s in self._spaces.items()}
        self.action_spaces = {a: s[1] for a, s in self._spaces.items()}
        self._seed: int | None = None
        self._item: Item | None = None

    def observation_space(self, agent: str) -> gymnasium.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> gymnasium.Space:
        return self.action_spaces[agent]

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        if seed is None:
            seed = self.core.scenario.seed if self._seed is None else self._seed + 1
        self._seed = int(seed)
        self.core.reset(self._seed)
        self.agents = list(self.possible_agents)
        self.rewards = {a: 0.0 for a in self.agents}
        self._cumulative_rewards = {a: 0.0 for a in self.agents}
        self.terminations = {a: False for a in self.agents}
        self.truncations = {a: False for a in self.agents}
        self.infos: dict[str, dict[str, Any]] = {a: {} for a in self.agents}
        self._obs = {a: _blank(a.rsplit(".", 1)[1], self.k, self.core.observation_mode) for a in self.agents}
        self._advance()

    def _advance(self) -> None:
        item = self.core.next_item()
        self._item = item
        if item is None:  # the nights are over
            for a in self.agents:
                self.terminations[a] = True
            self.agent_selection = self.agents[0]
            return
        self._obs[item.agent] = {"observation": item.obs, "action_mask": item.mask}
        self.infos[item.agent] = item.info
        self.agent_selection = item.agent

    def observe(self, agent: str) -> dict[str, np.ndarray]:
        return self._obs[agent]

    def step(self, action: Any) -> None:
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            if self.agents:
                self.agent_selection = self.agents[0]
            return
        self._cumulative_rewards[agent] = 0.0
        self.rewards = {a: 0.0 for a in self.agents}
        assert self._item is not None and self._item.agent == agent, "the selected agent owns the pending decision"
        self.core.act(self._item, action)
        self._advance()
        for a, r in self.core.take_rewards().items():
            self.rewards[a] += r
        self._accumulate_rewards()

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        it = self._item
        if it is None:
            return f"t={self.core.now_s:.0f}s: done"
        return f"t={it.t_s:.0f}s {it.agent}: {it.info}"

    def close(self) -> None:
        pass


def env(**kwargs: Any) -> AECEnv:
    """The AEC environment with PettingZoo's order-enforcing wrappers."""
    e: AECEnv = raw_env(**kwargs)
    e = wrappers.AssertOutOfBoundsWrapper(e)
    e = wrappers.OrderEnforcingWrapper(e)
    return e


class parallel_env(ParallelEnv):
    """The same network with simultaneous actions.

    Each ``step`` answers a batch of pending decisions: the decisions due next,
    in time order, at most one per agent, up to and including the next
    scheduler decision (the twin waits for that one). Every live agent passes
    an action; only agents with ``infos[agent]["pending"]`` true have one
    applied; the others' actions are ignored. Spaces, rewards and truth are as
    in :class:`raw_env`.
    """

    metadata = {"render_modes": ["ansi"], "name": "skytwin_network_parallel_v0"}

    def __init__(
        self,
        scenario: Scenario | str = "one_site_night",
        roles: tuple[str, ...] = ROLES,
        k: int = DEFAULT_K,
        nights: int | None = None,
        render_mode: str | None = None,
        observation_mode: str = "fast",
        pixel_size: int = P.DEFAULT_PIXEL_SIZE,
    ) -> None:
        self.core = NetworkCore(scenario, tuple(roles), k=k, nights=nights, observation_mode=observation_mode,
                                pixel_size=pixel_size)
        self.k = self.core.k
        self.possible_agents = list(self.core.agents)
        self.agents: list[str] = []
        self.render_mode = render_mode
        sp = {a: _spaces(a.rsplit(".", 1)[1], self.k, observation_mode) for a in self.possible_agents}
        self.observation_spaces = {a: s[0] for a, s in sp.items()}
        self.action_spaces = {a: s[1] for a, s in sp.items()}
        self._seed: int | None = None

    @functools.lru_cache(maxsize=None)
    def observation_space(self, agent: str) -> gymnasium.Space:
        return self.observation_spaces[agent]

    @functools.lru_cache(maxsize=None)
    def action_space(self, agent: str) -> gymnasium.Space:
        return self.action_spaces[agent]

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        if seed is None:
            seed = self.core.scenario.seed if self._seed is None else self._seed + 1
        self._seed = int(seed)
        self.core.reset(self._seed)
        self.agents = list(self.possible_agents)
        self._obs = {a: _blank(a.rsplit(".", 1)[1], self.k, self.core.observation_mode) for a in self.agents}
        self._carry: Item | None = None
        done = self._gather()
        infos = self._infos()
        if done:
            self.agents = []
        return dict(self._obs), infos

    def _gather(self) -> bool:
        """Collect the next batch of pending items; ``True`` when the episode is over."""
        self._batch: dict[str, Item] = {}
        item = self._carry or self.core.next_item()
        self._carry = None
        while item is not None:
            if item.agent in self._batch:
                self._carry = item
                break
            self._batch[item.agent] = item
            self._obs[item.agent] = {"observation": item.obs, "action_mask": item.mask}
            if item.role == "scheduler":
                break
            item = self.core.next_item()
        return not self._batch

    def _infos(self) -> dict[str, dict[str, Any]]:
        return {a: ({**self._batch[a].info, "pending": True} if a in self._batch else {"pending": False}) for a in self.agents}

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        for agent, item in sorted(self._batch.items(), key=lambda kv: (kv[1].t_s, kv[1].seq)):
            if agent in actions and actions[agent] is not None:
                self.core.act(item, actions[agent])
            else:  # an agent that did not answer: the built-in policy answers for it
                self.core._builtin(item)
        done = self._gather()
        rewards = {a: 0.0 for a in self.agents}
        for a, r in self.core.take_rewards().items():
            rewards[a] += r
        obs = {a: self._obs[a] for a in self.agents}
        terms = {a: done for a in self.agents}
        truncs = {a: False for a in self.agents}
        infos = self._infos()
        if done:
            self.agents = []
        return obs, rewards, terms, truncs, infos

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        return f"t={self.core.now_s:.0f}s pending: {sorted(self._batch)}"

    def close(self) -> None:
        pass
