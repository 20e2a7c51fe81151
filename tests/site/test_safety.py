"""The safety layer holds whatever a caller asks."""

from __future__ import annotations

import numpy as np
import pytest
import astropy.units as u
from astropy.coordinates import AltAz, EarthLocation, SkyCoord, get_body

from skytwin.scenarios import load_scenario
from skytwin.site import (
    Calibrate, CloseDome, Conditions, Expose, Observe, OpenDome, Park, SafetyLayer, SafetyLimits, SetFilter, Slew,
    TelescopeState, Wait, WeatherSample,
)
from skytwin.site.safety import angular_sep_deg
from skytwin.twin.network import TwinNetwork


def _cond(sun_ra: float = 0.0, sun_dec: float = 0.0, sun_alt: float = -30.0, safe: bool = True, **w: float) -> Conditions:
    weather = WeatherSample(0.0, 0.1, 0.9, 1.0, w.get("humidity", 30.0), 10.0, 0.0, 3.0, w.get("gust", 4.0), False, safe, "" if safe else "rain")
    return Conditions(0.0, sun_alt, sun_ra, sun_dec, -10.0, 0.0, 0.0, 0.5, "night", weather)


def test_refuses_low_and_sunward_pointings_and_unsafe_dome() -> None:
    alt = {(10.0, 0.0): 15.0, (50.0, 0.0): 60.0, (100.0, 0.0): 60.0}
    layer = SafetyLayer(SafetyLimits(horizon_alt_deg=20.0, sun_avoid_deg=30.0), lambda ra, dec, t: alt[(ra, dec)])
    tel = TelescopeState("t1", 50.0, 0.0, False, "r", False)
    assert "below limit" in layer.check(Slew(10.0, 0.0), _cond(), tel, True)
    assert "from the Sun" in layer.check(Slew(50.0, 0.0), _cond(sun_ra=70.0, sun_alt=45.0), tel, True)
    assert layer.check(Slew(100.0, 0.0), _cond(sun_ra=0.0), tel, True) == ""
    assert "unsafe" in layer.check(OpenDome(), _cond(safe=False), tel, False)
    assert "humidity" in layer.check(OpenDome(), _cond(humidity=95.0), tel, False)
    assert "gusts" in layer.check(OpenDome(), _cond(gust=30.0), tel, False)
    assert "Sun is up" in layer.check(OpenDome(), _cond(sun_alt=5.0), tel, False)
    assert layer.check(OpenDome(), _cond(), tel, False) == ""
    assert "not positive" in layer.check(Expose(-1.0), _cond(), tel, True)
    for cmd in (CloseDome(), Park(), SetFilter("r"), Calibrate()):
        assert layer.check(cmd, _cond(safe=False), tel, True) == ""


def test_angular_separation() -> None:
    assert angular_sep_deg(0, 0, 90, 0) == pytest.approx(90.0)
    assert angular_sep_deg(10, 89, 190, 89) == pytest.approx(2.0)
    assert angular_sep_deg(123.4, -45.6, 123.4, -45.6) == 0.0


class RandomCommander:
    """Random primitive commands and random (often infeasible) observations."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def decide(self, point):  # noqa: ANN001, ANN201
        rng = self.rng
        k = rng.integers(8)
        if k == 0:
            return Observe(point.candidates[int(rng.integers(len(point.candidates)))].id)
        if k in (1, 2):
            return Slew(float(rng.uniform(0, 360)), float(np.degrees(np.arcsin(rng.uniform(-1, 1)))))
        if k == 3:
            return OpenDome()
        if k == 4:
            return CloseDome()
        if k == 5:
            return SetFilter(str(rng.choice(["g", "r", "i", "z"])))
        if k == 6:
            return Expose(float(rng.uniform(1, 300)))
        return Wait(float(rng.uniform(10, 600)), close=bool(rng.integers(2)))


def test_random_commands_never_break_the_safety_rules() -> None:
    scen = load_scenario("stormy_month").model_copy(update={"nights": 16})
    net = TwinNetwork(scen, seed=4)
    n = net.run(RandomCommander(0).decide)
    assert n >= 10_000, n
    log = net.log
    limits = {s.name: s.safety for s in scen.sites}

    # every accepted slew, checked independently with astropy
    slews = [r for r in log.rows("command") if r["command"].startswith("slew")]
    assert len(slews) > 1000
    refused = log.rows("refused")
    assert any("below limit" in r["reason"] for r in refused)
    for site in scen.sites:
        rows = [r for r in slews if r["site"] == site.name]
        loc = EarthLocation.from_geodetic(site.longitude_deg * u.deg, site.latitude_deg * u.deg, site.elevation_m * u.m)
        t = net.epoch + np.array([r["t_s"] for r in rows]) * u.s
        ra = np.array([float(r["command"].split()[1]) for r in rows])
        dec = np.array([float(r["command"].split()[2]) for r in rows])
        frame = AltAz(obstime=t, location=loc)
        alt = SkyCoord(ra * u.deg, dec * u.deg).transform_to(frame).alt.deg
        assert alt.min() >= limits[site.name].horizon_alt_deg - 0.05
        sun = get_body("sun", t)
        sep = SkyCoord(ra * u.deg, dec * u.deg).separation(SkyCoord(sun.ra, sun.dec)).deg
        assert sep.min() >= limits[site.name].sun_avoid_deg - 0.1

    # every frame above the limit, for the whole exposure
    for f in log.rows("frame"):
        assert f["alt_deg"] >= limits[f["site"]].horizon_alt_deg - 0.5

    # the dome opened only when the last weather sample was safe, and never while the Sun was up
    weather = {s.name: [(r["t_s"], r["safe"]) for r in log.rows("weather") if r["site"] == s.name] for s in scen.sites}
    opens = [r for r in log.rows("dome") if r["open"]]
    assert opens
    for r in opens:
        samples = weather[r["site"]]
        last = max((s for s in samples if s[0] <= r["t_s"]), key=lambda s: s[0])
        assert last[1], r
        assert float(net.sites[r["site"]].sky.sun_altaz(r["t_s"])[0]) < 0.0
    # an open dome is closed within one weather sample of the weather turning unsafe
    for name, samples in weather.items():
        site = net.sites[name]
        dome = [(r["t_s"], r["open"]) for r in log.rows("dome") if r["site"] == name]
        for t, safe in samples:
            if safe:
                continue
            state = [o for (td, o) in dome if td <= t]
            stuck = any(ft["site"] == name and ft["fault"] == "dome_stuck" and ft["t_s"] <= t <= ft["t_s"] + ft["duration_s"] for ft in log.rows("fault"))
            if state and state[-1] and not stuck:
                pytest.fail(f"{name}: dome open at {t} while unsafe")
        assert site.safety.limits.horizon_alt_deg == limits[name].horizon_alt_deg
