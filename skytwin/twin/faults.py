"""Hardware and link faults: scheduled ones from the scenario and random ones.

Random faults of each type arrive as a Poisson process with the scenario's
MTBF and last an exponential time with mean MTTR. They are drawn per
``(seed, site, type, day)``, so any day's faults can be regenerated alone and
never depend on what agents do.
"""

from __future__ import annotations

from dataclasses import dataclass

from skytwin.scenarios.schema import Scenario
from skytwin.twin.rng import stream

DAY_S = 86400.0  # s


@dataclass(frozen=True, slots=True, order=True)
class Fault:
    start_s: float
    site: str
    type: str  # mount_stall, camera_failure, dome_stuck, power_loss, network_outage, link_outage
    duration_s: float
    telescope: str = ""  # for mount/camera faults

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


TELESCOPE_FAULTS = ("mount_stall", "camera_failure")


def fault_schedule(scenario: Scenario, seed: int, end_s: float) -> list[Fault]:
    """All faults in ``[0, end_s)``, sorted by start time."""
    out: list[Fault] = []
    for f in scenario.faults.scheduled:
        site = scenario.site(f.site)
        tel = f.telescope or (site.telescopes[0].name if f.type in TELESCOPE_FAULTS else "")
        out.append(Fault(f.at_h * 3600.0, f.site, f.type, f.duration_h * 3600.0, tel))
    n_days = int(end_s // DAY_S) + 1
    for site in scenario.sites:
        rates = dict(scenario.faults.random)
        for ftype, rate in sorted(rates.items()):
            targets = [t.name for t in site.telescopes] if ftype in TELESCOPE_FAULTS else [""]
            for tel in targets:
                out.extend(_poisson(seed, site.name, ftype, tel, rate.mtbf_h, rate.mttr_h, n_days, end_s))
        # the site's own link statistics
        out.extend(_poisson(seed, site.name, "link_outage", "", site.link.mtbf_h, site.link.mttr_h, n_days, end_s))
    return sorted(out)


def _poisson(seed: int, site: str, ftype: str, tel: str, mtbf_h: float, mttr_h: float, n_days: int, end_s: float) -> list[Fault]:
    out = []
    lam = 24.0 / mtbf_h  # expected onsets per day
    for day in range(n_days):
        rng = stream(seed, "faults", site, ftype, tel, day)
        n = rng.poisson(lam)
        if n == 0:
            continue
        starts = day * DAY_S + rng.uniform(0.0, DAY_S, n)
        durations = rng.exponential(mttr_h * 3600.0, n)
        for s, d in zip(sorted(starts), durations):
            if s < end_s:
                out.append(Fault(float(s), site, ftype, float(d), tel))
    return out
