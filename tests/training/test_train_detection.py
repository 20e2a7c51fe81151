"""The real/bogus training loop on a few fields: it runs, and one seed gives one model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from skytwin.training.datasets import save
from skytwin.training.detection_data import make_detection_dataset
from skytwin.training.train_detection import train


@pytest.fixture(scope="module")
def few_fields(tmp_path_factory):
    path = tmp_path_factory.mktemp("det") / "fields.npz"
    save(make_detection_dataset(4, seed=3, workers=1), path)
    return path


def _state(out):
    return torch.load(out / "detection_cnn.pt", map_location="cpu", weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def twice(few_fields, tmp_path_factory):
    """Two runs of seed 0 in each precision: ``{bf16: [(metrics, state), (metrics, state)]}``."""
    out = tmp_path_factory.mktemp("runs")
    runs = {}
    for bf16 in (False, True):
        runs[bf16] = []
        for name in ("a", "b"):
            d = out / f"{bf16}{name}"
            m = train(seed=0, n_fields=4, epochs=2, out=d, data_path=few_fields,
                      quiet=True, threads=1, ship=False, bf16=bf16)
            runs[bf16].append((m, _state(d)))
    return runs


@pytest.mark.parametrize("bf16", [False, True])
def test_same_seed_same_weights(twice, bf16):
    for m, _ in twice[bf16]:
        assert m["bf16"] is bf16
        assert np.isfinite(m["test"].get("auc", 0.5)) and m["n_candidates"] > 20
    (_, a), (_, b) = twice[bf16]
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_bf16_is_used_and_weights_are_saved_plain(twice):
    """bfloat16 training takes another path than float32 (other weights), and either
    saves contiguous float32 tensors, as a loaded model holds them."""
    states = [twice[False][0][1], twice[True][0][1]]
    assert not all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    for st in states:
        assert all(t.dtype == torch.float32 and t.is_contiguous() for t in st.values())


def test_another_seed_other_weights(few_fields, tmp_path):
    for seed in (0, 1):
        train(seed=seed, n_fields=4, epochs=1, out=tmp_path / str(seed), data_path=few_fields,
              quiet=True, threads=1, ship=False, bf16=False)
    a, b = (_state(tmp_path / s) for s in ("0", "1"))
    assert not all(torch.equal(a[k], b[k]) for k in a)
