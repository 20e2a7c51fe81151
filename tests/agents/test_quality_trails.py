"""The trail count on the quality model's frame channel (:mod:`skytwin.agents.quality.trails`)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from skytwin.agents.quality.inputs import QUALITY_SCALARS, quality_model_input
from skytwin.agents.quality.stars import ReferenceStars
from skytwin.agents.quality.trails import (_running_median, _vertical_runs, count_trails,
                                           find_trails, saturated_columns)

N = 64


def _channel(seed: int, n_stars: int = 40) -> np.ndarray:
    """A stretched-looking channel: noise, a smooth Moon gradient, a few stars."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:N, 0:N]
    ch = rng.normal(0.0, 0.02, (N, N)) + 0.3 * np.exp(-((xx - 50) ** 2 + (yy - 10) ** 2) / 800.0)
    for _ in range(n_stars):
        x, y, a = rng.uniform(0, N), rng.uniform(0, N), rng.uniform(0.05, 0.6)
        ch += a * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 1.2)
    return ch.astype(np.float32)


def _add_line(ch: np.ndarray, x0: float, y0: float, angle_deg: float, amp: float = 0.3,
              width: float = 0.6) -> None:
    yy, xx = np.mgrid[0:N, 0:N]
    t = math.radians(angle_deg)
    d = -(xx - x0) * math.sin(t) + (yy - y0) * math.cos(t)  # distance across the line
    ch += (amp * np.exp(-0.5 * (d / width) ** 2)).astype(np.float32)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n_lines", [0, 1, 2, 3, 4])
def test_counts_separate_lines(seed: int, n_lines: int) -> None:
    rng = np.random.default_rng(100 + seed)
    ch = _channel(seed)
    angles = rng.uniform(0, 180) + np.arange(n_lines) * 180.0 / max(n_lines, 1)
    for a in angles:
        _add_line(ch, rng.uniform(20, 44), rng.uniform(20, 44), a)
    assert count_trails(ch) == n_lines


def test_a_trail_clipping_a_corner_counts() -> None:
    ch = _channel(7)
    _add_line(ch, 52.0, 52.0, 135.0)  # a chord of ~30 pixels across the top-right corner
    (line,) = find_trails(ch)
    assert abs(line[1] - 45.0) <= 2.0  # normal form: the normal of a 135-degree line is at 45
    assert line[2] >= 0.6


def test_an_aircraft_pair_counts_once() -> None:
    ch = _channel(8)
    for off in (-0.4, 0.4):  # two wing lights 6 native pixels apart, under one channel pixel
        _add_line(ch, 30.0, 30.0 + off, 20.0, amp=0.2)
    assert count_trails(ch) == 1


def test_bleed_columns_of_a_saturated_frame_are_not_trails() -> None:
    ch = _channel(9)
    ch[2:62, 30] += 2.0  # a bright star's bleed column, across most of the frame
    ch[2:62, 31] += 1.0
    assert count_trails(ch, saturated=False) == 1  # a straight line all the same
    assert count_trails(ch, saturated=True) == 0
    _add_line(ch, 30.0, 30.0, 40.0)  # a real trail through it still counts
    assert count_trails(ch, saturated=True) == 1


def test_a_near_vertical_trail_of_a_saturated_frame_still_counts() -> None:
    """Given which columns the frame saturates, only their runs are bleeds."""
    ch = _channel(10)
    ch[2:62, 12] += 2.0  # a bleed column, where the frame is saturated
    _add_line(ch, 40.0, 32.0, 87.0, amp=0.6)  # a bright trail 3 degrees off the columns
    assert count_trails(ch, saturated=True) == 0  # the frame unknown: its runs all go
    bleeds = lambda cols: np.isin(cols, [11, 12, 13])  # noqa: E731
    (line,) = find_trails(ch, saturated=True, bleeds=bleeds)
    assert abs(line[1] - 177.0) <= 2.0  # normal form: the normal of an 87-degree line
    # the edge columns stay bleeds whatever the frame says (a halo's edge, not a trail)
    ch = _channel(11)
    ch[0:40, N - 1] += 1.0
    assert count_trails(ch, saturated=False) == 1
    assert count_trails(ch, saturated=True, bleeds=lambda cols: np.zeros(len(cols), bool)) == 0


def test_saturated_columns_read_the_frames_block_and_its_neighbours() -> None:
    frame = np.zeros((100, 512), np.float32)
    frame[40:60, 100] = 70000.0  # native column 100 lies in the channel's column 12 (8 wide)
    bleeds = saturated_columns(frame, 65000.0, 64)
    assert bleeds(np.array([11, 12, 13, 14, 30])).tolist() == [True, True, True, False, False]
    frame[:, 507] = 70000.0  # near the edge of a frame whose width is no multiple of 64
    assert saturated_columns(frame[:, :509], 65000.0, 64)(np.array([61, 62, 63])).tolist() \
        == [False, True, True]


def test_noise_and_stars_alone_make_no_trail() -> None:
    assert all(count_trails(_channel(s, n_stars=120)) == 0 for s in range(10))
    assert count_trails(np.zeros((N, N), np.float32)) == 0
    assert count_trails(np.zeros((8, 8), np.float32)) == 0  # too small for a line


def test_fast_helpers_equal_the_plain_ones() -> None:
    rng = np.random.default_rng(3)
    for shape in [(64, 64), (20, 33)]:
        a = rng.normal(size=shape).astype(np.float32)
        for axis in (0, 1):
            pad = [(0, 0), (0, 0)]
            pad[axis] = (3, 3)
            win = np.lib.stride_tricks.sliding_window_view(np.pad(a, pad, mode="reflect"), 7,
                                                           axis=axis)
            assert np.array_equal(_running_median(a, 7, axis), np.median(win, axis=-1))
    for _ in range(50):
        m = rng.random((64, 64)) < rng.uniform(0.3, 0.95)
        want = ndimage.binary_opening(m, structure=np.ones((10, 1), bool))
        assert np.array_equal(_vertical_runs(m, 10), want)
    assert not _vertical_runs(np.ones((5, 4), bool), 10).any()


def test_the_twins_trails_are_counted_in_the_quality_input() -> None:
    """Frames of the twin with satellites and aircraft: the scalar is the truth's count."""
    from skytwin.training.datasets import QUALITY_FRAME_SIZE, quality_request, render_safe
    from skytwin.training.sites import SITES
    k = QUALITY_SCALARS.index("trail_lines")
    right, total, with_trails = 0, 0, 0
    for i in range(12):
        req = quality_request(77, i, SITES, QUALITY_FRAME_SIZE)
        # rates per square degree and hour that give this frame 0 to 3 trails on average
        per_rate = req.nx * req.ny * (req.pixel_scale_arcsec / 3600.0) ** 2 * req.exptime_s / 3600.0
        req = req.with_(satellite_rate=(i % 4) / per_rate, aircraft_rate=0.5 * (i % 3 == 0) / per_rate,
                        transparency=0.95, seeing_arcsec=1.5, defocus_arcsec=0.0)
        f = render_safe(req)
        _, s = quality_model_input(f.image, f.header, None, ReferenceStars.from_truth(f.truth))
        truth = int(f.conditions["n_trails"])
        with_trails += truth > 0
        right += int(s[k]) == truth
        total += 1
    assert with_trails >= 6  # the rates above make most of these frames trailed
    assert right >= total - 1
