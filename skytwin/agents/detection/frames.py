"""The detection pipeline on FITS files: a science frame against its reference.

Units: positions 0-based pixels (x along columns); RA/Dec degrees (ICRS);
SNR in noise sigmas; probabilities of being real.

What ``skytwin detect`` runs. The science frame and the reference must lie on
one pixel grid (the subtraction fits a convolution kernel, not a
registration): a site's reference is a stack of earlier good frames of the
same pointing, resampled onto the science grid where the pointing differs
(SWarp, ``reproject``). Where both headers carry a celestial WCS the grids
are compared and a mismatch of more than :data:`MAX_MISREGISTRATION` pixels
is an error; several reference files are median-stacked first
(:func:`~skytwin.agents.detection.subtract.stack_reference`). A twin frame
brings its truth table, and each candidate is then matched to the source
it lies on (a transient, a cosmic-ray track, a trail, a star), to check the
verdicts.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from skytwin.agents.detection.model import DetectionModel, load_default
from skytwin.agents.detection.subtract import MIN_KERNEL_STAMPS, Subtraction, stack_reference
from skytwin.agents.preprocess import header_value
from skytwin.errors import SkytwinError
from skytwin.twin.frames.fits_io import FrameError, read_fits

MAX_MISREGISTRATION = 0.25  # pixels between the two grids anywhere on the frame
TRUTH_MATCH_PIX = 3.0  # a candidate lies on a truth source this close (pixels)
# truth kinds a candidate can be made by; a candidate on none of these is a subtraction
# residual or noise ("-")
_CAUSES = ("sn", "variable", "flare", "asteroid", "cosmic_ray", "satellite", "aircraft",
           "bright_star", "star", "galaxy")


class RegistrationError(SkytwinError):
    """A science frame and a reference that do not share one pixel grid."""


@dataclass(frozen=True)
class FrameCandidate:
    """One candidate of :func:`detect_fits` (``ra``/``dec`` NaN without a WCS)."""

    x: int
    y: int
    ra: float
    dec: float
    snr: float
    probability: float
    truth: str  # what the twin drew there ("sn sn1", "cosmic_ray", ...); "" without truth


def _header(h: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword -> value of a :func:`read_fits` header (whose values are (value, comment))."""
    return {k: v[0] if isinstance(v, tuple) else v for k, v in h.items()}


def _celestial_wcs(header: Mapping[str, Any], path: str | Path) -> Any:
    """The header's celestial WCS, or None where it has none.

    Raises
    ------
    FrameError
        WCS keywords astropy cannot make a transformation of.
    """
    from astropy.wcs import FITSFixedWarning, WCS

    from skytwin.agents.frame_header import fits_header

    if "CTYPE1" not in header or "CTYPE2" not in header:
        return None
    hdr = fits_header(header)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            w = WCS(hdr, naxis=2)
            # a projection or unit wcslib rejects shows only when the transformation is set up
            w.wcs.set()
    except Exception as exc:  # noqa: BLE001 - mostly ValueErrors; a CTYPE that is no string fails otherwise
        raise FrameError(path, f"unusable WCS in the header: {exc}") from exc
    return w if w.has_celestial else None


def check_registration(science: Any, reference: Any, shape: tuple[int, int],
                       reference_path: str | Path) -> None:
    """Raise :class:`RegistrationError` where the two WCS put a frame pixel apart.

    ``science``, ``reference``: the celestial WCS of each (:func:`_celestial_wcs`). The
    frame's corners and centre are carried from the science grid to the sky and back
    into the reference grid; where either frame has no celestial WCS the two are taken
    as registered (the caller's word).
    """
    if science is None or reference is None:
        return
    ny, nx = shape
    px = np.array([0, nx - 1, 0, nx - 1, (nx - 1) / 2])
    py = np.array([0, 0, ny - 1, ny - 1, (ny - 1) / 2])
    try:
        rx, ry = reference.world_to_pixel(science.pixel_to_world(px, py))
    except ValueError as exc:
        raise FrameError(reference_path, f"its WCS cannot place the science frame: {exc}") \
            from exc
    off = float(np.max(np.hypot(np.asarray(rx) - px, np.asarray(ry) - py)))
    if not off <= MAX_MISREGISTRATION:
        raise RegistrationError(
            f"reference {reference_path} is {off:.2f} pixels off the science frame's grid "
            f"(at most {MAX_MISREGISTRATION} allowed): resample it onto the science frame's "
            "WCS first (e.g. with SWarp or reproject)")


