"""Real GCN notices parse into the Alert model."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from skytwin.site.gcn import AlertParseError, parse_voevent, read_fink_parquet


def test_fermi_voevent(realdata: Path) -> None:
    a = parse_voevent((realdata / "gcn" / "kowalski" / "GCN.xml").read_text())
    assert a.mission == "Fermi" and a.instrument == "GBM" and a.messenger == "EM" and a.kind == "grb"
    assert (a.ra, a.dec, a.ra_dec_error) == (210.1, 64.22, 8.44)
    assert a.containment_probability == 0.68
    assert a.alert_datetime.startswith("2020-01-25T09:49:00") and a.alert_tense == "current"
    assert a.id[0] == "701704709"


def test_lvk_voevent_has_no_position(realdata: Path) -> None:
    a = parse_voevent((realdata / "gcn" / "kowalski" / "voevent.xml").read_text())
    assert a.messenger == "GW" and a.kind == "gw" and a.mission == "LVK"
    assert a.id[0] == "S230623ai" and a.instrument == "H1,L1"
    assert math.isnan(a.ra) and math.isnan(a.ra_dec_error)
    assert a.trigger_time.startswith("2023-06-23T15:42:26")


def test_every_fink_notice_parses(realdata: Path) -> None:
    files = sorted((realdata / "gcn" / "fink_gcn_alerts").iterdir())
    alerts = [a for f in files for a in read_fink_parquet(f)]
    assert len(alerts) == 15
    missions = {a.mission for a in alerts}
    assert {"Fermi", "INTEGRAL", "LVK"} <= missions
    for a in alerts:
        assert -90 <= a.dec <= 90 and 0 <= a.ra < 360 and a.ra_dec_error > 0
        assert a.alert_datetime.endswith("Z") and a.trigger_time.endswith("Z")
    gbm = [a for a in alerts if a.mission == "Fermi"]
    assert any(a.alert_type == "update" for a in gbm) and any(a.alert_type == "initial" for a in gbm)


def test_bad_notices() -> None:
    with pytest.raises(AlertParseError, match="not VOEvent XML"):
        parse_voevent("<VOEvent")
    with pytest.raises(AlertParseError, match="expected VOEvent"):
        parse_voevent("<html/>")
    with pytest.raises(AlertParseError, match="no Who/Date"):
        parse_voevent('<VOEvent ivorn="ivo://x/y#z"/>')
