"""Action masks against the twin's hard constraints and safety layer; identical worlds per seed."""

from __future__ import annotations

import numpy as np

from skytwin.envs import rewards as R
from skytwin.envs.core import NetworkCore
from skytwin.envs.dispatch import DispatchEnv
from skytwin.envs.observations import select_candidates


def _observe_refusals(core: NetworkCore) -> list[dict]:
    return [r for r in core.net.log.rows("refused") if r["command"].startswith("observe")]


def test_every_allowed_action_is_feasible(one_site):
    core = NetworkCore(one_site, ("scheduler",))
    core.reset(5)
    rng = np.random.default_rng(0)
    n = 0
    while (item := core.next_item()) is not None:
        point = item.payload
        allowed = np.flatnonzero(item.mask)
        for a in allowed[allowed < core.k]:
            assert point.feasible[item.shown[a]]
        core.act(item, int(rng.choice(allowed)))
        n += 1
    assert n > 50
    assert _observe_refusals(core) == []


def test_forbidden_action_is_refused_penalised_and_not_executed(one_site):
    env = DispatchEnv(one_site)
    env.reset(seed=2)
    for _ in range(500):
        item = env._item
        mask = env.action_masks()
        forbidden = [a for a in range(len(item.shown)) if not mask[a]]
        if forbidden:
            break
        env.step(int(np.flatnonzero(mask)[0]))
    else:
        raise AssertionError("no decision point with a forbidden candidate")
    a = forbidden[0]
    rid = item.payload.candidates[int(item.shown[a])].id
    t0 = item.t_s
    _, reward, *_ = env.step(a)
    assert reward <= R.REFUSED_PENALTY + 1e-9 or reward < 0
    log = env.core.net.log
    refused = [r for r in log.rows("refused") if r["command"] == f"observe {rid}"]
    assert refused and refused[0]["t_s"] == t0
    frames = [r for r in log.rows("frame") if r["request_id"] == rid and r["t_s"] >= t0 and r["t_s"] < t0 + 30.0]
    assert frames == []
    assert env.core.stats["refused"] == 1


def test_candidate_selection_is_stable_and_feasible_first(one_site):
    core = NetworkCore(one_site, ("scheduler",))
    core.reset(1)
    item = core.next_item()
    p = item.payload
    idx = select_candidates(p, 16)
    assert list(idx) == list(select_candidates(p, 16))
    feas = p.feasible[idx]
    assert not (np.diff(feas.astype(int)) > 0).any(), "feasible candidates come first"
    score = p.priority[idx] * np.sin(np.radians(p.alt_deg[idx]))
    for same in (True, False):
        s = score[feas == same]
        assert (np.diff(s) <= 1e-12).all()


def _exogenous(core: NetworkCore) -> tuple:
    log = core.net.log

    def rows(kind: str) -> list[dict]:  # without "seq": the order of recording interleaves with agents' events
        return [{k: v for k, v in r.items() if k != "seq"} for r in log.rows(kind)]

    return rows("weather"), rows("alert"), rows("fault"), rows("fault_end")


def test_two_agents_same_seed_see_the_same_world(six_sites):
    worlds = []
    for policy in ("first", "random"):
        core = NetworkCore(six_sites, ("scheduler",), nights=1)
        core.reset(11)
        rng = np.random.default_rng(1)
        while (item := core.next_item()) is not None:
            allowed = np.flatnonzero(item.mask)
            core.act(item, int(allowed[0] if policy == "first" else rng.choice(allowed)))
        worlds.append(_exogenous(core))
        assert core.stats["scheduler_decisions"] > 100
    assert worlds[0] == worlds[1]
    assert len(worlds[0][0]) > 0


def test_two_telescopes_free_at_once_never_get_the_same_request(one_site):
    site = one_site.sites[0]
    t2 = site.telescopes[0].model_copy(update={"name": "t2"})
    scenario = one_site.model_copy(update={"sites": [site.model_copy(update={"telescopes": [site.telescopes[0], t2]})]})
    core = NetworkCore(scenario, ("scheduler",))
    core.reset(5)
    while (item := core.next_item()) is not None:
        allowed = np.flatnonzero(item.mask)
        core.act(item, int(allowed[0]))  # both telescopes would take the top candidate
    assert core.stats["scheduler_decisions"] > 100
    assert _observe_refusals(core) == []
