"""The event stream behind every skytwin environment.

Units: seconds of simulation time.

:class:`NetworkCore` builds a scenario's twin and turns it into one stream of
decisions, in simulation-time order, each owned by an agent id
``"<site>.<role>"``:

* ``scheduler``: a telescope of the site is free (the twin's decision point);
  with several telescopes per site, the site's one scheduler decides for
  whichever of them is free;
* ``quality``: a new frame arrived at the site's edge computer for assessment;
* ``detector``: difference imaging of a kept frame found a candidate to vet.

Roles that are not agents run built-in policies inside the stream, so the
caller only ever sees the agents' decisions: the greedy scheduler, and for
quality and detection the scripted baselines in fast mode (there are no
pixels to look at) or the shipped CNNs in pixel mode.

Observation modes:

* ``"fast"``: no pixels; frame metrics and candidate features
  (:mod:`skytwin.envs.observations`); the quality truth is the labelling
  rule applied to the frame record's conditions.
* ``"pixels"``: each frame is rendered (``pixel_size`` x ``pixel_size``,
  seed-deterministic) when it arrives; the quality role sees the quality
  CNN's input and the truth is the rendered frame's own label; each
  candidate of a kept frame gets a rendered science / reference /
  difference triplet (:mod:`skytwin.envs.pixels`). Simulated time advances between decisions as the
twin says. Quality and detection decisions do not hold the twin up: their
consequences (a re-take re-opens the request, a real detection adds follow-up
requests) take effect at the twin's current time.

Only this module touches the twin (its request pool and frame listeners);
environments and agents above it see decision points, frames, candidates and
observation vectors.
"""

from __future__ import annotations

import bisect
import heapq
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from skytwin.agents.detection.policy import DetectionCNNPolicy
from skytwin.agents.detection.scripted import ScriptedDetector
from skytwin.agents.quality.policy import QualityCNNPolicy
from skytwin.agents.quality.scripted import ScriptedQuality
from skytwin.agents.scheduling.baselines import IDLE_WAIT_S, GreedyScheduler
from skytwin.agents.scheduling.generator import fill_ins, followups
from skytwin.envs import observations as O
from skytwin.envs import pixels as P
from skytwin.envs import rewards as R
from skytwin.errors import SkytwinError, SkytwinRangeError, UnknownNameError
from skytwin.scenarios import load_scenario
from skytwin.scenarios.schema import Scenario
from skytwin.site.interface import DecisionPoint
from skytwin.site.types import Calibrate, Decision, FrameRecord, Observe, Wait
from skytwin.twin.candidates import Candidate, frame_candidates
from skytwin.twin.frames.quality import QualityInputs, quality_label
from skytwin.twin.frames import RenderedFrame, RenderRequest, render_frame
from skytwin.twin.network import TwinNetwork
from skytwin.twin.photometry import sky_brightness
from skytwin.twin.pixels import render_request

ROLES = ("scheduler", "quality", "detector")
DEFAULT_K = 16  # candidate requests shown to a scheduler
FORECAST_LEADS_S = (3600.0, 3 * 3600.0)  # s
FORECAST_REFRESH_S = 600.0  # s: forecasts are re-read once per weather sample
OBSERVATION_MODES = ("fast", "pixels")


@dataclass(slots=True)
class Item:
    """One pending decision."""

    t_s: float
    seq: int
    role: str
    agent: str
    payload: Any  # DecisionPoint | FrameRecord | Candidate
    obs: Any = None  # np.ndarray, or a dict of arrays (pixel-mode quality)
    mask: np.ndarray | None = None
    shown: np.ndarray | None = None  # scheduler: indices of the shown candidates
    truth: tuple[str, str] = ("", "")  # quality: (label, reason)
    request: RenderRequest | None = None  # pixel mode: the frame's render request (quality and detector)
    frame: RenderedFrame | None = None  # pixel mode, quality: the rendered frame
    info: dict[str, Any] = field(default_factory=dict)

    def __lt__(self, other: "Item") -> bool:
        return (self.t_s, self.seq) < (other.t_s, other.seq)


def resolve_scenario(scenario: Scenario | str) -> Scenario:
    return load_scenario(scenario) if isinstance(scenario, str) else scenario


