"""Sky content, determinism, transients, artefacts, calibration frames and the record glue."""

from __future__ import annotations

import math

import numpy as np
import pytest

from frames_helpers import DEC, RA, small_request
from skytwin.site.types import FrameRecord
from skytwin.twin.frames import (RenderRequest, Transient, field_catalog, render_calibration,
                                 render_frame)
from skytwin.twin.frames.catalog import galactic, star_counts
from skytwin.twin.frames.detector import bleed, camera_pattern
from skytwin.twin.frames.transients import iso_to_mjd, light_curve


def test_same_seed_same_pixels_other_seed_differs() -> None:
    req = small_request(cosmic_ray_rate=0.05, satellite_rate=0.0)
    a, b = render_frame(req), render_frame(req)
    assert np.array_equal(a.image, b.image)
    assert a.truth.tobytes() == b.truth.tobytes()  # NaN-safe, bit for bit
    assert a.header == b.header
    c = render_frame(req.with_(seed=8))
    assert not np.array_equal(a.image, c.image)


def test_field_looks_the_same_from_every_site_and_rotation() -> None:
    a = small_request(site="teide", telescope="t1", rotation_deg=0.0, date_obs="2025-03-01T22:00:00")
    b = small_request(site="siding", telescope="t9", rotation_deg=47.0, nx=300, ny=200,
                      date_obs="2025-06-11T03:00:00", ra_deg=RA + 0.01)
    ca, cb = field_catalog(a, 24.0), field_catalog(b, 24.0)
    common = set(zip(ca.ra_deg.round(9), ca.dec_deg.round(9))) & set(
        zip(cb.ra_deg.round(9), cb.dec_deg.round(9)))
    assert len(common) > 0.5 * min(len(ca), len(cb)) > 5
    # a deeper frame keeps the brighter sources and adds fainter ones
    deep = field_catalog(a, 25.0)
    bright = set(zip(ca.ra_deg, ca.dec_deg))
    assert bright <= set(zip(deep.ra_deg, deep.dec_deg)) and len(deep) > len(ca)


def test_a_pointing_a_pixel_away_sees_the_same_stars() -> None:
    # near the Galactic plane, where the density changes fastest; the density
    # once followed the pointing, and a half-pixel offset could redraw a cell
    # (the first pair: a detection-data field whose second epoch drew a new sky)
    pairs = [((309.6293466, 23.8550614), (309.6292776, 23.8550775))]
    pairs += [((309.6 + 0.2 * k, 23.855), (309.6 + 0.2 * k - 7e-5, 23.855 + 2e-5))
              for k in range(1, 6)]
    for (ra_a, dec_a), (ra_b, dec_b) in pairs:
        a = small_request(ra_deg=ra_a, dec_deg=dec_a, pixel_scale_arcsec=0.73, seed=1,
                          band="i", star_density=12.5)
        b = a.with_(ra_deg=ra_b, dec_deg=dec_b)
        ca, cb = field_catalog(a, 23.0), field_catalog(b, 23.0)
        pa = set(zip(ca.ra_deg.round(9), ca.dec_deg.round(9)))
        pb = set(zip(cb.ra_deg.round(9), cb.dec_deg.round(9)))
        assert len(pa & pb) >= 0.9 * min(len(pa), len(pb)) > 20  # only the margin differs


def test_star_counts_rise_towards_the_galactic_plane() -> None:
    l_pole, b_pole = galactic(192.859, 27.128)
    assert b_pole == pytest.approx(90.0, abs=0.1)
    assert star_counts(20.0, 0.0, 0.0) > 10 * star_counts(20.0, 0.0, 90.0)
    plane = field_catalog(small_request(ra_deg=266.4, dec_deg=-29.0), 21.0)
    pole = field_catalog(small_request(ra_deg=192.859, dec_deg=27.128), 21.0)
    assert (plane.kind == 0).sum() > 5 * max((pole.kind == 0).sum(), 1)


def test_galaxies_shrink_with_magnitude() -> None:
    cat = field_catalog(small_request(nx=1024, ny=1024), 24.0)
    gal = cat.kind == 1
    bright = cat.r_e_arcsec[gal & (cat.mag < 21)]
    faint = cat.r_e_arcsec[gal & (cat.mag > 23)]
    assert np.median(bright) > 1.5 * np.median(faint)


