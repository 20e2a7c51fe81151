"""Benchmark: the fast frame renderer against drawing every object with GalSim.

Renders 1024x1024 frames with 500 stars and 100 galaxies plus sky, detector
and noise, (a) with ``skytwin.twin.frames.render_frame`` and (b) naively,
one GalSim ``drawImage`` per object (the same PSF profile, the same truncated
Sersic galaxies convolved with it) added into the frame, plus the same sky and
noise. Single thread. Both draw the same sequence of frames (new sky content
each frame, as in a run; GalSim's per-profile caches stay warm within the
process, which favours the naive path where objects repeat). Prints a table, then one JSON line (last) with
``ms_per_frame``, ``galsim_naive_ms_per_frame``, ``speedup_vs_galsim`` and
``max_flux_error`` (largest relative flux difference of isolated objects
between the two noise-free images, measured in boxes around them; isolated:
no other object's light, truncation radius + 10 pixels, reaches the box, and
no 3x brighter object within 60 pixels, whose far PSF wings the fast renderer
cuts at ~4 FWHM).

Run from the repository root::

    python benchmarks/frames.py [--frames 10] [--naive-frames 2]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import galsim  # noqa: E402
import numpy as np  # noqa: E402

from skytwin.twin.frames import RenderRequest, render_frame  # noqa: E402
from skytwin.twin.frames import detector  # noqa: E402
from skytwin.twin.frames.catalog import TRUNC_RE  # noqa: E402
from skytwin.twin.frames.psf import psf_profile  # noqa: E402
from skytwin.twin.frames.render import GALAXY_STAMPS, _sersic_bn  # noqa: E402


def request(noise: bool = True) -> RenderRequest:
    """The benchmark frame: 1024^2, 0.6"/pix, 1.2" seeing, 500 stars, 100 galaxies."""
    return RenderRequest(ra_deg=150.0, dec_deg=2.2, nx=1024, ny=1024, pixel_scale_arcsec=0.6,
                         exptime_s=60.0, seeing_arcsec=1.2, n_stars=500, n_galaxies=100,
                         seed=42, telescope="bench", noise=noise,
                         **({} if noise else dict(flat_prnu=0.0, vignetting=0.0,
                                                  hot_pixel_fraction=0.0,
                                                  dead_pixel_fraction=0.0,
                                                  cosmic_ray_rate=0.0)))


def naive_sources(req: RenderRequest, truth: np.ndarray) -> np.ndarray:
    """Noise-free electron image drawn object by object with GalSim."""
    scale = req.pixel_scale_arcsec
    psf = psf_profile(req)
    full = galsim.ImageF(req.nx, req.ny, scale=scale)
    psf_stamp = 8.0 * 1.3 / scale
    for row in truth:
        if row["kind"] == "galaxy":
            n = float(row["sersic_n"])
            re_pix = row["r_e_arcsec"] / scale
            trunc = min(TRUNC_RE * re_pix, GALAXY_STAMPS[-1] / 2 - psf_stamp / 2 - 2)
            r0 = re_pix / _sersic_bn(np.array(n)) ** n
            gal = galsim.Sersic(n, scale_radius=float(r0 * scale), trunc=float(trunc * scale))
            theta = 90.0 + row["pa_deg"] - req.rotation_deg
            obj = galsim.Convolve(gal.shear(q=float(row["q"]), beta=theta * galsim.degrees), psf)
        elif row["kind"] == "star":
            obj = psf
        else:
            continue
        obj = obj.withFlux(float(row["flux_obs_e"]))
        stamp = obj.drawImage(scale=scale, center=galsim.PositionD(row["x"] + 1, row["y"] + 1))
        b = stamp.bounds & full.bounds
        if b.isDefined():
            full[b] += stamp[b]
    return full.array


def naive_frame(req: RenderRequest, truth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The naive frame: per-object GalSim, then the same sky, flat, dark, noise and readout."""
    e = naive_sources(req, truth).astype(np.float32)
    e += np.float32(req.sky_level_e)
    pattern = detector.camera_pattern(req)
    e *= pattern.flat
    e += detector.dark_map(req, pattern)
    e = detector.add_noise(e, req.read_noise_e, rng)
    detector.bleed(e, req.full_well_e)
    return detector.readout(e, req)


