"""Satellite and aircraft trails counted on the quality model's frame channel.

Units: pixels of the channel (the frame block-averaged to 64 x 64, stretched:
:func:`skytwin.agents.quality.inputs.quality_model_input`); angles in degrees.

The labelling rule grades a frame by its number of trails (1 makes it
medium, 3 bad). The CNN alone counted them poorly: on the training data's
test and held-out splits it took two bright parallel trails for three, or
three for two, on 2% of the frames. A straight line is what a Hough
transform finds, so the count is made here and handed to the network as a
scalar:

1. the channel minus a separable 7-pixel running median (rows, then
   columns: the Moon's gradient, vignetting and bright halos go, lines and
   stars stay), thresholded at :data:`K_SIGMA` robust sigmas;
2. on a frame with saturated pixels, vertical runs of at least
   :data:`BLEED_RUN` pixels are dropped first: saturated stars bleed along
   the detector's columns, straight lines that are not trails;
3. the Hough accumulator over 1-degree angles and 1-pixel distances, each
   cell divided by the length of its line inside the frame (a trail that
   clips a corner fills its short chord as fully as one through the
   middle); the best line is taken if it is at least :data:`MIN_LENGTH`
   pixels long and :data:`MIN_FILL` filled, its pixels (within
   :data:`LINE_HALF_WIDTH`) are removed, and the search repeats, up to
   :data:`MAX_LINES` lines.

An aircraft's two wing-light trails, 6 native pixels apart, fall in one
channel pixel and count once, as the rule counts them. Written here rather
than taken from scikit-image (``hough_line_peaks``): the chord-length
normalisation and the removal of each found line's pixels are what make a
short corner trail and two crossing trails count right, and the whole
count takes well under a millisecond with numpy alone.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from skytwin.agents.preprocess import median

K_SIGMA = 3.0  # threshold of line pixels over the high-passed channel, robust sigmas
MEDIAN_WIDTH = 7  # running median of the background (pixels)
BLEED_RUN = 10  # vertical runs this long are bleed columns on a saturated frame (pixels)
MIN_LENGTH = 16  # shortest chord a line may have inside the frame (pixels)
MIN_FILL = 0.6  # fraction of a line's chord that must be lit
LINE_HALF_WIDTH = 1.5  # pixels removed around a found line (pixels)
MAX_LINES = 6  # the rule's worst grade starts at 3; a few more for safety
N_THETA = 180  # 1-degree steps over [0, 180)


@lru_cache(maxsize=8)
def _geometry(ny: int, nx: int) -> tuple[NDArray, NDArray, int, NDArray, NDArray]:
    """The Hough geometry of a ``ny`` x ``nx`` channel, computed once per shape.

    cos and sin of the angles, the distance offset, every pixel's accumulator
    cells ``(ny * nx, N_THETA)`` (flat index ``(rho + offset) * N_THETA +
    theta``) and the inverse chord length of each cell (0 below :data:`MIN_LENGTH`).
    """
    theta = np.deg2rad(np.arange(N_THETA) * 180.0 / N_THETA)
    cos, sin = np.cos(theta), np.sin(theta)
    offset = int(math.ceil(math.hypot(ny, nx)))
    yy, xx = np.mgrid[0:ny, 0:nx]
    rho = np.rint(xx.reshape(-1, 1) * cos + yy.reshape(-1, 1) * sin).astype(np.intp)
    cells = (rho + offset) * N_THETA + np.arange(N_THETA)
    chord = np.bincount(cells.ravel(), minlength=(2 * offset + 1) * N_THETA).astype(np.float64)
    inv_chord = np.where(chord >= MIN_LENGTH, 1.0 / np.maximum(chord, 1.0), 0.0)
    return cos, sin, offset, cells, inv_chord


def _running_median(a: NDArray, width: int, axis: int) -> NDArray:
    """Median of ``width`` (odd) neighbours along ``axis``, the ends reflected.

    An odd-even transposition sort of the ``width`` shifted copies, element-wise:
    ``width`` rounds of min/max on whole arrays, several times faster than
    ``np.median`` over a sliding window or ``scipy.ndimage.median_filter`` on
    a 64 x 64 channel.
    """
    n, h = a.shape[axis], width // 2
    if axis == 0:
        padded = np.concatenate([a[h:0:-1], a, a[-2:-h - 2:-1]], axis=0)
    else:
        padded = np.concatenate([a[:, h:0:-1], a, a[:, -2:-h - 2:-1]], axis=1)
    vals = [padded[i:i + n] if axis == 0 else padded[:, i:i + n] for i in range(width)]
    for r in range(width):
        for i in range(r % 2, width - 1, 2):
            vals[i], vals[i + 1] = np.minimum(vals[i], vals[i + 1]), np.maximum(vals[i], vals[i + 1])
    return vals[h]


def _vertical_runs(mask: NDArray[np.bool_], length: int) -> NDArray[np.bool_]:
    """Pixels of ``mask`` in vertical runs of at least ``length``: a binary opening by a column.

    The erosion and dilation as ANDs and ORs of shifted rows (scipy's
    ``binary_opening`` with the same structure gives the same mask, slower).
    """
    n = mask.shape[0]
    if n < length:
        return np.zeros_like(mask)
    starts = mask[:n - length + 1].copy()  # runs of ``length`` starting at each row
    for k in range(1, length):
        starts &= mask[k:n - length + 1 + k]
    out = np.zeros_like(mask)
    for k in range(length):
        out[k:n - length + 1 + k] |= starts
    return out


def line_pixels(channel: NDArray, saturated: bool) -> NDArray[np.bool_]:
    """Pixels of the channel that may belong to a line (steps 1 and 2 of the module docstring)."""
    ch = np.asarray(channel, np.float32)
    background = _running_median(_running_median(ch, MEDIAN_WIDTH, 1), MEDIAN_WIDTH, 0)
    high = ch - background
    noise = 1.4826 * float(median(np.abs(high - median(high)))) + 1e-6
    lit = high > K_SIGMA * noise
    if saturated:
        lit &= ~_vertical_runs(lit, BLEED_RUN)
    return lit


def find_trails(channel: NDArray, saturated: bool = False) -> list[tuple[float, float, float]]:
    """The lines found on the channel: ``(distance from the origin, angle in degrees, fill)``.

    ``distance`` and ``angle`` are the normal form ``x cos t + y sin t = distance``
    (pixels from the channel's corner pixel 0, 0); ``saturated``: the frame has
    pixels at full well (its bleed columns are not trails).
    """
    ch = np.asarray(channel)
    if ch.ndim != 2 or min(ch.shape) < MIN_LENGTH:
        return []
    cos, sin, offset, table, inv_chord = _geometry(*ch.shape)
    ys, xs = np.nonzero(line_pixels(ch, saturated))
    if xs.size < MIN_LENGTH:
        return []
    cells = table[ys * ch.shape[1] + xs]
    votes = np.bincount(cells.ravel(), minlength=inv_chord.size).astype(np.float64)
    alive = np.ones(xs.size, bool)
    lines = []
    for _ in range(MAX_LINES):
        fill = votes * inv_chord
        best = int(np.argmax(fill))
        if fill[best] < MIN_FILL:
            break
        rho, t = best // N_THETA - offset, best % N_THETA
        lines.append((float(rho), t * 180.0 / N_THETA, float(fill[best])))
        gone = alive & (np.abs(xs * cos[t] + ys * sin[t] - rho) <= LINE_HALF_WIDTH)
        votes -= np.bincount(cells[gone].ravel(), minlength=inv_chord.size)
        alive &= ~gone
        if alive.sum() < MIN_LENGTH:
            break
    return lines


def count_trails(channel: NDArray, saturated: bool = False) -> int:
    """The number of lines :func:`find_trails` finds."""
    return len(find_trails(channel, saturated))
