"""Exceptions and warnings raised by skytwin.

Which exception is raised when:

- ``SkytwinError``: base class of every error skytwin raises on purpose.
- ``ScenarioError``: a scenario file cannot be read or fails validation; the
  message names the file, the field path, the value and what was expected.
- ``SkytwinRangeError``: a number outside its allowed range (also a
  ``ValueError``); carries ``value``, ``min`` and ``max``.
- ``UnknownNameError``: a name (scenario, site, agent, filter) that is not known
  (also a ``KeyError``); carries the name and the known choices.
- ``SafetyViolation``: a command refused by the safety layer (below the horizon
  limit, too close to the Sun, opening the dome while unsafe). Raised only
  where a caller asks for strict mode; the Site otherwise refuses quietly and
  records the refusal as an event.
- ``EventLogError``: an event log file cannot be read back.

Warnings (``SkytwinWarning`` and subclasses) flag questionable but legal input.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class SkytwinError(Exception):
    """Base class of skytwin's errors."""


class ScenarioError(SkytwinError):
    """A scenario file that cannot be loaded.

    Parameters
    ----------
    source
        The file (or the bundled name) the scenario came from.
    problems
        One line per problem: ``field.path: value -- what was expected``.
    """

    def __init__(self, source: str, problems: Iterable[str]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid scenario {source}:\n{lines}")


class SkytwinRangeError(SkytwinError, ValueError):
    """A value outside its allowed range."""

    def __init__(self, message: str, value: Any, min: Any = None, max: Any = None) -> None:
        self.value = value
        self.min = min
        self.max = max
        bounds = f"[{'-inf' if min is None else min}, {'inf' if max is None else max}]"
        super().__init__(f"{message}: {value!r} is outside {bounds}")


class UnknownNameError(SkytwinError, KeyError):
    """A name that is not among the known choices."""

    def __init__(self, what: str, name: str, choices: Iterable[str]) -> None:
        self.name = name
        self.choices = sorted(choices)
        super().__init__(f"unknown {what} {name!r}; known: {', '.join(self.choices)}")

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class SafetyViolation(SkytwinError):
    """A command the safety layer refused."""

    def __init__(self, site: str, command: str, reason: str) -> None:
        self.site = site
        self.command = command
        self.reason = reason
        super().__init__(f"{site}: {command} refused: {reason}")


class EventLogError(SkytwinError):
    """An event log file that cannot be read back."""


class SkytwinWarning(UserWarning):
    """Base class of skytwin's warnings."""


class ScenarioWarning(SkytwinWarning):
    """A scenario value that is legal but probably not what was meant."""
