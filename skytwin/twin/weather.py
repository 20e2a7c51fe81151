"""Weather at a site: clouds with fronts, seeing, humidity, wind, rain, safety.

Units: cloud cover and transparency are fractions; seeing is the zenith FWHM
at 500 nm in arcsec; temperature and dew point deg C; humidity percent; wind
m/s. The weather is sampled every ``SAMPLE_S`` seconds and held in between.

Model. Each quantity comes from a latent Gaussian field in time, built from
independent knots smoothed by a Gaussian kernel (regimes of
``front_timescale_h`` for clouds, a night for seeing, hours for wind), with a
shared regional component so that nearby sites see the same fronts. The
latent fields are generated in blocks of ``BLOCK_DAYS`` from streams keyed by
``(seed, site or region, quantity, block)``; a block reads the knots of its
neighbours, so any night can be regenerated alone and the fields are smooth
across blocks.

Within each block the latent field is mapped to physical values through its
empirical distribution over the block's night-time samples (quantile
mapping, as climate-model bias correction does): the fraction of night-time
with cloud cover under 0.3 is then the site's ``clear_fraction`` and the
median seeing its ``seeing_median_arcsec`` in every block, while the order
of events (when fronts come and go, which nights are good) stays random.
Year-to-year variability of the climate itself is not modelled.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from skytwin.scenarios.schema import Climate, Safety
from skytwin.site.types import WeatherSample
from skytwin.twin.rng import stream

SAMPLE_S = 600.0  # s between weather samples
BLOCK_DAYS = 30  # days per generated block
_BLOCK_S = BLOCK_DAYS * 86400.0
_N = int(_BLOCK_S // SAMPLE_S)
CLEAR_COVER = 0.3  # cloud cover below which the sky counts as clear
NIGHT_SUN_ALT_DEG = -12.0  # "night-time" for the climate statistics


def _smooth_field(seed: int, keys: tuple[str | int, ...], block: int, timescale_s: float) -> np.ndarray:
    """Unit-variance latent Gaussian field on the block's sample grid.

    Knots every ``timescale_s / 2`` with N(0, 1) weights, Gaussian kernel of
    width ``timescale_s / 2``; knots of the neighbouring blocks contribute so
    the field is continuous across block boundaries.
    """
    spacing = max(timescale_s / 2.0, SAMPLE_S)
    width = spacing
    t = block * _BLOCK_S + np.arange(_N) * SAMPLE_S
    acc = np.zeros(_N)
    norm = np.zeros(_N)
    reach = 4.0 * width
    for b in (block - 1, block, block + 1):
        start = b * _BLOCK_S
        n_knots = int(math.ceil(_BLOCK_S / spacing))
        w = stream(seed, *keys, b).standard_normal(n_knots)
        tk = start + np.arange(n_knots) * spacing
        keep = (tk > t[0] - reach) & (tk < t[-1] + reach)
        for wk, tkk in zip(w[keep], tk[keep]):
            lo = max(0, int((tkk - reach - t[0]) // SAMPLE_S))
            hi = min(_N, int((tkk + reach - t[0]) // SAMPLE_S) + 1)
            if lo >= hi:
                continue
            k = np.exp(-0.5 * ((t[lo:hi] - tkk) / width) ** 2)
            acc[lo:hi] += wk * k
            norm[lo:hi] += k * k
    return acc / np.sqrt(np.maximum(norm, 1e-12))


def _quantiles(z: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Map ``z`` to (0, 1) through the empirical distribution of ``ref``."""
    srt = np.sort(ref)
    return (np.searchsorted(srt, z, side="left") + 0.5) / len(srt)


@dataclass(frozen=True)
class WeatherBlock:
    """Weather samples of one block (arrays of length ``_N``)."""

    t0_s: float
    cloud: np.ndarray
    transparency: np.ndarray
    seeing: np.ndarray
    temperature: np.ndarray
    humidity: np.ndarray
    dew_point: np.ndarray
    wind: np.ndarray
    gust: np.ndarray
    rain: np.ndarray
    safe: np.ndarray
    latent_cloud: np.ndarray
    cloud_map_ref: np.ndarray  # sorted night-time latent cloud values (for forecasts)


def dew_point_c(temperature_c: np.ndarray, humidity_pct: np.ndarray) -> np.ndarray:
    """Dew point from temperature and relative humidity (Magnus formula, Alduchov & Eskridge 1996)."""
    a, b = 17.625, 243.04  # dimensionless, deg C
    g = np.log(np.clip(humidity_pct, 1.0, 100.0) / 100.0) + a * temperature_c / (b + temperature_c)
    return b * g / (a - g)


