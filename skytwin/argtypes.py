"""Argument types for the ``skytwin`` command: one message style for bad numbers."""

from __future__ import annotations

import argparse


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
