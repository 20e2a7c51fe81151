"""Pixel mode for fast-mode candidates: a science and a reference cut-out around each one.

Units: images ADU (float32); positions 0-based pixels; seeing and FWHM
arcsec; magnitudes in the frame's band; SNR dimensionless.

:mod:`skytwin.twin.candidates` lists what difference imaging finds in a kept
frame, with truth, but no pixels. :func:`render_candidate` draws, for one
such :class:`~skytwin.twin.candidates.Candidate`, a small field (``size`` x
``size`` pixels, default 63) centred on it, twice, with the frame's own
render request (camera, exposure, sky, seeing, clouds):

* **reference**: the same field (the same catalogue stars and galaxies: the
  renderer draws sky content from ``(seed, sky cell)``), in better seeing
  (``REF_SEEING_FACTOR`` x the frame's, at least ``REF_SEEING_MIN_ARCSEC``),
  round and in focus, no transient, as the mean of a ``REF_DEPTH``-frame
  stack: rendered once with ``REF_DEPTH`` x the exposure and scaled back, so
  it has the science frame's photometric scale with ``sqrt(REF_DEPTH)`` less
  noise, at the cost of one render instead of ``REF_DEPTH``;
* **science**: the same field with the frame's conditions and the
  candidate's truth at the centre pixel ``(size // 2, size // 2)``:

  ===============  ====================================================
  ``transient``    a point source (``Transient("sn")`` at its peak) of
                   the magnitude that gives the candidate's SNR at the
                   cut-out's 5-sigma limit: ``m = lim - 2.5 log10(snr / 5)``
  ``cosmic_ray``   a straight track of ``1 + 3 (elongation - 1)`` pixels
                   at a random angle, not blurred by the PSF, of total
                   charge ``snr * sigma_pix * sqrt(n_pix)``
  ``hot_pixel``    one pixel ``snr * sigma_pix`` above the sky
  ``residual``     a star present in both images, shifted in the science
                   image by ``U(0.3, 0.8)`` pixel (a misregistration) and
                   seen through the frame's worse PSF; its magnitude is
                   such that the dipole left by the shift has roughly the
                   candidate's SNR (star SNR ``snr * 2 sigma_psf / shift``)
  ===============  ====================================================

Both cut-outs have no random cosmic rays, hot or dead pixels, trails or
patchy clouds: the candidate is the only defect, and at ~30 arcsec the cloud
transmission is uniform. (The camera's fixed hot-pixel pattern is keyed by
image size, so every cut-out would otherwise carry the same hot pixels at the
same places.) Everything depends only on the frame's request and the
candidate id, so pixels are seed-deterministic.

The difference image is made above the twin, by the agents' Alard-Lupton
subtraction (see :mod:`skytwin.envs.pixels`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from skytwin.twin.candidates import Candidate
from skytwin.twin.frames import RenderRequest, Transient, limiting_mag, render_frame
from skytwin.twin.frames.psf import nominal_fwhm_arcsec
from skytwin.twin.frames.transients import iso_to_mjd
from skytwin.twin.rng import stream

CUTOUT_FIELD = 63  # side of the rendered field around a candidate (pixels)
REF_SEEING_FACTOR = 0.8  # reference seeing / science seeing
REF_SEEING_MIN_ARCSEC = 0.5  # arcsec: the best seeing a reference gets
REF_DEPTH = 3  # frames in the reference stack
RESIDUAL_SHIFT_PIX = (0.3, 0.8)  # misregistration of a residual's star (pixels)


@dataclass(frozen=True)
class CandidateImages:
    """Science and reference cut-outs of one candidate (``(size, size)`` ADU each)."""

    science: NDArray[np.float32]
    reference: NDArray[np.float32]
    kind: str
    """The candidate's truth kind (what was drawn at the centre)."""
    saturation_adu: float


def cutout_requests(frame: RenderRequest, cand: Candidate, size: int = CUTOUT_FIELD
                    ) -> tuple[RenderRequest, RenderRequest]:
    """Science and reference requests for the field around ``cand`` (no candidate drawn yet)."""
    common = dict(ra_deg=cand.ra_deg, dec_deg=cand.dec_deg, nx=size, ny=size,
                  cosmic_ray_rate=0.0, hot_pixel_fraction=0.0, dead_pixel_fraction=0.0,
                  satellite_rate=0.0, aircraft_rate=0.0, cloud_patchiness=0.0,
                  cloud_gradient=0.0, sky_gradient=0.0, vignetting=0.0, transients=())
    sci = frame.with_(**common, frame_id=f"{cand.candidate_id}.sci")
    ref_seeing = max(REF_SEEING_MIN_ARCSEC, REF_SEEING_FACTOR * frame.seeing_arcsec)
    sky_e = frame.sky_e_per_pix * REF_DEPTH if math.isfinite(frame.sky_e_per_pix) else math.nan
    ref = frame.with_(**common, frame_id=f"{cand.candidate_id}.ref",
                      seeing_arcsec=min(ref_seeing, frame.seeing_arcsec),
                      ellipticity=0.0, defocus_arcsec=0.0, trail_arcsec=0.0,
                      exptime_s=frame.exptime_s * REF_DEPTH, sky_e_per_pix=sky_e)
    return sci, ref


