"""Pixel renderer of the twin: synthetic CCD frames with truth, calibration frames, measurement.

Units: see each module; images are float32 ADU, angles degrees or arcsec,
fluxes electrons.
"""

from __future__ import annotations

from skytwin.twin.frames.render import RenderedFrame, render_frame
from skytwin.twin.frames.request import RenderRequest, zeropoint_e_per_s

__all__ = ["RenderRequest", "RenderedFrame", "render_frame", "zeropoint_e_per_s"]
