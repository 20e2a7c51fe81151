"""Saving and loading the edge models' weights, and finding the shipped ones.

One format for every model: a ``torch.save`` of ``{"state_dict", "meta"}``,
read back with ``weights_only=True`` (no pickled code runs on load).
"""

from __future__ import annotations

import pickle
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
    """Load ``path`` into ``module``; a clear error names the file and the model.

    Raises
    ------
    SkytwinError
        The file cannot be read as saved weights (any reason: a text file, an
        empty or truncated one, another format), or it holds another model's.
    """
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - OSError, UnpicklingError, EOFError, ...
        # the first line only: torch's unpickling error goes on to advise weights_only=False,
        # which would run whatever code the file holds
        first = "" if isinstance(exc, pickle.UnpicklingError) else (str(exc).splitlines() or [""])[0][:100]
        raise SkytwinError(f"{path}: not a weights file skytwin can read "
                           f"({type(exc).__name__}{': ' + first if first else ''})") from exc
    state = blob.get("state_dict") if isinstance(blob, dict) else None
    if not isinstance(state, dict):
        raise SkytwinError(f"{path}: not a skytwin weights file (no state_dict)")
    if set(state) != set(module.state_dict()):
        raise SkytwinError(f"{path}: not {what} weights (its {len(state)} tensors are another "
                           "model's)")
    try:
        module.load_state_dict(state)
    except (RuntimeError, TypeError) as exc:  # same names, other shapes
        raise SkytwinError(f"{path}: cannot load {what} weights: {exc}") from exc
    return module


def load_meta(path: str | Path) -> dict[str, Any]:
    """The ``meta`` saved beside the weights ({} when there is none)."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    meta = blob.get("meta") if isinstance(blob, dict) else None
    return dict(meta) if isinstance(meta, dict) else {}


def shipped(name: str, what: str, command: str) -> Path:
    """The shipped weights file ``name``, or an error that says how to make it."""
    p = weights_path(name)
    if not p.is_file():
        raise SkytwinError(f"{p}: shipped {what} weights missing; run 'skytwin train {command}'")
    return p
