"""The twin's real/bogus candidates: reals of both signs, on stars too, deterministic."""

from __future__ import annotations

import numpy as np
import pytest

from skytwin.training.detection_data import CAUSES, STORE, field_candidates
from skytwin.training.sites import TRAIN_SITES


@pytest.fixture(scope="module")
def fields() -> list[dict]:
    return [field_candidates((5, i, TRAIN_SITES)) for i in range(4)]


def test_candidates_of_both_signs_with_reals(fields) -> None:
    sign = np.concatenate([f["sign"] for f in fields])
    label = np.concatenate([f["label"] for f in fields])
    assert set(np.unique(sign)) == {-1, 1}
    assert label[sign == 1].any() and label[sign == -1].any()  # brightenings and fadings
    assert not label.all()


def test_labels_causes_and_shapes_agree(fields) -> None:
    for f in fields:
        n = len(f["label"])
        assert f["cutouts"].shape == (n, 3, STORE, STORE)
        assert all(len(f[k]) == n for k in ("cause", "snr", "sign", "site", "split"))
        assert ((f["cause"] == CAUSES.index("real")) == (f["label"] == 1)).all()


def test_a_negative_real_is_negative_in_the_difference(fields) -> None:
    f = fields[0]
    i = np.flatnonzero((f["sign"] == -1) & (f["label"] == 1))
    if len(i):
        c = STORE // 2
        assert (f["cutouts"][i, 2, c, c] < 0).mean() > 0.8


def test_same_field_twice_is_identical(fields) -> None:
    again = field_candidates((5, 0, TRAIN_SITES))
    for k, v in fields[0].items():
        assert np.array_equal(v, again[k], equal_nan=v.dtype.kind == "f"), k


def test_a_change_on_a_trail_is_left_out_not_called_real() -> None:
    from skytwin.training.detection_data import _label, _trail_distance
    trail = np.zeros(1, [("x", "f8"), ("y", "f8"), ("x_end", "f8"), ("y_end", "f8")])
    trail[0] = (0.0, 0.0, 100.0, 100.0)  # the diagonal
    cx, cy = np.array([50.0, 50.0, 20.0]), np.array([50.0, 80.0, 20.0])
    d = _trail_distance(cx, cy, trail)
    assert d == pytest.approx([0.0, 30 / np.sqrt(2), 0.0])
    change = np.zeros(2, [("x", "f8"), ("y", "f8")])
    change[0], change[1] = (50.0, 50.0), (50.0, 80.0)  # on the trail, off it
    none = np.zeros(0, [("x", "f8"), ("y", "f8")])
    real, ambiguous = _label(cx, cy, np.full(3, 10.0), change, np.full(2, 10.0), none, 2.0,
                             d <= 3.0)
    assert real.tolist() == [False, True, False]  # the third is near no change: bogus
    assert ambiguous.tolist() == [True, False, False]
    assert (_trail_distance(cx, cy, trail[:0]) == np.inf).all()