def flux_errors(req: RenderRequest, fast_e: np.ndarray, naive_e: np.ndarray,
                truth: np.ndarray) -> dict[str, float]:
    """Largest relative flux difference of isolated objects, per kind."""
    xs, ys = truth["x"], truth["y"]
    # how far each object's light reaches (pixels): truncation radius + PSF wings
    reach = np.where(truth["kind"] == "galaxy",
                     np.nan_to_num(TRUNC_RE * truth["r_e_arcsec"] / req.pixel_scale_arcsec), 0.0)
    reach = reach + 10.0
    out: dict[str, float] = {}
    for kind in ("star", "galaxy"):
        worst, count = 0.0, 0
        for row in truth[truth["kind"] == kind]:
            if kind == "galaxy":
                half = int(math.ceil(TRUNC_RE * row["r_e_arcsec"] / req.pixel_scale_arcsec)) + 8
            else:
                half = 15
            d = np.hypot(xs - row["x"], ys - row["y"]) - reach
            d[row["id"]] = np.inf
            if d.min() < math.sqrt(2) * half:
                continue  # another object's light may reach the box
            near = (d + reach < 60.0) & (truth["flux_obs_e"] > 3.0 * row["flux_obs_e"])
            if near.any():
                continue  # a brighter neighbour's far PSF wings may reach it
            ix, iy = int(round(row["x"])), int(round(row["y"]))
            if ix - half < 0 or iy - half < 0 or ix + half >= req.nx or iy + half >= req.ny:
                continue
            sl = (slice(iy - half, iy + half + 1), slice(ix - half, ix + half + 1))
            a, b = float(fast_e[sl].sum()), float(naive_e[sl].sum())
            worst = max(worst, abs(a - b) / b)
            count += 1
        out[kind] = worst
        out[f"n_{kind}"] = count
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=10, help="fast frames to time")
    ap.add_argument("--naive-frames", type=int, default=2, help="naive GalSim frames to time")
    args = ap.parse_args()

    req = request()
    render_frame(req)  # warm-up: imports, FFT plans, the camera pattern cache
    times, truths = [], []
    for i in range(args.frames):
        r = req.with_(frame_id=f"bench-{i}")  # one camera, new sky content and noise
        t0 = time.perf_counter()
        frame = render_frame(r)
        times.append(time.perf_counter() - t0)
        truths.append(frame.truth)
    fast_ms = 1e3 * statistics.median(times)
    n_obj = int(np.isin(frame.truth["kind"], ("star", "galaxy")).sum())

    naive_times = []
    rng = np.random.default_rng(0)
    for i in range(args.naive_frames):
        t0 = time.perf_counter()
        naive_frame(req, truths[i % len(truths)], rng)  # the same frames the fast one drew
        naive_times.append(time.perf_counter() - t0)
    naive_ms = 1e3 * statistics.median(naive_times)

    clean = request(noise=False)
    cf = render_frame(clean)
    fast_e = (cf.image - clean.bias_adu) * clean.gain_e_per_adu - clean.sky_level_e \
        - clean.dark_e_per_s * clean.exptime_s
    naive_e = naive_sources(clean, cf.truth)
    errs = flux_errors(clean, fast_e, naive_e, cf.truth)

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"single thread; numpy {np.__version__}, galsim {galsim.__version__}")
    print(f"objects per frame: {n_obj} (500 stars, 100 galaxies), 1024x1024")
    print(f"fast renderer:   {fast_ms:8.1f} ms/frame (median of {args.frames}; "
          f"min {1e3 * min(times):.1f}, max {1e3 * max(times):.1f})")
    print(f"naive GalSim:    {naive_ms:8.1f} ms/frame (median of {args.naive_frames})")
    print(f"speed-up:        {naive_ms / fast_ms:8.1f}x")
    print(f"max flux error:  stars {errs['star']:.4%} ({errs['n_star']} isolated), "
          f"galaxies {errs['galaxy']:.4%} ({errs['n_galaxy']} isolated)")
    print(json.dumps(dict(
        ms_per_frame=round(fast_ms, 2), galsim_naive_ms_per_frame=round(naive_ms, 1),
        speedup_vs_galsim=round(naive_ms / fast_ms, 1),
        max_flux_error=round(max(errs["star"], errs["galaxy"]), 6),
        max_flux_error_stars=round(errs["star"], 6),
        max_flux_error_galaxies=round(errs["galaxy"], 6),
        n_isolated_stars=errs["n_star"], n_isolated_galaxies=errs["n_galaxy"],
        frames=args.frames, naive_frames=args.naive_frames, nx=1024, ny=1024,
        n_stars=500, n_galaxies=100)))


if __name__ == "__main__":
    main()
