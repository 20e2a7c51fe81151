"""The fast pixel renderer: one ``RenderRequest`` in, one ``RenderedFrame`` out.

Units: images in electrons until readout, then ADU (float32); fluxes in
electrons per exposure (``_e``); positions 0-based pixels; angles degrees.

Speed comes from drawing the PSF once per frame (see :mod:`.psf`):

* stars and other point sources: a bilinear blend of the four nearest
  pre-drawn sub-pixel phases of the pixel-convolved PSF, scaled and added;
* galaxies: truncated Sersic profiles integrated over pixels in numpy (the
  central 4x4 pixels on an 8x8 sub-grid), grouped by stamp size and convolved
  with the pixel-free PSF kernel in one batched FFT per group;
* noise: one float32 Gaussian draw per pixel (see :mod:`.detector`).

A source's flux is ``zp * 10**(-0.4 mag) * exptime`` electrons above the
atmosphere, times the cloud screen at its position, times ``1 - haze``
(the rest goes to the haze halo); each stamp is normalised, so the frame holds
exactly that flux (PSF wings beyond ~4 FWHM are cut).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.fft
from numpy.typing import NDArray

from skytwin.twin.frames import artifacts, catalog as cat_mod, detector, sky
from skytwin.twin.frames.psf import PSFModel, build_psf, point_stamps
from skytwin.twin.frames.quality import QualityInputs, quality_label
from skytwin.twin.frames.request import DARK_SKY_MAG, RenderRequest
from skytwin.twin.frames.transients import iso_to_mjd, light_curve
from skytwin.twin.frames.wcs import pixel_to_sky, sky_to_pixel

MAG_LIMIT_CAP = 25.0  # faintest magnitude ever drawn
MAG_LIMIT_MARGIN = 1.5  # draw this much below the frame's 5-sigma limit (mag)
GALAXY_STAMPS = (16, 24, 32, 48, 64, 96, 128, 192, 256)  # stamp sides (pixels)
CORE_SUB = 8  # sub-samples per pixel side in a galaxy's central 4x4 pixels
PSF_ZONES = 3  # radial PSF zones when field_curvature > 0

TRUTH_DTYPE = np.dtype([
    ("id", "i4"), ("kind", "U12"), ("name", "U16"), ("ra", "f8"), ("dec", "f8"),
    ("x", "f8"), ("y", "f8"), ("mag", "f8"), ("flux_e", "f8"), ("transmission", "f8"),
    ("flux_obs_e", "f8"), ("psf_fwhm_arcsec", "f8"), ("sersic_n", "f8"),
    ("r_e_arcsec", "f8"), ("q", "f8"), ("pa_deg", "f8"), ("lc_state", "U12"),
    ("lc_phase", "f8"), ("mag_peak", "f8"), ("x_end", "f8"), ("y_end", "f8"),
])


@dataclass
class RenderedFrame:
    """A rendered frame.

    ``image`` float32 ADU ``(ny, nx)``; ``truth`` a structured array
    (:data:`TRUTH_DTYPE`: ``x``/``y`` 0-based pixels, ``flux_e`` electrons
    above the atmosphere, ``flux_obs_e`` electrons on the frame); ``header`` a
    dict of FITS keywords (WCS included); ``quality``/``reason`` the label;
    ``conditions`` the physical truth values behind it.
    """

    image: NDArray[np.float32]
    truth: NDArray[Any]
    header: dict[str, Any]
    quality: str
    reason: str
    conditions: dict[str, float] = field(default_factory=dict)


def limiting_mag(req: RenderRequest, fwhm_arcsec: float) -> float:
    """5-sigma point-source magnitude of the frame (noise-equivalent area 2.27 FWHM^2)."""
    nea = 2.266 * (fwhm_arcsec / req.pixel_scale_arcsec) ** 2
    var_pix = req.sky_level_e + req.dark_e_per_s * req.exptime_s + req.read_noise_e ** 2
    f = 12.5 * (1.0 + math.sqrt(1.0 + 4.0 * nea * var_pix / 25.0))  # F^2 = 25 (F + nea var)
    denom = req.zeropoint_e_per_s * req.exptime_s * max(req.transparency, 1e-3)
    return -2.5 * math.log10(f / max(denom, 1e-30))


def _rngs(req: RenderRequest) -> dict[str, np.random.Generator]:
    key = detector.name_key("frame", req.frame_id, req.site, req.telescope, req.date_obs)
    names = ("clouds", "noise", "cosmic", "trails", "catalog", "field")
    seqs = np.random.SeedSequence([req.seed, key]).spawn(len(names))
    out = {n: np.random.default_rng(s) for n, s in zip(names, seqs)}
    cell = (int(math.floor((req.dec_deg + 90) / cat_mod.CELL_DEG)),
            int(math.floor(req.ra_deg / cat_mod.CELL_DEG)))
    out["field"] = np.random.default_rng([req.seed, detector.name_key("field"), *cell])
    return out


def _add_stamps(img: NDArray[np.float32], stamps: NDArray[np.float32], ix: NDArray[np.intp],
                iy: NDArray[np.intp], centre: int) -> None:
    """Add stamps whose centre pixel ``centre`` goes to ``(iy, ix)`` of the padded image."""
    s = stamps.shape[-1]
    ny, nx = img.shape
    for k in range(stamps.shape[0]):
        y0, x0 = iy[k] - centre, ix[k] - centre
        if 0 <= y0 and 0 <= x0 and y0 + s <= ny and x0 + s <= nx:
            img[y0:y0 + s, x0:x0 + s] += stamps[k]
            continue
        # a large (galaxy) stamp reaching past the padded image: add the part inside
        ya, xa = max(y0, 0), max(x0, 0)
        yb, xb = min(y0 + s, ny), min(x0 + s, nx)
        if ya < yb and xa < xb:
            img[ya:yb, xa:xb] += stamps[k, ya - y0:yb - y0, xa - x0:xb - x0]


def _sersic_bn(n: NDArray[np.float64]) -> NDArray[np.float64]:
    """b_n with I(r_e) enclosing half the light (Ciotti & Bertin 1999)."""
    return 2 * n - 1 / 3 + 4 / (405 * n) + 46 / (25515 * n ** 2)


def galaxy_stamps(dx: NDArray, dy: NDArray, n: NDArray, r0_pix: NDArray, q: NDArray,
                  theta: NDArray, trunc_pix: NDArray, g: int) -> NDArray[np.float32]:
    """Unit-flux truncated Sersic stamps ``(N, g, g)``, integrated over pixels.

    ``exp(-(r / r0)^(1/n))`` in the elliptical radius ``r^2 = q u^2 + v^2 / q``
    (area-preserving, as GalSim's shear), major axis at ``theta`` (radians from
    +x towards +y), centred ``(dx, dy)`` pixels from stamp index ``g // 2``.
    """
    c = g // 2
    coords = np.arange(g, dtype=np.float32) - c

    def prof(xx: NDArray, yy: NDArray, sl: tuple) -> NDArray:
        ct, st = np.cos(theta)[sl], np.sin(theta)[sl]
        u = xx * ct + yy * st
        v = -xx * st + yy * ct
        qq = q[sl]
        r = np.sqrt(qq * u * u + v * v / qq) / r0_pix[sl]
        val = np.exp(-(r ** (1.0 / n[sl])))
        return np.where(r * r0_pix[sl] <= trunc_pix[sl], val, 0.0)

    sl3 = (slice(None), None, None)
    xx = coords[None, None, :] - dx[sl3].astype(np.float32)
    yy = coords[None, :, None] - dy[sl3].astype(np.float32)
    img = prof(xx, yy, sl3)
    sub = (np.arange(4 * CORE_SUB, dtype=np.float32) + 0.5) / CORE_SUB - 2.5  # -2.5..+1.5 px
    sx = sub[None, None, :] - dx[sl3].astype(np.float32)
    sy = sub[None, :, None] - dy[sl3].astype(np.float32)
    core = prof(sx, sy, sl3).reshape(-1, 4, CORE_SUB, 4, CORE_SUB).mean(axis=(2, 4))
    img[:, c - 2:c + 2, c - 2:c + 2] = core
    tot = img.sum(axis=(1, 2))
    return (img / np.where(tot > 0, tot, 1.0)[sl3]).astype(np.float32)


def _convolve(stamps: NDArray[np.float32], kernel: NDArray[np.float32]) -> NDArray[np.float32]:
    """Convolve a batch of stamps with a kernel centred at ``S // 2``; same size out."""
    g, s = stamps.shape[-1], kernel.shape[-1]
    m = scipy.fft.next_fast_len(g + s - 1, real=True)
    fs = scipy.fft.rfft2(stamps, s=(m, m), workers=1)
    fk = scipy.fft.rfft2(kernel, s=(m, m), workers=1)
    full = scipy.fft.irfft2(fs * fk, s=(m, m), workers=1)
    h = s // 2
    return full[:, h:h + g, h:h + g].astype(np.float32)


