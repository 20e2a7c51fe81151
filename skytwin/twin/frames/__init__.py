"""Pixel renderer of the twin: synthetic CCD frames with truth, calibration frames, measurement.

Units: see each module; images are float32 ADU, angles degrees or arcsec,
fluxes electrons, FWHM arcsec (or pixels where named ``_pix``).

Public API::

    req = RenderRequest.from_record(record, seed=..., nx=..., ...)   # or RenderRequest(...)
    frame = render_frame(req)               # RenderedFrame: image, truth, header, quality
    write_fits(frame, path); read_fits(path)
    measure_frame(image, pixel_scale_arcsec=...)
    quality_label(QualityInputs(...))       # -> (label, reason)
    render_calibration("bias" | "dark" | "flat", camera_request)
"""

from __future__ import annotations

from skytwin.twin.frames.calibration import render_calibration
from skytwin.twin.frames.catalog import SkyCatalog, field_catalog
from skytwin.twin.frames.fits_io import FrameError, read_fits, write_fits
from skytwin.twin.frames.measure import (FrameMeasurement, MeasureError, background,
                                         measure_frame, measure_stars)
from skytwin.twin.frames.quality import QualityInputs, quality_label
from skytwin.twin.frames.render import RenderedFrame, frame_catalog, limiting_mag, render_frame
from skytwin.twin.frames.request import RenderRequest, zeropoint_e_per_s
from skytwin.twin.frames.transients import Transient, random_transients

__all__ = [
    "FrameError", "FrameMeasurement", "MeasureError", "QualityInputs", "RenderRequest",
    "RenderedFrame", "SkyCatalog", "Transient", "background", "field_catalog", "frame_catalog",
    "limiting_mag",
    "measure_frame", "measure_stars", "quality_label", "random_transients", "read_fits",
    "render_calibration", "render_frame", "write_fits", "zeropoint_e_per_s",
]
