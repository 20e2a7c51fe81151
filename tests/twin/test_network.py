"""The simulated network end to end: traces, determinism, exogenous streams, faults, links."""

from __future__ import annotations

import math

import numpy as np
import pytest

from skytwin.agents.scheduling import GreedyScheduler, RandomScheduler
from skytwin.scenarios import load_scenario, parse_scenario
from skytwin.scenarios.schema import Scenario
from skytwin.site import Observe, Wait
from skytwin.site.interface import Network, Site
from skytwin.twin.network import TwinNetwork

EXOGENOUS = ("weather", "alert", "fault", "fault_end")

TINY = """
name: tiny
epoch: 2026-03-20T18:00:00Z
seed: 5
sites:
  - name: ctio
    latitude_deg: -30.165278
    longitude_deg: -70.815
    elevation_m: 2215
    climate: {clear_fraction: 1.0, humidity_mean_pct: 10, wind_median_mps: 2}
    link: {latency_s: 0.5, mtbf_h: 1.0e9, mttr_h: 1}
    dome: {open_s: 60, close_s: 60, rotation_deg_s: 100}
    telescopes:
      - name: t1
        filters: [r]
        camera: {readout_s: 10}
        mount: {max_rate_deg_s: 2, accel_deg_s2: 1, settle_s: 5}
programs:
  - name: one
    filter: r
    exptime_s: 100
    count: 2
    targets: [{name: "SN 1987A", ra_deg: 83.866, dec_deg: -69.270}]
"""


def test_network_and_sites_satisfy_the_interface(one_site: Scenario) -> None:
    net = TwinNetwork(one_site)
    assert isinstance(net.sites["cerro_tololo"], Site)
    assert isinstance(net, Network)


def test_one_visit_trace() -> None:
    """Open, slew, expose twice, visit done: the event trace of one request."""
    net = TwinNetwork(parse_scenario(TINY))
    point = net.next_decision()
    assert point is not None and point.site == "ctio"
    t0 = point.t_s
    assert point.conditions.sun_alt_deg == pytest.approx(-12.0, abs=0.02)  # nautical dusk
    assert point.feasible.tolist() == [True]
    net.decide(point, Observe("one-00000"))
    point = net.next_decision()
    trace = [(r["command"].split()[0], round(r["t_s"] - t0, 3), round(r["duration_s"], 3)) for r in net.log.rows("command")]
    slew = trace[1][2]
    assert trace[0] == ("opendome", 0.0, 60.0)
    assert trace[1][0:2] == ("slew", 60.0)
    assert trace[2] == ("filter", 60.0, 0.0)
    assert trace[3] == ("expose", round(60.0 + slew, 3), 110.0)
    assert trace[4] == ("expose", round(60.0 + slew + 110.0, 3), 110.0)
    frames = net.log.rows("frame")
    assert [round(f["t_s"] - t0, 3) for f in frames] == [round(60 + slew, 3), round(60 + slew + 110, 3)]
    assert [f["request_id"] for f in frames] == ["one-00000"] * 2
    done = net.log.rows("visit_done")
    assert len(done) == 1 and done[0]["t_s"] == pytest.approx(t0 + 60 + slew + 220)
    # the request is finished: nothing left to do
    assert point is not None and not point.feasible.any()


def _run(scenario: Scenario, seed: int, scheduler: object) -> TwinNetwork:
    net = TwinNetwork(scenario, seed=seed)
    net.run(scheduler.decide)  # type: ignore[attr-defined]
    return net


def test_same_seed_identical_logs_different_seed_differs(one_site: Scenario) -> None:
    a = _run(one_site, 3, GreedyScheduler())
    b = _run(one_site, 3, GreedyScheduler())
    c = _run(one_site, 4, GreedyScheduler())
    assert a.log == b.log
    assert a.log.to_table().equals(b.log.to_table())
    assert a.log != c.log
    assert a.log.column("weather", "cloud_cover") != c.log.column("weather", "cloud_cover")


def test_two_agents_face_the_same_world(six_sites: Scenario) -> None:
    scen = six_sites.model_copy(update={"nights": 2})
    a = _run(scen, 9, GreedyScheduler())
    b = _run(scen, 9, RandomScheduler(seed=1))
    assert a.log.rows("frame") != b.log.rows("frame")  # they did decide differently
    for kind in EXOGENOUS:
        strip = lambda rows: [{k: v for k, v in r.items() if k != "seq"} for r in rows]  # noqa: E731
        assert strip(a.log.rows(kind)) == strip(b.log.rows(kind)), kind
    assert [x.id for x in a.alerts()] == [x.id for x in b.alerts()]


def test_greedy_beats_random_on_science_value(one_site: Scenario) -> None:
    vals = {}
    for name, sched in (("greedy", GreedyScheduler()), ("random", RandomScheduler(seed=0))):
        net = _run(one_site, 2, sched)
        vals[name] = sum(r["priority"] for r in net.log.rows("visit_done"))
    assert vals["greedy"] > vals["random"]


