"""Binary morphology of small masks: scipy.ndimage's results at a fraction of its overhead.

The half-maximum area of the PSF stack (:func:`skytwin.agents.quality.stars.half_max_diameter`)
closes, labels and fills masks of a few hundred pixels, where each
``scipy.ndimage`` call costs tens of microseconds of checks. Here the
4-connected (cross) dilation and erosion are whole-array shifts, with
scipy's defaults: pixels outside the mask count as background
(``border_value=0``), ``iterations`` steps of the cross.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage


def _cross_step(mask: NDArray[np.bool_], grow: bool) -> NDArray[np.bool_]:
    """One dilation (``grow``) or erosion by the 3 x 3 cross, the outside being background."""
    h, w = mask.shape
    pad = np.zeros((h + 2, w + 2), bool)
    pad[1:-1, 1:-1] = mask
    op = np.logical_or if grow else np.logical_and
    out = mask.copy()
    for sl in ((slice(0, h), slice(1, w + 1)), (slice(2, h + 2), slice(1, w + 1)),
               (slice(1, h + 1), slice(0, w)), (slice(1, h + 1), slice(2, w + 2))):
        op(out, pad[sl], out=out)
    return out


def dilate(mask: NDArray[np.bool_], iterations: int = 1) -> NDArray[np.bool_]:
    """``ndimage.binary_dilation(mask, iterations=iterations)``."""
    for _ in range(iterations):
        mask = _cross_step(mask, grow=True)
    return mask


def erode(mask: NDArray[np.bool_], iterations: int = 1) -> NDArray[np.bool_]:
    """``ndimage.binary_erosion(mask, iterations=iterations)``."""
    for _ in range(iterations):
        mask = _cross_step(mask, grow=False)
    return mask


def close(mask: NDArray[np.bool_], iterations: int = 1) -> NDArray[np.bool_]:
    """``ndimage.binary_closing(mask, iterations=iterations)``: a dilation, then an erosion."""
    return erode(dilate(mask, iterations), iterations)


def fill_holes(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """``ndimage.binary_fill_holes(mask)``: the background not 4-connected to the edge filled.

    One labelling of the background instead of scipy's iterated dilation
    from the border.
    """
    labels, n = ndimage.label(~mask)
    keep = np.ones(n + 1, bool)  # label 0 is the mask itself
    for edge in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
        keep[edge] = False
    keep[0] = True
    return keep[labels]
