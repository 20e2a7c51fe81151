"""Quality agents: the frame-quality CNN, its classical baseline, and their labels.

    from skytwin.agents.quality import load_default
    labels, probabilities, reasons = load_default().predict(frames)

``frames``: 2-D images (ADU), ``RenderedFrame`` objects or FITS paths, one or
a list. Unreadable frames come back ``bad`` with the reason ``unreadable: ...``.
"""

from __future__ import annotations

from skytwin.agents.quality.labels import LABELS, REASONS
from skytwin.agents.quality.model import QualityModel, QualityResult, load_default


def predict(frames, headers=None):  # type: ignore[no-untyped-def]
    """``load_default().predict(frames, headers)`` with the model cached."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_default()
    return _DEFAULT.predict(frames, headers)


_DEFAULT: QualityModel | None = None

__all__ = ["LABELS", "REASONS", "QualityModel", "QualityResult", "load_default", "predict"]