def cloud_from_quantile(u: np.ndarray, clear_fraction: float) -> np.ndarray:
    """Climatological cloud cover for a quantile ``u``: P(cover < 0.3) = ``clear_fraction``."""
    p = min(max(clear_fraction, 1e-6), 1.0 - 1e-6)
    clear = CLEAR_COVER * (u / p) ** 2
    cloudy = CLEAR_COVER + (1.0 - CLEAR_COVER) * (np.maximum(u - p, 0.0) / (1.0 - p)) ** 0.6
    return np.where(u < p, clear, np.clip(cloudy, CLEAR_COVER, 1.0))


def transparency_from_cloud(cloud: np.ndarray) -> np.ndarray:
    """Cloud transmission: thin cirrus costs a few percent, overcast ~95 %."""
    return 1.0 - 0.95 * np.asarray(cloud) ** 1.5


class SiteWeather:
    """The weather of one site over a scenario.

    Parameters
    ----------
    seed
        The scenario's root seed.
    site
        Site name (keys the site's own streams).
    climate, safety
        The scenario's figures for the site.
    longitude_deg
        For the diurnal temperature cycle (local solar time).
    sun_alt_deg
        ``f(t_s array) -> Sun altitude in degrees``; defines night-time.
    """

    def __init__(
        self,
        seed: int,
        site: str,
        climate: Climate,
        safety: Safety,
        longitude_deg: float,
        sun_alt_deg: Callable[[np.ndarray], np.ndarray],
    ) -> None:
        self.seed = seed
        self.site = site
        self.climate = climate
        self.safety = safety
        self.longitude_deg = longitude_deg
        self._sun_alt = sun_alt_deg
        self._blocks: dict[int, WeatherBlock] = {}
        self._last: tuple[int, WeatherSample] | None = None

    # ----------------------------------------------------------------- blocks
    def prepare(self, start_s: float, end_s: float) -> None:
        """Generate every block covering ``[start_s, end_s]`` (otherwise they are made on first use)."""
        for b in range(int(start_s // _BLOCK_S), int(end_s // _BLOCK_S) + 1):
            self.block(b)

    def block(self, index: int) -> WeatherBlock:
        blk = self._blocks.get(index)
        if blk is None:
            blk = self._blocks[index] = self._generate(index)
        return blk

    def _generate(self, b: int) -> WeatherBlock:
        c = self.climate
        seed, site = self.seed, self.site
        region = c.region or site
        rho = c.region_correlation if c.region else 0.0
        front_s = c.front_timescale_h * 3600.0
        t = b * _BLOCK_S + np.arange(_N) * SAMPLE_S
        night = self._sun_alt(t) < NIGHT_SUN_ALT_DEG
        if not night.any():  # polar summer: use all samples as the reference
            night = np.ones(_N, dtype=bool)

        synoptic = math.sqrt(rho) * _smooth_field(seed, ("region", region, "cloud"), b, front_s) + math.sqrt(
            1.0 - rho
        ) * _smooth_field(seed, ("site", site, "cloud"), b, front_s)
        passing = _smooth_field(seed, ("site", site, "cloud-fast"), b, 2 * 3600.0)
        z_cloud = 0.9 * synoptic + math.sqrt(1.0 - 0.81) * passing
        ref = np.sort(z_cloud[night])
        cloud = cloud_from_quantile(_quantiles(z_cloud, ref), c.clear_fraction)
        transparency = transparency_from_cloud(cloud)

        z_seeing = (
            _smooth_field(seed, ("site", site, "seeing-night"), b, 24 * 3600.0)
            + _smooth_field(seed, ("site", site, "seeing-hour"), b, 3600.0)
        ) / math.sqrt(2.0)
        g = ndtri(_quantiles(z_seeing, z_seeing[night]))
        seeing = c.seeing_median_arcsec * np.exp(c.seeing_sigma_ln * g)

        local_solar_h = (t / 3600.0 + self.longitude_deg / 15.0) % 24.0
        temperature = (
            c.temperature_mean_c
            + c.temperature_swing_c * np.cos(2 * math.pi * (local_solar_h - 15.0) / 24.0)
            + 3.0 * synoptic
        )
        humidity = np.clip(c.humidity_mean_pct + 50.0 * cloud**2 + 10.0 * passing, 3.0, 100.0)
        dew = dew_point_c(temperature, humidity)

        z_wind = _smooth_field(seed, ("site", site, "wind"), b, 6 * 3600.0)
        wind = c.wind_median_mps * np.exp(0.45 * z_wind)
        z_gust = _smooth_field(seed, ("site", site, "gust"), b, 1800.0)
        gust = wind * (1.35 + 0.15 * np.abs(z_gust))

        z_rain = _smooth_field(seed, ("site", site, "rain"), b, 3 * 3600.0)
        overcast = cloud > 0.8
        threshold = ndtri(1.0 - c.rain_fraction_of_cloudy) if 0 < c.rain_fraction_of_cloudy < 1 else (
            -np.inf if c.rain_fraction_of_cloudy >= 1 else np.inf
        )
        rain = overcast & (z_rain > threshold)
        safe = ~rain & (humidity <= self.safety.max_humidity_pct) & (gust <= self.safety.max_wind_mps)
        return WeatherBlock(
            float(t[0]), cloud, transparency, seeing, temperature, humidity, dew, wind, gust, rain, safe, z_cloud, ref
        )

    # ----------------------------------------------------------------- queries
    def index(self, t_s: float) -> tuple[WeatherBlock, int]:
        k = int(t_s // SAMPLE_S)
        b, i = divmod(k, _N)
        return self.block(b), i

    def sample(self, t_s: float) -> WeatherSample:
        """The weather in force at ``t_s`` (the last sample at or before it; its ``t_s`` is the sample's)."""
        k = int(t_s // SAMPLE_S)
        if self._last is not None and self._last[0] == k:
            return self._last[1]
        blk, i = self.index(t_s)
        w = self._make(blk, i, k * SAMPLE_S, float(blk.cloud[i]), float(blk.seeing[i]))
        self._last = (k, w)
        return w

    def _make(self, blk: WeatherBlock, i: int, t_s: float, cloud: float, seeing: float) -> WeatherSample:
        rain = bool(blk.rain[i])
        hum = float(blk.humidity[i])
        gust = float(blk.gust[i])
        reasons = []
        if rain:
            reasons.append("rain")
        if hum > self.safety.max_humidity_pct:
            reasons.append("humidity")
        if gust > self.safety.max_wind_mps:
            reasons.append("wind")
        return WeatherSample(
            t_s=t_s,
            cloud_cover=cloud,
            transparency=1.0 - 0.95 * cloud**1.5,  # transparency_from_cloud, scalar
            seeing_arcsec=seeing,
            humidity_pct=hum,
            temperature_c=float(blk.temperature[i]),
            dew_point_c=float(blk.dew_point[i]),
            wind_mps=float(blk.wind[i]),
            gust_mps=gust,
            rain=rain,
            safe=not reasons,
            unsafe_reason="+".join(reasons),
        )

    def safe_until(self, t_s: float, horizon_s: float = 86400.0) -> tuple[bool, float]:
        """Safety now and the time it next changes (or ``t_s + horizon_s``)."""
        blk, i = self.index(t_s)
        now = bool(blk.safe[i])
        t = blk.t0_s + (i + 1) * SAMPLE_S
        while t < t_s + horizon_s:
            blk, i = self.index(t)
            seg = blk.safe[i:]
            change = np.nonzero(seg != now)[0]
            if len(change):
                return now, blk.t0_s + (i + change[0]) * SAMPLE_S
            t = blk.t0_s + _N * SAMPLE_S
        return now, t_s + horizon_s

    def forecast(self, t_now_s: float, lead_s: float) -> WeatherSample:
        """Forecast issued at ``t_now_s`` for ``t_now_s + lead_s``.

        The error is added in the latent cloud and seeing fields, with a
        standard deviation growing from 0.15 now to ~0.75 a day ahead
        (deterministic per issue hour and lead).
        """
        lead_s = max(0.0, float(lead_s))
        target = t_now_s + lead_s
        blk, i = self.index(target)
        sigma = min(1.2, 0.15 + 0.6 * math.sqrt(lead_s / 86400.0))
        rng = stream(self.seed, "forecast", self.site, int(t_now_s // 3600), int(lead_s // SAMPLE_S))
        e_cloud, e_seeing = rng.standard_normal(2) * sigma
        u = float(_quantiles(np.array([blk.latent_cloud[i] + e_cloud]), blk.cloud_map_ref)[0])
        cloud = float(cloud_from_quantile(np.array([u]), self.climate.clear_fraction)[0])
        seeing = float(blk.seeing[i] * math.exp(0.5 * self.climate.seeing_sigma_ln * e_seeing))
        return self._make(blk, i, target, cloud, seeing)
