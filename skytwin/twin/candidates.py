"""Fast-mode transient candidates: what difference imaging finds in a kept frame, with truth.

Units: seconds of simulation time, degrees on the sky, arcseconds for
distances on the image, magnitudes.

Each kept science frame yields a handful of candidates above a 5-sigma
difference-image threshold. Some are real transients (the counterpart of an
alert in a target-of-opportunity tile, or a rare serendipitous one in a survey
field); most are bogus: cosmic rays (sharp, often elongated), hot pixels
(sharper than the PSF, round) and subtraction residuals (on top of a star,
PSF-wide, dipole-shaped). Each candidate carries the features a real/bogus
classifier works from, plus its truth.

Features (all floats):

================  =======================================================
snr               difference-image signal-to-noise (>= 5)
fwhm_ratio        candidate FWHM / frame PSF FWHM (1 for a point source)
elongation        a/b of the candidate (1 = round)
star_dist_arcsec  distance to the nearest catalogue star (arcsec, <= 30)
neg_frac          fraction of negative flux in the cutout (dipoles: high)
================  =======================================================

Candidates of one frame depend only on ``(seed, frame_id)``, so two agents that
keep the same frame see the same candidates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from skytwin.site.types import FrameRecord
from skytwin.twin.rng import stream

SNR_THRESHOLD = 5.0  # difference-image detection threshold (sigma)
STAR_DIST_MAX_ARCSEC = 30.0  # arcsec; farther counts as "no star nearby"
COSMIC_RATE_PER_S = 0.008  # cosmic-ray candidates per second of exposure
HOT_PIXEL_MEAN = 0.25  # hot pixels surviving the bad-pixel mask, per frame
RESIDUAL_MEAN_PER_ARCSEC = 0.4  # subtraction residuals per frame, per arcsec of FWHM
SURVEY_REAL_PROB = 0.03  # chance of a serendipitous real transient in a survey frame
ALERT_REAL_PROB = {"sn": 0.8, "grb": 0.35, "gw": 0.1}  # chance a ToO tile holds the counterpart

REAL = "transient"
BOGUS_KINDS = ("cosmic_ray", "hot_pixel", "residual")


@dataclass(frozen=True, slots=True)
class Candidate:
    """One difference-image candidate with its features and truth."""

    candidate_id: str
    frame_id: str
    site: str
    request_id: str
    t_s: float  # when the frame was taken
    ra_deg: float
    dec_deg: float
    snr: float
    fwhm_ratio: float
    elongation: float
    star_dist_arcsec: float
    neg_frac: float
    frame_fwhm_arcsec: float
    too: bool  # found in a target-of-opportunity frame
    alert_id: str | None
    # truth
    real: bool
    kind: str  # "transient", "cosmic_ray", "hot_pixel" or "residual"
    mag: float  # NaN for bogus

    def features(self) -> np.ndarray:
        return np.array(
            [math.log10(self.snr), self.fwhm_ratio, self.elongation, self.star_dist_arcsec / STAR_DIST_MAX_ARCSEC,
             self.neg_frac, self.frame_fwhm_arcsec / 5.0, float(self.too)],
            dtype=np.float32,
        )


N_FEATURES = 7


def frame_candidates(seed: int, frame: FrameRecord, alert_kind: str | None = None, alert_id: str | None = None) -> list[Candidate]:
    """The candidates difference imaging finds in ``frame`` (deterministic in ``(seed, frame_id)``)."""
    rng = stream(seed, "candidates", frame.frame_id)
    out: list[tuple[str, float, float, float, float, float, float, float]] = []
    p_real = ALERT_REAL_PROB.get(alert_kind or "", 0.0) if alert_id else SURVEY_REAL_PROB
    if rng.uniform() < p_real:
        mag = rng.uniform(16.0, 21.5)
        snr = 5.0 * 10.0 ** (-0.4 * (mag - frame.limiting_mag)) * math.exp(0.1 * rng.standard_normal())
        if snr >= SNR_THRESHOLD:
            host = rng.exponential(1.5) if rng.uniform() < 0.7 else rng.uniform(0, STAR_DIST_MAX_ARCSEC)
            out.append((REAL, min(snr, 1e4), rng.normal(1.0, 0.08), 1.0 + abs(rng.normal(0.0, 0.08)) + frame.ellipticity,
                        min(host, STAR_DIST_MAX_ARCSEC), rng.uniform(0.0, 0.12), mag, 0.0))
    for _ in range(rng.poisson(COSMIC_RATE_PER_S * frame.exptime_s)):
        out.append(("cosmic_ray", SNR_THRESHOLD + rng.exponential(20.0), rng.uniform(0.15, 0.55), 1.0 + rng.exponential(0.8),
                    rng.uniform(0, STAR_DIST_MAX_ARCSEC), rng.uniform(0.0, 0.05), math.nan, 0.0))
    for _ in range(rng.poisson(HOT_PIXEL_MEAN)):
        out.append(("hot_pixel", SNR_THRESHOLD + rng.exponential(10.0), rng.uniform(0.1, 0.35), 1.0 + abs(rng.normal(0.0, 0.05)),
                    rng.uniform(0, STAR_DIST_MAX_ARCSEC), rng.uniform(0.0, 0.05), math.nan, 0.0))
    for _ in range(rng.poisson(RESIDUAL_MEAN_PER_ARCSEC * frame.fwhm_arcsec)):
        out.append(("residual", SNR_THRESHOLD + rng.exponential(8.0), max(0.3, rng.normal(1.3, 0.3)), 1.0 + rng.exponential(0.5),
                    rng.exponential(0.5), rng.uniform(0.2, 0.6), math.nan, 0.0))
    cands = []
    cos_dec = max(1e-3, math.cos(math.radians(frame.dec_deg)))
    for k, (kind, snr, fr, el, dist, neg, mag, _) in enumerate(out):
        dra, ddec = rng.uniform(-0.2, 0.2, size=2)
        cands.append(
            Candidate(
                candidate_id=f"{frame.frame_id}.c{k:02d}", frame_id=frame.frame_id, site=frame.site, request_id=frame.request_id,
                t_s=frame.t_start_s, ra_deg=(frame.ra_deg + dra / cos_dec) % 360.0, dec_deg=float(np.clip(frame.dec_deg + ddec, -90, 90)),
                snr=float(snr), fwhm_ratio=float(max(0.05, fr)), elongation=float(el), star_dist_arcsec=float(dist), neg_frac=float(neg),
                frame_fwhm_arcsec=frame.fwhm_arcsec, too=alert_id is not None, alert_id=alert_id,
                real=kind == REAL, kind=kind, mag=float(mag),
            )
        )
    return cands
