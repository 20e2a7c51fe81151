"""Schedulers: what a free telescope observes next."""

from skytwin.agents.scheduling.baselines import GreedyScheduler, RandomScheduler

SCHEDULERS = {"greedy": GreedyScheduler, "random": RandomScheduler}

__all__ = ["GreedyScheduler", "RandomScheduler", "SCHEDULERS"]
