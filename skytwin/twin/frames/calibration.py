"""Calibration frames: bias, dark and twilight sky flats, from the same camera model.

Units: ADU out (float32); exposure time seconds; flat level electrons per pixel.

The camera's fixed pattern (flat field, hot and dead pixels) comes from
:func:`skytwin.twin.frames.detector.camera_pattern`, so these frames calibrate
the science frames of the same (seed, telescope, instrument, size):

* bias: bias level + read noise;
* dark: bias + dark current x t (hot pixels x 500) with shot and read noise,
  plus cosmic rays;
* flat: a twilight sky of ``flat_level_e`` electrons with a 3% gradient,
  times the flat field, with shot and read noise (short exposure: no cosmic rays).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from skytwin.errors import UnknownNameError
from skytwin.twin.frames import artifacts, detector, sky
from skytwin.twin.frames.request import RenderRequest

CAL_KINDS = ("bias", "dark", "flat")
FLAT_GRADIENT = 0.03  # peak-to-peak fractional twilight gradient across a sky flat


def render_calibration(kind: Literal["bias", "dark", "flat"], camera: RenderRequest, *,
                       exptime_s: float | None = None, flat_level_e: float = 30000.0,
                       index: int = 0) -> NDArray[np.float32]:
    """One calibration frame in ADU for the camera described by ``camera``.

    Parameters
    ----------
    kind
        "bias", "dark" or "flat".
    camera
        A request whose detector fields (size, gain, read noise, dark, bias,
        flat, hot/dead pixels, telescope, instrument, seed) describe the camera.
    exptime_s
        Exposure time in seconds (bias: 0; dark: default the camera's; flat: default 5 s).
    flat_level_e
        Mean twilight-sky electrons per pixel of a flat.
    index
        Which frame of a series (changes the noise only).
    """
    if kind not in CAL_KINDS:
        raise UnknownNameError("calibration kind", kind, CAL_KINDS)
    t = 0.0 if kind == "bias" else (exptime_s if exptime_s is not None else
                                    (camera.exptime_s if kind == "dark" else 5.0))
    req = replace(camera, exptime_s=t, frame_id=f"{camera.frame_id}:{kind}:{index}")
    rng = np.random.default_rng([req.seed, detector.name_key("calibration", kind, req.telescope,
                                                             req.instrument), index])
    pattern = detector.camera_pattern(req)
    mu = np.zeros((req.ny, req.nx), dtype=np.float32)
    if kind == "flat":
        mu += sky.sky_map(replace(req, sky_e_per_pix=flat_level_e, sky_gradient=FLAT_GRADIENT,
                                  sky_gradient_pa_deg=float(rng.uniform(0, 360))))
        mu *= pattern.flat
    if kind != "bias":
        mu += detector.dark_map(req, pattern)
    e = detector.add_noise(mu, req.read_noise_e, rng)
    if kind == "dark":
        artifacts.cosmic_rays(req, rng, e)
    detector.bleed(e, req.full_well_e)
    return detector.readout(e, req)
