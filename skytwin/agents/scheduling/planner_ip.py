"""An integer-programming network planner in the style of Las Cumbres Observatory's scheduler.

Units: seconds of simulation time, degrees.

The night ahead is cut into time slices. A binary variable ``x[r, s, k]``
says "telescope ``k`` observes request ``r`` in slice ``s``"; it exists only
where the hard constraints allow it (the request is up for the whole slice at
that site, the slice is dark and forecast safe, it lies in the request's
window, the telescope has the filter and the request may use the site). The
program maximises ``sum priority[r] * (0.5 + 0.5 sin(alt)) * x`` subject to

* capacity: per telescope and slice, the visits' durations fit the slice
  (``sum visit_s[r] * x[r, s, k] <= fill * slice_s``); with slices no longer
  than a visit this is LCO's "one request per telescope per slice", with
  longer slices it packs several short visits;
* visits: each request at most ``visits_left`` times;
* cadence: at most one visit of a request in any run of slices shorter than
  its cadence;

and is solved with :func:`scipy.optimize.milp` (HiGHS). :class:`IPScheduler`
executes the plan at the twin's (or a live network's) decision points and
re-plans on events: weather turning at a site, a fault starting or ending,
new requests (alerts); targets of opportunity pre-empt the plan. The planner
sees only the Site interface and decision points.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from skytwin.agents.scheduling.baselines import IDLE_WAIT_S
from skytwin.agents.scheduling.generator import calibration_due, survey_order
from skytwin.site.interface import DecisionPoint, Site
from skytwin.site.types import Decision, ObservationRequest, Observe, RequestKind, Wait

NIGHT_SUN_ALT_DEG = -12.0  # observe between nautical dusk and dawn
_D2R = math.pi / 180.0


@dataclass(frozen=True, slots=True)
class PlanEntry:
    site: str
    telescope: str
    t_start_s: float  # slice start
    request: int  # index into the planned requests
    request_id: str
    value: float


@dataclass
class PlanResult:
    entries: list[PlanEntry]
    value: float  # objective (planned science value, altitude-weighted)
    n_variables: int
    status: str
    solve_s: float


def visibility(
    sites: Mapping[str, Site], ra_deg: np.ndarray, dec_deg: np.ndarray, t_edges: np.ndarray, now_s: float | None = None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per site: (min altitude over each slice, request x slice; slice usable: dark and forecast safe)."""
    out = {}
    for name, site in sites.items():
        alt_edges = np.stack([np.asarray(site.altaz(ra_deg, dec_deg, float(t))[0]) for t in t_edges], axis=1)
        alt_min = np.minimum(alt_edges[:, :-1], alt_edges[:, 1:])
        sun = np.asarray(site.sun_alt_deg(t_edges))
        usable = (sun[:-1] < NIGHT_SUN_ALT_DEG) & (sun[1:] < NIGHT_SUN_ALT_DEG)
        if now_s is not None:
            for s in np.flatnonzero(usable):
                lead = max(0.0, 0.5 * (t_edges[s] + t_edges[s + 1]) - now_s)
                if not site.forecast(lead).safe:
                    usable[s] = False
        out[name] = (alt_min, usable)
    return out


