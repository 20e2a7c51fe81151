"""Normalisation of frames and cutouts: NaN, saturation, constant images, shapes."""

from __future__ import annotations

import numpy as np
import pytest

from skytwin.agents.preprocess import (CUTOUT_SIZE, QUALITY_SIZE, PreprocessError, cutout_input,
                                       downsample, robust_stats, stretch)
from skytwin.agents.quality.inputs import QUALITY_SCALARS as SCALAR_NAMES
from skytwin.agents.quality.inputs import quality_model_input as quality_input


def _frame(seed: int = 0, n: int = 128) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = 1000.0 + rng.normal(0, 10, (n, n))
    img[60:63, 60:63] += 5000.0  # a star
    return img.astype(np.float32)


def test_quality_input_shapes_and_range() -> None:
    x, s = quality_input(_frame())
    assert x.shape == (2, QUALITY_SIZE, QUALITY_SIZE) and x.dtype == np.float32
    assert s.shape == (len(SCALAR_NAMES),)
    assert np.isfinite(x).all() and np.isfinite(s).all()
    assert -1.0 <= x.min() and x.max() <= 1.0


def test_nan_pixels_are_filled_and_counted() -> None:
    img = _frame()
    img[:, :32] = np.nan
    img[5, 5] = np.inf
    x, s = quality_input(img)
    assert np.isfinite(x).all()
    frac = s[SCALAR_NAMES.index("finite_fraction")]
    assert frac == pytest.approx(0.75 - 1 / img.size, abs=1e-4)


def test_saturated_pixels_stay_bounded() -> None:
    img = _frame()
    img[10:20, 10:20] = 65535.0
    x, s = quality_input(img, {"SATURATE": 65535.0})
    assert x.max() <= 1.0 and np.isfinite(x).all()
    assert s[SCALAR_NAMES.index("log_saturated_fraction")] > -3.0


def test_constant_image_gives_zero_stretch() -> None:
    x, _ = quality_input(np.full((100, 80), 7.0, np.float32))
    assert np.all(x == 0.0)
    assert robust_stats(np.full((10, 10), 3.0))[1] == 1.0


def test_all_nan_and_bad_shapes_raise() -> None:
    with pytest.raises(PreprocessError, match="no finite pixel"):
        quality_input(np.full((64, 64), np.nan))
    with pytest.raises(PreprocessError, match="2-D"):
        quality_input(np.zeros((3, 4, 5)))
    with pytest.raises(PreprocessError, match="dtype"):
        quality_input(np.array([["a", "b"], ["c", "d"]]))


def test_stretch_is_monotonic_and_downsample_averages() -> None:
    v = stretch(np.array([-100.0, 0.0, 1.0, 10.0, 1e6]), 0.0, 1.0)
    assert np.all(np.diff(v) > 0)
    assert downsample(np.ones((130, 70), np.float32), 64).shape == (64, 64)
    assert downsample(np.arange(16, dtype=np.float32).reshape(4, 4), 2)[0, 0] == 2.5


@pytest.mark.parametrize("size", [21, 30, 31, 63])
def test_cutout_input_any_size(size: int) -> None:
    rng = np.random.default_rng(size)
    t = rng.normal(0, 1, (4, 3, size, size)).astype(np.float32)
    t[0, :, :5] = np.nan  # an edge cutout
    t[1] = 5.0  # constant
    out = cutout_input(t)
    assert out.shape == (4, 3, CUTOUT_SIZE, CUTOUT_SIZE)
    assert np.isfinite(out).all() and np.abs(out).max() <= 1.0


def test_cutout_input_rejects_small_or_misshapen() -> None:
    with pytest.raises(PreprocessError, match="21x21"):
        cutout_input(np.zeros((2, 3, 20, 20)))
    with pytest.raises(PreprocessError, match="science, reference, difference"):
        cutout_input(np.zeros((2, 2, 30, 30)))


# 50: too few values above it, and enough above 2/5 of it (the lowered floor's path)
@pytest.mark.parametrize("floor", [-1e9, 0.5, 5.0, 50.0, 1e9])
def test_top_percentile_equals_numpys(floor) -> None:
    from skytwin.agents.preprocess import _top_percentile
    a = (np.random.default_rng(1).normal(0, 1, 65536) ** 3).astype(np.float32)
    assert _top_percentile(a, 99.9, floor) == pytest.approx(float(np.percentile(a, 99.9)), rel=1e-6)