def _psf_zones(req: RenderRequest) -> tuple[list[PSFModel], NDArray[np.float64]]:
    """One PSF, or PSF_ZONES radial zones (edges in units of the corner radius)."""
    if req.field_curvature <= 0:
        return [build_psf(req)], np.array([math.inf])
    edges = np.linspace(0, 1, PSF_ZONES + 1)[1:]
    mids = edges - 0.5 / PSF_ZONES
    return [build_psf(req, 1.0 + req.field_curvature * m * m) for m in mids], edges


def render_sources(req: RenderRequest, xs: NDArray, ys: NDArray, flux: NDArray,
                   is_gal: NDArray[np.bool_], gal: dict[str, NDArray], psfs: list[PSFModel],
                   zone: NDArray[np.intp]) -> NDArray[np.float32]:
    """Noise-free electron image of point sources and galaxies (no sky)."""
    s_max = max(p.stamp for p in psfs)
    pad = max(s_max, GALAXY_STAMPS[-1]) // 2 + 2
    img = np.zeros((req.ny + 2 * pad, req.nx + 2 * pad), dtype=np.float32)
    ix = np.floor(xs).astype(np.intp)
    iy = np.floor(ys).astype(np.intp)
    inside = (ix >= -pad + s_max) & (ix < req.nx + pad - s_max) & \
             (iy >= -pad + s_max) & (iy < req.ny + pad - s_max) & (flux > 0)
    for zi, p in enumerate(psfs):
        sel = np.flatnonzero(inside & ~is_gal & (zone == zi))
        if sel.size:
            st = point_stamps(p, xs[sel] - ix[sel], ys[sel] - iy[sel])
            st *= flux[sel, None, None].astype(np.float32)
            _add_stamps(img, st, ix[sel] + pad, iy[sel] + pad, p.stamp // 2)
    gsel = np.flatnonzero(inside & is_gal)
    if gsel.size:
        scale = req.pixel_scale_arcsec
        n = gal["sersic_n"][gsel]
        re_pix = gal["r_e_arcsec"][gsel] / scale
        trunc = np.minimum(cat_mod.TRUNC_RE * re_pix, GALAXY_STAMPS[-1] / 2 - s_max / 2 - 2)
        r0 = re_pix / _sersic_bn(n) ** n
        theta = np.radians(gal["theta_deg"][gsel])
        gx, gy = np.rint(xs[gsel]).astype(np.intp), np.rint(ys[gsel]).astype(np.intp)
        need = 2 * trunc + s_max + 2
        bucket = np.searchsorted(np.array(GALAXY_STAMPS), need)
        bucket = np.minimum(bucket, len(GALAXY_STAMPS) - 1)
        for b in np.unique(bucket):
            g = GALAXY_STAMPS[b]
            for zi, p in enumerate(psfs):
                k = np.flatnonzero((bucket == b) & (zone[gsel] == zi))
                if not k.size:
                    continue
                st = galaxy_stamps(xs[gsel][k] - gx[k], ys[gsel][k] - gy[k], n[k], r0[k],
                                   gal["q"][gsel][k], theta[k], trunc[k], g)
                st = _convolve(st, p.kernel)
                st *= flux[gsel][k, None, None].astype(np.float32)
                _add_stamps(img, st, gx[k] + pad, gy[k] + pad, g // 2)
    return img[pad:pad + req.ny, pad:pad + req.nx]


def _mag_limit(req: RenderRequest, fwhm_arcsec: float) -> float:
    """Faintest magnitude drawn: the request's, or a margin below the frame's 5-sigma limit."""
    return req.mag_limit if math.isfinite(req.mag_limit) else min(
        MAG_LIMIT_CAP, limiting_mag(req, fwhm_arcsec) + MAG_LIMIT_MARGIN)


def _catalog(req: RenderRequest, fwhm_arcsec: float, rng: np.random.Generator
             ) -> cat_mod.SkyCatalog:
    """The stars and galaxies ``render_frame`` draws for ``req`` (PSF FWHM ``fwhm_arcsec``)."""
    mag_lim = _mag_limit(req, fwhm_arcsec)
    if req.n_stars >= 0 or req.n_galaxies >= 0:
        return cat_mod.fixed_catalog(req, max(req.n_stars, 0), max(req.n_galaxies, 0), mag_lim,
                                     rng)
    return cat_mod.field_catalog(req, mag_lim)


def frame_catalog(req: RenderRequest) -> cat_mod.SkyCatalog:
    """The sky content :func:`render_frame` draws for ``req``: pass it as ``catalog`` to
    render another frame of the same field with the same sources (a reference)."""
    return _catalog(req, _psf_zones(req)[0][0].fwhm_arcsec, _rngs(req)["catalog"])


def render_frame(req: RenderRequest, catalog: cat_mod.SkyCatalog | None = None) -> RenderedFrame:
    """Render one frame (see the module docstring); ``catalog`` overrides the sky content."""
    from skytwin.twin.frames.header import frame_header  # local: header imports this module

    rngs = _rngs(req)
    psfs, zone_edges = _psf_zones(req)
    mag_lim = _mag_limit(req, psfs[0].fwhm_arcsec)
    if catalog is None:
        catalog = _catalog(req, psfs[0].fwhm_arcsec, rngs["catalog"])
    kinds = np.where(catalog.kind == cat_mod.KIND_GALAXY, "galaxy", "star").tolist()
    ras, decs, mags = list(catalog.ra_deg), list(catalog.dec_deg), list(catalog.mag)
    gal_cols = {k: list(getattr(catalog, k)) for k in ("sersic_n", "r_e_arcsec", "q", "pa_deg")}
    extra: list[dict[str, Any]] = []
    if math.isfinite(req.bright_star_mag):
        bx, by = rngs["field"].uniform(-0.1, 1.1, 2) * (req.nx, req.ny)
        bra, bdec = pixel_to_sky(bx, by, req.ra_deg, req.dec_deg, req.pixel_scale_arcsec,
                                 req.rotation_deg, req.nx, req.ny)
        extra.append(dict(kind="bright_star", ra=float(bra), dec=float(bdec),
                          mag=req.bright_star_mag))
    t_mid = iso_to_mjd(req.date_obs) + 0.5 * req.exptime_s / 86400.0
    gal_idx = np.flatnonzero(catalog.kind == cat_mod.KIND_GALAXY)
    for i, tr in enumerate(req.transients):
        ra, dec = tr.ra_deg, tr.dec_deg
        host = -1
        if tr.kind == "sn" and not math.isfinite(ra):
            gx_, gy_ = sky_to_pixel(catalog.ra_deg[gal_idx], catalog.dec_deg[gal_idx],
                                    req.ra_deg, req.dec_deg, req.pixel_scale_arcsec,
                                    req.rotation_deg, req.nx, req.ny)
            ok = gal_idx[(gx_ > 0) & (gx_ < req.nx - 1) & (gy_ > 0) & (gy_ < req.ny - 1)]
            if not ok.size:
                continue  # no host on this frame
            host = int(ok[np.argmin(catalog.mag[ok])])
            off = tr.host_offset * catalog.r_e_arcsec[host] / 3600.0
            pa = math.radians(catalog.pa_deg[host])
            dec = catalog.dec_deg[host] + off * math.cos(pa)
            ra = catalog.ra_deg[host] + off * math.sin(pa) / math.cos(math.radians(dec))
        st = light_curve(tr, t_mid, ra, dec)
        extra.append(dict(kind=tr.kind, ra=st.ra_deg, dec=st.dec_deg, mag=st.mag,
                          name=tr.name or f"{tr.kind}{i}", lc_state=st.state,
                          lc_phase=st.phase, mag_peak=tr.mag_peak, tr=tr,
                          host=host))
    for e in extra:
        kinds.append(e["kind"])
        ras.append(e["ra"])
        decs.append(e["dec"])
        mags.append(e["mag"])
        for k in gal_cols:
            gal_cols[k].append(math.nan)
    ra_a, dec_a, mag_a = np.array(ras, float), np.array(decs, float), np.array(mags, float)
    kind_a = np.array(kinds, dtype="U12")
    xs, ys = sky_to_pixel(ra_a, dec_a, req.ra_deg, req.dec_deg, req.pixel_scale_arcsec,
                          req.rotation_deg, req.nx, req.ny)
    xs, ys = np.nan_to_num(xs, nan=-1e9), np.nan_to_num(ys, nan=-1e9)
    clouds = sky.CloudScreen(req, rngs["clouds"])
    trans = clouds(np.clip(xs, 0, req.nx - 1), np.clip(ys, 0, req.ny - 1))
    flux_e = req.zeropoint_e_per_s * req.exptime_s * 10.0 ** (-0.4 * mag_a)
    flux_e = np.where(np.isfinite(flux_e), flux_e, 0.0)
    flux_obs = flux_e * trans
    is_gal = kind_a == "galaxy"
    # sources: asteroids trail during the exposure, drawn as a line of points
    base = flux_obs.copy()
    px, py, pf, pg = [xs], [ys], [base], [is_gal]
    x_end, y_end = np.full(xs.size, np.nan), np.full(xs.size, np.nan)
    for j, e in zip(range(len(catalog), xs.size), extra):
        if e["kind"] != "asteroid":
            continue
        tr = e["tr"]
        st1 = light_curve(tr, t_mid + 0.5 * req.exptime_s / 86400.0, tr.ra_deg, tr.dec_deg)
        st0 = light_curve(tr, t_mid - 0.5 * req.exptime_s / 86400.0, tr.ra_deg, tr.dec_deg)
        (x0, x1), (y0, y1) = sky_to_pixel([st0.ra_deg, st1.ra_deg], [st0.dec_deg, st1.dec_deg],
                                          req.ra_deg, req.dec_deg, req.pixel_scale_arcsec,
                                          req.rotation_deg, req.nx, req.ny)
        k = max(1, int(math.ceil(2 * math.hypot(x1 - x0, y1 - y0))))
        px.append(np.linspace(x0, x1, k))
        py.append(np.linspace(y0, y1, k))
        pf.append(np.full(k, flux_obs[j] / k))
        pg.append(np.zeros(k, bool))
        base[j] = 0.0  # drawn as the trail instead
        x_end[j], y_end[j] = x1, y1
        xs[j], ys[j] = x0, y0
    all_x, all_y = np.concatenate(px), np.concatenate(py)
    all_f, all_g = np.concatenate(pf), np.concatenate(pg)
    rc = math.hypot((req.nx - 1) / 2, (req.ny - 1) / 2)
    rr = np.hypot(all_x - (req.nx - 1) / 2, all_y - (req.ny - 1) / 2) / rc
    zone = np.minimum(np.searchsorted(zone_edges, rr), len(psfs) - 1)
    gal = {k: np.concatenate([np.array(v, float), np.full(all_x.size - len(v), np.nan)])
           for k, v in gal_cols.items()}
    gal["theta_deg"] = 90.0 + gal["pa_deg"] - req.rotation_deg
    src = render_sources(req, all_x, all_y, all_f, all_g, gal, psfs, zone)
    sky.add_haze(src, req.haze)
    for e, j in zip(extra, range(len(catalog), xs.size)):
        if e["kind"] == "bright_star":
            src += sky.bright_star_halo(req, xs[j], ys[j], flux_obs[j])
    if math.isfinite(req.nebula_mag_arcsec2):
        src += sky.nebula_map(req, rngs["field"])
    sigma_pix = psfs[0].fwhm_arcsec / req.pixel_scale_arcsec / 2.3548
    trails = artifacts.sky_trails(req, rngs["trails"], src, sigma_pix)
    pattern = detector.camera_pattern(req)
    src += sky.sky_map(req)
    src *= pattern.flat
    src += detector.dark_map(req, pattern)
    e = detector.add_noise(src, req.read_noise_e, rngs["noise"]) if req.noise else src
    crs = artifacts.cosmic_rays(req, rngs["cosmic"], e) if req.noise else []
    n_sat = detector.bleed(e, req.full_well_e)
    image = detector.readout(e, req)
    zone_src = np.minimum(np.searchsorted(zone_edges, np.hypot(
        xs - (req.nx - 1) / 2, ys - (req.ny - 1) / 2) / rc), len(psfs) - 1)
    truth = np.zeros(xs.size + len(trails) + len(crs), dtype=TRUTH_DTYPE)
    m = xs.size
    truth["id"] = np.arange(truth.size)
    for col in ("lc_phase", "mag_peak", "x_end", "y_end", "sersic_n", "r_e_arcsec", "q",
                "pa_deg", "psf_fwhm_arcsec", "mag", "transmission", "ra", "dec"):
        truth[col] = np.nan
    truth["kind"][:m] = kind_a
    truth["ra"][:m], truth["dec"][:m] = ra_a, dec_a
    truth["x"][:m], truth["y"][:m] = xs, ys
    truth["x_end"][:m], truth["y_end"][:m] = x_end, y_end
    truth["mag"][:m] = mag_a
    truth["flux_e"][:m] = flux_e
    truth["transmission"][:m] = trans
    truth["flux_obs_e"][:m] = flux_obs * (1.0 - req.haze)
    truth["psf_fwhm_arcsec"][:m] = np.array([p.fwhm_arcsec for p in psfs])[zone_src]
    for k in ("sersic_n", "r_e_arcsec", "q", "pa_deg"):
        truth[k][:m] = gal[k][:m]
    for e_, j in zip(extra, range(len(catalog), m)):
        truth["name"][j] = e_.get("name", "")
        truth["lc_state"][j] = e_.get("lc_state", "")
        truth["lc_phase"][j] = e_.get("lc_phase", math.nan)
        truth["mag_peak"][j] = e_.get("mag_peak", math.nan)
    for i, t in enumerate(trails + crs):
        r = truth[m + i]
        r["kind"], r["x"], r["y"], r["x_end"], r["y_end"] = t.kind, t.x0, t.y0, t.x1, t.y1
        r["flux_e"] = t.electrons
    p0 = psfs[0]
    cmap = clouds.map()
    cond = dict(
        fwhm_arcsec=p0.fwhm_arcsec, ellipticity=p0.ellipticity, seeing_arcsec=req.seeing_arcsec,
        defocus_arcsec=req.defocus_arcsec, transparency=float(cmap.mean()),
        transparency_min=float(cmap.min()), sky_mag_arcsec2=_sky_mag(req),
        sky_e_per_pix=req.sky_level_e, dark_sky_mag_arcsec2=DARK_SKY_MAG[req.band],
        n_trails=float(len(trails)), n_cosmic_rays=float(len(crs)),
        saturated_fraction=n_sat / float(req.nx * req.ny), mag_limit=mag_lim,
        haze=req.haze, psf_enclosed=p0.enclosed, moon_illumination=req.moon_illumination,
        moon_sep_deg=req.moon_sep_deg, airmass=req.airmass,
    )
    q_in = QualityInputs(**{k: cond[k] for k in QualityInputs.__slots__})
    label, reason = quality_label(q_in)
    header = frame_header(req, cond, label, reason)
    return RenderedFrame(image, truth, header, label, reason, cond)


def _sky_mag(req: RenderRequest) -> float:
    if math.isfinite(req.sky_e_per_pix):
        per_s = req.sky_e_per_pix / max(req.exptime_s, 1e-9) / req.pixel_scale_arcsec ** 2
        return -2.5 * math.log10(max(per_s, 1e-30) / req.zeropoint_e_per_s)
    return req.sky_mag_arcsec2
