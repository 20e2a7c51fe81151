"""Weather: climate statistics over a simulated year, fronts, regions, forecasts, safety."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.time import Time

from skytwin.scenarios.schema import Scenario
from skytwin.twin.sky import SiteSky, SkyTable
from skytwin.twin.weather import CLEAR_COVER, NIGHT_SUN_ALT_DEG, SAMPLE_S, SiteWeather

YEAR_S = 365 * 86400.0


def _year_weather(scenario: Scenario, seed: int = 3) -> dict[str, tuple[SiteWeather, np.ndarray, np.ndarray]]:
    """Per site: the weather model, the sample times of the year, and which are night."""
    epoch = Time(scenario.epoch)
    out = {}
    t = np.arange(0.0, YEAR_S, SAMPLE_S)
    for site in scenario.sites:
        sky = SiteSky(site.latitude_deg, site.longitude_deg, site.elevation_m, epoch, 0.0, YEAR_S)
        table = SkyTable(sky, step_s=600.0)
        w = SiteWeather(seed, site.name, site.climate, site.safety, site.longitude_deg, table.sun_alt_many)
        out[site.name] = (w, t, table.sun_alt_many(t) < NIGHT_SUN_ALT_DEG)
    return out


def _series(w: SiteWeather, t: np.ndarray, field: str) -> np.ndarray:
    n_blocks = int(t[-1] // (30 * 86400.0)) + 1
    arr = np.concatenate([getattr(w.block(b), field) for b in range(n_blocks)])
    return arr[: len(t)]


@pytest.fixture(scope="module")
def year(six_sites: Scenario) -> dict[str, tuple[SiteWeather, np.ndarray, np.ndarray]]:
    return _year_weather(six_sites)


def test_clear_fraction_over_a_year_within_two_points(six_sites: Scenario, year) -> None:
    for site in six_sites.sites:
        w, t, night = year[site.name]
        cloud = _series(w, t, "cloud")
        clear = float(np.mean(cloud[night] < CLEAR_COVER))
        assert abs(clear - site.climate.clear_fraction) < 0.02, (site.name, clear, site.climate.clear_fraction)


def test_seeing_median_over_a_year_within_five_percent(six_sites: Scenario, year) -> None:
    for site in six_sites.sites:
        w, t, night = year[site.name]
        seeing = _series(w, t, "seeing")
        med = float(np.median(seeing[night]))
        assert abs(med / site.climate.seeing_median_arcsec - 1.0) < 0.05, (site.name, med)


def test_samples_match_blocks_and_are_held_between_samples(year) -> None:
    w, t, _ = year["la_palma"]
    cloud = _series(w, t, "cloud")
    for k in (0, 17, 5000, 40000):
        s = w.sample(t[k] + 299.0)
        assert s.cloud_cover == pytest.approx(cloud[k])
        assert s.t_s == t[k]


def test_fronts_make_weather_persist_for_hours(year) -> None:
    """Clouds are autocorrelated over the front timescale, not white noise."""
    w, t, _ = year["sutherland"]
    cloud = _series(w, t, "cloud")
    lag = int(6 * 3600 / SAMPLE_S)
    r6 = np.corrcoef(cloud[:-lag], cloud[lag:])[0, 1]
    lag30 = int(10 * 86400 / SAMPLE_S)
    r10d = np.corrcoef(cloud[:-lag30], cloud[lag30:])[0, 1]
    assert r6 > 0.6
    assert abs(r10d) < 0.2


def test_sites_in_one_region_share_fronts(six_sites: Scenario) -> None:
    """Two sites in region 'chile' are correlated; a far site is not."""
    a = six_sites.sites[0]
    twin = a.model_copy(update={"name": "la_silla", "latitude_deg": -29.2567, "longitude_deg": -70.73})
    scen = six_sites.model_copy(update={"sites": (a, twin, six_sites.site("la_palma"))})
    year = _year_weather(scen)
    c = {k: _series(v[0], v[1], "latent_cloud") for k, v in year.items()}
    near = np.corrcoef(c["cerro_tololo"], c["la_silla"])[0, 1]
    far = np.corrcoef(c["cerro_tololo"], c["la_palma"])[0, 1]
    assert near > 0.5
    assert abs(far) < 0.2


def test_forecast_error_grows_with_lead(year) -> None:
    w, t, night = year["hanle"]
    idx = np.nonzero(night)[0][::37][:400]
    errs = {}
    for lead_h in (0, 6, 24, 72):
        e = [w.forecast(t[i] - lead_h * 3600.0, lead_h * 3600.0).cloud_cover - w.sample(t[i]).cloud_cover for i in idx]
        errs[lead_h] = float(np.sqrt(np.mean(np.square(e))))
    assert errs[0] < errs[6] < errs[24] < errs[72]
    assert errs[0] < 0.15


def test_safety_follows_limits(year) -> None:
    w, t, _ = year["siding_spring"]
    for k in range(0, len(t), 97):
        s = w.sample(t[k])
        unsafe = s.rain or s.humidity_pct > w.safety.max_humidity_pct or s.gust_mps > w.safety.max_wind_mps
        assert s.safe == (not unsafe)
        assert (s.unsafe_reason == "") == s.safe
        assert s.dew_point_c <= s.temperature_c + 1e-9
        if s.rain:
            assert s.cloud_cover > 0.8


def test_safe_until_finds_the_next_change(year) -> None:
    w, t, _ = year["siding_spring"]
    now, change = w.safe_until(t[100])
    assert change > t[100]
    assert w.sample(change).safe != now or change == t[100] + 86400.0


def test_a_block_regenerates_alone(six_sites: Scenario, year) -> None:
    """Any night's weather can be regenerated without the ones before it."""
    w, t, _ = year["mauna_kea"]
    fresh = SiteWeather(w.seed, w.site, w.climate, w.safety, w.longitude_deg, w._sun_alt)
    np.testing.assert_array_equal(fresh.block(7).cloud, w.block(7).cloud)
    np.testing.assert_array_equal(fresh.block(7).seeing, w.block(7).seeing)