def pixel_noise_adu(req: RenderRequest) -> float:
    """Expected noise of one sky pixel (ADU): sky, dark and read noise."""
    var_e = req.sky_level_e + req.dark_e_per_s * req.exptime_s + req.read_noise_e ** 2
    return math.sqrt(max(var_e, 1e-12)) / req.gain_e_per_adu


def _point_mag(req: RenderRequest, snr: float) -> float:
    """Magnitude of a point source with signal-to-noise ``snr`` on ``req``'s frame."""
    lim = limiting_mag(req, nominal_fwhm_arcsec(req))
    return lim - 2.5 * math.log10(max(snr, 1e-3) / 5.0)


def _constant_source(req: RenderRequest, kind: str, mag: float, ra_deg: float, dec_deg: float
                     ) -> Transient:
    """A source of magnitude ``mag`` at mid-exposure (an SN at its peak, or a constant star)."""
    t_mid = iso_to_mjd(req.date_obs) + 0.5 * req.exptime_s / 86400.0
    if kind == "sn":
        return Transient("sn", mag, t_mid, ra_deg=ra_deg, dec_deg=dec_deg, name="candidate")
    return Transient("variable", mag, t_mid, ra_deg=ra_deg, dec_deg=dec_deg, amplitude_mag=0.0,
                     name="star")


def _deposit_track(image: NDArray[np.float32], x0: float, y0: float, length: float, theta: float,
                   per_pixel_noise: float, snr: float) -> None:
    """Add a straight track centred on ``(x0, y0)`` whose summed charge has signal-to-noise ``snr``."""
    # By hand: the renderer's cosmic rays (skytwin.twin.frames.artifacts.cosmic_rays) come at
    # random places and charges from its rate; a candidate needs one at a given place and SNR.
    k = max(1, int(math.ceil(length)))
    t = np.linspace(-0.5, 0.5, k) * (length - 1.0)
    xs = np.rint(x0 + t * math.cos(theta)).astype(int)
    ys = np.rint(y0 + t * math.sin(theta)).astype(int)
    pts = sorted(set(zip(ys.tolist(), xs.tolist())))
    per = np.float32(snr * per_pixel_noise * math.sqrt(len(pts)) / len(pts))
    for y, x in pts:
        if 0 <= y < image.shape[0] and 0 <= x < image.shape[1]:
            image[y, x] += per


def render_candidate(frame: RenderRequest, cand: Candidate, size: int = CUTOUT_FIELD
                     ) -> CandidateImages:
    """Science and reference cut-outs of ``cand`` on ``frame`` (see the module docstring)."""
    sci_req, ref_req = cutout_requests(frame, cand, size)
    rng = stream(frame.seed, "candidate_pixels", cand.candidate_id)
    c = size // 2
    scale_deg = frame.pixel_scale_arcsec / 3600.0
    cos_dec = max(1e-6, math.cos(math.radians(cand.dec_deg)))
    if cand.kind == "transient":
        mag = _point_mag(sci_req, cand.snr)
        sci_req = sci_req.with_(transients=(_constant_source(sci_req, "sn", mag, cand.ra_deg, cand.dec_deg),))
    elif cand.kind == "residual":
        shift = float(rng.uniform(*RESIDUAL_SHIFT_PIX))
        th = float(rng.uniform(0.0, 2.0 * math.pi))
        sigma_pix = nominal_fwhm_arcsec(sci_req) / frame.pixel_scale_arcsec / 2.3548
        mag = _point_mag(sci_req, cand.snr * 2.0 * sigma_pix / shift)
        ref_req = ref_req.with_(transients=(_constant_source(ref_req, "star", mag, cand.ra_deg, cand.dec_deg),))
        ra = cand.ra_deg + shift * scale_deg * math.cos(th) / cos_dec
        dec = cand.dec_deg + shift * scale_deg * math.sin(th)
        sci_req = sci_req.with_(transients=(_constant_source(sci_req, "star", mag, ra, dec),))
    science = render_frame(sci_req).image
    deep = render_frame(ref_req).image
    reference = (np.float32(frame.bias_adu) + (deep - np.float32(frame.bias_adu)) / np.float32(REF_DEPTH))
    sigma = pixel_noise_adu(sci_req)
    if cand.kind == "cosmic_ray":
        length = 1.0 + 3.0 * max(0.0, cand.elongation - 1.0)
        _deposit_track(science, c, c, length, float(rng.uniform(0.0, math.pi)), sigma, cand.snr)
    elif cand.kind == "hot_pixel":
        science[c, c] += np.float32(cand.snr * sigma)
    np.minimum(science, np.float32(frame.saturation_adu), out=science)
    return CandidateImages(science.astype(np.float32), reference.astype(np.float32), cand.kind,
                           float(frame.saturation_adu))