def test_transients_carry_light_curve_state() -> None:
    t = iso_to_mjd("2025-03-01T22:00:00")
    trs = (Transient("sn", 16.0, t + 5.0),
           Transient("variable", 15.0, t, RA, DEC + 0.005, amplitude_mag=1.0, period_days=1.0),
           Transient("flare", 15.0, t, RA + 0.004, DEC, amplitude_mag=2.0, tau_days=0.01),
           Transient("asteroid", 15.0, t, RA - 0.004, DEC, rate_arcsec_per_hr=120.0,
                     pa_deg=90.0))
    req = small_request(transients=trs, galaxy_density=3.0, exptime_s=120.0)
    frame = render_frame(req)
    tr = {r["kind"]: r for r in frame.truth if r["kind"] in ("sn", "variable", "flare",
                                                            "asteroid")}
    assert set(tr) == {"sn", "variable", "flare", "asteroid"}
    assert tr["sn"]["lc_state"] == "rising"
    assert tr["sn"]["mag"] == pytest.approx(16.0 + 1.2 * (5.0 / 10.0) ** 2, abs=0.01)
    host = frame.truth[frame.truth["kind"] == "galaxy"]
    assert np.hypot(host["x"] - tr["sn"]["x"], host["y"] - tr["sn"]["y"]).min() < 10
    assert tr["flare"]["lc_state"] == "flaring" and tr["flare"]["mag"] < 17.0
    # 120 arcsec/h for 120 s = 4 arcsec of trail
    trail_pix = math.hypot(tr["asteroid"]["x_end"] - tr["asteroid"]["x"],
                           tr["asteroid"]["y_end"] - tr["asteroid"]["y"])
    assert trail_pix * req.pixel_scale_arcsec == pytest.approx(4.0, rel=0.02)
    st = light_curve(trs[0], t - 30.0, RA, DEC)
    assert st.state == "not_yet" and math.isinf(st.mag)


def test_cosmic_rays_grow_with_exposure_and_trails_are_recorded() -> None:
    short = render_frame(small_request(cosmic_ray_rate=1.0, exptime_s=10.0))
    long = render_frame(small_request(cosmic_ray_rate=1.0, exptime_s=300.0))
    assert long.conditions["n_cosmic_rays"] > 3 * max(short.conditions["n_cosmic_rays"], 1)
    sat = render_frame(small_request(satellite_rate=5e4, exptime_s=60.0))
    assert (sat.truth["kind"] == "satellite").sum() == sat.conditions["n_trails"] >= 1
    assert sat.reason and "trail" in sat.reason


def test_saturated_star_bleeds_and_conserves_charge() -> None:
    col = np.zeros((50, 3), np.float32)
    col[25, 1] = 5e5
    total = col.sum()
    n = bleed(col, 1e5)
    assert n == 5 and col.sum() == pytest.approx(total) and col.max() == 1e5
    frame = render_frame(small_request(bright_star_mag=7.0, seed=3))
    bright = frame.truth[frame.truth["kind"] == "bright_star"]
    assert len(bright) == 1
    if 0 <= bright["x"][0] < 256 and 0 <= bright["y"][0] < 256:
        assert frame.conditions["saturated_fraction"] > 0
        assert frame.image.max() == pytest.approx(min(65535.0, 1e5 / 1.5 + 1000.0), rel=1e-3)


def test_calibration_frames_match_the_camera() -> None:
    cam = small_request(hot_pixel_fraction=1e-3, dead_pixel_fraction=1e-3, dark_e_per_s=0.1,
                        exptime_s=300.0)
    bias = render_calibration("bias", cam)
    assert bias.mean() == pytest.approx(cam.bias_adu, abs=0.2)
    assert bias.std() == pytest.approx(cam.read_noise_e / cam.gain_e_per_adu, rel=0.03)
    dark = render_calibration("dark", cam)
    pat = camera_pattern(cam)
    assert np.median(dark[pat.hot]) > np.median(dark) + 10 * bias.std()
    flat = render_calibration("flat", cam) - cam.bias_adu
    norm = flat / np.median(flat)
    assert np.corrcoef(norm[~pat.dead].ravel(), pat.flat[~pat.dead].ravel())[0, 1] > 0.5
    assert np.all(flat[pat.dead] < 20)
    with pytest.raises(KeyError):
        render_calibration("twilight", cam)  # type: ignore[arg-type]


def test_request_from_frame_record() -> None:
    rec = FrameRecord(
        frame_id="f1", site="teide", telescope="t1", request_id="r1", program="p",
        target="M51", ra_deg=RA, dec_deg=DEC, filter="r", t_start_s=0.0, exptime_s=30.0,
        alt_deg=60.0, airmass=1.15, moon_sep_deg=40.0, seeing_arcsec=1.1, fwhm_arcsec=1.6,
        ellipticity=0.05, sky_mag_arcsec2=19.5, sky_e_per_pix=800.0, transparency=0.9,
        limiting_mag=20.0, snr_expected=math.nan, cloud_cover=0.2, focus_offset_um=50.0,
        zp_error_mag=0.0)
    req = RenderRequest.from_record(rec, seed=5, nx=128, ny=128, gain_e_per_adu=2.0,
                                    date_obs="2025-03-01T22:00:00")
    assert (req.exptime_s, req.airmass, req.object_name, req.gain_e_per_adu) == (30.0, 1.15,
                                                                                "M51", 2.0)
    assert req.sky_level_e == 800.0 and req.defocus_arcsec == pytest.approx(0.5)
    frame = render_frame(req)
    assert frame.header["OBJECT"][0] == "M51" and frame.header["DATE-OBS"][0].startswith("2025")


def test_bad_request_values_are_refused() -> None:
    with pytest.raises(ValueError, match="transparency"):
        small_request(transparency=1.5)
    with pytest.raises(KeyError, match="filter band"):
        small_request(band="H")
