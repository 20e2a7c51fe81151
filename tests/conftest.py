"""Shared fixtures: fixed real sites, epochs and small scenarios."""

from __future__ import annotations

from pathlib import Path

import pytest

from skytwin.scenarios import load_scenario
from skytwin.scenarios.schema import Scenario

REPO = Path(__file__).resolve().parents[1]
REALDATA = REPO.parent / "shared" / "realdata"


@pytest.fixture(scope="session")
def one_site() -> Scenario:
    return load_scenario("one_site_night")


@pytest.fixture(scope="session")
def six_sites() -> Scenario:
    return load_scenario("six_site_week")


@pytest.fixture
def realdata() -> Path:
    if not REALDATA.exists():
        pytest.skip(f"{REALDATA} not present")
    return REALDATA


@pytest.fixture
def seed_actions():
    """Seed every agent's action space of a PettingZoo env, so that the libraries' checkers,
    which sample actions from unseeded spaces, test the same steps on every run."""

    def seed(env, seed: int = 0):  # type: ignore[no-untyped-def]
        for i, agent in enumerate(env.possible_agents):
            env.action_space(agent).seed(seed + i)
        return env

    return seed
