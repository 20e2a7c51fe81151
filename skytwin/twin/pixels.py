"""Pixel mode: render the twin's frames as FITS files with truth.

A :class:`PixelRecorder` listens to a :class:`~skytwin.twin.network.TwinNetwork`
and renders every ``every``-th frame with the GalSim-based renderer
(:mod:`skytwin.twin.frames`), from the same :class:`FrameRecord` that fast
mode logs, so both fidelity levels describe one frame. Frames are rendered
as a central ``size`` x ``size`` cut-out of the detector (a full 4k x 4k
chip costs ~16x more and adds nothing to the agents' view); the WCS is that
of the cut-out. The real transients fast mode finds in the frame
(:func:`frame_transients`) are drawn into it where they fall on the cut-out.

Each rendered frame adds a ``frame_file`` event: the FITS path, the quality
label and reason from the truth, and the FWHM measured on the pixels.

:func:`render_reference` draws the site's reference image of a frame's
pointing, what difference imaging subtracts: the median of
:data:`REF_FRAMES` frames of the same field in good seeing and a clear sky,
as the detection model's training references are made.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from skytwin.site.types import FrameRecord
from skytwin.twin.astro import to_iso
from skytwin.twin.photometry import sky_brightness
from skytwin.twin.weather import transparency_from_cloud
from skytwin.twin.frames import MeasureError, RenderedFrame, RenderRequest, frame_catalog, measure_frame, render_frame, write_fits
from skytwin.twin.candidates import frame_candidates
from skytwin.twin.frames.request import DARK_SKY_MAG
from skytwin.twin.frames.transients import Transient, iso_to_mjd
from skytwin.twin.frames.wcs import sky_to_pixel
from skytwin.twin.rng import stream

if TYPE_CHECKING:
    from skytwin.twin.network import TwinNetwork


def render_request(net: "TwinNetwork", rec: FrameRecord, size: int = 1024) -> RenderRequest:
    """The renderer's request for a twin frame, with the telescope's own camera."""
    site = net.sites[rec.site]
    tel = site.telescopes[rec.telescope].cfg
    cam = tel.camera
    cond = site.conditions(rec.t_start_s)
    nx, ny = min(size, cam.nx), min(size, cam.ny)
    req = RenderRequest.from_record(
        rec,
        seed=net.seed,
        nx=nx,
        ny=ny,
        pixel_scale_arcsec=tel.pixel_scale_arcsec,
        aperture_m=tel.aperture_m,
        throughput=tel.efficiency,
        optics_fwhm_arcsec=tel.optics_fwhm_arcsec,
        defocus_arcsec_per_um=tel.focus.blur_arcsec_per_um,
        date_obs=to_iso(net.epoch, rec.t_start_s).rstrip("Z"),
        gain_e_per_adu=cam.gain_e_per_adu,
        read_noise_e=cam.read_noise_e,
        dark_e_per_s=cam.dark_e_per_s,
        bias_adu=cam.bias_adu,
        saturation_adu=cam.saturation_adu,
        pixel_size_um=cam.pixel_um,
        instrument=cam.instrument,
        moon_illumination=cond.moon_illumination,
    )
    counterparts = frame_transients(net, rec, req)
    if counterparts:
        req = req.with_(transients=counterparts)
    # The record's transparency is clouds x extinction x mirror dust. The renderer's
    # `transparency` is what its quality rule calls "clouds", so it gets the cloud
    # transmission alone and the rest moves into the zero point: same electrons.
    clouds = float(transparency_from_cloud(rec.cloud_cover))
    if clouds > 0.0 and rec.transparency > 0.0:
        req = req.with_(transparency=clouds, zeropoint_e_per_s=req.zeropoint_e_per_s * rec.transparency / clouds)
    return req


def frame_transients(net: "TwinNetwork", rec: FrameRecord, req: RenderRequest) -> tuple[Transient, ...]:
    """The real transients fast mode finds in ``rec`` (:func:`~skytwin.twin.candidates.frame_candidates`), to draw.

    Each is a point source at the candidate's position with its magnitude at
    mid-exposure, named after its candidate (``c00``, ``c01``, ...). Only
    those on ``req``'s cut-out are returned (fast mode places them anywhere
    on the chip, up to 0.2 deg from its centre), so the frame's truth table
    lists what its pixels hold. The bogus candidates are not drawn: the
    renderer makes its own cosmic rays, hot pixels and subtraction residues.
    """
    alert_id = net.pool.get(rec.request_id).alert_id if rec.request_id in net.pool.index else None
    kind = next((a.kind for a in net.alerts() if a.id[0] == alert_id), None) if alert_id else None
    t_mid = iso_to_mjd(req.date_obs) + 0.5 * rec.exptime_s / 86400.0
    drawn = (
        Transient("sn", c.mag, t_mid, ra_deg=c.ra_deg, dec_deg=c.dec_deg, name=c.candidate_id.rsplit(".", 1)[-1])
        for c in frame_candidates(net.seed, rec, kind, alert_id)
        if c.real
    )
    return tuple(t for t in drawn if on_cutout(req, t))


def on_cutout(req: RenderRequest, tr: Transient) -> bool:
    """Whether ``tr`` lies on the rendered cut-out of ``req``."""
    x, y = sky_to_pixel(tr.ra_deg, tr.dec_deg, req.ra_deg, req.dec_deg, req.pixel_scale_arcsec,
                        req.rotation_deg, req.nx, req.ny)
    return bool(0 <= x < req.nx and 0 <= y < req.ny)


REF_FRAMES = 3  # frames median-stacked into a reference (the detection training data's depth)
REF_SEEING_ARCSEC = (0.6, 1.3)  # each reference frame's seeing: the training references' range


def site_dark_sky_mag(net: "TwinNetwork", rec: FrameRecord, band: str) -> float:
    """The site's sky in ``band`` on a moonless night after twilight, at the frame's airmass (mag/arcsec^2).

    What a site's references are stacked from: its own dark sky, light pollution included
    (the scenario's ``sky_dark_mag_arcsec2``), not a dark site's.
    """
    dark_v = net.sites[rec.site].cfg.climate.sky_dark_mag_arcsec2
    # no Sun, no Moon: the extinction coefficient only enters the moonlight
    return sky_brightness(band, dark_v, -90.0, 0.0, 180.0, -90.0, rec.alt_deg, 0.0, max(rec.airmass, 1.0))


def render_reference(req: RenderRequest, frames: int = REF_FRAMES,
                     dark_sky_mag: float | None = None) -> RenderedFrame:
    """The reference image of ``req``'s field, on its pixel grid (module docstring).

    The frame's own stars and galaxies (:func:`~skytwin.twin.frames.frame_catalog`),
    pointing, camera, exposure and airmass; a dark sky, ``dark_sky_mag``
    (the site's: :func:`site_dark_sky_mag`) or else the band's at a dark
    site, or the frame's where darker (no Moon, no twilight); clear, round, in focus,
    without transients, trails or a bright-star ghost, each of the
    ``frames`` renders in a seeing drawn from :data:`REF_SEEING_ARCSEC` (as
    the detection model's training references: the best nights of a site)
    with its own noise and cosmic rays, which the median drops. The header
    is the first render's, marked ``IMAGETYP = 'reference'`` with the depth
    in ``REFNFRM`` (its date is the frame's); the truth holds the stars and
    galaxies.
    """
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    catalog = frame_catalog(req)
    rng = stream(req.seed, "reference", req.frame_id)
    # a reference is stacked from dark nights: the site's (or a dark site's) sky, unless the
    # frame's is darker
    dark = dark_sky_mag if dark_sky_mag is not None else DARK_SKY_MAG.get(req.band, req.sky_mag_arcsec2)
    sky = max(req.sky_mag_arcsec2, dark)
    base = req.with_(ellipticity=0.0, defocus_arcsec=0.0, trail_arcsec=0.0, transparency=1.0,
                     cloud_patchiness=0.0, cloud_gradient=0.0, transients=(), satellite_rate=0.0,
                     aircraft_rate=0.0, bright_star_mag=math.nan, sky_mag_arcsec2=sky,
                     sky_e_per_pix=math.nan)
    renders = [render_frame(base.with_(seeing_arcsec=float(rng.uniform(*REF_SEEING_ARCSEC)),
                                       frame_id=f"{req.frame_id}.ref{k}"), catalog)
               for k in range(frames)]
    first = renders[0]
    # the renders share sky and level: a plain median is the stack
    image = np.median(np.stack([r.image for r in renders]), axis=0).astype(np.float32)
    header = dict(first.header)
    header["FRAMEID"] = (f"{req.frame_id}.ref", "reference of this frame")
    header["IMAGETYP"] = ("reference", "median stack of good frames of this field")
    header["REFNFRM"] = (frames, "frames median-stacked into this reference")
    # the first render's cosmic rays are not in the median: the truth keeps the sky's sources
    truth = first.truth[np.isin(first.truth["kind"], ("star", "bright_star", "galaxy"))]
    conditions = dict(first.conditions, n_cosmic_rays=0.0, n_trails=0.0)
    return RenderedFrame(image, truth, header, first.quality, first.reason, conditions)


class PixelRecorder:
    """Renders frames of a running network to ``out_dir``.

    Parameters
    ----------
    net
        The network to listen to.
    out_dir
        Folder for the FITS files (created).
    every
        Render every ``every``-th frame (1: all).
    size
        Side of the rendered cut-out, pixels.
    limit
        Stop after this many frames (``None``: no limit).
    """

    def __init__(self, net: "TwinNetwork", out_dir: str | Path, every: int = 1, size: int = 1024, limit: int | None = None) -> None:
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.net = net
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.every = every
        self.size = size
        self.limit = limit
        self.seen = 0
        self.paths: list[Path] = []
        net.frame_listeners.append(self.on_frame)

    def on_frame(self, rec: FrameRecord) -> None:
        self.seen += 1
        if (self.seen - 1) % self.every or (self.limit is not None and len(self.paths) >= self.limit):
            return
        self.render(rec)

    def render(self, rec: FrameRecord) -> tuple[Path, RenderedFrame]:
        req = render_request(self.net, rec, self.size)
        frame = render_frame(req)
        path = write_fits(frame, self.out_dir / f"{rec.frame_id}.fits")
        self.paths.append(path)
        try:
            fwhm = measure_frame(frame.image, pixel_scale_arcsec=req.pixel_scale_arcsec).fwhm_arcsec
        except MeasureError:  # e.g. no star bright enough under thick cloud
            fwhm = math.nan
        self.net.log.add("frame_file", rec.t_start_s, rec.site, rec.frame_id, str(path), frame.quality, frame.reason, fwhm)
        return path, frame
