"""Observation builders for the three roles: scheduler, quality, detector.

All observations are flat ``float32`` vectors with fixed length, so that
Gymnasium ``Box`` spaces and SB3's ``MlpPolicy`` take them as they are. Units
are normalised to order one (documented column by column below).

Scheduler candidates
--------------------
A decision point lists every request in the pool with a feasibility flag from
the hard constraints (visibility, window, weather, instrument). The scheduler
sees ``K`` of them, chosen in a stable, documented way:

1. feasible requests before infeasible ones;
2. then by ``priority * sin(altitude now)`` (higher first);
3. then by position in the pool (earlier first).

Only these ``K`` rows are turned into features, so building an observation
costs a few vectorised passes over the pool plus ``O(K)`` work.
"""

from __future__ import annotations

import math

import numpy as np

from skytwin.site.interface import DecisionPoint
from skytwin.site.types import FrameRecord, RequestKind, TelescopeState
from skytwin.twin.candidates import N_FEATURES as DETECTOR_FEATURES
from skytwin.twin.candidates import Candidate

_D2R = math.pi / 180.0
FEASIBLE_BONUS = 1e9  # sorts feasible candidates first

SITE_FEATURES = (
    "sun_alt/90", "moon_alt/90", "moon_illumination", "cloud_cover", "transparency", "seeing/3", "humidity/100",
    "wind/20", "safe", "forecast_1h_cloud", "forecast_1h_safe", "forecast_3h_cloud", "forecast_3h_safe",
    "dome_open", "link_up", "parked", "focus_offset/100um", "zp_error/0.1mag", "telescope_faults",
    "night_left/10h", "log10(1+feasible)/3", "feasible_too/10", "alerts_known_24h/10", "busy_telescopes_frac",
)
CANDIDATE_FEATURES = (
    "priority/10", "sin_alt", "visit/600s", "is_too", "is_monitoring", "filter_change", "slew/180deg",
    "moon_sep/180deg", "window_left/24h", "feasible",
)
QUALITY_FEATURES = (
    "fwhm/5arcsec", "ellipticity", "sky_excess/3mag", "transparency", "airmass/3", "moon_sep/180deg",
    "limiting_mag/25", "log10(1+snr)/3", "cloud_cover", "focus_offset/100um", "zp_error/0.1mag", "exptime/300s",
)
N_SITE = len(SITE_FEATURES)
N_CAND = len(CANDIDATE_FEATURES)
N_QUALITY = len(QUALITY_FEATURES)
N_DETECTOR = DETECTOR_FEATURES


def scheduler_obs_size(k: int) -> int:
    return N_SITE + k * N_CAND


def select_candidates(point: DecisionPoint, k: int) -> np.ndarray:
    """Indices (into ``point.candidates``) of the ``k`` shown candidates, in the documented order."""
    n = len(point.candidates)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    score = point.priority * np.sin(point.alt_deg * _D2R) + FEASIBLE_BONUS * point.feasible
    if n > k:
        part = np.argpartition(-score, k - 1)[:k]
        sel = np.flatnonzero(score >= score[part].min())
    else:
        sel = np.arange(n)
    order = sel[np.lexsort((sel, -score[sel]))]
    return order[:k]


def telescope_state(point: DecisionPoint) -> TelescopeState:
    for tel in point.state.telescopes:
        if tel.name == point.telescope:
            return tel
    raise KeyError(point.telescope)


def _sep_deg(ra1: np.ndarray, dec1: np.ndarray, ra2: float, dec2: float) -> np.ndarray:
    a = np.sin((dec1 - dec2) * _D2R / 2) ** 2 + np.cos(dec1 * _D2R) * math.cos(dec2 * _D2R) * np.sin((ra1 - ra2) * _D2R / 2) ** 2
    return 2.0 * np.degrees(np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))))