class NetworkCore:
    """A scenario's twin as a time-ordered stream of role decisions.

    Parameters
    ----------
    scenario
        A scenario or the name of a bundled one.
    roles
        Which roles are agents (the rest run built-in policies).
    k
        Candidate requests shown to a scheduler.
    nights
        24-hour spans to simulate (default: the scenario's).
    scheduler
        Built-in scheduler for sites whose scheduler is not an agent (default greedy).
    observation_mode
        ``"fast"`` (metrics and features) or ``"pixels"`` (rendered frames and
        candidate triplets; see the module docstring).
    pixel_size
        Pixel mode: side of each rendered frame, pixels (a central cut-out of
        the detector; the quality CNN was trained on 512 x 512).
    opportunistic
        When a site is operable but none of its known requests is feasible, add the
        observation generator's fill-ins (short exposures of bright targets) for
        that site, available from its next decision.
    """

    def __init__(
        self,
        scenario: Scenario | str,
        roles: tuple[str, ...] = ROLES,
        k: int = DEFAULT_K,
        nights: int | None = None,
        scheduler: Any = None,
        observation_mode: str = "fast",
        opportunistic: bool = True,
        pixel_size: int = P.DEFAULT_PIXEL_SIZE,
    ) -> None:
        self.scenario = resolve_scenario(scenario)
        self.opportunistic = opportunistic
        for r in roles:
            if r not in ROLES:
                raise UnknownNameError("role", r, ROLES)
        if observation_mode not in OBSERVATION_MODES:
            raise UnknownNameError("observation_mode", observation_mode, OBSERVATION_MODES)
        self.observation_mode = observation_mode
        self.pixels = observation_mode == "pixels"
        if self.pixels and not 16 <= int(pixel_size) <= 4096:
            raise SkytwinRangeError("pixel_size", pixel_size, 16, 4096)
        self.pixel_size = int(pixel_size)
        self.roles = tuple(r for r in ROLES if r in roles)
        if not self.roles:
            raise SkytwinError("at least one role must be an agent")
        self.k = int(k)
        self.nights = nights
        self.site_names = [s.name for s in self.scenario.sites]
        self.agents = [f"{s}.{r}" for s in self.site_names for r in self.roles]
        self._active = set(self.agents)
        self._site_cfg = {s.name: s for s in self.scenario.sites}
        self._latency = {s.name: s.link.latency_s for s in self.scenario.sites}
        self._filters = {s.name: sorted({f for t in s.telescopes for f in t.filters}) for s in self.scenario.sites}
        self._blur = {(s.name, t.name): t.focus.blur_arcsec_per_um for s in self.scenario.sites for t in s.telescopes}
        self.builtin_scheduler = scheduler or GreedyScheduler()
        # fast mode has no pixels for the CNNs: the scripted baselines; pixel mode: the shipped CNNs (loaded on first use)
        self.builtin_quality: Any = QualityCNNPolicy() if self.pixels else ScriptedQuality()
        self.builtin_detector: Any = DetectionCNNPolicy() if self.pixels else ScriptedDetector()
        self.net: TwinNetwork | None = None
        self._features = O.SchedulerFeatures(self.k)

    # ------------------------------------------------------------------ lifecycle
    def reset(self, seed: int | None) -> None:
        self.net = net = TwinNetwork(self.scenario, seed=seed, nights=self.nights)
        net.frame_listeners.append(self._on_frame)
        self.end_s = net.end_s
        self._heap: list[Item] = []
        self._seq = 0
        self._point_item: Item | None = None
        self._twin_done = False
        self.pending_rewards: dict[str, float] = defaultdict(float)
        self._retakes: dict[str, int] = defaultdict(int)
        self._followed: set[str] = set()
        self._alert_kind: dict[str, str] = {}
        self._alert_t: dict[str, float] = {}
        self._fc_cache: dict[str, tuple[int, tuple[tuple[float, bool], ...]]] = {}
        self._features.reset()
        self._fill_t: dict[str, float] = {}
        self._inflight_t = -np.inf
        self._inflight: set[int] = set()
        self._nights = {s: net.sites[s].nights() for s in self.site_names}
        self._night_starts = {s: [n[0] for n in v] for s, v in self._nights.items()}
        self.stats: dict[str, float] = defaultdict(float)
        if hasattr(self.builtin_scheduler, "reset"):
            self.builtin_scheduler.reset(net.seed)
        if hasattr(self.builtin_scheduler, "attach"):
            self.builtin_scheduler.attach(net)

    @property
    def now_s(self) -> float:
        assert self.net is not None, "reset() first"
        return self.net.now_s

    def _push(self, t_s: float, role: str, site: str, payload: Any) -> Item:
        self._seq += 1
        it = Item(t_s, self._seq, role, f"{site}.{role}", payload)
        heapq.heappush(self._heap, it)
        return it

    def _reward(self, agent: str, r: float) -> None:
        if agent in self._active and r != 0.0:
            self.pending_rewards[agent] += r

    def take_rewards(self) -> dict[str, float]:
        out = dict(self.pending_rewards)
        self.pending_rewards.clear()
        return out

    # ------------------------------------------------------------------ the stream
    def next_item(self) -> Item | None:
        """The next decision owned by an agent (built-in roles are answered on the way); ``None`` at the end."""
        assert self.net is not None, "reset() first"
        while True:
            if self._point_item is None and not self._twin_done:
                point = self.net.next_decision(self.end_s)
                if point is None:
                    self._twin_done = True
                else:
                    self._seq += 1
                    self._point_item = Item(point.t_s, self._seq, "scheduler", f"{point.site}.scheduler", point)
            heap = self._heap
            if heap and (self._point_item is None or heap[0].t_s <= self._point_item.t_s):
                item = heapq.heappop(heap)
            elif self._point_item is not None:
                item = self._point_item
            else:
                return None
            if item.agent in self._active:
                self._observe(item)
                return item
            self._builtin(item)

    def act(self, item: Item, action: Any) -> None:
        """Apply an agent's action to the item ``next_item`` returned."""
        if item.role == "scheduler":
            self._act_scheduler(item, int(action))
        elif item.role == "quality":
            self._act_quality(item, int(action))
        else:
            self._act_detector(item, int(action))

    # ------------------------------------------------------------------ observations
    def _observe(self, item: Item) -> None:
        if item.role == "scheduler":
            p: DecisionPoint = item.payload
            fc = self._forecast(p.site, p.t_s)
            obs, mask, shown = self._features.build(p, fc, self._night_left(p.site, p.t_s), self._alerts_known(p.site, p.t_s))
            if self._inflight_t == p.t_s and self._inflight:
                # another telescope took one of these at this very instant (its point was made first): not feasible any more
                for a, j in enumerate(shown):
                    if int(j) in self._inflight and mask[a]:
                        mask[a] = 0
                        obs[O.N_SITE + a * O.N_CAND + O.N_CAND - 1] = 0.0
            item.obs, item.mask, item.shown = obs, mask, shown
            n_feasible = int(np.count_nonzero(p.feasible))
            item.info = {"t_s": p.t_s, "telescope": p.telescope, "n_feasible": n_feasible,
                         "shown": [p.candidates[j].id for j in shown]}
            if n_feasible == 0 and self.opportunistic:
                self._add_fill_ins(p)
        elif item.role == "quality":
            f: FrameRecord = item.payload
            if item.frame is not None:  # pixel mode
                item.obs = P.quality_observation(item.frame)  # type: ignore[assignment]
            else:
                item.obs = O.quality_observation(f, self._dark_sky(f))
            item.mask = np.ones(3, dtype=np.int8)
            item.info = {"t_s": item.t_s, "frame_id": f.frame_id, "truth": item.truth[0], "truth_reason": item.truth[1]}
        else:
            c: Candidate = item.payload
            if item.request is not None:  # pixel mode
                item.obs = P.detector_triplet(item.request, c)
            else:
                item.obs = O.detector_observation(c)
            item.mask = np.ones(2, dtype=np.int8)
            item.info = {"t_s": item.t_s, "candidate_id": c.candidate_id, "truth_real": c.real, "truth_kind": c.kind}

    def _add_fill_ins(self, p: DecisionPoint) -> None:
        w = p.conditions.weather
        if not w.safe or self._night_left(p.site, p.t_s) <= 0.0 or p.t_s < self._fill_t.get(p.site, -np.inf):
            return
        n = len(p.priority)
        reqs = fill_ins(p.candidates[:n], p.alt_deg, p.state.horizon_alt_deg, w.transparency, p.t_s)
        reqs = [r for r in reqs if r.id not in self.net.pool.index]  # type: ignore[union-attr]
        if reqs:
            self.net.pool.add(reqs, {p.site: p.t_s})  # type: ignore[union-attr]
            self.stats["fill_ins"] += len(reqs)
        self._fill_t[p.site] = p.t_s + 3600.0  # at most one batch per site and hour

    def _forecast(self, site: str, t: float) -> tuple[tuple[float, bool], ...]:
        """Cloud and safety forecast at each lead, refreshed once per weather sample (10 min) per site."""
        bucket = int(t // FORECAST_REFRESH_S)
        hit = self._fc_cache.get(site)
        if hit is not None and hit[0] == bucket:
            return hit[1]
        s = self.net.sites[site]  # type: ignore[union-attr]
        fc = tuple((w.cloud_cover, w.safe) for w in (s.forecast(lead) for lead in FORECAST_LEADS_S))
        self._fc_cache[site] = (bucket, fc)
        return fc

    def _night_left(self, site: str, t: float) -> float:
        i = bisect.bisect_right(self._night_starts[site], t) - 1
        if i >= 0 and t < self._nights[site][i][1]:
            return self._nights[site][i][1] - t
        return 0.0

    def _alerts_known(self, site: str, t: float) -> int:
        lat = self._latency[site]
        return sum(1 for a in self.net.alerts() if t - 86400.0 <= a.t_s <= t - lat)  # type: ignore[union-attr]

    def _dark_sky(self, f: FrameRecord) -> float:
        cl = self._site_cfg[f.site].climate
        return sky_brightness(f.filter, cl.sky_dark_mag_arcsec2, -90.0, 0.0, 180.0, -90.0, f.alt_deg, cl.extinction_mag_per_airmass, f.airmass)

    # ------------------------------------------------------------------ built-in roles
    def _builtin(self, item: Item) -> None:
        if item.role == "scheduler":
            decision = self.builtin_scheduler.decide(item.payload)
            self._decide(item, decision)
        elif item.role == "quality":
            self._observe(item)
            self._act_quality(item, self.builtin_quality.predict(item.obs))
        else:
            self._observe(item)
            self._act_detector(item, self.builtin_detector.predict(item.obs))

    # ------------------------------------------------------------------ actions
    def _decide(self, item: Item, decision: Decision) -> None:
        assert item is self._point_item, "scheduler items are answered in order"
        self._point_item = None
        self.stats["scheduler_decisions"] += 1
        p: DecisionPoint = item.payload
        if self._inflight_t != p.t_s:
            self._inflight_t, self._inflight = p.t_s, set()
        if isinstance(decision, Observe):
            j = self._index_of(decision.request_id)
            if j is not None:
                self._inflight.add(j)
        self.net.decide(item.payload, decision)  # type: ignore[union-attr]

    def _index_of(self, request_id: str) -> int | None:
        return self.net.pool.index.get(request_id)  # type: ignore[union-attr]

    def decision_for(self, item: Item, action: int) -> tuple[Decision, bool]:
        """The decision an action means, and whether the mask allowed it."""
        k = self.k
        assert item.mask is not None and item.shown is not None
        if 0 <= action < k:
            if action < len(item.shown):
                return Observe(item.payload.candidates[int(item.shown[action])].id), bool(item.mask[action])
            return Observe(""), False  # an empty slot: unknown request, refused
        if action == k:
            return Calibrate("both"), True
        if action == k + 1:
            return Wait(IDLE_WAIT_S), True
        raise SkytwinError(f"scheduler action {action} outside [0, {k + 1}]")

    def _act_scheduler(self, item: Item, action: int) -> None:
        decision, allowed = self.decision_for(item, action)
        if not allowed:
            self._reward(item.agent, R.REFUSED_PENALTY)
            self.stats["refused"] += 1
        elif isinstance(decision, Wait) and bool(item.mask[: self.k].any()):  # type: ignore[index]
            self._reward(item.agent, R.IDLE_PENALTY)
        self._decide(item, decision)

    def _on_frame(self, rec: FrameRecord) -> None:
        site = self.net.sites[rec.site]  # type: ignore[union-attr]
        cond = site.conditions()
        # the label's inputs as in pixel mode: cloud transmission (not extinction or mirror dust), defocus blur
        clouds = site.weather.sample(rec.t_start_s).transparency
        defocus = self._blur[(rec.site, rec.telescope)] * abs(rec.focus_offset_um)
        inputs = QualityInputs(
            fwhm_arcsec=rec.fwhm_arcsec, transparency=clouds, sky_mag_arcsec2=rec.sky_mag_arcsec2,
            dark_sky_mag_arcsec2=self._dark_sky(rec), ellipticity=rec.ellipticity, seeing_arcsec=rec.seeing_arcsec,
            defocus_arcsec=defocus, moon_illumination=cond.moon_illumination, moon_sep_deg=rec.moon_sep_deg,
        )
        it = self._push(rec.t_start_s + rec.exptime_s, "quality", rec.site, rec)
        if self.pixels:  # the truth is what the pixels show
            it.request = render_request(self.net, rec, self.pixel_size)  # type: ignore[arg-type]
            it.frame = render_frame(it.request)
            it.truth = (it.frame.quality, it.frame.reason)
        else:
            it.truth = quality_label(inputs)
        self.stats["frames"] += 1

    def _act_quality(self, item: Item, action: int) -> None:
        if not 0 <= action < 3:
            raise SkytwinError(f"quality action {action} outside [0, 2]")
        f: FrameRecord = item.payload
        truth = item.truth[0]
        called = R.QUALITY_LABELS[action]
        self._reward(item.agent, R.QUALITY_REWARD[(truth, called)])
        pool = self.net.pool  # type: ignore[union-attr]
        req = pool.get(f.request_id)
        if called != "bad":  # keep
            self.stats["kept"] += 1
            self.stats[f"kept_{truth}"] += 1
            delay = None
            if req.alert_id is not None:
                delay = f.t_start_s - self._alert_time(req.alert_id)  # also fills the alert's kind
            sci = R.frame_science(req.priority, req.count, truth, delay)
            self.stats["science"] += sci
            self._reward(f"{f.site}.scheduler", sci)
            for c in frame_candidates(self.net.seed, f, self._alert_kind.get(req.alert_id or ""), req.alert_id):  # type: ignore[union-attr]
                self._push(item.t_s, "detector", f.site, c).request = item.request
        item.frame = None  # the pixels are no longer needed
        if called != "good" and self._retakes[req.id] < req.visits and req.window_end_s > self.now_s:
            self._retakes[req.id] += 1
            pool.reopen(req.id)
            self.stats["retakes"] += 1

    def _alert_time(self, alert_id: str) -> float:
        if alert_id not in self._alert_kind:
            for a in self.net.alerts():  # type: ignore[union-attr]
                self._alert_kind[a.id[0]] = a.kind
                self._alert_t[a.id[0]] = a.t_s
        return self._alert_t.get(alert_id, self.now_s)

    def _act_detector(self, item: Item, action: int) -> None:
        if not 0 <= action < 2:
            raise SkytwinError(f"detector action {action} outside [0, 1]")
        c: Candidate = item.payload
        called_real = action == 1
        self._reward(item.agent, R.detector_reward(c.real, called_real, c.too))
        self.stats["candidates"] += 1
        self.stats["true_positive" if c.real and called_real else "false_alert" if called_real else "missed" if c.real else "true_negative"] += 1
        if called_real:
            key = c.alert_id or c.request_id
            if key in self._followed:
                return
            self._followed.add(key)
            net = self.net
            assert net is not None
            now = net.now_s
            reqs = followups(c.candidate_id, c.ra_deg, c.dec_deg, now, c.site, net.pool.get(c.request_id).filter,
                             self._filters[c.site], [s for s in self.site_names if s != c.site], alert_id=c.alert_id)
            net.pool.add(reqs, {s: now + self._latency[s] for s in self.site_names})
            for r in reqs:
                net.log.add("request", now, c.site, r.id, r.program, r.target, r.ra_deg, r.dec_deg, r.priority, str(r.kind))
            self.stats["followups"] += len(reqs)
