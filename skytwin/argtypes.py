"""Argument types for the ``skytwin`` command: one message style for bad numbers."""

from __future__ import annotations

import argparse
import math


def whole_number(minimum: int, what: str = "a number") -> "argparse._ActionType":  # type: ignore[name-defined]
    """An argparse type accepting whole numbers >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"expected {what} >= {minimum}, got {v}")
        return v

    return parse


def real_number(minimum: float, maximum: float = float("inf"), what: str = "a number",
                open_minimum: bool = False) -> "argparse._ActionType":  # type: ignore[name-defined]
    """An argparse type accepting finite numbers in ``[minimum, maximum]`` (above
    ``minimum`` with ``open_minimum``)."""

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        low_ok = v > minimum if open_minimum else v >= minimum
        if not (math.isfinite(v) and low_ok and v <= maximum):
            low = f"above {minimum:g}" if open_minimum else f">= {minimum:g}"
            high = "" if math.isinf(maximum) else f" and <= {maximum:g}"
            raise argparse.ArgumentTypeError(f"expected {what} {low}{high} (finite), got {text}")
        return v

    return parse