def scheduler_observation(
    point: DecisionPoint,
    k: int,
    forecast: tuple[tuple[float, bool], tuple[float, bool]],
    night_left_s: float,
    alerts_known_24h: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(observation, action mask of length ``k + 2``, shown candidate indices)."""
    idx = select_candidates(point, k)
    obs = np.zeros(N_SITE + k * N_CAND, dtype=np.float32)
    c = point.conditions
    w = c.weather
    tel = telescope_state(point)
    st = point.state
    feas = point.feasible
    n_feas = int(np.count_nonzero(feas))
    n_too = 0
    for j in idx:
        if feas[j] and point.candidates[j].kind == RequestKind.TOO:
            n_too += 1
    (f1_cloud, f1_safe), (f3_cloud, f3_safe) = forecast
    busy = sum(1 for t in st.telescopes if t.busy) / max(1, len(st.telescopes))
    obs[:N_SITE] = (
        c.sun_alt_deg / 90.0, c.moon_alt_deg / 90.0, c.moon_illumination, w.cloud_cover, w.transparency,
        w.seeing_arcsec / 3.0, w.humidity_pct / 100.0, w.wind_mps / 20.0, float(w.safe), f1_cloud, float(f1_safe),
        f3_cloud, float(f3_safe), float(st.dome_open), float(st.link_up), float(tel.parked),
        min(abs(tel.focus_offset_um) / 100.0, 5.0), min(tel.zp_error_mag / 0.1, 5.0), float(bool(tel.faults)),
        min(night_left_s / 36000.0, 2.0), math.log10(1.0 + n_feas) / 3.0, min(n_too / 10.0, 1.0),
        min(alerts_known_24h / 10.0, 2.0), busy,
    )
    mask = np.zeros(k + 2, dtype=np.int8)
    mask[k] = 1  # calibrate: always safe
    mask[k + 1] = 1  # close and wait: always safe
    m = len(idx)
    if m:
        reqs = [point.candidates[j] for j in idx]
        alt = point.alt_deg[idx]
        ra, dec = point.ra_deg[idx], point.dec_deg[idx]
        block = np.zeros((m, N_CAND), dtype=np.float32)
        block[:, 0] = point.priority[idx] / 10.0
        block[:, 1] = np.sin(alt * _D2R)
        block[:, 2] = point.exptime_s[idx] / 600.0
        block[:, 3] = [r.kind == RequestKind.TOO for r in reqs]
        block[:, 4] = [r.kind == RequestKind.MONITORING for r in reqs]
        block[:, 5] = [r.filter != tel.filter for r in reqs]
        block[:, 6] = _sep_deg(ra, dec, tel.ra_deg, tel.dec_deg) / 180.0
        block[:, 7] = _sep_deg(ra, dec, c.moon_ra_deg, c.moon_dec_deg) / 180.0
        block[:, 8] = np.clip((np.array([r.window_end_s for r in reqs]) - point.t_s) / 86400.0, 0.0, 1.0)
        block[:, 9] = feas[idx]
        obs[N_SITE:N_SITE + m * N_CAND] = block.ravel()
        mask[:m] = feas[idx]
    return obs, mask, idx


def quality_observation(frame: FrameRecord, dark_sky_mag: float) -> np.ndarray:
    """Fast-mode frame metrics, normalised (see ``QUALITY_FEATURES``)."""
    snr = frame.snr_expected if frame.snr_expected == frame.snr_expected else 0.0
    return np.array(
        [frame.fwhm_arcsec / 5.0, frame.ellipticity, (dark_sky_mag - frame.sky_mag_arcsec2) / 3.0, frame.transparency,
         frame.airmass / 3.0, frame.moon_sep_deg / 180.0, frame.limiting_mag / 25.0, math.log10(1.0 + max(0.0, snr)) / 3.0,
         frame.cloud_cover, min(abs(frame.focus_offset_um) / 100.0, 5.0), min(frame.zp_error_mag / 0.1, 5.0), frame.exptime_s / 300.0],
        dtype=np.float32,
    )


def detector_observation(cand: Candidate) -> np.ndarray:
    return cand.features()
