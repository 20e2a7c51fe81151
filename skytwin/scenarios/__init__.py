"""Scenario files: schema, loader and the bundled scenarios."""

from skytwin.scenarios.loader import bundled_names, load_scenario, parse_scenario
from skytwin.scenarios.schema import Scenario

__all__ = ["Scenario", "bundled_names", "load_scenario", "parse_scenario"]
