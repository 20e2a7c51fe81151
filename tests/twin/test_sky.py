"""Ephemerides against astropy and astroplan at a fixed real site and date."""

from __future__ import annotations

import numpy as np
import pytest
import astropy.units as u
from astropy.coordinates import AltAz, EarthLocation, SkyCoord, get_body
from astropy.time import Time
from astroplan import Observer

import skytwin.twin.astro  # noqa: F401  (IERS offline configuration)
from skytwin.twin.sky import SiteSky, SkyTable, airmass

# Cerro Tololo, from shared/realdata/observatory_sites.csv
LAT, LON, ELEV = -30.165278, -70.815, 2215.0
EPOCH = Time("2026-03-20T18:00:00", scale="utc")
LOC = EarthLocation.from_geodetic(LON * u.deg, LAT * u.deg, ELEV * u.m)
# Vega, Rigel, Canopus, Sirius, the south celestial pole region, a field at RA 0
TARGETS = {
    "vega": (279.23473, 38.78369),
    "rigel": (78.63446, -8.20164),
    "canopus": (95.98796, -52.69566),
    "sirius": (101.28716, -16.71612),
    "near_pole": (120.0, -85.0),
    "field": (0.5, 5.0),
}


@pytest.fixture(scope="module")
def sky() -> SiteSky:
    return SiteSky(LAT, LON, ELEV, EPOCH, 0.0, 40 * 86400.0)


@pytest.mark.parametrize("t_s", [0.0, 3.3 * 3600, 9.7 * 3600, 15 * 86400 + 1234.0, 39 * 86400.0])
def test_target_altitude_matches_astropy(sky: SiteSky, t_s: float) -> None:
    ra = np.array([v[0] for v in TARGETS.values()])
    dec = np.array([v[1] for v in TARGETS.values()])
    ref = SkyCoord(ra * u.deg, dec * u.deg).transform_to(AltAz(obstime=EPOCH + t_s * u.s, location=LOC))
    alt, az = sky.altaz(ra, dec, t_s)
    assert np.max(np.abs(alt - ref.alt.deg)) < 0.05
    # azimuth is ill-defined near the zenith; compare where the target is below 85 deg
    low = ref.alt.deg < 85
    daz = (az - ref.az.deg + 180.0) % 360.0 - 180.0
    assert np.max(np.abs(daz[low] * np.cos(np.radians(ref.alt.deg[low])))) < 0.05
    for (r, d), a in zip(TARGETS.values(), alt):
        assert sky.alt_deg(r, d, t_s) == pytest.approx(a, abs=1e-6)


@pytest.mark.parametrize("t_s", [0.0, 5 * 3600.0, 10.5 * 3600.0, 20 * 86400.0 + 777.0])
def test_sun_and_moon_altitude_match_astropy(sky: SiteSky, t_s: float) -> None:
    frame = AltAz(obstime=EPOCH + t_s * u.s, location=LOC)
    sun = get_body("sun", EPOCH + t_s * u.s, LOC).transform_to(frame)
    moon = get_body("moon", EPOCH + t_s * u.s, LOC).transform_to(frame)
    assert float(sky.sun_altaz(t_s)[0]) == pytest.approx(sun.alt.deg, abs=0.05)
    assert float(sky.moon_altaz(t_s)[0]) == pytest.approx(moon.alt.deg, abs=0.05)
    table = SkyTable(sky)
    row = table.at(t_s)
    assert row[0] == pytest.approx(sun.alt.deg, abs=0.05)
    assert row[1] == pytest.approx(moon.alt.deg, abs=0.05)


@pytest.mark.parametrize(
    "name, alt, rising",
    [
        ("sun_set_time", -0.833, False),
        ("twilight_evening_civil", -6.0, False),
        ("twilight_evening_nautical", -12.0, False),
        ("twilight_evening_astronomical", -18.0, False),
        ("twilight_morning_astronomical", -18.0, True),
        ("twilight_morning_nautical", -12.0, True),
        ("twilight_morning_civil", -6.0, True),
        ("sun_rise_time", -0.833, True),
    ],
)
def test_twilight_times_match_astroplan_within_a_minute(sky: SiteSky, name: str, alt: float, rising: bool) -> None:
    obs = Observer(location=LOC)
    method = getattr(obs, name)
    kwargs = {"horizon": -0.833 * u.deg} if name in ("sun_set_time", "sun_rise_time") else {}
    ref = method(EPOCH, which="next", n_grid_points=1000, **kwargs)
    ref_s = (ref - EPOCH).to_value(u.s)
    ours = [t for t, r in sky.crossings(alt, 0.0, 86400.0) if r == rising]
    assert ours, f"no {name} crossing found"
    assert abs(ours[0] - ref_s) < 60.0


def test_moon_illumination_matches_astroplan(sky: SiteSky) -> None:
    from astroplan import moon_illumination

    for t_s in (0.0, 7 * 86400.0, 14 * 86400.0, 21 * 86400.0):
        assert float(sky.moon_illumination(t_s)) == pytest.approx(moon_illumination(EPOCH + t_s * u.s), abs=0.01)


def test_nights_are_dark_intervals(sky: SiteSky) -> None:
    nights = sky.nights(-12.0)
    assert len(nights) in (39, 40, 41)
    for start, end in nights[1:-1]:
        assert 8 * 3600 < end - start < 13 * 3600  # March at 30 deg S
        mid = (start + end) / 2
        assert float(sky.sun_altaz(mid)[0]) < -12.0


def test_airmass_is_secant_near_zenith_and_finite_at_horizon() -> None:
    assert float(airmass(90.0)) == pytest.approx(1.0, abs=1e-3)
    assert float(airmass(30.0)) == pytest.approx(2.0, abs=0.01)
    assert 30 < float(airmass(0.0)) < 45
