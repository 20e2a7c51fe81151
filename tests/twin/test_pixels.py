"""Pixel mode: the twin's frames rendered, and fast-mode metrics agreeing with the pixels."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from skytwin.agents.scheduling import GreedyScheduler
from skytwin.scenarios.schema import Scenario
from skytwin.twin.frames import background, read_fits
from skytwin.twin.network import TwinNetwork
from skytwin.twin.pixels import PixelRecorder


@pytest.fixture(scope="module")
def rendered(one_site: Scenario, tmp_path_factory: pytest.TempPathFactory) -> tuple[TwinNetwork, PixelRecorder]:
    net = TwinNetwork(one_site, seed=1)
    rec = PixelRecorder(net, tmp_path_factory.mktemp("frames"), every=20, size=512)
    net.run(GreedyScheduler().decide)
    return net, rec


def test_every_kth_frame_is_rendered_with_standard_keywords(rendered) -> None:
    net, rec = rendered
    n_frames = net.log.count("frame")
    assert len(rec.paths) == math.ceil(n_frames / 20)
    files = net.log.rows("frame_file")
    assert [Path(r["path"]) for r in files] == rec.paths
    frames = {r["frame_id"]: r for r in net.log.rows("frame")}
    with fits.open(rec.paths[3]) as hdul:
        h = hdul[0].header
        for key in ("DATE-OBS", "EXPTIME", "FILTER", "AIRMASS", "TELESCOP", "INSTRUME", "OBJECT", "RA", "DEC", "GAIN", "RDNOISE"):
            assert key in h, key
        f = frames[files[3]["frame_id"]]
        assert h["EXPTIME"] == f["exptime_s"] and h["FILTER"] == f["filter"] and h["OBJECT"] == f["target"]
        assert h["AIRMASS"] == pytest.approx(f["airmass"])
        assert h["DATE-OBS"].startswith("2026-03-2")
        assert hdul["TRUTH"].data is not None


def test_fast_mode_fwhm_agrees_with_the_pixels(rendered) -> None:
    net, _ = rendered
    frames = {r["frame_id"]: r for r in net.log.rows("frame")}
    ratios = [
        r["measured_fwhm_arcsec"] / frames[r["frame_id"]]["fwhm_arcsec"]
        for r in net.log.rows("frame_file")
        if math.isfinite(r["measured_fwhm_arcsec"])
    ]
    assert len(ratios) >= 5
    assert abs(float(np.median(ratios)) - 1.0) < 0.05
    assert max(abs(x - 1.0) for x in ratios) < 0.15


def test_fast_mode_sky_agrees_with_the_pixels(rendered) -> None:
    net, rec = rendered
    frames = {r["frame_id"]: r for r in net.log.rows("frame")}
    cam = net.scenario.sites[0].telescopes[0].camera
    for r, path in zip(net.log.rows("frame_file"), rec.paths):
        f = frames[r["frame_id"]]
        level, _ = background(read_fits(path).image)
        expected_adu = cam.bias_adu + (f["sky_e_per_pix"] + cam.dark_e_per_s * f["exptime_s"]) / cam.gain_e_per_adu
        # flat field, vignetting and cloud structure move the level a few percent
        assert level == pytest.approx(expected_adu, rel=0.05), r["frame_id"]


def test_same_seed_same_pixels(one_site: Scenario, tmp_path: Path) -> None:
    imgs = []
    for k in range(2):
        net = TwinNetwork(one_site, seed=1, nights=1)
        rec = PixelRecorder(net, tmp_path / str(k), every=1, size=128, limit=2)
        net.run(GreedyScheduler().decide, until_s=net.sites["cerro_tololo"].nights()[0][0] + 1200)
        imgs.append([read_fits(p).image for p in rec.paths])
    assert len(imgs[0]) == 2
    for a, b in zip(*imgs):
        np.testing.assert_array_equal(a, b)


def test_clouds_label_sees_cloud_transmission_not_extinction(rendered) -> None:
    """Extinction and mirror dust go into the zero point; the renderer's transparency is the clouds'."""
    from skytwin.site.types import FrameRecord
    from skytwin.twin.frames import RenderRequest
    from skytwin.twin.pixels import render_request
    from skytwin.twin.weather import transparency_from_cloud

    net, _ = rendered
    row = net.log.rows("frame")[40]
    fields = set(FrameRecord.__dataclass_fields__)
    rec = FrameRecord(**{k: v for k, v in row.items() if k in fields}, t_start_s=row["t_s"])
    req = render_request(net, rec, 256)
    plain = RenderRequest.from_record(rec, seed=net.seed, aperture_m=0.6, throughput=0.6)
    assert req.transparency == pytest.approx(float(transparency_from_cloud(rec.cloud_cover)))
    assert req.transparency > rec.transparency  # extinction is not counted as cloud
    # the electrons per second from a magnitude-0 star on the frame are unchanged
    tel = net.scenario.sites[0].telescopes[0]
    from skytwin.twin.frames import zeropoint_e_per_s

    assert req.zeropoint_e_per_s * req.transparency == pytest.approx(
        zeropoint_e_per_s(tel.aperture_m, rec.filter, tel.efficiency) * rec.transparency
    )
    assert plain.transparency == pytest.approx(rec.transparency)


def test_reference_is_the_frames_field_deeper_sharper_and_without_its_transient() -> None:
    from skytwin.twin.frames import RenderRequest, Transient, render_frame
    from skytwin.twin.pixels import render_reference

    sn = Transient("sn", 16.5, 60676.01, ra_deg=40.0, dec_deg=-20.0, name="sn1")
    req = RenderRequest(ra_deg=40.0, dec_deg=-20.0, nx=160, ny=160, pixel_scale_arcsec=0.7,
                        seed=9, star_density=4.0, seeing_arcsec=1.6, frame_id="s",
                        transients=(sn,), satellite_rate=50.0)
    sci = render_frame(req)
    ref = render_reference(req)
    # the same pixel grid, the same catalogue stars
    for key in ("CRVAL1", "CRVAL2", "CRPIX1", "CRPIX2", "CD1_1", "CD2_2"):
        assert ref.header[key] == sci.header[key]
    assert ref.header["REFNFRM"][0] == 3
    stars = sci.truth[sci.truth["kind"] == "star"]
    # (the reference, deeper, may list fainter ones too)
    assert np.isin(stars["x"], ref.truth[ref.truth["kind"] == "star"]["x"]).all()
    # no transient, no trail: nothing where the supernova is, and truth says so
    assert not np.isin(ref.truth["kind"], ("sn", "satellite", "cosmic_ray")).any()
    t = sci.truth[sci.truth["kind"] == "sn"][0]
    x, y = int(round(t["x"])), int(round(t["y"]))
    level, noise = background(ref.image)
    assert ref.image[y - 1:y + 2, x - 1:x + 2].max() < level + 5 * noise
    assert sci.image[y - 1:y + 2, x - 1:x + 2].max() > level + 20 * noise
    # a median of three frames: less noise than one, and better seeing
    assert noise < 0.85 * background(sci.image)[1]
    assert ref.conditions["fwhm_arcsec"] < sci.conditions["fwhm_arcsec"]


def test_reference_of_a_fixed_catalogue_has_the_frames_stars() -> None:
    from skytwin.twin.frames import RenderRequest, render_frame
    from skytwin.twin.pixels import render_reference

    # a fixed catalogue is drawn from the frame's own random stream: the reference keeps it
    req = RenderRequest(ra_deg=10.0, dec_deg=5.0, nx=96, ny=96, seed=3, n_stars=20, n_galaxies=0,
                        frame_id="fixed")
    sci, ref = render_frame(req), render_reference(req)
    key = lambda t: np.sort(t[t["kind"] == "star"]["x"])  # noqa: E731
    assert len(key(sci.truth)) == 20 and np.array_equal(key(ref.truth), key(sci.truth))


def _night(name: str) -> tuple[TwinNetwork, list]:
    from skytwin.scenarios import load_scenario

    net = TwinNetwork(load_scenario(name), nights=1)
    records: list = []
    net.frame_listeners.append(records.append)
    net.run(GreedyScheduler().decide)
    return net, records


def test_fast_mode_counterparts_are_drawn_where_they_fall_on_the_cut_out() -> None:
    from skytwin.twin.candidates import frame_candidates
    from skytwin.twin.frames import render_frame
    from skytwin.twin.pixels import on_cutout, render_reference, render_request

    net, records = _night("one_site_night")
    with_real = [r for r in records if any(c.real for c in frame_candidates(net.seed, r))]
    # survey frames: a real transient in ~3% (one_site_night has no alert)
    assert 0 < len(with_real) < 0.1 * len(records)
    drawn = []
    for rec in with_real:
        req = render_request(net, rec, 1024)
        reals = [c for c in frame_candidates(net.seed, rec) if c.real]
        on = [c for c in reals if on_cutout(req.with_(transients=()), _point(c))]
        assert [(t.ra_deg, t.dec_deg, t.mag_peak) for t in req.transients] == [(c.ra_deg, c.dec_deg, c.mag) for c in on]
        if req.transients:
            drawn.append(req)
    # most fall beyond a 1024-pixel cut-out, one_site_night's seed puts one on it
    assert len(drawn) == 1 < len(with_real)
    req = drawn[0]
    frame = render_frame(req)
    sn = frame.truth[frame.truth["kind"] == "sn"]
    assert len(sn) == 1 and sn["name"][0] == "c00"
    assert sn["mag"][0] == pytest.approx(req.transients[0].mag_peak)  # at peak at mid-exposure
    assert 0 <= sn["x"][0] < req.nx and 0 <= sn["y"][0] < req.ny
    x, y = int(round(sn["x"][0])), int(round(sn["y"][0]))
    sky = float(np.median(frame.image))
    assert frame.image[y - 1:y + 2, x - 1:x + 2].max() > sky + 20 * background(frame.image)[1]
    ref = render_reference(req)
    assert "sn" not in set(ref.truth["kind"])


def _point(c):
    from skytwin.twin.frames import Transient
    return Transient("sn", c.mag, 0.0, ra_deg=c.ra_deg, dec_deg=c.dec_deg)


def test_an_alerts_counterpart_is_drawn_in_its_follow_up_frames() -> None:
    from skytwin.twin.pixels import render_request

    net, records = _night("gw_followup")
    alert_ids = {a.id[0] for a in net.alerts()}
    too = [r for r in records if net.pool.get(r.request_id).alert_id in alert_ids]
    assert too, "gw_followup's night has follow-up frames"
    # the whole chip: the counterpart lies within 0.2 deg of the tile's centre
    found = sum(bool(render_request(net, r, 100_000).transients) for r in too)
    # a gravitational-wave tile holds the counterpart with probability 0.1 (survey frames: 0.03 x SNR cut)
    assert 0.04 * len(too) < found < 0.2 * len(too)


def test_a_reference_is_stacked_from_the_sites_own_dark_sky() -> None:
    from skytwin.twin.frames import RenderRequest
    from skytwin.twin.photometry import SKY_COLOUR
    from skytwin.twin.pixels import render_reference, render_request, site_dark_sky_mag

    net, records = _night("one_site_night")
    rec = records[0]
    band = render_request(net, rec, 128).band
    dark_v = net.sites[rec.site].cfg.climate.sky_dark_mag_arcsec2
    # the site's dark V sky in the band, brighter toward the horizon (airglow)
    assert site_dark_sky_mag(net, rec, band) == pytest.approx(dark_v + SKY_COLOUR[band] - 0.3 * (rec.airmass - 1.0))
    req = RenderRequest(ra_deg=40.0, dec_deg=-20.0, nx=96, ny=96, pixel_scale_arcsec=0.7, seed=9,
                        seeing_arcsec=1.6, frame_id="s", band="r", sky_mag_arcsec2=16.0)
    dark_site, polluted = render_reference(req), render_reference(req, dark_sky_mag=19.0)
    # a light-polluted site's reference: a brighter, noisier sky than a dark site's (r 21.1)
    assert background(polluted.image)[0] > background(dark_site.image)[0]
    assert background(polluted.image)[1] > 1.5 * background(dark_site.image)[1]
    # never brighter than the frame's own sky
    assert render_reference(req, dark_sky_mag=12.0).image.mean() == pytest.approx(
        render_reference(req.with_(sky_mag_arcsec2=16.0), dark_sky_mag=16.0).image.mean())
