"""Training data sets: determinism, splits by seed and site, the CLI, the metrics."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from skytwin.training.cli import register
from skytwin.agents.quality.inputs import QUALITY_SCALARS
from skytwin.training.datasets import load, make_quality_dataset, quality_request, split_of
from skytwin.training.sites import HELDOUT_SITES, SITES, TRAIN_SITES
from skytwin.training.train_anomaly import recall_at_fpr
from skytwin.training.train_detection import fpr_at_fnr, roc_auc


def test_requests_are_deterministic_and_vary() -> None:
    a, b = quality_request(3, 5, SITES), quality_request(3, 5, SITES)
    assert a == b
    assert quality_request(3, 6, SITES) != a
    assert quality_request(4, 5, SITES) != a


def test_splits_by_seed_and_site() -> None:
    assert all(split_of(0, i, HELDOUT_SITES[0]) == "heldout" for i in range(20))
    splits = [split_of(0, i, TRAIN_SITES[0]) for i in range(2000)]
    frac = {s: splits.count(s) / len(splits) for s in ("train", "val", "test")}
    assert frac["train"] == pytest.approx(0.8, abs=0.04)
    assert frac["test"] == pytest.approx(0.1, abs=0.03)
    assert splits == [split_of(0, i, TRAIN_SITES[0]) for i in range(2000)]
    assert set(HELDOUT_SITES).isdisjoint(TRAIN_SITES)


def test_small_quality_dataset() -> None:
    d = make_quality_dataset(3, seed=1, sites=TRAIN_SITES[:2], measure_every=0, workers=1,
                             no_catalogue_every=1)
    # every frame comes twice: with its reference stars and without
    assert d["x"].shape == (6, 2, 64, 64) and d["label"].shape == (6,)
    assert d["catalogue"].tolist() == [True] * 3 + [False] * 3
    for copy, frame in ((3, 0), (4, 1), (5, 2)):
        assert d["label"][copy] == d["label"][frame] and d["split"][copy] == d["split"][frame]
        assert (d["conditions"][copy] == d["conditions"][frame]).all()
    has_trans = QUALITY_SCALARS.index("has_transparency")
    assert (d["s"][:3, has_trans] == 1).all() and (d["s"][3:, has_trans] == 0).all()
    assert set(d["site"]) <= set(TRAIN_SITES[:2])
    assert np.isnan(d["baseline"]).all()


def test_cli_registers_and_writes_a_dataset(tmp_path: Path) -> None:
    p = argparse.ArgumentParser()
    register(p.add_subparsers(dest="command"))
    args = p.parse_args(["dataset", "quality", "--out", str(tmp_path), "--n", "2", "--seed",
                         "3", "--workers", "1"])
    assert args.func(args) == 0
    d = load(tmp_path / "quality_seed3_n2.npz")
    assert int(d["catalogue"].sum()) == 2  # two frames (catalogue-free copies are drawn)
    args = p.parse_args(["train", "anomaly", "--seed", "4"])
    assert args.model == "anomaly" and args.seed == 4
    with pytest.raises(SystemExit):
        p.parse_args(["train", "quality", "--seed", "-1"])


def test_metrics_on_constructed_examples() -> None:
    y = np.array([0, 0, 1, 1])
    assert roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), y) == pytest.approx(0.75)
    assert roc_auc(np.array([0.5, 0.5, 0.5, 0.5]), y) == pytest.approx(0.5)
    assert fpr_at_fnr(np.array([0.1, 0.9, 0.8, 0.95]), y, 0.01) == pytest.approx(0.5)
    assert recall_at_fpr(np.arange(100.0), np.array([50.0, 150.0])) == pytest.approx(0.5)
