"""Scripted quality and detection baselines, the observation generator and candidates."""

from __future__ import annotations

import math

import numpy as np

from skytwin.agents.detection.scripted import ScriptedDetector
from skytwin.agents.quality.scripted import ScriptedQuality
from skytwin.agents.scheduling.generator import calibration_due, fill_ins, followups, survey_order
from skytwin.envs.roles import DetectionEnv, QualityEnv
from skytwin.site.types import ObservationRequest, TelescopeState


def _play(env, policy, seed: int) -> tuple[float, int, list]:
    obs, info = env.reset(seed=seed)
    total, n, infos = 0.0, 0, []
    done = False
    while not done:
        a = policy(obs, info)
        infos.append((a, info))
        obs, r, done, _, info = env.step(a)
        total += r
        n += 1
    return total, n, infos


def test_scripted_quality_beats_random_and_mostly_agrees_with_truth(one_site):
    q = ScriptedQuality()
    rng = np.random.default_rng(0)
    scripted, n, infos = _play(QualityEnv(one_site), lambda o, i: q.predict(o), 1)
    rand, _, _ = _play(QualityEnv(one_site), lambda o, i: int(rng.integers(3)), 1)
    assert n > 50 and scripted > rand
    labels = ("good", "medium", "bad")
    agree = np.mean([labels[a] == i["truth"] for a, i in infos])
    assert agree > 0.8


def test_scripted_detector_beats_calling_everything_real(one_site):
    d = ScriptedDetector()
    scripted, n, _ = _play(DetectionEnv(one_site), lambda o, i: d.predict(o), 1)
    everything, _, _ = _play(DetectionEnv(one_site), lambda o, i: 1, 1)
    assert n > 20 and scripted > everything


def test_save_load_roundtrip(tmp_path):
    for cls in (ScriptedQuality, ScriptedDetector):
        a = cls()
        a.save(tmp_path / "a.json")
        assert cls.load(tmp_path / "a.json").__dict__ == a.__dict__


def test_followups_other_filter_other_site_later_epoch():
    reqs = followups("c1", 10.0, -20.0, 1000.0, "la_palma", "r", ["g", "r", "i"], ["hanle", "mauna_kea"], alert_id="A1")
    assert [r.id for r in reqs] == ["FU-c1-colour", "FU-c1-confirm", "FU-c1-epoch2"]
    assert reqs[0].filter == "g" and reqs[0].site == "la_palma"
    assert reqs[1].site == "hanle" and reqs[1].filter == "r"
    assert reqs[2].window_start_s > 1000.0 + 12 * 3600.0
    assert all(r.alert_id == "A1" for r in reqs)


def test_calibration_due_on_drift_and_calendar():
    tel = TelescopeState("t1", 0.0, 0.0, False, "r", False)
    assert calibration_due(tel, 100.0, 0.0, 0.1) is None
    assert calibration_due(TelescopeState("t1", 0.0, 0.0, False, "r", False, focus_offset_um=60.0), 100.0, 0.0, 0.1).kind == "focus"
    assert calibration_due(tel, 7 * 3600.0, 0.0, 0.1).kind == "photometric"


def test_fill_ins_and_survey_order():
    reqs = [ObservationRequest(id=f"r{k}", target="x", ra_deg=0.0, dec_deg=0.0, filter="g", exptime_s=60.0, priority=1.0,
                               program="p", magnitude=m) for k, m in enumerate([6.0, 15.0, 9.0])]
    out = fill_ins(reqs, np.array([60.0, 70.0, 40.0]), 20.0, 0.6, 0.0)
    assert [r.id for r in out] == ["FILL-r0-0", "FILL-r2-0"] and out[0].exptime_s == 10.0
    assert fill_ins(reqs, np.array([60.0, 70.0, 40.0]), 20.0, 0.2, 0.0) == []
    order = survey_order(np.array([2, 0, 0]), np.ones(3), np.array([80.0, 30.0, 60.0]), 1.0)
    assert list(order) == [2, 1, 0]
    assert not math.isnan(float(order.sum()))
