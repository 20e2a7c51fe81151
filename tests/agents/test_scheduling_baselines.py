"""Every scheduler runs a night; greedy beats random and the IP planner beats greedy on science value."""

from __future__ import annotations

import numpy as np
import pytest

from skytwin.agents.protocol import Policy, Scheduler
from skytwin.agents.scheduling import SCHEDULERS
from skytwin.evaluation.runner import make_scheduler, run_scenario


def _science(scenario, agent: str, seeds: list[int], nights: int | None = None) -> float:
    return float(np.mean([run_scenario(scenario, agent, seed=s, nights=nights).summary["science_value"] for s in seeds]))


@pytest.mark.parametrize("name", ["random", "greedy", "ip"])
def test_protocol_and_save_load(name, tmp_path):
    s = make_scheduler(name, 1)
    assert isinstance(s, Scheduler) and isinstance(s, Policy)
    s.save(tmp_path / "s.json")
    assert type(s).load(tmp_path / "s.json").name == name


def test_registry_names():
    assert set(SCHEDULERS) == {"random", "greedy", "astroplan", "ip"}


def test_ranking_one_site_night(one_site):
    seeds = [1, 2]
    random_, greedy, ip = (_science(one_site, a, seeds) for a in ("random", "greedy", "ip"))
    assert greedy > random_
    assert ip > greedy


@pytest.mark.slow
def test_astroplan_runs_one_site_night(one_site):
    r = run_scenario(one_site, "astroplan")
    assert r.summary["science_value"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("agent", ["random", "greedy", "ip", "astroplan"])
def test_each_baseline_runs_a_six_site_week_night(six_sites, agent):
    r = run_scenario(six_sites, agent, nights=1)
    assert r.summary["frames"] > 100


@pytest.mark.slow
def test_ranking_six_site_week(six_sites):
    seeds = [1, 2, 3]
    random_, greedy, ip = (_science(six_sites, a, seeds, nights=1) for a in ("random", "greedy", "ip"))
    assert greedy > random_
    assert ip > greedy


def test_ip_runs_as_the_builtin_scheduler_of_an_env_with_growing_requests(one_site):
    from skytwin.agents.scheduling.planner_ip import IPScheduler
    from skytwin.envs.core import NetworkCore

    core = NetworkCore(one_site, ("detector",), scheduler=IPScheduler())
    core.reset(3)
    for _ in range(60):  # enough candidates for follow-ups to land mid-decision
        item = core.next_item()
        if item is None:
            break
        core.act(item, 1)  # call everything real: follow-ups grow the request list mid-decision
    assert core.stats["followups"] > 0 and core.stats["scheduler_decisions"] > 20
