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
from skytwin.twin.weather import transparency_from_cloud
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
    "fwhm/5arcsec", "ellipticity", "sky_excess/3mag", "cloud_transmission", "airmass/3", "moon_sep/180deg",
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
    n = len(point.priority)  # the arrays are the pool at the decision; the list may have grown since
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    score = point.priority * np.sin(point.alt_deg * _D2R)
    score += FEASIBLE_BONUS * point.feasible
    if n > k:
        part = np.argpartition(-score, k - 1)[:k]
        kth = score[part].min()
        if np.count_nonzero(score >= kth) == k:
            sel = part
        else:  # ties at the boundary: take them all, order, cut (stable)
            sel = np.flatnonzero(score >= kth)
    else:
        sel = np.arange(n)
    order = sel[np.lexsort((sel, -score[sel]))]
    return order[:k]


def telescope_state(point: DecisionPoint) -> TelescopeState:
    for tel in point.state.telescopes:
        if tel.name == point.telescope:
            return tel
    raise KeyError(point.telescope)


def _unit(ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
    ra, dec = np.asarray(ra_deg) * _D2R, np.asarray(dec_deg) * _D2R
    return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=-1)


class SchedulerFeatures:
    """Builds scheduler observations; keeps each request's static columns so a decision costs ``O(K)``.

    The request list of a network only grows (alerts and follow-ups append),
    so static columns are extended incrementally.
    """

    def __init__(self, k: int) -> None:
        self.k = k
        self._n = 0
        self._static = np.zeros((0, 5), dtype=np.float64)  # priority/10, visit/600, too, monitoring, window_end
        self._vec = np.zeros((0, 3))
        self._filter: list[str] = []

    def _extend(self, point: DecisionPoint) -> None:
        reqs = point.candidates
        n0, n = self._n, len(point.priority)
        if n < n0:  # a new network: start again
            n0 = 0
            self._static, self._vec, self._filter = self._static[:0], self._vec[:0], []
        new = reqs[n0:n]
        st = np.zeros((n - n0, 5))
        st[:, 0] = point.priority[n0:n] / 10.0
        st[:, 1] = point.visit_s[n0:n] / 600.0
        st[:, 2] = [r.kind == RequestKind.TOO for r in new]
        st[:, 3] = [r.kind == RequestKind.MONITORING for r in new]
        st[:, 4] = [r.window_end_s for r in new]
        self._static = np.concatenate([self._static, st])
        self._vec = np.concatenate([self._vec, _unit(point.ra_deg[n0:n], point.dec_deg[n0:n])])
        self._filter.extend(r.filter for r in new)
        self._n = n

    def reset(self) -> None:
        self._n = 0

    def build(
        self,
        point: DecisionPoint,
        forecast: tuple[tuple[float, bool], ...],
        night_left_s: float,
        alerts_known_24h: int,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(observation, action mask of length ``k + 2``, shown candidate indices)."""
        if len(point.priority) != self._n:
            self._extend(point)
        k = self.k
        idx = select_candidates(point, k)
        m = len(idx)
        obs = np.zeros(N_SITE + k * N_CAND, dtype=np.float32)
        c = point.conditions
        w = c.weather
        tel = telescope_state(point)
        st = point.state
        feas_shown = point.feasible[idx]
        n_feas = int(np.count_nonzero(point.feasible))
        static = self._static[idx]
        n_too = int(np.count_nonzero(static[:, 2] * feas_shown))
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
        if m:
            vec = self._vec[idx]
            ref = _unit(np.array([tel.ra_deg, c.moon_ra_deg]), np.array([tel.dec_deg, c.moon_dec_deg]))
            cos = np.clip(vec @ ref.T, -1.0, 1.0)
            block = np.empty((m, N_CAND), dtype=np.float32)
            block[:, 0:3] = static[:, 0:3]
            block[:, 1] = np.sin(point.alt_deg[idx] * _D2R)
            block[:, 2] = static[:, 1]
            block[:, 3] = static[:, 2]
            block[:, 4] = static[:, 3]
            f = tel.filter
            flt = self._filter
            block[:, 5] = [flt[j] != f for j in idx]
            block[:, 6:8] = np.arccos(cos) / math.pi
            block[:, 8] = np.clip((static[:, 4] - point.t_s) / 86400.0, 0.0, 1.0)
            block[:, 9] = feas_shown
            obs[N_SITE:N_SITE + m * N_CAND] = block.ravel()
            mask[:m] = feas_shown
        return obs, mask, idx


def scheduler_observation(
    point: DecisionPoint,
    k: int,
    forecast: tuple[tuple[float, bool], ...],
    night_left_s: float,
    alerts_known_24h: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(observation, action mask of length ``k + 2``, shown candidate indices); one-off form of :class:`SchedulerFeatures`."""
    return SchedulerFeatures(k).build(point, forecast, night_left_s, alerts_known_24h)


def quality_observation(frame: FrameRecord, dark_sky_mag: float) -> np.ndarray:
    """Fast-mode frame metrics, normalised (see ``QUALITY_FEATURES``)."""
    snr = frame.snr_expected if frame.snr_expected == frame.snr_expected else 0.0
    return np.array(
        # transmission through the clouds (extinction and mirror dust are known and calibrated away)
        [frame.fwhm_arcsec / 5.0, frame.ellipticity, (dark_sky_mag - frame.sky_mag_arcsec2) / 3.0,
         float(transparency_from_cloud(frame.cloud_cover)),
         frame.airmass / 3.0, frame.moon_sep_deg / 180.0, frame.limiting_mag / 25.0, math.log10(1.0 + max(0.0, snr)) / 3.0,
         frame.cloud_cover, min(abs(frame.focus_offset_um) / 100.0, 5.0), min(frame.zp_error_mag / 0.1, 5.0), frame.exptime_s / 300.0],
        dtype=np.float32,
    )


def detector_observation(cand: Candidate) -> np.ndarray:
    return cand.features()
