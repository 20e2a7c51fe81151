"""The quality classes and reasons the quality models predict.

The same vocabulary as the twin's labelling rule (``docs/frames.md``):
``good`` / ``medium`` / ``bad``, and for a non-good frame the criteria at its
grade among :data:`REASONS`, "+"-joined.
"""

from __future__ import annotations

LABELS: tuple[str, ...] = ("good", "medium", "bad")
REASONS: tuple[str, ...] = ("clouds", "seeing", "defocus", "tracking", "moonlight", "background",
                            "trail", "saturation")
