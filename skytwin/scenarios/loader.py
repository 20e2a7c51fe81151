"""Loading scenario files: YAML in, a validated :class:`Scenario` out.

Every way a file can be wrong (not there, empty, not YAML, not a mapping,
failing the schema) ends in one :class:`~skytwin.errors.ScenarioError` whose
message names the file, the field path, the value and what was expected.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from skytwin.errors import ScenarioError
from skytwin.scenarios.schema import Scenario

_BUNDLED = resources.files("skytwin.scenarios") / "bundled"


def bundled_names() -> list[str]:
    """Names of the scenarios shipped with skytwin."""
    return sorted(p.name[:-5] for p in _BUNDLED.iterdir() if p.name.endswith(".yaml"))


def resolve(name_or_path: str | Path) -> tuple[str, str]:
    """Return ``(source label, text)`` for a bundled name or a file path."""
    text_name = str(name_or_path)
    if text_name in bundled_names():
        return f"{text_name} (bundled)", (_BUNDLED / f"{text_name}.yaml").read_text()
    path = Path(name_or_path)
    if not path.exists():
        raise ScenarioError(
            text_name, [f"no such file, and not a bundled scenario (bundled: {', '.join(bundled_names())})"]
        )
    if path.is_dir():
        raise ScenarioError(text_name, ["is a directory, expected a YAML file"])
    try:
        return str(path), path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(str(path), [f"not text (UTF-8): {exc.reason} at byte {exc.start}"]) from None
    except OSError as exc:
        raise ScenarioError(str(path), [f"cannot read: {exc.strerror}"]) from None


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load and validate a scenario by bundled name or path."""
    source, text = resolve(name_or_path)
    return parse_scenario(text, source)


def parse_scenario(text: str, source: str = "<string>") -> Scenario:
    """Validate scenario YAML ``text``; ``source`` names it in errors."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError(source, [f"not valid YAML: {where}{problem}"]) from None
    if data is None:
        raise ScenarioError(source, ["the file is empty; expected a mapping with at least 'name', 'epoch' and 'sites'"])
    if not isinstance(data, dict):
        raise ScenarioError(source, [f"expected a mapping at the top level, got {type(data).__name__}: {_short(data)}"])
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(source, _problems(exc, data)) from None
    except (TypeError, ValueError, OverflowError) as exc:  # e.g. yaml tags pydantic cannot coerce
        raise ScenarioError(source, [f"cannot interpret the file: {exc}"]) from None


def _problems(exc: ValidationError, data: Any) -> list[str]:
    out = []
    for err in exc.errors(include_url=False):
        path = _path(err["loc"], data)
        msg = err["msg"]
        if err["type"] == "missing":
            out.append(f"{path}: missing -- this field is required")
        elif err["type"] == "extra_forbidden":
            out.append(f"{path}: unknown key -- not a field here (check the spelling)")
        else:
            value = err.get("input")
            out.append(f"{path}: {_short(value)} -- {msg}")
    return out


def _path(loc: tuple[Any, ...], data: Any) -> str:
    """Render a pydantic location as ``sites[0].climate.clear_fraction``."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
