"""The quality training command end to end on a few frames: it runs, calibrates on its own
calibration frames, writes what it ships, and one seed gives one model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from skytwin.training.train_quality import train
from skytwin.training.sites import HELDOUT_SITES


@pytest.fixture(scope="module")
def twice(tmp_path_factory):
    base = tmp_path_factory.mktemp("quality")
    data = base / "q.npz"
    runs = []
    for name in ("a", "b"):  # the second run reads both data sets from the cache
        out = base / name
        m = train(seed=5, n=40, epochs=1, out=out, data_path=data, quiet=True, threads=2,
                  ship=False, n_calibration=12)
        state = torch.load(out / "quality_cnn.pt", map_location="cpu",
                           weights_only=True)["state_dict"]
        runs.append((m, state))
    return base, runs


def test_the_temperature_is_fitted_on_the_validation_and_calibration_frames(twice) -> None:
    base, [(m, state), _] = twice
    from skytwin.training.datasets import load
    cal = load(base / "q_calibration12.npz")
    assert len(cal["label"]) == 12 and cal["catalogue"].all()
    assert not set(cal["site"]) & set(HELDOUT_SITES)  # no held-out site calibrates the model
    d = load(base / "q.npz")
    n_val = int(((d["split"] == "val") & d["catalogue"]).sum())
    assert m["n_temperature_frames"] == n_val + 12
    assert m["temperature"] > 0 and float(state["temperature"]) == pytest.approx(m["temperature"])
    for split in ("test_without_catalogue", "heldout_sites_without_catalogue"):
        if m[split]["n"]:
            assert 0.0 <= m[split]["accuracy_apart_from_clouds"] <= 1.0


def test_one_seed_gives_one_model(twice) -> None:
    _, [(m1, s1), (m2, s2)] = twice
    assert m1["temperature"] == m2["temperature"]
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    assert np.isfinite(m1["heldout_sites"].get("accuracy", 0.0))


def test_averaged_weights_carry_their_own_batch_statistics(twice) -> None:
    """The batch norms of the averaged weights hold the statistics of the training rows
    under those weights (recomputed), not a mix of the epochs' running estimates."""
    from skytwin.agents.quality.model import QualityNet
    from skytwin.training.datasets import load
    base, [(_, state), _] = twice
    net = QualityNet()
    net.load_state_dict(state)
    d = load(base / "q.npz")
    rows = np.flatnonzero(d["split"] == "train")
    bn = next(m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))
    seen = []
    hook = bn.register_forward_hook(lambda mod, inp, out: seen.append(inp[0]))
    net.eval()
    with torch.no_grad():
        net.heads(torch.as_tensor(d["x"][rows]), torch.as_tensor(d["s"][rows]))
    hook.remove()
    batch_mean = seen[0].mean(dim=(0, 2, 3))
    assert torch.allclose(bn.running_mean, batch_mean, atol=1e-4 * float(batch_mean.abs().max()) + 1e-5)
