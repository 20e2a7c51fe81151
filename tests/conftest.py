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
