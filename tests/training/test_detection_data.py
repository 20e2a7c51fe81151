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
