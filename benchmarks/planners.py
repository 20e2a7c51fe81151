"""IP planner vs astroplan's PriorityScheduler on six sites x one night x 200 requests.

Both plan the same requests from the twin's six_site_week network at its
epoch, over the next 24 hours: the IP planner all sites at once
(``scipy.optimize.milp``), astroplan site by site (a request that has had all
its visits planned at earlier sites is not offered again). Science value is
the sum of priority over planned visits; since astroplan knows nothing of
cadence, both plans are also scored under the requests' own rules (visits at
least ``cadence_s`` apart, at most ``visits``), and that figure decides which
is better. Prints one JSON line last.

    python benchmarks/planners.py [--requests 200] [--skip-astroplan]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's skytwin

from skytwin.agents.scheduling.planner_astroplan import plan_astroplan
from skytwin.agents.scheduling.planner_ip import plan_ip
from skytwin.scenarios import load_scenario
from skytwin.twin.network import TwinNetwork


def valid_value(visits: list[tuple[float, str]], reqs: list) -> tuple[float, int]:
    """Science value of a plan under the requests' own rules: visits at least ``cadence_s`` apart, at most ``visits``."""
    by_id = {r.id: r for r in reqs}
    last: dict[str, float] = {}
    count: dict[str, int] = {}
    value, n = 0.0, 0
    for t, rid in sorted(visits):
        r = by_id[rid]
        if count.get(rid, 0) >= r.visits or t - last.get(rid, -np.inf) < r.cadence_s:
            continue
        last[rid] = t
        count[rid] = count.get(rid, 0) + 1
        value += r.priority
        n += 1
    return value, n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--skip-astroplan", action="store_true")
    args = ap.parse_args()
    net = TwinNetwork(load_scenario("six_site_week"), nights=1)
    pool = net.pool
    mon = [j for j, r in enumerate(pool.requests) if r.program == "monitoring"]
    survey = [j for j, r in enumerate(pool.requests) if r.program == "survey"]
    step = max(1, len(survey) // (args.requests - len(mon)))
    chosen = mon + survey[::step][: args.requests - len(mon)]
    reqs = [pool.requests[j] for j in chosen]
    visit_s = pool.visit_s[chosen]
    visits = np.array([r.visits for r in reqs])
    t0, t1 = 0.0, 86400.0

    t = time.perf_counter()
    res = plan_ip(net.sites, reqs, visit_s, visits, t0, t1, slice_s=900.0, time_limit_s=8.0, now_s=0.0)
    ip_s = time.perf_counter() - t
    ip_value = float(sum(reqs[e.request].priority for e in res.entries))
    ip_valid, ip_nvalid = valid_value([(e.t_start_s, e.request_id) for e in res.entries], reqs)
    print(f"ip: {len(res.entries)} visits planned, value {ip_value:.1f} (respecting cadence: {ip_valid:.1f}, {ip_nvalid} visits), "
          f"{res.n_variables} variables, {ip_s:.2f} s ({res.status})")

    out = {"requests": len(reqs), "sites": len(net.sites), "ip_s": round(ip_s, 3), "ip_value": ip_value,
           "ip_visits": len(res.entries), "ip_value_cadence_ok": ip_valid}
    if not args.skip_astroplan:
        left = {r.id: r.visits for r in reqs}
        a_value, a_visits = 0.0, 0
        a_all: list[tuple[float, str]] = []
        t = time.perf_counter()
        for name, site in net.sites.items():
            night = next(((a, b) for a, b in site.nights() if a < t1), None)
            if night is None:
                continue
            filters = {f for tel in site.state().telescopes for f in tel.filters}
            idx = [k for k, r in enumerate(reqs) if left[r.id] > 0 and r.filter in filters and (r.site in (None, name))]
            entries = plan_astroplan(site, [reqs[k] for k in idx], visit_s[idx], night[0], min(night[1], t1))
            for e in entries:  # one plan per site (its telescopes share the filters these requests need)
                a_all.append((e.t_start_s, e.request_id))
                left[e.request_id] -= 1
                a_value += e.priority
                a_visits += 1
            print(f"astroplan: {name} done, {time.perf_counter() - t:.1f} s so far", flush=True)
        astro_s = time.perf_counter() - t
        a_valid, a_nvalid = valid_value(a_all, reqs)
        print(f"astroplan: {a_visits} visits planned, value {a_value:.1f} (respecting cadence: {a_valid:.1f}, {a_nvalid} visits), {astro_s:.2f} s")
        out.update({"astroplan_s": round(astro_s, 3), "astroplan_value": a_value, "astroplan_visits": a_visits,
                    "astroplan_value_cadence_ok": a_valid, "ip_faster": ip_s < astro_s, "ip_better": ip_valid > a_valid})
    out["machine"] = f"{platform.machine()} {platform.python_version()}"
    print(json.dumps(out))


if __name__ == "__main__":
    main()