def _truth_labels(truth: NDArray, x: NDArray, y: NDArray) -> list[str]:
    """What the twin drew under each candidate: the nearest truth source of a causing kind."""
    t = truth[np.isin(truth["kind"], _CAUSES)]
    if not len(t):
        return ["-"] * len(x)
    # a trail, cosmic-ray track or moving asteroid is a segment from (x, y) to (x_end, y_end):
    # its distance is the one to the segment
    line = np.isfinite(t["x_end"]) & np.isfinite(t["y_end"])
    x0, y0 = t["x"][line], t["y"][line]
    dx, dy = t["x_end"][line] - x0, t["y_end"][line] - y0
    # transients first: a supernova on its host galaxy is the supernova
    rank = np.where(np.isin(t["kind"], ("sn", "variable", "flare", "asteroid")), 0, 1)
    out = []
    for cx, cy in zip(x, y):
        d = np.hypot(t["x"] - cx, t["y"] - cy)
        u = np.clip(((cx - x0) * dx + (cy - y0) * dy) / np.maximum(dx * dx + dy * dy, 1e-9),
                    0.0, 1.0)
        d[line] = np.hypot(x0 + u * dx - cx, y0 + u * dy - cy)
        near = np.flatnonzero(d <= TRUTH_MATCH_PIX)
        if not near.size:
            out.append("-")
            continue
        k = near[np.lexsort((d[near], rank[near]))[0]]
        out.append(f"{t['kind'][k]} {str(t['name'][k]).strip()}".strip())
    return out


@dataclass(frozen=True)
class FrameDetection:
    """What :func:`detect_fits` returns: the candidates, best first, and how the
    subtraction went."""

    candidates: list[FrameCandidate]
    subtraction: Subtraction

    @property
    def kernel_note(self) -> str:
        """One line on the subtraction; a warning where its kernel rests on too few stars."""
        s = self.subtraction
        fwhm = "/".join("?" if not math.isfinite(f) else f"{f:.1f}"
                        for f in (s.fwhm_science, s.fwhm_reference))
        line = (f"subtraction: {s.convolved} convolved, kernel fitted on {s.n_stamps} stamps "
                f"({s.n_star_stamps} of them stars), FWHM science/reference {fwhm} pixels")
        if s.n_stamps < MIN_KERNEL_STAMPS:
            line += (" -- too few stars for a fitted kernel (a plain blur, no flux scaling): "
                     "residuals of stars may score as real")
        elif s.n_star_stamps < MIN_KERNEL_STAMPS:
            line += (f" -- the kernel rests on hot pixels or cosmic rays, not stars (under "
                     f"{MIN_KERNEL_STAMPS}): its shape comes from them and may not fit the "
                     "stars (its flux scale is checked against the reference's fainter "
                     "sources), whose residuals may score as real")
        return line


def detect_fits(science: str | Path, references: Sequence[str | Path], nsigma: float = 5.0,
                model: DetectionModel | None = None) -> FrameDetection:
    """Candidates of ``science`` against ``references`` (see the module docstring), best first.

    Raises
    ------
    skytwin.twin.frames.FrameError
        A file that cannot be read as a FITS image, or with a WCS astropy cannot use.
    RegistrationError
        A reference of another shape or on another pixel grid.
    SkytwinError
        No reference given.
    """
    if not references:
        raise SkytwinError("no reference frame given: detection subtracts a reference "
                           "image of the same field")
    sci = read_fits(science)
    sci_hdr = _header(sci.header)
    sci_wcs = _celestial_wcs(sci_hdr, science)
    images = []
    for path in references:
        ref = read_fits(path)
        if ref.image.shape != sci.image.shape:
            raise RegistrationError(
                f"reference {path} is {ref.image.shape[1]}x{ref.image.shape[0]} pixels, the "
                f"science frame {sci.image.shape[1]}x{sci.image.shape[0]}: they must share one "
                "pixel grid")
        check_registration(sci_wcs, _celestial_wcs(_header(ref.header), path), sci.image.shape,
                           path)
        images.append(ref.image)
    reference = images[0] if len(images) == 1 else stack_reference(images)
    saturation = header_value(sci.header, "SATURATE", math.nan)
    model = model or load_default()
    det = model.detect(sci.image, reference, nsigma,
                       saturation if math.isfinite(saturation) else None)
    ra = dec = np.full(len(det.x), math.nan)
    if sci_wcs is not None and len(det.x):
        sky = sci_wcs.pixel_to_world(det.x, det.y)
        ra, dec = np.atleast_1d(sky.ra.deg), np.atleast_1d(sky.dec.deg)
    truth = _truth_labels(sci.truth, det.x, det.y) if len(sci.truth) else [""] * len(det.x)
    rows = [FrameCandidate(int(x), int(y), float(r), float(d), float(s), float(p), t)
            for x, y, r, d, s, p, t in zip(det.x, det.y, ra, dec, det.snr, det.probability,
                                           truth)]
    return FrameDetection(sorted(rows, key=lambda c: -c.probability), det.subtraction)
