"""Run summaries from an event log: per site and per program.

Per site: open-shutter hours, frames, slew overhead (hours), night hours lost
to unsafe weather, faults. Per program: visits done, requests completed, and
the science value (sum of priority over completed visits).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from skytwin.twin.eventlog import EventLog
from skytwin.twin.weather import SAMPLE_S

NIGHT_SUN_ALT_DEG = -12.0


def summarize(log: EventLog, sites: list[str], completed: dict[str, tuple[int, int]] | None = None) -> dict[str, Any]:
    per_site: dict[str, dict[str, float]] = {
        s: {"open_shutter_h": 0.0, "frames": 0, "slew_overhead_h": 0.0, "weather_loss_h": 0.0, "faults": 0, "refused": 0}
        for s in sites
    }
    for r in log.rows("frame"):
        d = per_site[r["site"]]
        d["frames"] += 1
        d["open_shutter_h"] += r["exptime_s"] / 3600.0
    for r in log.rows("command"):
        if r["command"].startswith("slew"):
            per_site[r["site"]]["slew_overhead_h"] += r["duration_s"] / 3600.0
    for r in log.rows("weather"):
        if not r["safe"] and r["sun_alt_deg"] < NIGHT_SUN_ALT_DEG:
            per_site[r["site"]]["weather_loss_h"] += SAMPLE_S / 3600.0
    for r in log.rows("fault"):
        if r["fault"] != "link_outage":
            per_site[r["site"]]["faults"] += 1
    for r in log.rows("refused"):
        if r["site"] in per_site:
            per_site[r["site"]]["refused"] += 1
    per_program: dict[str, dict[str, float]] = defaultdict(lambda: {"visits": 0, "science_value": 0.0, "completed": 0, "requests": 0})
    for r in log.rows("visit_done"):
        d = per_program[r["program"]]
        d["visits"] += 1
        d["science_value"] += r["priority"]
    for prog, (done, total) in (completed or {}).items():
        per_program[prog]["completed"] = done
        per_program[prog]["requests"] = total
    for d in per_site.values():
        for k in ("open_shutter_h", "slew_overhead_h", "weather_loss_h"):
            d[k] = round(d[k], 3)
    return {
        "sites": per_site,
        "programs": {k: dict(v) for k, v in sorted(per_program.items())},
        "science_value": round(sum(d["science_value"] for d in per_program.values()), 6),
        "frames": sum(int(d["frames"]) for d in per_site.values()),
        "alerts": log.count("alert"),
        "events": len(log),
    }
