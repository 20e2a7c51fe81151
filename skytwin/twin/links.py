"""Network links between each site and the centre, with outages.

A message sent while the link is up arrives after the link's latency; one
sent during an outage waits at the sender (store-and-forward) and arrives
after the outage ends plus the latency. Nothing is lost.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable


class Link:
    """One site's link. ``outages`` are ``(start_s, end_s)`` intervals (may overlap)."""

    def __init__(self, latency_s: float, outages: Iterable[tuple[float, float]]) -> None:
        self.latency_s = latency_s
        merged: list[list[float]] = []
        for s, e in sorted(outages):
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        self.starts = [m[0] for m in merged]
        self.ends = [m[1] for m in merged]

    def up(self, t_s: float) -> bool:
        i = bisect.bisect_right(self.starts, t_s) - 1
        return not (i >= 0 and t_s < self.ends[i])

    def deliver_s(self, sent_s: float) -> float:
        """When a message sent at ``sent_s`` arrives at the other end."""
        i = bisect.bisect_right(self.starts, sent_s) - 1
        if i >= 0 and sent_s < self.ends[i]:
            return self.ends[i] + self.latency_s
        return sent_s + self.latency_s

    @property
    def outages(self) -> list[tuple[float, float]]:
        return list(zip(self.starts, self.ends))
