"""The skytwin command end to end."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
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
        (["detect", "s.fits", "--reference", "r.fits", "--min-p", "2"], "expected a probability >= 0 and <= 1 (finite), got 2"),
        (["detect", "s.fits", "--reference", "r.fits", "--nsigma", "0"], "expected a threshold above 0 (finite), got 0"),
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
    assert rows[0]["transparency_err"] > 0 and rows[2]["transparency_err"] is None
    assert 0 < rows[0]["fwhm_arcsec_err"] < rows[0]["fwhm_arcsec"]
    assert rows[0]["quality"] in ("good", "medium", "bad") and 0.0 < rows[0]["fwhm_arcsec"] < 20
    assert rows[0]["trails"] in ("none", "1-2", "3+") and rows[0]["anomaly_score"] is not None
    assert rows[1]["quality"] == "bad" and rows[1]["reason"].startswith("unreadable")
    assert rows[1]["anomalous"] is True and rows[1]["anomaly_score"] is None
    # the bare frame's header has no pixel scale and no zero point: said, not guessed
    assert rows[0]["not_judged"] == {} and set(rows[2]["not_judged"]) == {"blur", "sky", "clouds"}
    assert rows[2]["fwhm_arcsec"] is None and rows[2]["sky_excess_mag"] is None and rows[2]["fwhm_pixels"] > 0
    blank = tmp_path / "a_closed_dome_with_a_long_name.fits"  # sky noise, no star
    fits.PrimaryHDU(np.random.default_rng(0).normal(1000, 10, (128, 128)).astype(np.uint16)).writeto(blank)
    assert main(["judge", str(blank), "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["quality"] == "bad" and row["reason"] == "no stars" and row["fwhm_pixels"] is None
    assert row["header"]["SATURATE"].startswith("none")  # its brightest pixels are not saturated
    assert main(["judge", str(good), str(bare), str(blank)]) == 0  # the table
    text = capsys.readouterr().out
    assert "good.fits" in text and "px" in text and "±" in text and "no stars" in text
    # every column is shown (a long name folds rather than pushing one off the edge)
    assert all(h in text for h in ('FWHM"', "ell.", "transp", "sky+", "trails", "anom"))
    assert "blur not judged: no pixel scale" in text and "sky and clouds not judged: no MAGZERO" in text and "(bare.fits)" in text


def _detect_pair(tmp_path: Path, shift_pix: float = 0.0, ref_size: int = 160, **field: float) -> tuple[Path, Path, object]:
    """A science frame with a supernova and its reference, written as FITS."""
    from skytwin.twin.frames import RenderRequest, Transient, render_frame, write_fits
    from skytwin.twin.pixels import render_reference

    sn = Transient("sn", 16.5, 60676.01, ra_deg=40.0, dec_deg=-20.0, name="sn1")
    req = RenderRequest(**{"ra_deg": 40.0, "dec_deg": -20.0, "nx": 160, "ny": 160,
                           "pixel_scale_arcsec": 0.7, "seed": 9, "star_density": 4.0,
                           "seeing_arcsec": 1.5, "frame_id": "s", "transients": (sn,), **field})
    sci = render_frame(req)
    # the reference's pointing moved by ``shift_pix`` pixels in declination
    ref_req = req.with_(dec_deg=req.dec_deg + shift_pix * 0.7 / 3600.0, nx=ref_size, ny=ref_size)
    science, reference = tmp_path / "science.fits", tmp_path / "reference.fits"
    write_fits(sci, science)
    write_fits(render_reference(ref_req), reference)
    return science, reference, sci


def test_detect_finds_the_supernova_against_its_reference(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    science, reference, sci = _detect_pair(tmp_path)
    table = tmp_path / "cands.csv"
    assert main(["detect", str(science), "--reference", str(reference), "--json", "--out", str(table)]) == 0
    text = capsys.readouterr().out
    rows = [json.loads(block) for block in text.replace("}\n{", "}\x00{").split("\x00")]
    t = sci.truth[sci.truth["kind"] == "sn"][0]
    best = rows[0]  # best first
    assert best["p_real"] > 0.5 and best["truth"] == "sn sn1"
    assert math.hypot(best["x"] - t["x"], best["y"] - t["y"]) <= 2.0
    # its sky position from the science frame's WCS, within a pixel (0.7")
    assert abs(best["dec"] - t["dec"]) * 3600 < 0.7
    assert abs(best["ra"] - t["ra"]) * 3600 * math.cos(math.radians(t["dec"])) < 0.7
    assert [r["p_real"] for r in rows] == sorted((r["p_real"] for r in rows), reverse=True)
    lines = table.read_text().splitlines()
    assert lines[0] == "x,y,ra_deg,dec_deg,snr,p_real,truth" and len(lines) == len(rows) + 1
    # --min-p lists only the likely real ones; the CSV keeps them all
    assert main(["detect", str(science), "--reference", str(reference), "--json", "--min-p", "0.5",
                 "--out", str(table)]) == 0
    text = capsys.readouterr().out
    likely = [json.loads(b) for b in text.replace("}\n{", "}\x00{").split("\x00")]
    assert likely == [r for r in rows if r["p_real"] >= 0.5] and len(likely) < len(rows)
    assert len(table.read_text().splitlines()) == len(rows) + 1
    # the table says how the subtraction went
    assert main(["detect", str(science), "--reference", str(reference)]) == 0
    text = capsys.readouterr().out.replace("\n", " ")
    assert "sn sn1" in text and "kernel fitted on" in text and "too few stars" not in text


def test_detect_warns_when_the_kernel_rests_on_too_few_stars(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # one star and no hot pixels: nothing else to fit a kernel on
    science, reference, _ = _detect_pair(tmp_path, n_stars=1, n_galaxies=0, hot_pixel_fraction=0.0)
    assert main(["detect", str(science), "--reference", str(reference)]) == 0
    assert "too few stars for a fitted kernel" in capsys.readouterr().out.replace("\n", " ")


def test_detect_warns_when_the_kernel_rests_on_hot_pixels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # two stars and many hot pixels, which science and reference share
    science, reference, _ = _detect_pair(tmp_path, n_stars=2, n_galaxies=0, hot_pixel_fraction=2e-3)
    assert main(["detect", str(science), "--reference", str(reference)]) == 0
    text = " ".join(capsys.readouterr().out.split())  # the console wraps its lines
    assert "the kernel rests on hot pixels or cosmic rays, not stars" in text and "too few stars" not in text


@pytest.mark.parametrize(
    "case, needle",
    [
        ("shifted", "pixels off the science frame's grid"),
        ("smaller", "must share one pixel grid"),
        ("truncated", "truncated or corrupt"),
        ("bad wcs", "unusable WCS in the header"),
        ("ctype not a string", "unusable WCS in the header"),
        ("out is a directory", "cannot write"),
    ],
)
def test_detect_refuses_a_reference_it_cannot_subtract(case: str, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    science, reference, _ = _detect_pair(tmp_path, shift_pix=2.0 if case == "shifted" else 0.0,
                                         ref_size=128 if case == "smaller" else 160)
    if case == "truncated":
        reference.write_bytes(reference.read_bytes()[:4000])
    if case == "bad wcs":
        with fits.open(reference, mode="update") as hdul:
            hdul[0].header["CTYPE1"] = "RA---XXX"
    if case == "ctype not a string":
        with fits.open(reference, mode="update") as hdul:
            hdul[0].header["CTYPE1"] = 5
    out = ["--out", str(tmp_path)] if case == "out is a directory" else []
    assert main(["detect", str(science), "--reference", str(reference), *out]) == 2
    err = capsys.readouterr().err.replace("\n", " ")
    assert needle in err and "Traceback" not in err


def test_render_transients_then_detect_finds_the_twins_counterpart(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tr"
    # a 256-pixel cut-out is too small for one_site_night's only counterpart on the chip
    assert main(["render", "one_site_night", "--transients", "--size", "256", "--out", str(out)]) == 1
    assert "none of the" in capsys.readouterr().out
    assert main(["render", "one_site_night", "--transients", "--frames", "1", "--reference", "--out", str(out)]) == 0
    assert "c00" in capsys.readouterr().out
    (science,) = out.glob("*.fits")
    assert main(["detect", str(science), "--reference", str(out / "reference" / science.name), "--json"]) == 0
    text = capsys.readouterr().out
    rows = [json.loads(block) for block in text.replace("}\n{", "}\x00{").split("\x00")]
    assert rows[0]["truth"] == "sn c00" and rows[0]["p_real"] > 0.5


def test_calibrate_anomaly_then_judge_with_the_sites_threshold(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from skytwin.training.datasets import quality_request
    from skytwin.training.sites import SITES
    from skytwin.twin.frames import render_frame, write_fits

    paths = [str(write_fits(render_frame(quality_request(6060, i, SITES, size=128)), tmp_path / f"f{i:02d}.fits")) for i in range(10)]
    weights = tmp_path / "site" / "anomaly.pt"
    assert main(["calibrate-anomaly", *paths[:5], "--rate", "0.1", "--out", str(weights)]) == 2
    assert "at least 10 normal frames" in capsys.readouterr().err
    assert main(["calibrate-anomaly", *paths, "--rate", "0.1", "--out", str(weights)]) == 0
    assert "at most 1 of them" in capsys.readouterr().out and weights.is_file()
    assert main(["judge", *paths, "--json", "--anomaly-weights", str(weights)]) == 0
    rows = [json.loads(b) for b in capsys.readouterr().out.replace("}\n{", "}\x00{").split("\x00")]
    assert sum(r["anomalous"] for r in rows) == 1  # the one normal frame the rate lets through
    assert main(["judge", paths[0], "--anomaly-weights", str(tmp_path / "missing.pt")]) == 2
    assert "no such weights file" in capsys.readouterr().err
    # a frame twice counts once; an unwritable --out is said before any frame is read
    assert main(["calibrate-anomaly", *paths, paths[0], "--rate", "0.1", "--out", str(weights)]) == 2
    assert "given more than once" in capsys.readouterr().err
    assert main(["calibrate-anomaly", *paths, "--rate", "0.1", "--out", "/proc/site/anomaly.pt"]) == 2
    assert "cannot write" in capsys.readouterr().err
    # the export carries the site's threshold, and says so in the card it copies
    edge = tmp_path / "edge"
    assert main(["export", "quality", "--out", str(edge), "--anomaly-weights", str(weights)]) == 2
    assert "leaves out" in capsys.readouterr().err
    assert main(["export", "anomaly", "--out", str(edge), "--anomaly-weights", str(weights)]) == 0
    manifest = json.loads((edge / "manifest.json").read_text())["models"]["anomaly"]
    from skytwin.agents.anomaly import load_default
    assert manifest["decision"]["threshold_from"] == {"threshold_frames": 10, "false_alarm_rate": 0.1,
                                                      "twin_threshold": pytest.approx(load_default().threshold)}
    assert "a site's own threshold" in (edge / "anomaly.md").read_text()
