"""Saving and loading the edge models' weights, and finding the shipped ones.

One format for every model: a ``torch.save`` of ``{"state_dict", "meta"}``,
read back with ``weights_only=True`` (no pickled code runs on load).
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from skytwin.errors import SkytwinError


def weights_path(name: str) -> Path:
    """Path of a shipped weights file in ``skytwin/agents/weights``."""
    return Path(str(resources.files("skytwin.agents").joinpath("weights", name)))


def save_state(module: torch.nn.Module, path: str | Path, meta: Mapping[str, Any] | None = None) -> None:
    torch.save({"state_dict": module.state_dict(), "meta": dict(meta or {})}, path)


def load_state(module: torch.nn.Module, path: str | Path, what: str) -> torch.nn.Module:
    """Load ``path`` into ``module``; a clear error names the file and the model."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        module.load_state_dict(blob["state_dict"])
    except (OSError, RuntimeError, KeyError, TypeError) as exc:
        raise SkytwinError(f"{path}: cannot load {what} weights: {exc}") from exc
    return module


def shipped(name: str, what: str, command: str) -> Path:
    """The shipped weights file ``name``, or an error that says how to make it."""
    p = weights_path(name)
    if not p.is_file():
        raise SkytwinError(f"{p}: shipped {what} weights missing; run 'skytwin train {command}'")
    return p