def test_faults_stop_the_telescope_and_link_outage_does_not() -> None:
    scen = load_scenario("stormy_month").model_copy(update={"nights": 20})
    net = _run(scen, 23, GreedyScheduler())
    frames = net.log.rows("frame")
    # scheduled mount stall at siding_spring hours 36-66: no frames there then
    assert not [f for f in frames if f["site"] == "siding_spring" and 36 * 3600 < f["t_s"] < 66 * 3600 - 400]
    # scheduled camera failure at sutherland hours 100-148
    assert not [f for f in frames if f["site"] == "sutherland" and 100 * 3600 < f["t_s"] < 148 * 3600 - 400]
    faults = [(r["site"], r["fault"]) for r in net.log.rows("fault")]
    assert ("siding_spring", "mount_stall") in faults and ("sutherland", "dome_stuck") in faults
    # frames taken while the link was down reach the centre after it is back (store and forward)
    link = net.sites["siding_spring"].link
    during = [f for f in frames if f["site"] == "siding_spring" and not link.up(f["t_s"] + f["exptime_s"])]
    assert during, "the site should keep observing while its link is down"
    for f in during:
        assert f["delivered_t_s"] >= link.deliver_s(f["t_s"] + f["exptime_s"]) - 1e-6
        assert f["delivered_t_s"] > f["t_s"] + f["exptime_s"] + 60.0


def test_gw_alert_spawns_followup_that_is_observed() -> None:
    net = _run(load_scenario("gw_followup"), 11, GreedyScheduler())
    alerts = net.log.rows("alert")
    assert len(alerts) == 1 and alerts[0]["alert_kind"] == "gw"
    received = net.log.rows("alert_received")
    assert {r["site"] for r in received} == set(net.sites)
    assert all(r["t_s"] >= alerts[0]["t_s"] for r in received)
    too = [f for f in net.log.rows("frame") if f["program"] == "too_gw"]
    assert len(too) > 20
    assert min(f["t_s"] for f in too) < alerts[0]["t_s"] + 1800.0  # follow-up starts within half an hour
    a = net.alerts()[0]
    assert a.alert_tense == "test" and a.messenger == "GW" and a.ra_dec_error == 8.0


def test_frame_metrics_follow_conditions(one_site: Scenario) -> None:
    net = _run(one_site, 1, GreedyScheduler())
    frames = net.log.rows("frame")
    assert len(frames) > 100
    x = np.array([f["airmass"] for f in frames])
    alt = np.array([f["alt_deg"] for f in frames])
    assert np.all(alt >= 20.0) and np.all(x <= 3.0)
    fwhm = np.array([f["fwhm_arcsec"] for f in frames])
    seeing = np.array([f["seeing_arcsec"] for f in frames])
    assert np.all(fwhm >= seeing)
    lim = np.array([f["limiting_mag"] for f in frames])
    assert 17 < np.median(lim) < 23
    snr = np.array([f["snr_expected"] for f in frames if f["program"] == "survey"])
    assert np.all(np.isfinite(snr)) and np.median(snr) > 5


def test_wait_decision_advances_time(one_site: Scenario) -> None:
    net = TwinNetwork(one_site)
    p = net.next_decision()
    assert p is not None
    net.decide(p, Wait(900.0))
    p2 = net.next_decision()
    assert p2 is not None and p2.t_s == pytest.approx(p.t_s + 900.0)


def test_decide_must_answer_the_current_point(one_site: Scenario) -> None:
    from skytwin.errors import SkytwinError

    net = TwinNetwork(one_site)
    p = net.next_decision()
    net.decide(p, Wait(60.0))  # type: ignore[arg-type]
    with pytest.raises(SkytwinError):
        net.decide(p, Wait(60.0))  # type: ignore[arg-type]
    assert math.isfinite(net.now_s)


def test_reopened_request_becomes_available_again() -> None:
    net = TwinNetwork(parse_scenario(TINY))
    point = net.next_decision()
    net.decide(point, Observe("one-00000"))
    point = net.next_decision()
    assert not point.feasible.any()
    net.pool.reopen("one-00000")
    net.decide(point, Wait(60.0))
    point = net.next_decision()
    assert point.feasible.tolist() == [True]


def test_two_free_telescopes_never_get_the_same_request() -> None:
    """The second telescope's point is built after the first one's decision took effect."""
    two = TINY.replace("      - name: t1\n", "      - name: t1\n        filters: [r]\n      - name: t2\n", 1)
    scen = parse_scenario(two)
    net = TwinNetwork(scen)
    first = net.next_decision()
    assert first.feasible.tolist() == [True]
    net.decide(first, Observe("one-00000"))
    second = net.next_decision()
    assert second.t_s == first.t_s and second.telescope != first.telescope
    assert second.feasible.tolist() == [False]