def plan_ip(
    sites: Mapping[str, Site],
    requests: Sequence[ObservationRequest],
    visit_s: np.ndarray,
    visits_left: np.ndarray,
    t0_s: float,
    t1_s: float,
    slice_s: float = 900.0,
    fill: float = 0.8,
    time_limit_s: float = 8.0,
    mip_rel_gap: float = 0.02,
    now_s: float | None = None,
) -> PlanResult:
    """Plan ``requests`` on every telescope of ``sites`` over ``[t0_s, t1_s]``."""
    import time

    t_start = time.perf_counter()
    n_slices = max(1, int(math.ceil((t1_s - t0_s) / slice_s)))
    edges = t0_s + slice_s * np.arange(n_slices + 1)
    ra = np.array([r.ra_deg for r in requests])
    dec = np.array([r.dec_deg for r in requests])
    prio = np.array([r.priority for r in requests])
    vis = visibility(sites, ra, dec, edges, now_s)
    win_ok = (np.array([r.window_start_s for r in requests])[:, None] <= edges[None, :-1]) & (
        np.array([r.window_end_s for r in requests])[:, None] >= edges[None, 1:])
    cols_r, cols_s, cols_k, vals, tels = [], [], [], [], []
    for name, site in sites.items():
        st = site.state()
        alt_min, usable = vis[name]
        up = (alt_min >= st.horizon_alt_deg) & usable[None, :] & win_ok
        allowed_site = np.array([r.site is None or r.site == name for r in requests])
        for tel in st.telescopes:
            if tel.faults or st.faults:
                continue
            k = len(tels)
            tels.append((name, tel.name))
            has_f = np.array([r.filter in tel.filters for r in requests])
            ok = up & (has_f & allowed_site & (visits_left > 0))[:, None]
            r_idx, s_idx = np.nonzero(ok)
            cols_r.append(r_idx)
            cols_s.append(s_idx)
            cols_k.append(np.full(len(r_idx), k))
            vals.append(prio[r_idx] * (0.5 + 0.5 * np.sin(alt_min[r_idx, s_idx] * _D2R)))
    if not tels or sum(len(c) for c in cols_r) == 0:
        return PlanResult([], 0.0, 0, "empty", time.perf_counter() - t_start)
    R = np.concatenate(cols_r)
    S = np.concatenate(cols_s)
    K = np.concatenate(cols_k)
    V = np.concatenate(vals)
    n = len(R)
    var = np.arange(n)
    rows: list[sparse.coo_matrix] = []
    ubs: list[np.ndarray] = []
    # capacity per telescope and slice
    cap_row = K * n_slices + S
    rows.append(sparse.coo_matrix((visit_s[R], (cap_row, var)), shape=(len(tels) * n_slices, n)))
    ubs.append(np.full(len(tels) * n_slices, fill * slice_s))
    # visits per request
    rows.append(sparse.coo_matrix((np.ones(n), (R, var)), shape=(len(requests), n)))
    ubs.append(visits_left.astype(float))
    # cadence: one visit per request in any window of w slices shorter than the cadence
    cad = np.array([r.cadence_s for r in requests])
    w = np.ceil(cad / slice_s).astype(int)
    multi = (visits_left > 1) & (w > 1)
    if multi.any():
        sel = multi[R]
        rr, ss, vv = R[sel], S[sel], var[sel]
        ww = w[rr]
        data_r, data_c = [], []
        base = {int(r): i for i, r in enumerate(np.flatnonzero(multi))}
        rid = np.array([base[int(r)] for r in rr])
        for off in range(int(ww.max())):
            start = ss - off  # window starting at slice start..start+w-1 covers ss
            keep = (start >= 0) & (off < ww)
            data_r.append(rid[keep] * n_slices + start[keep])
            data_c.append(vv[keep])
        rr_all = np.concatenate(data_r)
        cc_all = np.concatenate(data_c)
        rows.append(sparse.coo_matrix((np.ones(len(rr_all)), (rr_all, cc_all)), shape=(len(base) * n_slices, n)))
        ubs.append(np.ones(len(base) * n_slices))
    A = sparse.vstack(rows).tocsr()
    ub = np.concatenate(ubs)
    res = milp(
        c=-V, integrality=np.ones(n), bounds=Bounds(0, 1),
        constraints=LinearConstraint(A, -np.inf, ub),
        options={"time_limit": time_limit_s, "mip_rel_gap": mip_rel_gap, "disp": False},
    )
    entries = []
    if res.x is not None:
        chosen = np.flatnonzero(res.x > 0.5)
        for v in chosen:
            site, tel = tels[K[v]]
            entries.append(PlanEntry(site, tel, float(edges[S[v]]), int(R[v]), requests[R[v]].id, float(V[v])))
        entries.sort(key=lambda e: (e.site, e.telescope, e.t_start_s, -e.value, e.request))
    value = float(-res.fun) if res.fun is not None else 0.0
    return PlanResult(entries, value, n, str(res.message), time.perf_counter() - t_start)


