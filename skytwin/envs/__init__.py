"""Environments over a scenario: PettingZoo (AEC and Parallel) and Gymnasium views.

Importing this package registers the Gymnasium ids ``skytwin/Dispatch-v0``,
``skytwin/Quality-v0`` and ``skytwin/Detection-v0``. The PettingZoo network
environment is :mod:`skytwin.envs.network_v0` (``env()``, ``parallel_env()``).
"""

from skytwin.envs.registry import GYM_ENVS, PETTINGZOO_ENVS, ROLE_COMBINATIONS, register_all

register_all()

__all__ = ["GYM_ENVS", "PETTINGZOO_ENVS", "ROLE_COMBINATIONS", "register_all"]
