"""Rewards per role, in one place (all dimensionless).

Scheduler (``<site>.scheduler``)
    * ``+ priority / count * QUALITY_WEIGHT[true label]`` for every frame its
      site's telescopes take that the quality role keeps: the science value of
      frames actually kept, weighted by program priority and true quality
      (a full visit of good frames earns its priority, like the summary's
      science value);
    * ``+ TOO_BONUS * priority * exp(-delay / TOO_TAU_S)`` more for a kept frame
      of a target of opportunity, ``delay`` the time since the alert;
    * ``REFUSED_PENALTY`` for choosing a candidate the action mask forbids (the
      safety layer refuses it; the telescope loses 30 s);
    * ``IDLE_PENALTY`` for closing and waiting while feasible candidates existed.

Quality (``<site>.quality``): ``QUALITY_REWARD[(true label, action)]``; keeping
a bad frame costs most, discarding a good one costs too.

Detector (``<site>.detector``): ``+1`` for a real transient called real
(``+TOO_DETECTION_BONUS`` more in a target-of-opportunity frame), ``FALSE_ALERT``
for a bogus one called real, ``MISSED_TRANSIENT`` for a real one called bogus,
``+0.1`` for a bogus one called bogus.
"""

from __future__ import annotations

import math

QUALITY_LABELS = ("good", "medium", "bad")
QUALITY_WEIGHT = {"good": 1.0, "medium": 0.5, "bad": 0.0}
TOO_BONUS = 0.5
TOO_TAU_S = 7200.0  # s: timeliness e-folding time after an alert
REFUSED_PENALTY = -1.0
IDLE_PENALTY = -0.05

QUALITY_REWARD = {
    ("good", "good"): 1.0, ("good", "medium"): 0.0, ("good", "bad"): -1.0,
    ("medium", "good"): 0.0, ("medium", "medium"): 1.0, ("medium", "bad"): -0.5,
    ("bad", "good"): -2.0, ("bad", "medium"): -1.0, ("bad", "bad"): 1.0,
}

TRUE_POSITIVE = 1.0
TOO_DETECTION_BONUS = 1.0
FALSE_ALERT = -1.0
MISSED_TRANSIENT = -2.0
TRUE_NEGATIVE = 0.1


def frame_science(priority: float, count: int, true_label: str, too_delay_s: float | None) -> float:
    """Scheduler reward for one kept frame."""
    r = priority / max(1, count) * QUALITY_WEIGHT[true_label]
    if too_delay_s is not None:
        r += TOO_BONUS * priority / max(1, count) * math.exp(-max(0.0, too_delay_s) / TOO_TAU_S)
    return r


def detector_reward(real: bool, called_real: bool, too: bool) -> float:
    if real and called_real:
        return TRUE_POSITIVE + (TOO_DETECTION_BONUS if too else 0.0)
    if real:
        return MISSED_TRANSIENT
    return FALSE_ALERT if called_real else TRUE_NEGATIVE
