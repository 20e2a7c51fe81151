"""The skytwin command end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from astropy.io import fits

from skytwin.cli import main
from skytwin.twin.eventlog import EventLog


def test_run_one_site_night_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["run", "one_site_night", "--seed", "2", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "cerro_tololo" in text and "per program" in text and "science value" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario"] == "one_site_night" and summary["seed"] == 2
    site = summary["sites"]["cerro_tololo"]
    assert site["frames"] > 100 and site["open_shutter_h"] > 2
    log = EventLog.load(out / "events.parquet")
    assert log.count("frame") == site["frames"]
    assert summary["programs"]["survey"]["visits"] == sum(1 for r in log.rows("visit_done") if r["program"] == "survey")
    # same seed again: the same events
    out2 = tmp_path / "again"
    assert main(["run", "one_site_night", "--seed", "2", "--out", str(out2), "--quiet"]) == 0
    assert EventLog.load(out2 / "events.parquet") == log


def test_bad_scenario_file_exits_2_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nepoch: 2026-01-01T00:00:00Z\nsites:\n  - name: a\n    latitude_deg: 95\n    longitude_deg: 0\n    elevation_m: 0\n")
    proc = subprocess.run([sys.executable, "-m", "skytwin.cli", "run", str(bad), "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert str(bad) in proc.stderr and "sites[0].latitude_deg: 95" in proc.stderr


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["run", "one_site_night", "--nights", "0"], "expected a number >= 1"),
        (["run", "one_site_night", "--seed", "abc"], "expected a whole number"),
        (["run", "nowhere_scenario"], "no such file, and not a bundled scenario"),
        (["run", "one_site_night", "--agent", "wizard"], "unknown agent 'wizard'"),
    ],
)
def test_bad_flags_get_a_message(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    try:
        code = main(argv + ["--out", str(tmp_path)])
    except SystemExit as exc:  # argparse errors
        code = exc.code
    assert code == 2
    assert needle in capsys.readouterr().err.replace("\n", " ")


def test_validate_and_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "six_site_week"]) == 0
    assert "ok: six_site_week: 6 sites, 7 telescopes" in capsys.readouterr().out
    assert main(["scenarios"]) == 0
    assert "stormy_month" in capsys.readouterr().out


def test_judge_gives_each_frame_a_verdict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from skytwin.training.datasets import quality_request
    from skytwin.training.sites import SITES
    from skytwin.twin.frames import render_frame, write_fits

    frame = render_frame(quality_request(5150, 0, SITES, size=256))
    good = tmp_path / "good.fits"
    write_fits(frame, good)
    truncated = tmp_path / "truncated.fits"
    truncated.write_bytes(good.read_bytes()[:5000])
    bare = tmp_path / "bare.fits"  # a frame as a camera writes it: no catalogue beside it
    fits.PrimaryHDU(frame.image).writeto(bare)
    assert main(["judge", str(good), str(truncated), str(bare), "--json"]) == 0
    text = capsys.readouterr().out
    rows = [json.loads(block) for block in text.replace("}\n{", "}\x00{").split("\x00")]
    assert [Path(r["frame"]).name for r in rows] == ["good.fits", "truncated.fits", "bare.fits"]
    assert rows[0]["transparency"] > 0 and rows[2]["transparency"] is None
    assert rows[0]["quality"] in ("good", "medium", "bad") and 0.0 < rows[0]["fwhm_arcsec"] < 20
    assert rows[0]["trails"] in ("none", "1-2", "3+") and rows[0]["anomaly_score"] is not None
    assert rows[1]["quality"] == "bad" and rows[1]["reason"].startswith("unreadable")
    assert rows[1]["anomalous"] is True and rows[1]["anomaly_score"] is None
    assert main(["judge", str(good)]) == 0  # the table
    assert "good.fits" in capsys.readouterr().out