def slew_aware_choice(site: Site, point: DecisionPoint, idx: np.ndarray) -> int:
    """Among candidate indices ``idx``, the best science per unit of time, slews included."""
    tel = next(t for t in point.state.telescopes if t.name == point.telescope)
    alt, az = site.altaz(point.ra_deg[idx], point.dec_deg[idx], point.t_s)
    alt0, az0 = site.altaz(np.array([tel.ra_deg]), np.array([tel.dec_deg]), point.t_s)
    daz = np.abs((np.asarray(az) - float(np.asarray(az0)[0]) + 180.0) % 360.0 - 180.0)
    dalt = np.abs(np.asarray(alt) - float(np.asarray(alt0)[0]))
    slew = 5.0 + np.maximum(daz / 4.0, dalt / 4.0) if not tel.parked else np.full(len(idx), 30.0)
    visit = point.visit_s[idx]
    score = point.priority[idx] * np.sin(np.clip(point.alt_deg[idx], 0.0, 90.0) * _D2R) * visit / (visit + slew)
    return int(idx[int(np.argmax(score))])


class IPScheduler:
    """Executes an IP plan at decision points; re-plans on events; targets of opportunity pre-empt.

    Parameters
    ----------
    slice_s
        Slice length in seconds.
    horizon_s
        How far ahead each plan looks (seconds).
    max_requests
        Requests per plan (the most valuable and hardest to place; the rest fill in).
    replan_every_s
        Re-plan at least this often (seconds), besides the events.
    min_replan_s
        Events (weather turning, faults, new requests) re-plan at most this often (seconds).
    """

    name = "ip"

    def __init__(self, slice_s: float = 900.0, horizon_s: float = 6 * 3600.0, max_requests: int = 200,
                 replan_every_s: float = 2 * 3600.0, time_limit_s: float = 1.0, mip_rel_gap: float = 0.05,
                 min_replan_s: float = 900.0) -> None:
        self.slice_s = slice_s
        self.horizon_s = horizon_s
        self.max_requests = max_requests
        self.replan_every_s = replan_every_s
        self.time_limit_s = time_limit_s
        self.mip_rel_gap = mip_rel_gap
        self.min_replan_s = min_replan_s
        self.sites: Mapping[str, Site] = {}
        self.reset()

    def attach(self, network: Any) -> None:
        """Give the planner the network's sites (the Site interface) to look ahead with."""
        self.sites = network.sites

    def reset(self, seed: int | None = None) -> None:
        self._plan: dict[tuple[str, str], list[PlanEntry]] = {}
        self._plan_t = -math.inf
        self._n_requests = -1
        self._seen: dict[str, tuple[bool, tuple[str, ...]]] = {}
        self._done: dict[str, int] = {}
        self._last_cal: dict[tuple[str, str], float] = {}
        self._too = np.zeros(0, dtype=bool)
        self.replans = 0

    # ------------------------------------------------------------------ planning
    def _events(self, point: DecisionPoint) -> bool:
        faults = tuple(sorted(set(point.state.faults) | {f for t in point.state.telescopes for f in t.faults}))
        now = (point.conditions.weather.safe, faults)
        changed = self._seen.get(point.site, now) != now
        self._seen[point.site] = now
        if point.t_s >= self._plan_t + self.replan_every_s:
            return True
        # events re-plan at most once per slice (targets of opportunity pre-empt in between anyway)
        return (changed or len(point.priority) != self._n_requests) and point.t_s >= self._plan_t + self.min_replan_s

    def _replan(self, point: DecisionPoint) -> None:
        t = point.t_s
        n = len(point.priority)  # the arrays are the pool at the decision; the list may have grown since
        reqs = point.candidates[:n]
        visits_left = np.array([max(0, r.visits - self._done.get(r.id, 0)) for r in reqs])
        ends = np.array([r.window_end_s for r in reqs])
        open_ = (visits_left > 0) & (ends > t)
        idx = np.flatnonzero(open_)
        # rank: priority, then the generator's survey order (coverage, then expected yield); cap at max_requests
        done = np.array([self._done.get(reqs[j].id, 0) for j in idx])
        pos = np.empty(len(idx), dtype=np.int64)
        pos[survey_order(done, point.priority[idx], point.alt_deg[idx], point.conditions.weather.transparency)] = np.arange(len(idx))
        order = np.lexsort((pos, -point.priority[idx]))
        chosen = idx[order][: self.max_requests]
        self._plan_t = t
        self._n_requests = n
        self.replans += 1
        if len(chosen) == 0 or not self.sites:
            self._plan = {}
            return
        sub = [reqs[j] for j in chosen]
        res = plan_ip(self.sites, sub, point.visit_s[chosen], visits_left[chosen], t, t + self.horizon_s,
                      slice_s=self.slice_s, time_limit_s=self.time_limit_s, mip_rel_gap=self.mip_rel_gap, now_s=t)
        plan: dict[tuple[str, str], list[PlanEntry]] = {}
        for e in res.entries:
            plan.setdefault((e.site, e.telescope), []).append(e)
        self._plan = plan

    # ------------------------------------------------------------------ executing
    def decide(self, point: DecisionPoint) -> Decision:
        if self._events(point):
            self._replan(point)
        key = (point.site, point.telescope)
        tel = next(t for t in point.state.telescopes if t.name == point.telescope)
        cal = calibration_due(tel, point.t_s, self._last_cal.setdefault(key, point.t_s), point.conditions.weather.cloud_cover)
        if cal is not None:
            self._last_cal[key] = point.t_s
            return cal
        feas = point.feasible
        if not feas.any():
            return Wait(IDLE_WAIT_S)
        site = self.sites.get(point.site)
        # targets of opportunity pre-empt the plan
        too = np.flatnonzero(feas & self._is_too(point))
        if len(too):
            j = int(too[np.lexsort((too, -point.priority[too] * np.sin(point.alt_deg[too] * _D2R)))][0])
            return self._observe(point, j)
        planned = self._plan.get(key, [])
        horizon = point.t_s + self.slice_s
        cur = [e for e in planned if e.t_start_s <= horizon and e.t_start_s + 2 * self.slice_s >= point.t_s]
        self._plan[key] = [e for e in planned if e.t_start_s + 2 * self.slice_s >= point.t_s]
        index = {e.request_id: e for e in cur}
        cand = [j for j in (self._pool_index(point, rid) for rid in index) if j is not None and feas[j]]
        if cand and site is not None:
            j = slew_aware_choice(site, point, np.array(cand))
            self._plan[key].remove(index[point.candidates[j].id])
            return self._observe(point, j)
        idx = np.flatnonzero(feas)
        j = slew_aware_choice(site, point, idx) if site is not None else int(idx[np.argmax(point.priority[idx] * np.sin(point.alt_deg[idx] * _D2R))])
        return self._observe(point, j)

    def _is_too(self, point: DecisionPoint) -> np.ndarray:
        n = len(point.priority)
        if len(self._too) != n:
            old = len(self._too) if len(self._too) < n else 0
            add = np.array([r.kind == RequestKind.TOO for r in point.candidates[old:n]], dtype=bool)
            self._too = np.concatenate([self._too[:old], add])
        return self._too

    def _pool_index(self, point: DecisionPoint, rid: str) -> int | None:
        if getattr(self, "_index_n", -1) != len(point.candidates):
            self._index = {r.id: j for j, r in enumerate(point.candidates)}
            self._index_n = len(point.candidates)
        return self._index.get(rid)

    def _observe(self, point: DecisionPoint, j: int) -> Decision:
        rid = point.candidates[j].id
        self._done[rid] = self._done.get(rid, 0) + 1
        return Observe(rid)

    predict = decide

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"name": self.name, "slice_s": self.slice_s, "horizon_s": self.horizon_s,
                                          "max_requests": self.max_requests, "replan_every_s": self.replan_every_s,
                                          "time_limit_s": self.time_limit_s, "mip_rel_gap": self.mip_rel_gap,
                                          "min_replan_s": self.min_replan_s}))

    @classmethod
    def load(cls, path: str | Path) -> "IPScheduler":
        d = json.loads(Path(path).read_text())
        d.pop("name")
        return cls(**d)
