"""Single-agent Gymnasium views of the quality and detection roles.

Units: seconds of simulation time; observations are normalised floats.

The whole network runs with the built-in greedy scheduler; every quality (or
detection) decision of every site goes to this one agent, in time order.
Useful to train or judge a frame grader or a real/bogus classifier in the loop
(its calls change what is re-taken and followed up).

``observation_mode="pixels"`` (and ``pixel_size``) pass through to
:class:`~skytwin.envs.core.NetworkCore`: the agent then sees the rendered
frame as the quality CNN's input, or a candidate's rendered triplet, and the
other role runs its shipped CNN (see :mod:`skytwin.envs.pixels`).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from skytwin.envs import observations as O
from skytwin.envs import pixels as P
from skytwin.envs.core import Item, NetworkCore
from skytwin.scenarios.schema import Scenario


class _RoleEnv(gym.Env):
    role = ""
    n_obs = 0
    n_act = 0
    metadata = {"render_modes": ["ansi"]}

    def __init__(self, scenario: Scenario | str = "one_site_night", nights: int | None = None, render_mode: str | None = None,
                 observation_mode: str = "fast", pixel_size: int = P.DEFAULT_PIXEL_SIZE) -> None:
        self.core = NetworkCore(scenario, (self.role,), nights=nights, observation_mode=observation_mode, pixel_size=pixel_size)
        self.observation_space = self._pixel_space() if self.core.pixels else spaces.Box(-np.inf, np.inf, (self.n_obs,), np.float32)
        self.action_space = spaces.Discrete(self.n_act)
        self.render_mode = render_mode
        self._item: Item | None = None
        self._zero = P.zeros_like_space(self.observation_space)

    def _pixel_space(self) -> spaces.Space:
        raise NotImplementedError

    def action_masks(self) -> np.ndarray:
        return np.ones(self.n_act, dtype=bool)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        self.core.reset(seed if seed is not None else int(self.np_random.integers(0, 2**31 - 1)))
        self._item = self.core.next_item()
        return self._observation(), dict(self._item.info) if self._item else {}

    def _observation(self) -> Any:
        return self._zero if self._item is None else self._item.obs

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        if self._item is None:
            return self._zero, 0.0, True, False, {}
        self.core.act(self._item, int(action))
        self._item = self.core.next_item()
        reward = float(sum(self.core.take_rewards().values()))
        info = dict(self._item.info) if self._item else {"stats": dict(self.core.stats)}
        return self._observation(), reward, self._item is None, False, info

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        return f"t={self.core.now_s:.0f}s " + (str(self._item.info) if self._item else "done")


class QualityEnv(_RoleEnv):
    """Grade each new frame of the network: good (keep), medium (keep, re-take), bad (discard, re-take).

    ## Description

    The quality role of every site, as one agent; scheduling and detection run
    built-in baselines.

    ## Observation Space

    ``Box(float32, (12,))``: fast-mode frame metrics (see
    :data:`skytwin.envs.observations.QUALITY_FEATURES`). With
    ``observation_mode="pixels"``: ``Dict({"image": Box, "scalars": Box})``,
    the quality CNN's input for the rendered frame.

    ## Action Space

    ``Discrete(3)``: 0 good, 1 medium, 2 bad.

    ## Rewards

    ``skytwin.envs.rewards.QUALITY_REWARD[(true label, action)]``; the true
    label and reason are in ``info["truth"]``, ``info["truth_reason"]`` (in pixel
    mode, the rendered frame's own label).

    ## Version History

    * v0: initial version; ``observation_mode="pixels"`` added.
    """

    role = "quality"
    n_obs = O.N_QUALITY
    n_act = 3

    def _pixel_space(self) -> spaces.Space:
        return P.quality_space()


class DetectionEnv(_RoleEnv):
    """Vet each difference-image candidate of the network: bogus (0) or real (1).

    ## Description

    The detector role of every site, as one agent; scheduling and quality run
    built-in baselines. A real call adds follow-up requests.

    ## Observation Space

    ``Box(float32, (7,))``: log10 SNR, FWHM ratio, elongation, distance to the
    nearest star / 30 arcsec, negative fraction, frame FWHM / 5 arcsec, ToO flag.
    With ``observation_mode="pixels"``: ``Box(float32, (3, 31, 31))``, the
    candidate's rendered science, reference and difference cut-outs (ADU).

    ## Action Space

    ``Discrete(2)``: 0 bogus, 1 real.

    ## Rewards

    +1 real found (+1 in a ToO frame), -1 false alert, -2 missed transient,
    +0.1 bogus rejected; truth in ``info["truth_real"]``, ``info["truth_kind"]``.

    ## Version History

    * v0: initial version; ``observation_mode="pixels"`` added.
    """

    role = "detector"
    n_obs = O.N_DETECTOR
    n_act = 2

    def _pixel_space(self) -> spaces.Space:
        return P.detector_space()
