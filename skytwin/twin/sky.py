"""Sky geometry for one site: Sun, Moon, twilight and target positions.

Angles in degrees, times in simulation seconds since the scenario epoch.

Why not astropy's ``get_body`` + ``AltAz`` everywhere: for a year of 10-minute
samples it takes ~40 s per site, and the twin asks for positions hundreds of
thousands of times. We call the same SOFA/ERFA routines astropy uses
(``epv00``, ``moon98``, ``pnm06a``, ``gst06a``) once per hour of the span,
shared by every site, and interpolate; altitudes then follow from a rotation
by the local apparent sidereal time. The tests hold the result to astropy's
``AltAz`` within 0.05 deg (annual aberration, ~0.006 deg, is neglected).
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from functools import lru_cache

import erfa
import numpy as np
from astropy.coordinates import EarthLocation
from astropy.time import Time
import astropy.units as u

from skytwin.twin.astro import to_time

_GRID_S = 3600.0  # s between ephemeris samples
_AU_KM = 149597870.7  # km per astronomical unit
_D2R = math.pi / 180.0

TWILIGHT_ALT_DEG = {"sunset": -0.833, "civil": -6.0, "nautical": -12.0, "astronomical": -18.0}


@dataclass(frozen=True)
class Ephemeris:
    """Site-independent hourly samples: Sun and Moon (geocentric, true equator of date, km) and GAST."""

    t0_s: float
    sun_km: np.ndarray  # (n, 3)
    moon_km: np.ndarray  # (n, 3)
    gast_rad: np.ndarray  # (n,), unwrapped
    icrs_to_date: np.ndarray  # (3, 3) bias-precession-nutation at mid-span


@lru_cache(maxsize=8)
def ephemeris(epoch_jd: float, start_s: float, end_s: float) -> Ephemeris:
    """Hourly Sun/Moon/GAST samples covering ``[start_s, end_s]`` (cached)."""
    t_s = np.arange(start_s - _GRID_S, end_s + 2 * _GRID_S, _GRID_S)
    times = Time(epoch_jd, format="jd", scale="utc") + t_s * u.s
    tt = times.tt
    ut1 = times.ut1
    tt1, tt2 = tt.jd1, tt.jd2
    rbpn = erfa.pnm06a(tt1, tt2)  # GCRS -> true equator and equinox of date
    pvh_earth, _ = erfa.epv00(tt1, tt2)
    sun_gcrs = -pvh_earth["p"] * _AU_KM
    moon_gcrs = erfa.moon98(tt1, tt2)["p"] * _AU_KM
    sun = np.einsum("nij,nj->ni", rbpn, sun_gcrs)
    moon = np.einsum("nij,nj->ni", rbpn, moon_gcrs)
    gast = np.unwrap(erfa.gst06a(ut1.jd1, ut1.jd2, tt1, tt2))
    mid = len(t_s) // 2
    return Ephemeris(float(t_s[0]), sun, moon, gast, rbpn[mid])


def radec_to_unit(ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
    ra = np.asarray(ra_deg, dtype=float) * _D2R
    dec = np.asarray(dec_deg, dtype=float) * _D2R
    cd = np.cos(dec)
    return np.stack([cd * np.cos(ra), cd * np.sin(ra), np.sin(dec)], axis=-1)


def unit_to_radec(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(v, dtype=float)
    r = np.linalg.norm(v, axis=-1)
    ra = np.degrees(np.arctan2(v[..., 1], v[..., 0])) % 360.0
    dec = np.degrees(np.arcsin(np.clip(v[..., 2] / r, -1.0, 1.0)))
    return ra, dec


class SiteSky:
    """Sun, Moon, twilight and target geometry at one site.

    Parameters
    ----------
    latitude_deg, longitude_deg, elevation_m
        The site (geodetic; degrees, degrees east, metres).
    epoch
        Scenario epoch (UTC ``Time``); simulation time zero.
    start_s, end_s
        The span in simulation seconds that will be asked about.
    """

    def __init__(
        self, latitude_deg: float, longitude_deg: float, elevation_m: float, epoch: Time, start_s: float, end_s: float
    ) -> None:
        self.latitude_deg = latitude_deg
        self.longitude_deg = longitude_deg
        self.epoch = epoch
        self.start_s = start_s
        self.end_s = end_s
        self._eph = ephemeris(float(epoch.utc.jd), float(start_s), float(end_s))
        loc = EarthLocation.from_geodetic(longitude_deg * u.deg, latitude_deg * u.deg, elevation_m * u.m)
        self._site_itrs_km = np.array([loc.x.to_value(u.km), loc.y.to_value(u.km), loc.z.to_value(u.km)])
        self._lon_rad = longitude_deg * _D2R
        self._sinlat = math.sin(latitude_deg * _D2R)
        self._coslat = math.cos(latitude_deg * _D2R)
        self._m_date = self._eph.icrs_to_date
        self._m_rows = self._m_date.tolist()
        self._gast = self._eph.gast_rad.tolist()
        self._t0 = self._eph.t0_s
        self._altaz_memo: dict[tuple[float, float, float], tuple[float, float]] = {}

    # --------------------------------------------------------------- scalar fast path
    def last_scalar(self, t_s: float) -> float:
        """Local apparent sidereal time (radians) at one time, without numpy overhead."""
        x = (t_s - self._t0) / _GRID_S
        i = min(max(int(x), 0), len(self._gast) - 2)
        g0 = self._gast[i]
        return g0 + (self._gast[i + 1] - g0) * (x - i) + self._lon_rad

    def altaz_scalar(self, ra_deg: float, dec_deg: float, t_s: float) -> tuple[float, float]:
        """Altitude and azimuth (degrees) of one ICRS position; same model as :meth:`altaz`."""
        key = (ra_deg, dec_deg, t_s)
        hit = self._altaz_memo.get(key)
        if hit is None:
            if len(self._altaz_memo) > 64:  # a slew, its exposure and its frame ask the same few
                self._altaz_memo.clear()
            hit = self._altaz_memo[key] = self._altaz_scalar(ra_deg, dec_deg, t_s)
        return hit

    def _altaz_scalar(self, ra_deg: float, dec_deg: float, t_s: float) -> tuple[float, float]:
        ra, dec = ra_deg * _D2R, dec_deg * _D2R
        cd = math.cos(dec)
        v = (cd * math.cos(ra), cd * math.sin(ra), math.sin(dec))
        m = self._m_rows
        x = m[0][0] * v[0] + m[0][1] * v[1] + m[0][2] * v[2]
        y = m[1][0] * v[0] + m[1][1] * v[1] + m[1][2] * v[2]
        z = m[2][0] * v[0] + m[2][1] * v[1] + m[2][2] * v[2]
        last = self.last_scalar(t_s)
        dec_d = math.asin(max(-1.0, min(1.0, z)))
        ha = last - math.atan2(y, x)
        sdec, cdec, cha = math.sin(dec_d), math.cos(dec_d), math.cos(ha)
        sin_alt = self._sinlat * sdec + self._coslat * cdec * cha
        alt = math.asin(max(-1.0, min(1.0, sin_alt)))
        az = math.atan2(-cdec * math.sin(ha), sdec * self._coslat - cdec * cha * self._sinlat)
        return math.degrees(alt), math.degrees(az) % 360.0

    def apparent_scalar(self, ra_deg: float, dec_deg: float) -> tuple[float, float, float]:
        ra, dec = ra_deg * _D2R, dec_deg * _D2R
        cd = math.cos(dec)
        v = (cd * math.cos(ra), cd * math.sin(ra), math.sin(dec))
        m = self._m_rows
        return tuple(m[k][0] * v[0] + m[k][1] * v[1] + m[k][2] * v[2] for k in range(3))  # type: ignore[return-value]

    # --------------------------------------------------------------- internals
    def _interp(self, arr: np.ndarray, t_s: np.ndarray | float) -> np.ndarray:
        x = (np.asarray(t_s, dtype=float) - self._eph.t0_s) / _GRID_S
        i = np.clip(np.floor(x).astype(int), 0, len(arr) - 2)
        w = (x - i)[..., None] if arr.ndim == 2 else (x - i)
        return arr[i] * (1.0 - w) + arr[i + 1] * w

    def last_rad(self, t_s: np.ndarray | float) -> np.ndarray:
        """Local apparent sidereal time in radians."""
        return self._interp(self._eph.gast_rad, t_s) + self._lon_rad

    def _site_km(self, last: np.ndarray) -> np.ndarray:
        """Site position in the true-of-date frame (polar motion neglected)."""
        x, y, z = self._site_itrs_km
        gast = last - self._lon_rad
        c, s = np.cos(gast), np.sin(gast)
        return np.stack([c * x - s * y, s * x + c * y, np.full_like(c, z)], axis=-1)

    def _altaz_of_date(self, v_date: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Alt/az in degrees of direction vectors (true equator of date)."""
        x, y, z = v_date[..., 0], v_date[..., 1], v_date[..., 2]
        r = np.sqrt(x * x + y * y + z * z)
        dec = np.arcsin(np.clip(z / r, -1.0, 1.0))
        ha = last - np.arctan2(y, x)
        sin_alt = self._sinlat * np.sin(dec) + self._coslat * np.cos(dec) * np.cos(ha)
        alt = np.arcsin(np.clip(sin_alt, -1.0, 1.0))
        az = np.arctan2(-np.cos(dec) * np.sin(ha), np.sin(dec) * self._coslat - np.cos(dec) * np.cos(ha) * self._sinlat)
        return np.degrees(alt), np.degrees(az) % 360.0

    # --------------------------------------------------------------- targets
    def apparent(self, ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
        """ICRS positions to unit vectors in the true-of-date frame (precession + nutation)."""
        return radec_to_unit(ra_deg, dec_deg) @ self._m_date.T

    def altaz_apparent(self, v_date: np.ndarray, t_s: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Alt/az of precomputed apparent unit vectors (see :meth:`apparent`) at ``t_s``."""
        return self._altaz_of_date(v_date, self.last_rad(t_s))

    def altaz(self, ra_deg: np.ndarray, dec_deg: np.ndarray, t_s: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Altitude and azimuth (degrees, no refraction) of ICRS positions at ``t_s``."""
        return self.altaz_apparent(self.apparent(ra_deg, dec_deg), t_s)

    def sin_alt_apparent(self, v_date: np.ndarray, t_s: float) -> np.ndarray:
        """sin(altitude) of apparent unit vectors at ``t_s`` (the scheduler's fast path)."""
        last = self.last_scalar(t_s)
        # sin(alt) = sin(lat) z + cos(lat) (x cos LAST + y sin LAST): one matrix-vector product
        return v_date @ np.array((self._coslat * math.cos(last), self._coslat * math.sin(last), self._sinlat))

    def alt_deg(self, ra_deg: float, dec_deg: float, t_s: float) -> float:
        """Scalar altitude in degrees (for the safety layer)."""
        return self.altaz_scalar(ra_deg, dec_deg, t_s)[0]

    # --------------------------------------------------------------- Sun, Moon
    def sun_altaz(self, t_s: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        last = self.last_rad(t_s)
        sun = self._interp(self._eph.sun_km, t_s) - self._site_km(last)
        return self._altaz_of_date(sun, last)

    def moon_altaz(self, t_s: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        last = self.last_rad(t_s)
        moon = self._interp(self._eph.moon_km, t_s) - self._site_km(last)  # topocentric: parallax up to 1 deg
        return self._altaz_of_date(moon, last)

    def sun_radec_icrs(self, t_s: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Geocentric Sun direction in ICRS degrees (for Sun avoidance)."""
        v = self._interp(self._eph.sun_km, t_s) @ self._m_date  # inverse rotation
        return unit_to_radec(v)

    def moon_radec_icrs(self, t_s: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Topocentric Moon direction in ICRS degrees."""
        last = self.last_rad(t_s)
        v = (self._interp(self._eph.moon_km, t_s) - self._site_km(last)) @ self._m_date
        return unit_to_radec(v)

    def moon_illumination(self, t_s: np.ndarray | float) -> np.ndarray:
        """Illuminated fraction of the Moon's disc, from the Sun-Moon-Earth phase angle."""
        sun = self._interp(self._eph.sun_km, t_s)
        moon = self._interp(self._eph.moon_km, t_s)
        to_sun = sun - moon
        to_earth = -moon
        cos_i = np.sum(to_sun * to_earth, axis=-1) / (np.linalg.norm(to_sun, axis=-1) * np.linalg.norm(to_earth, axis=-1))
        return (1.0 + cos_i) / 2.0

    # --------------------------------------------------------------- twilight
    def crossings(self, alt_deg: float, start_s: float, end_s: float, step_s: float = 300.0) -> list[tuple[float, bool]]:
        """Times the Sun crosses ``alt_deg`` in ``[start_s, end_s]``: ``(t_s, rising)``.

        Found on a ``step_s`` grid and refined by two secant steps on the
        continuous model (sub-second).
        """
        t = np.arange(start_s, end_s + step_s, step_s)
        a = self.sun_altaz(t)[0] - alt_deg
        idx = np.nonzero(np.sign(a[:-1]) != np.sign(a[1:]))[0]
        out = []
        for i in idx:
            t_lo, t_hi, a_lo, a_hi = t[i], t[i + 1], a[i], a[i + 1]
            for _ in range(2):
                tm = t_lo - a_lo * (t_hi - t_lo) / (a_hi - a_lo)
                am = float(self.sun_altaz(tm)[0]) - alt_deg
                if np.sign(am) == np.sign(a_lo):
                    t_lo, a_lo = tm, am
                else:
                    t_hi, a_hi = tm, am
            tc = t_lo - a_lo * (t_hi - t_lo) / (a_hi - a_lo)
            out.append((float(tc), bool(a[i + 1] > a[i])))
        return out

    def nights(self, alt_deg: float = -12.0) -> list[tuple[float, float]]:
        """Intervals ``(start_s, end_s)`` with the Sun below ``alt_deg`` in the span."""
        xs = self.crossings(alt_deg, self.start_s, self.end_s)
        out: list[tuple[float, float]] = []
        start = self.start_s if float(self.sun_altaz(self.start_s)[0]) < alt_deg else None
        for t, rising in xs:
            if not rising:
                start = t
            elif start is not None:
                out.append((start, t))
                start = None
        if start is not None:
            out.append((start, self.end_s))
        return out

    @staticmethod
    def twilight_phase(sun_alt_deg: float) -> str:
        if sun_alt_deg >= TWILIGHT_ALT_DEG["sunset"]:
            return "day"
        if sun_alt_deg >= -6.0:
            return "civil"
        if sun_alt_deg >= -12.0:
            return "nautical"
        if sun_alt_deg >= -18.0:
            return "astronomical"
        return "night"

    def time_of(self, t_s: float) -> Time:
        return to_time(self.epoch, t_s)


def airmass(alt_deg: float | np.ndarray) -> np.ndarray | float:
    """Airmass from altitude (Kasten & Young 1989), finite down to the horizon."""
    alt = np.maximum(np.asarray(alt_deg, dtype=float), 0.0)
    return 1.0 / (np.sin(np.radians(alt)) + 0.50572 * (alt + 6.07995) ** -1.6364)



class SkyTable:
    """Sun and Moon at one site tabulated every ``step_s`` for fast scalar look-ups.

    Columns: Sun altitude, Moon altitude, Moon illumination, Sun and Moon
    ICRS unit vectors. Linear interpolation between rows (errors below
    0.01 deg at 5-minute steps).
    """

    def __init__(self, sky: SiteSky, step_s: float = 300.0) -> None:
        self.sky = sky
        self.step_s = step_s
        self.t0_s = sky.start_s - step_s
        t = np.arange(self.t0_s, sky.end_s + 2 * step_s, step_s)
        sun_alt = sky.sun_altaz(t)[0]
        moon_alt = sky.moon_altaz(t)[0]
        illum = sky.moon_illumination(t)
        sun_v = radec_to_unit(*sky.sun_radec_icrs(t))
        moon_v = radec_to_unit(*sky.moon_radec_icrs(t))
        self._cols = np.column_stack([sun_alt, moon_alt, illum, sun_v, moon_v])
        # a flat array of doubles: scalar interpolation without numpy overhead, 8 bytes a value
        self._flat = array("d", self._cols.ravel().tolist())
        self._n = len(self._cols)

    def at(self, t_s: float) -> list[float]:
        """``[sun_alt, moon_alt, illum, sun_x, sun_y, sun_z, moon_x, moon_y, moon_z]`` at ``t_s``."""
        x = (t_s - self.t0_s) / self.step_s
        i = int(x)
        if i < 0:
            i, x = 0, 0.0
        elif i >= self._n - 1:
            i, x = self._n - 2, float(self._n - 1)
        w = x - i
        f = self._flat
        k = 9 * i
        return [f[k + c] + (f[k + 9 + c] - f[k + c]) * w for c in range(9)]

    def sun_alt_many(self, t_s: np.ndarray) -> np.ndarray:
        return np.interp(t_s, self.t0_s + self.step_s * np.arange(self._n), self._cols[:, 0])
