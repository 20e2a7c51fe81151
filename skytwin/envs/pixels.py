"""Pixel observations of the quality and detector roles (``observation_mode="pixels"``).

Units: the quality observation is the quality model's own dimensionless input
(stretched image channels and scalars); the detector observation is a
science / reference / difference triplet in ADU, ``(3, H, W)`` float32.

* Quality: each frame is rendered by the twin's pixel renderer
  (:func:`skytwin.twin.pixels.render_request`, ``render_frame``) as a central
  ``pixel_size`` x ``pixel_size`` cut-out; the observation is what the
  shipped quality CNN reads, made by the model's own preprocessing in ONE
  place, :func:`quality_pixels`. Its shapes are never written down here: the
  spaces come from :func:`quality_shapes`, a call of :func:`quality_pixels` on
  a tiny rendered probe frame, so a change of the model's input follows by
  itself.
* Detector: :func:`detector_triplet` renders the candidate's science and
  reference cut-outs (:mod:`skytwin.twin.candidate_pixels`), subtracts them
  with the agents' Alard-Lupton :func:`~skytwin.agents.detection.subtract`,
  and cuts the centred triplet of the real/bogus model's size with the
  agents' :func:`~skytwin.agents.detection.cutouts`.
"""

from __future__ import annotations

import functools

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from skytwin.agents.detection.candidates import cutouts
from skytwin.agents.detection.subtract import subtract
from skytwin.agents.preprocess import CUTOUT_SIZE, frame_inputs
from skytwin.agents.quality.inputs import quality_model_input
from skytwin.agents.quality.stars import ReferenceStars
from skytwin.twin.candidate_pixels import CUTOUT_FIELD, render_candidate
from skytwin.twin.candidates import Candidate
from skytwin.twin.frames import RenderedFrame, RenderRequest, render_frame

DEFAULT_PIXEL_SIZE = 512  # side of a rendered frame (pixels): the quality CNN was trained on 512 x 512
TRIPLET_SIZE = CUTOUT_SIZE  # side of the detector's triplet: the real/bogus model's input size
PROBE_SIZE = 64  # side of the probe frame that fixes the quality observation's shapes


def quality_pixels(frame: RenderedFrame) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """The quality model's input for one rendered frame: image channels ``x`` and scalars ``s``.

    The one call of the model's preprocessing in the environments.
    """
    image, header, moon, truth = frame_inputs(frame)
    stars = ReferenceStars.from_truth(truth) if truth is not None and len(truth) else None
    return quality_model_input(image, header, moon, stars)


@functools.lru_cache(maxsize=1)
def quality_shapes() -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Shapes of ``(x, s)`` from :func:`quality_pixels` on a tiny probe frame (computed once)."""
    probe = render_frame(RenderRequest(ra_deg=10.0, dec_deg=-30.0, nx=PROBE_SIZE, ny=PROBE_SIZE,
                                       exptime_s=1.0, frame_id="observation-space-probe"))
    x, s = quality_pixels(probe)
    return tuple(x.shape), tuple(s.shape)


def quality_space() -> spaces.Dict:
    """``Dict({"image": Box, "scalars": Box})`` of the quality model's input."""
    xs, ss = quality_shapes()
    return spaces.Dict({"image": spaces.Box(-np.inf, np.inf, xs, np.float32),
                        "scalars": spaces.Box(-np.inf, np.inf, ss, np.float32)})


def quality_observation(frame: RenderedFrame) -> dict[str, NDArray[np.float32]]:
    x, s = quality_pixels(frame)
    return {"image": np.asarray(x, np.float32), "scalars": np.asarray(s, np.float32)}


def detector_space() -> spaces.Box:
    """``Box((3, H, W))``: science, reference, difference (ADU)."""
    return spaces.Box(-np.inf, np.inf, (3, TRIPLET_SIZE, TRIPLET_SIZE), np.float32)


def detector_triplet(frame: RenderRequest, cand: Candidate, field: int = CUTOUT_FIELD
                     ) -> NDArray[np.float32]:
    """Science / reference / difference ``(3, TRIPLET_SIZE, TRIPLET_SIZE)`` of one candidate.

    ``frame`` is the render request of the frame the candidate was found in.
    """
    im = render_candidate(frame, cand, field)
    sub = subtract(im.science, im.reference, im.saturation_adu)
    c = np.array([field // 2])
    trip = cutouts(im.science, im.reference, sub.difference, c, c, TRIPLET_SIZE)[0]
    return np.nan_to_num(trip, nan=0.0).astype(np.float32)


def zeros_like_space(space: spaces.Space) -> object:
    """A zero observation of a ``Box`` or (nested) ``Dict`` space."""
    if isinstance(space, spaces.Dict):
        return {k: zeros_like_space(v) for k, v in space.spaces.items()}
    assert isinstance(space, spaces.Box), f"no zero for {space}"
    return np.zeros(space.shape, dtype=space.dtype)

