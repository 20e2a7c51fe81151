"""Real/bogus data sets made by the twin: references, subtractions, candidates, truth labels.

Units: images ADU; positions 0-based pixels; seeing arcsec; pixel scales
arcsec/pixel; magnitudes in the frame's band.

Field ``i`` of a data set with seed ``S`` (generator ``SeedSequence([S, i, 11])``):

* a site profile (camera gain, noise, bias, hot pixels, band) with a pixel
  scale drawn from 0.2-1.2 arcsec/pixel whatever the site's, so the PSF spans
  ~1.5-8 pixels (real surveys span this too: Rubin's 0.2"/pixel, ZTF's 1");
* a reference: the median stack of three good-seeing frames of the field, in
  which 1-6 catalogue stars (and 0-2 galaxy nuclei) are brighter than at the
  science epochs (real fadings: negative in the difference);
* two science epochs with their own seeing (0.6-2.6 arcsec), transparency,
  sky, exposure time (hot pixels then fail to subtract), many cosmic rays,
  sometimes a pointing error of 0.1-0.7 pixel (dipoles), an elongated PSF,
  a bright star, a satellite trail; real brightenings: 3-8 supernovae at
  random places (a third beside galaxies), 2-8 catalogue stars brightened
  (variables and flares: from a 1% change of a bright star to a 2.5x flare of
  a faint one) and 0-3 nuclear transients on galaxy cores; every change from
  3.5 mag above to 0.3 mag below the frame's 5-sigma limit;
* Alard-Lupton subtraction, candidates at 5 sigma of the local noise
  (:func:`~skytwin.agents.detection.candidates.noise_ratio_map`) in the
  difference and in its negative; a candidate is *real* when a change of its
  sign (brightening for positive, fading for negative) lies within
  ``max(2, 0.6 FWHM)`` pixels of it, otherwise *bogus* (its likely cause is
  recorded: cosmic ray, near a bright star, misaligned frame, other); a
  candidate near a change of the other sign only (a fading star's positive
  lobe) is ambiguous and left out. A change near a candidate that it cannot
  explain (the candidate over ``EXPLAINS`` times the change's expected SNR,
  against the same local noise: a faint supernova under a saturated star's
  bleed) also leaves it out, as does a change on a satellite or aircraft
  trail (within ``TRAIL_REACH`` FWHM + 3 pixels of its line: the trail's
  light is in the candidate). ``sign`` records +1 or -1.

Real Rubin alerts motivated the stars and nuclei: most of Rubin's confident
reals are flux changes of sources already in the template, half of them
fadings, so "a source in the reference" must not mean "bogus".

Cutouts are stored ``35 x 35`` so training can jitter the centre by up to two
pixels before cropping to 31. Splits: held-out sites -> ``heldout``; others
by a hash of ``(seed, field)``, as for the quality data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from skytwin.agents.detection.candidates import cutouts, detect_candidates, noise_ratio_map
from skytwin.agents.detection.subtract import stack_reference, subtract
from skytwin.agents.preprocess import DARK_SKY_MAG
from skytwin.errors import SkytwinError
from skytwin.training.datasets import _map, split_of
from skytwin.training.sites import SITES
from skytwin.twin.frames import RenderRequest, Transient, limiting_mag, render_frame
from skytwin.twin.frames.request import zeropoint_e_per_s
from skytwin.twin.frames.wcs import pixel_to_sky

FIELD_SIZE = 256  # detection frames are FIELD_SIZE x FIELD_SIZE pixels
STORE = 35  # stored cutout side (pixels)
EXPLAINS = 3.0  # a real candidate's SNR is at most this times its change's expected SNR
TRAIL_REACH = 1.5  # a candidate within this many FWHM (+ 3 pixels) of a trail is on it
CAUSES = ("real", "cosmic_ray", "bright_star", "misaligned", "other")
MJD = 60676.0  # 2025-01-01, the date of every frame


def _field(seed: int, index: int, site_names: Sequence[str]) -> dict[str, Any]:
    rng = np.random.default_rng([seed, index, 11])
    sites = [s for s in SITES if s.name in site_names]
    s = sites[index % len(sites)]
    band = str(rng.choice(s.band))
    scale = float(rng.uniform(0.2, 1.2))
    return dict(rng=rng, site=s, base=dict(
        ra_deg=float(rng.uniform(0, 360)), dec_deg=math.degrees(math.asin(rng.uniform(-0.9, 0.95))),
        nx=FIELD_SIZE, ny=FIELD_SIZE, pixel_scale_arcsec=scale, band=band,
        zeropoint_e_per_s=zeropoint_e_per_s(s.aperture_m, band, 0.6),
        star_density=float(math.exp(rng.uniform(math.log(2.0), math.log(15.0)))),
        galaxy_density=float(rng.uniform(1.0, 4.0)),
        gain_e_per_adu=s.gain_e_per_adu, read_noise_e=s.read_noise_e, bias_adu=s.bias_adu,
        hot_pixel_fraction=s.hot_pixel_fraction * float(rng.uniform(1, 5)),
        site=s.name, telescope=f"{s.name}-t1", seed=seed,
        sky_mag_arcsec2=DARK_SKY_MAG[band] - s.light_pollution_mag - float(rng.uniform(0, 1.5)),
        date_obs="2025-01-01T00:00:00", optics_fwhm_arcsec=float(rng.uniform(0.2, 0.5)),
    ), exptime=float(rng.choice(s.exptime_s)))


def field_candidates(args: tuple[int, int, tuple[str, ...]]) -> dict[str, NDArray] | None:
    """All candidates of one field's science epochs (a picklable worker function).

    On the renderer's edge-stamp ValueError (see
    :func:`skytwin.training.datasets.render_safe`), or an image the pipeline
    cannot use (all NaN), the field moves 0.1 deg; after three tries it is
    skipped (None).
    """
    for k in range(3):
        try:
            return _field_candidates(*args, ra_shift=0.1 * k)
        except (ValueError, SkytwinError):
            pass
    return None  # a field the renderer cannot draw: skipped


def _sky(x: float, y: float, base: dict[str, Any]) -> tuple[float, float]:
    ra, dec = pixel_to_sky(x, y, base["ra_deg"], base["dec_deg"], base["pixel_scale_arcsec"],
                           0.0, FIELD_SIZE, FIELD_SIZE)
    return float(ra), float(dec)


def _on_stars(rng: np.random.Generator, stars: NDArray, n: int, lim: float, tag: str
              ) -> list[Transient]:
    """``n`` flux changes of catalogue stars, each a point source at the star's position.

    The change's magnitude ``m_d`` is drawn as for supernovae (3.5 mag above
    to 0.3 mag below the limit); the star is one of those from 5 mag brighter
    than ``m_d`` (a 1% change) to 1 mag fainter (a 2.5x flare), any star when
    none is.
    """
    out: list[Transient] = []
    for k in range(n if len(stars) else 0):
        md = float(rng.uniform(lim - 3.5, lim + 0.3))
        ok = np.flatnonzero((stars["mag"] > md - 5.0) & (stars["mag"] < md + 1.0))
        s = stars[int(rng.choice(ok)) if len(ok) else int(rng.integers(len(stars)))]
        out.append(Transient("variable", md, MJD, ra_deg=float(s["ra"]), dec_deg=float(s["dec"]),
                             amplitude_mag=0.0, name=f"{tag}{k}"))
    return out


def _label(c_x: NDArray, c_y: NDArray, c_snr: NDArray, same: NDArray, same_snr: NDArray,
           other: NDArray, rad: float, on_trail: NDArray[np.bool_]
           ) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """(real, ambiguous) per candidate (see the module docstring).

    Real: a change of the candidate's sign within ``rad`` that explains its
    signal (the candidate's SNR at most ``EXPLAINS`` times the change's
    expected SNR ``same_snr``), off any trail. Ambiguous: a change of its
    sign that does not explain it (a faint supernova under a bright star's
    residual) or that lies on a satellite or aircraft trail (``on_trail``:
    the trail's light is in the candidate whatever the change's), or only a
    change of the other sign near (a fading star's positive lobe).
    """
    def nearest(t: NDArray) -> tuple[NDArray[np.bool_], NDArray[np.intp]]:
        if not len(t):
            return np.zeros(len(c_x), bool), np.zeros(len(c_x), np.intp)
        d = np.hypot(t["x"][None] - c_x[:, None], t["y"][None] - c_y[:, None])
        return d.min(1) <= rad, d.argmin(1)
    near, j = nearest(same)
    explained = c_snr <= EXPLAINS * same_snr[j] if len(same) else near
    real = near & explained & ~on_trail
    return real, (near & ~real) | (~near & nearest(other)[0])


def _expected_snr(mag: NDArray, e_per_flux: float, gain: float, noise: float, fwhm: float
                  ) -> NDArray[np.float64]:
    """Matched-filter SNR of a Gaussian point source of magnitude ``mag`` in a difference
    of pixel noise ``noise`` (ADU): ``F / (2 sqrt(pi) sigma_psf noise)``."""
    flux_adu = e_per_flux * 10 ** (-0.4 * np.asarray(mag, np.float64)) / gain
    return flux_adu / (2 * math.sqrt(math.pi) * max(fwhm / 2.3548, 0.5) * max(noise, 1e-9))


def _trail_distance(x: NDArray, y: NDArray, trails: NDArray) -> NDArray[np.float64]:
    """Distance (pixels) of each point to the nearest trail line (inf without trails)."""
    if not len(trails):
        return np.full(len(x), np.inf)
    x0, y0, x1, y1 = (trails[k][None] for k in ("x", "y", "x_end", "y_end"))
    dx, dy = x1 - x0, y1 - y0
    d = np.abs(dy * (x[:, None] - x0) - dx * (y[:, None] - y0)) / np.hypot(dx, dy)
    return d.min(axis=1)


def _at(image: NDArray, t: NDArray) -> NDArray[np.float32]:
    """``image`` at the truth positions ``t`` (nearest pixel, clipped to the frame)."""
    ny, nx = image.shape
    x = np.clip(np.rint(t["x"]).astype(int), 0, nx - 1)
    y = np.clip(np.rint(t["y"]).astype(int), 0, ny - 1)
    return image[y, x]


def _field_candidates(seed: int, index: int, site_names: tuple[str, ...], ra_shift: float
                      ) -> dict[str, NDArray]:
    f = _field(seed, index, site_names)
    rng, base, exptime = f["rng"], f["base"], f["exptime"]
    base["ra_deg"] = (base["ra_deg"] + ra_shift) % 360.0
    fid = f"d{seed}-{index}"
    ref_seeing = [float(rng.uniform(0.6, 1.3)) for _ in range(3)]
    probe = render_frame(RenderRequest(**base, exptime_s=exptime, seeing_arcsec=ref_seeing[0],
                                       frame_id=f"{fid}-r0"))
    truth0 = probe.truth
    inside = (truth0["x"] >= 0) & (truth0["x"] < FIELD_SIZE) & (truth0["y"] >= 0) & (
        truth0["y"] < FIELD_SIZE)
    gal = truth0[(truth0["kind"] == "galaxy") & inside]
    stars = truth0[(truth0["kind"] == "star") & inside]
    # fading: stars (and a few galaxy nuclei) brighter at the reference epochs
    # limit of a typical science epoch (1.6" seeing), where the fading must show
    lim_ref = limiting_mag(RenderRequest(**base, exptime_s=exptime, seeing_arcsec=1.6),
                           math.hypot(1.6, base["optics_fwhm_arcsec"]))
    fading = _on_stars(rng, stars, int(rng.integers(1, 7)), lim_ref, "fade")
    for k in range(int(rng.integers(0, 3)) if len(gal) else 0):
        g = gal[int(rng.integers(len(gal)))]
        fading.append(Transient("sn", float(rng.uniform(lim_ref - 3.5, lim_ref + 0.3)), MJD,
                                ra_deg=float(g["ra"]), dec_deg=float(g["dec"]),
                                name=f"fadenuc{k}"))
    refs = [render_frame(RenderRequest(**base, exptime_s=exptime, seeing_arcsec=ref_seeing[k],
                                       frame_id=f"{fid}-r{k}", transients=tuple(fading)))
            for k in range(3)]
    ref = stack_reference([r.image for r in refs])
    rt = refs[0].truth
    faded = rt[np.isin(rt["kind"], ("sn", "variable"))]
    out: dict[str, list] = {k: [] for k in ("cutouts", "label", "cause", "snr", "features",
                                            "fwhm_pix", "scale", "sign")}
    for e in range(2):
        seeing = float(rng.uniform(0.6, 2.6))
        p = dict(base, exptime_s=exptime * float(rng.choice([1.0, 1.0, 0.5, 2.0])),
                 seeing_arcsec=seeing, transparency=float(rng.uniform(0.6, 1.0)),
                 sky_mag_arcsec2=base["sky_mag_arcsec2"] - float(rng.uniform(-0.3, 1.5)),
                 cosmic_ray_rate=float(rng.uniform(0.02, 0.3)), frame_id=f"{fid}-s{e}")
        misaligned = rng.uniform() < 0.3
        if misaligned:
            shift = float(rng.uniform(0.1, 0.7)) * base["pixel_scale_arcsec"] / 3600.0
            th = rng.uniform(0, 2 * math.pi)
            p["dec_deg"] = base["dec_deg"] + shift * math.sin(th)
            p["ra_deg"] = base["ra_deg"] + shift * math.cos(th) / math.cos(
                math.radians(base["dec_deg"]))
        if rng.uniform() < 0.2:
            p["ellipticity"] = float(rng.uniform(0.05, 0.3))
            p["ellipticity_pa_deg"] = float(rng.uniform(0, 180))
        if rng.uniform() < 0.2:
            p["bright_star_mag"] = float(rng.uniform(6, 11))
        if rng.uniform() < 0.1:
            area = (FIELD_SIZE * base["pixel_scale_arcsec"] / 3600) ** 2
            p["satellite_rate"] = 1.0 / (area * p["exptime_s"] / 3600)
        req = RenderRequest(**p)
        lim = limiting_mag(req, math.hypot(seeing, base["optics_fwhm_arcsec"]))
        scale_deg = base["pixel_scale_arcsec"] / 3600.0
        # brightenings: supernovae (a third beside galaxies), stars, galaxy nuclei
        trs = []
        for k in range(int(rng.integers(3, 9))):
            if len(gal) and rng.uniform() < 0.33:
                g = gal[int(rng.integers(len(gal)))]
                ra = float(g["ra"]) + rng.normal(0, 1.5) * scale_deg
                dec = float(g["dec"]) + rng.normal(0, 1.5) * scale_deg
            else:
                ra, dec = _sky(*rng.uniform(-5, FIELD_SIZE + 5, 2), base)
            trs.append(Transient("sn", float(rng.uniform(lim - 3.5, lim + 0.3)), MJD + 0.01,
                                 ra_deg=ra, dec_deg=dec, name=f"sn{k}"))
        trs += _on_stars(rng, stars, int(rng.integers(2, 9)), lim, "var")
        for k in range(int(rng.integers(0, 4)) if len(gal) else 0):
            g = gal[int(rng.integers(len(gal)))]
            trs.append(Transient("sn", float(rng.uniform(lim - 3.5, lim + 0.3)), MJD + 0.01,
                                 ra_deg=float(g["ra"]) + rng.normal(0, 0.2) * scale_deg,
                                 dec_deg=float(g["dec"]) + rng.normal(0, 0.2) * scale_deg,
                                 name=f"nuc{k}"))
        sci = render_frame(req.with_(transients=tuple(trs)))
        # the level found from the clipped pixels, as DetectionModel.detect does by default
        # (np.inf let saturated stars into the kernel fit: a spoiled difference of bogus stars)
        sub = subtract(sci.image, ref, None)
        fwhm = sub.fwhm_science if math.isfinite(sub.fwhm_science) else \
            seeing / base["pixel_scale_arcsec"]
        fw = max(fwhm, sub.fwhm_reference if math.isfinite(sub.fwhm_reference) else 0)
        t = sci.truth
        names = np.char.rstrip(t["name"].astype(str), "0123456789")
        bright_tr = t[np.isin(names, ("sn", "var", "nuc"))]
        cr = t[t["kind"] == "cosmic_ray"]
        trails = t[np.isin(t["kind"], ("satellite", "aircraft"))]
        bright = t[(t["kind"] == "star") | (t["kind"] == "bright_star")]
        bright = bright[bright["flux_obs_e"] > 200 * max(sub.noise * base["gain_e_per_adu"], 1)]
        rad = max(2.0, 0.6 * fw)
        st = t[(t["kind"] == "star") & (t["flux_obs_e"] > 0)]
        e_per_flux = float(np.median(st["flux_obs_e"] / 10 ** (-0.4 * st["mag"]))) if len(st) \
            else 0.0
        ratio = noise_ratio_map(sub.difference, sub.template, fw)
        snr_of = {id(a): _expected_snr(a["mag"], e_per_flux, base["gain_e_per_adu"], sub.noise,
                                       fw) / _at(ratio, a) for a in (bright_tr, faded)}
        for sign, same, other in ((1, bright_tr, faded), (-1, faded, bright_tr)):
            c = detect_candidates(sign * sub.difference, sub.noise, fw, 5.0, max_candidates=60,
                                  noise_ratio=ratio)
            if not len(c):
                continue
            on_trail = _trail_distance(c.x.astype(float), c.y.astype(float),
                                       trails) <= TRAIL_REACH * fw + 3.0
            real, ambiguous = _label(c.x.astype(float), c.y.astype(float), c.snr, same,
                                     snr_of[id(same)], other, rad, on_trail)
            keep = np.flatnonzero(~ambiguous)
            for j in keep:
                x, y = float(c.x[j]), float(c.y[j])
                if real[j]:
                    cause = "real"
                elif len(cr) and np.hypot(cr["x"] - x, cr["y"] - y).min() <= 4:
                    cause = "cosmic_ray"
                elif len(bright) and np.hypot(bright["x"] - x, bright["y"] - y).min() <= 3 * fw:
                    cause = "bright_star"
                elif misaligned:
                    cause = "misaligned"
                else:
                    cause = "other"
                out["cause"].append(CAUSES.index(cause))
                out["label"].append(int(cause == "real"))
            out["cutouts"].append(cutouts(sci.image, ref, sub.difference, c.x[keep], c.y[keep],
                                          STORE))
            out["snr"].append(c.snr[keep])
            feats = c.features[keep]
            out["features"].append(feats)
            out["fwhm_pix"] += [fw] * len(keep)
            out["scale"] += [base["pixel_scale_arcsec"]] * len(keep)
            out["sign"] += [sign] * len(keep)
    n = len(out["label"])
    split = split_of(seed, index, f["site"].name)
    return dict(
        cutouts=np.concatenate(out["cutouts"]) if n else np.zeros((0, 3, STORE, STORE),
                                                                     np.float32),
        label=np.array(out["label"], np.int64), cause=np.array(out["cause"], np.int64),
        snr=np.concatenate(out["snr"]) if n else np.zeros(0, np.float32),
        features=np.concatenate(out["features"]) if n else np.zeros((0, 5), np.float32),
        fwhm_pix=np.array(out["fwhm_pix"], np.float32), scale=np.array(out["scale"], np.float32),
        sign=np.array(out["sign"], np.int8),
        site=np.array([f["site"].name] * n), split=np.array([split] * n),
        field=np.full(n, index, np.int64),
    )


def make_detection_dataset(n_fields: int, seed: int, sites: Sequence[str] | None = None,
                           workers: int = 2, progress: Callable[[int], None] | None = None
                           ) -> dict[str, NDArray]:
    """Candidates of ``n_fields`` fields (two science epochs each), concatenated."""
    names = tuple(sites) if sites else tuple(s.name for s in SITES)
    parts = [p for p in _map(field_candidates, [(seed, i, names) for i in range(n_fields)],
                             workers, progress) if p is not None and len(p["label"])]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
