"""The quality model's input, made faster, still gives the numbers of the plain code.

The quality network is trained on these inputs, so a speed-up must not move
them. Each fast helper is checked against a plain implementation kept here
(``np.median``, a reshape-mean (to float32 rounding), scipy's ``binary_fill_holes``, the full complex
Fourier shift, a dense distance matrix, ...), most to the last bit; and the
whole :func:`quality_model_input` against the same pipeline with every plain
helper swapped in, on rendered frames of 256, 512 and 1024 pixels and edge
cases (NaN and inf, saturation, no catalogue, no header, integer pixels, odd
sizes, a constant frame, an all-NaN frame).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import ndimage

import skytwin.agents.preprocess as pre
import skytwin.agents.quality.inputs as inputs
import skytwin.agents.quality.stars as stars_mod
import skytwin.agents.quality.trails as trails_mod
from skytwin.agents.quality import masks
from skytwin.agents.preprocess import PreprocessError, header_value
from skytwin.agents.quality.inputs import quality_model_input
from skytwin.agents.quality.stars import (ISOLATION_DMAG, ISOLATION_PIX, MAX_STARS, PHOT_FLOOR,
                                          STAMP, ReferenceStars)

TOL = 1e-5  # float32 noise: the most any input may move
# the block average adds in another order than the reshape-mean: its float32 rounding (a few
# 1e-7 of the block's level) grows by the stretch's slope near the background
CHANNEL_TOL = 5e-5

# ---------------------------------------------------------------------------------------------
# plain implementations (the code before the speed-up, written the obvious way)


def plain_robust_stats(arr, max_samples: int = 16384):
    step = max(1, int(math.sqrt(arr.size / max_samples)))
    sub = arr[::step, ::step] if arr.ndim == 2 else arr.ravel()[::step * step]
    sub = sub[np.isfinite(sub)]
    if sub.size == 0:
        return math.nan, math.nan
    med = float(np.median(sub))
    sig = 1.4826 * float(np.median(np.abs(sub - med)))
    if not sig > 0:
        sig = float(np.std(sub))
    if not sig > 0:
        sig = 1.0
    return med, sig


def plain_fill_nonfinite(arr, value):
    finite = np.isfinite(arr)
    frac = float(finite.mean()) if arr.size else 0.0
    if frac < 1.0:
        arr = np.where(finite, arr, np.float32(value)).astype(np.float32)
    return arr, frac


def plain_downsample(arr, size):
    ny, nx = arr.shape
    fy, fx = max(1, math.ceil(ny / size)), max(1, math.ceil(nx / size))
    py, px = fy * size - ny, fx * size - nx
    if py > 0 or px > 0:
        arr = np.pad(arr, ((0, max(py, 0)), (0, max(px, 0))), mode="edge")
    arr = arr[:fy * size, :fx * size]
    return arr.reshape(size, fy, size, fx).mean(axis=(1, 3), dtype=np.float32)


_TOP_PERCENTILE = pre._top_percentile


def plain_top_percentile(a, q, floor, top=None):
    return _TOP_PERCENTILE(a, q, floor)  # finds the values above ``floor`` itself


def plain_stamps(arr, ix, iy):
    off = np.arange(-STAMP, STAMP + 1)
    return arr[iy[:, None, None] + off[None, :, None],
               ix[:, None, None] + off[None, None, :]].astype(np.float64)


def plain_select(stars, nx, ny):
    star = np.ones(len(stars), bool) if stars.is_star is None else stars.is_star
    inside = np.flatnonzero(star & (stars.x >= STAMP) & (stars.x < nx - 1 - STAMP)
                            & (stars.y >= STAMP) & (stars.y < ny - 1 - STAMP))
    order = inside[np.argsort(stars.mag[inside])][:4 * MAX_STARS]
    if order.size == 0:
        return order
    near = np.flatnonzero(stars.mag < stars.mag[order].max() + ISOLATION_DMAG)
    dx = stars.x[order, None] - stars.x[None, near]
    dy = stars.y[order, None] - stars.y[None, near]
    close = (dx ** 2 + dy ** 2 < ISOLATION_PIX ** 2) & \
        (stars.mag[None, near] < stars.mag[order, None] + ISOLATION_DMAG)
    close &= order[:, None] != near[None, :]
    return order[~close.any(axis=1)]


def plain_fourier_shift(stamps, fx, fy):
    k = np.fft.fftfreq(stamps.shape[-1])
    fx, fy = np.asarray(fx, float), np.asarray(fy, float)
    ramp = np.exp(2j * np.pi * (fy[:, None, None] * k[None, :, None]
                                + fx[:, None, None] * k[None, None, :]))
    return np.fft.ifft2(np.fft.fft2(stamps) * ramp).real


def plain_upsample(stack, k=stars_mod.UPSAMPLE):
    n = stack.shape[0]
    spec = np.fft.fftshift(np.fft.fft2(stack))
    pad = (k * n - n) // 2
    return np.fft.ifft2(np.fft.ifftshift(np.pad(spec, pad))).real * (k * k)


def plain_half_max_diameter(stack, closing=1):
    peak = float(stack.max())
    if not peak > 0:
        return math.nan
    z = stack / peak
    frac = np.clip((z - 0.5) / 0.5 + 0.5, 0.0, 1.0)
    joined = ndimage.binary_closing(z > 0.5, iterations=closing)
    labels, _ = ndimage.label(joined)
    core = (labels == labels[np.unravel_index(int(np.argmax(z)), z.shape)]) & (z > 0.5)
    filled = ndimage.binary_fill_holes(ndimage.binary_closing(core, iterations=closing))
    rim = ndimage.binary_dilation(filled) & ~filled & (z >= 0.25)
    area = float(filled.sum()) - float((1.0 - frac[core]).sum()) + float(frac[rim].sum())
    return 2.0 * math.sqrt(max(area, 0.0) / math.pi)


def plain_disc_mask(discs, step, ny, nx):
    yy, xx = np.mgrid[0:ny, 0:nx] * step
    d2 = (xx[None] - discs.x[:, None, None]) ** 2 + (yy[None] - discs.y[:, None, None]) ** 2
    return (d2 <= discs.radius[:, None, None] ** 2).any(axis=0)


def plain_background_model(arr, block=8, sources=None):
    ny, nx = arr.shape
    step = max(1, min(max(ny, nx) // 128, min(ny, nx) // block))
    sub = arr[::step, ::step]
    sy, sx = sub.shape
    hy, hx = min(block, sy), min(block, sx)
    by, bx = sy // hy, sx // hx
    cut = sub[:by * hy, :bx * hx].reshape(by, hy, bx, hx)
    med = np.median(cut, axis=(1, 3)).ravel().astype(np.float64)
    if sources is not None and len(sources.x):
        lit = plain_disc_mask(sources, step, by * hy, bx * hx).reshape(by, hy, bx, hx)
        sky = (~lit).sum(axis=(1, 3)).ravel() >= stars_mod.MIN_BLOCK_SKY * hy * hx
        if sky.sum() >= 8:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # blocks all disc
                med = np.nanmedian(np.where(lit, np.nan, cut.astype(np.float32)),
                                   axis=(1, 3)).ravel().astype(np.float64)
            med[~sky] = np.nan
    yy, xx = np.mgrid[0:by, 0:bx]
    xc = ((xx.ravel() * hx + (hx - 1) / 2) * step - nx / 2) / (nx / 2)
    yc = ((yy.ravel() * hy + (hy - 1) / 2) * step - ny / 2) / (ny / 2)
    design = np.stack([np.ones_like(xc), xc, yc, xc ** 2 + yc ** 2], axis=1)
    keep = np.isfinite(med)
    if not keep.any():
        return np.full(4, np.nan), xc, yc
    coef = np.array([float(np.median(med[keep])), 0.0, 0.0, 0.0])
    for _ in range(2):
        if keep.sum() < 8:
            break
        d = design[keep].copy()
        d[:, 1] *= len(set(xc[keep])) > 1
        d[:, 2] *= len(set(yc[keep])) > 1
        coef = np.linalg.lstsq(d, med[keep], rcond=None)[0]
        resid = med - design @ coef
        mad = 1.4826 * np.median(np.abs(resid[keep])) + 1e-6
        with np.errstate(invalid="ignore"):
            keep = np.abs(resid) < 3.0 * mad
    return coef, xc, yc


def plain_catalogue_transparency(arr, phot, rad, sigma, gain, header, fwhm_px=None):
    use, stamps, border, ix, iy, fx, fy, expected, mags, stars, adu_mag0 = phot
    reach = rad + 4.0
    near = np.flatnonzero(stars.mag < mags[use].max() + stars_mod.BLEND_DMAG)
    dx = (ix[use] + fx[use])[:, None] - stars.x[None, near]
    dy = (iy[use] + fy[use])[:, None] - stars.y[None, near]
    close = (dx ** 2 + dy ** 2 < reach ** 2) & (dx ** 2 + dy ** 2 > 1e-6) & \
        (stars.mag[None, near] < mags[use, None] + stars_mod.BLEND_DMAG)
    use = use[~close.any(axis=1)]
    if use.size == 0:
        return math.nan
    ny, nx = arr.shape
    off = np.arange(-STAMP, STAMP + 1, dtype=np.float64)
    dy = off[None, :, None] - fy[use, None, None]
    dx = off[None, None, :] - fx[use, None, None]
    aperture = dx ** 2 + dy ** 2 <= rad ** 2
    discs = stars_mod.source_discs(stars, adu_mag0, rad / 2.5 if fwhm_px is None else fwhm_px,
                                   sigma)
    coef, _, _ = plain_background_model(arr, sources=discs)
    xr = (ix[use] + fx[use] - nx / 2) / (nx / 2)
    yr = (iy[use] + fy[use] - ny / 2) / (ny / 2)
    # the stamps with their own background put back, less the model's
    sky = coef[0] + coef[1] * xr + coef[2] * yr + coef[3] * (xr ** 2 + yr ** 2)
    raw = stamps[use] + (border[use] - sky)[:, None, None]
    flux = (raw * aperture).sum(axis=(1, 2))
    flat = 1.0 + coef[3] / max(coef[0] - header_value(header, "BIASLEV", 0.0), 1e-6) \
        * (xr ** 2 + yr ** 2)
    f_exp = np.maximum(expected[use], 1e-12)
    ratio = flux / np.maximum(flat, 0.2) / f_exp
    rel_var = (aperture.sum(axis=(1, 2)) * sigma ** 2 + f_exp / gain) / f_exp ** 2
    return stars_mod.trimmed_mean(ratio, 1.0 / (rel_var + PHOT_FLOOR ** 2))


def plain_median(a, axis=None):
    return np.median(a, axis=axis)


def plain_running_median(a, width, axis):
    pad = [(0, 0), (0, 0)]
    pad[axis] = (width // 2, width // 2)
    win = np.lib.stride_tricks.sliding_window_view(np.pad(a, pad, mode="reflect"), width, axis=axis)
    return np.median(win, axis=-1)


def plain_vertical_runs(mask, length):
    return ndimage.binary_opening(mask, structure=np.ones((length, 1), bool))


def plain_quality_model_input(image, header=None, moon=None, stars=None):
    """:func:`quality_model_input` as it was, step by step (the star helpers swapped by PLAIN)."""
    arr = pre.as_image(image)
    level, sigma = plain_robust_stats(arr)
    if not math.isfinite(level):
        raise PreprocessError("image holds no finite pixel (all NaN or inf)")
    arr, frac = plain_fill_nonfinite(arr, level)
    small = plain_downsample(arr, pre.QUALITY_SIZE)
    f = max(1.0, arr.shape[0] / pre.QUALITY_SIZE) * max(1.0, arr.shape[1] / pre.QUALITY_SIZE)
    ch0 = pre.stretch(small, level, sigma / math.sqrt(f))
    m = stars_mod.measure_stars(arr, level, sigma, header, stars)
    half = pre.QUALITY_SIZE // 4
    core = m.stack[STAMP - half:STAMP + half, STAMP - half:STAMP + half]
    ch1 = np.arcsinh(inputs.PSF_STRETCH * np.clip(core, -0.5, 1.0)) / math.asinh(inputs.PSF_STRETCH)
    ch1 = np.kron(ch1, np.ones((2, 2), np.float32)).astype(np.float32)
    base = pre.frame_scalars(arr, level, sigma, frac, header, moon)
    scale = float(base[0])
    has_psf = math.isfinite(m.fwhm_arcsec) and math.isfinite(m.halfmax_arcsec)
    has_trans = math.isfinite(m.transparency) and m.transparency > 0
    fwhm = m.fwhm_arcsec if has_psf else inputs._NO_FWHM
    extra = np.array([
        fwhm,
        m.halfmax_arcsec if has_psf else inputs._NO_FWHM,
        fwhm / max(scale, 1e-3),
        m.ellipticity if has_psf else inputs._NO_ELL,
        math.log10(m.transparency) if has_trans else inputs._NO_LOG_TRANS,
        math.log10(m.n_stars + 1.0),
        math.log10(max(m.snr, 0.0) + 1.0),
        float(has_psf),
        float(has_trans),
        float(trails_mod.count_trails(ch0, saturated=bool(base[2] > inputs._ANY_SATURATED))),
        m.profile_fwhm_arcsec if has_psf and math.isfinite(m.profile_fwhm_arcsec) else 0.0,
    ], np.float32)
    scalars = np.concatenate([base, extra])
    return np.stack([ch0, ch1]), np.nan_to_num(scalars, nan=0.0, posinf=10.0, neginf=-10.0)


PLAIN = [  # (module, name, plain implementation)
    (pre, "_top_percentile", plain_top_percentile),
    (stars_mod, "median", plain_median),
    (stars_mod, "_stamps", plain_stamps),
    (stars_mod, "_select", plain_select),
    (stars_mod, "_fourier_shift", plain_fourier_shift),
    (stars_mod, "upsample", plain_upsample),
    (stars_mod, "half_max_diameter", plain_half_max_diameter),
    (stars_mod, "catalogue_transparency", plain_catalogue_transparency),
    (trails_mod, "median", plain_median),
    (trails_mod, "_running_median", plain_running_median),
    (trails_mod, "_vertical_runs", plain_vertical_runs),
]

# ---------------------------------------------------------------------------------------------
# frames


def _cases() -> list[tuple]:
    from skytwin.training.datasets import quality_request, render_safe
    from skytwin.training.sites import SITES

    out = []
    for n, count in ((256, 14), (512, 6), (1024, 4)):
        for i in range(count):
            req = quality_request(23, i, SITES).with_(nx=n, ny=n)
            f = render_safe(req)
            out.append((f"r{n}_{i}", f.image, dict(f.header),
                        (req.moon_illumination, req.moon_sep_deg),
                        ReferenceStars.from_truth(f.truth, seed=i)))
    rng = np.random.default_rng(5)
    for name, img, hdr, moon, st in [out[0], out[14], out[20]]:
        holes = img.astype(np.float32)
        holes[rng.random(holes.shape) < 0.01] = np.nan
        holes[5:9, :] = np.inf
        sat = float(header_value(hdr, "SATURATE", 65535.0))
        bright = img.astype(np.float32)
        bright[bright > np.percentile(bright, 99)] = sat
        bright[:, 100:102] = sat
        out += [(name + "_nan", holes, hdr, moon, st), (name + "_saturated", bright, hdr, moon, st),
                (name + "_no_catalogue", img, hdr, moon, None),
                (name + "_no_header", img, None, None, st),
                (name + "_uint16", np.clip(img, 0, 65535).astype(np.uint16), hdr, moon, st)]
    img, hdr, moon, st = out[1][1:]
    out += [("odd", img[:200, :230], hdr, None, None), ("odd_catalogue", img[:201, :255], hdr, moon, st),
            ("constant", np.full((256, 256), 7.0, np.float32), None, None, None),
            ("all_nan", np.full((64, 64), np.nan, np.float32), None, None, None)]
    return out


@pytest.fixture(scope="module")
def cases() -> list[tuple]:
    return _cases()


def _run(case, fn=quality_model_input):
    name, img, hdr, moon, st = case
    try:
        return fn(img, hdr, moon, st)
    except PreprocessError as e:
        return str(e)


def test_quality_input_equals_the_plain_pipeline(cases, monkeypatch) -> None:
    assert len(cases) >= 40
    fast = [_run(c) for c in cases]
    for module, name, plain in PLAIN:
        monkeypatch.setattr(module, name, plain)
    slow = [_run(c, plain_quality_model_input) for c in cases]
    worst = 0.0
    for case, a, b in zip(cases, fast, slow):
        if isinstance(b, str):  # the all-NaN frame
            assert a == b, case[0]
            continue
        for u, v, tol in zip(a, b, (CHANNEL_TOL, TOL)):
            assert u.shape == v.shape and u.dtype == v.dtype, case[0]
            # NaN where the plain code gives NaN (a catalogue without MAGZERO: no PSF weights)
            assert np.array_equal(np.isnan(u), np.isnan(v)), case[0]
            diff = float(np.nan_to_num(np.abs(u - v), nan=0.0).max())
            worst = max(worst, diff / tol)
            assert diff <= tol, (case[0], diff)
    assert sum(isinstance(b, str) for b in slow) == 1  # only the all-NaN frame is refused
    assert worst <= 1.0


def test_the_callers_image_is_not_written(cases) -> None:
    for name, img, hdr, moon, st in cases[::4]:
        before = np.array(img, copy=True)
        _run((name, img, hdr, moon, st))
        assert np.array_equal(before, img, equal_nan=True), name


# ---------------------------------------------------------------------------------------------
# the helpers one by one


def test_median_equals_numpys_to_the_bit() -> None:
    rng = np.random.default_rng(0)
    for _ in range(400):
        shape = tuple(rng.integers(1, 9, rng.integers(1, 4)))
        a = rng.normal(100, 30, shape) * rng.choice([1, 1e3, 1e-3], shape)
        if rng.random() < 0.2:
            a[rng.random(shape) < 0.2] = np.nan
        if rng.random() < 0.3:
            a = np.round(a)  # ties
        with np.errstate(all="ignore"):  # NaN and 1e5 do not fit every dtype: whatever comes
            a = a.astype(rng.choice([np.float32, np.float64, np.int32, np.float16]))
        for axis in [None, *range(a.ndim)]:
            before = a.copy()
            with np.errstate(all="ignore"):
                got, want = pre.median(a, axis=axis), np.median(a, axis=axis)
            assert np.array_equal(a, before, equal_nan=True)  # sorted a copy, not ``a``
            assert np.array_equal(got, want, equal_nan=True)
            assert np.asarray(got).dtype == np.asarray(want).dtype


def test_nanmedian_last_equals_numpys_to_the_bit() -> None:
    rng = np.random.default_rng(1)
    for _ in range(300):
        shape = tuple(rng.integers(1, 12, rng.integers(1, 4)))
        a = rng.normal(100, 30, shape) * rng.choice([1, 1e3, 1e-3], shape)
        a[rng.random(shape) < rng.choice([0.0, 0.3, 0.9])] = np.nan
        if rng.random() < 0.2:
            a[..., 0] = np.nan  # a row may be all NaN
        if rng.random() < 0.3:
            a = np.round(a)  # ties
        if rng.random() < 0.1:
            a[rng.random(shape) < 0.1] = np.inf
        a = a.astype(rng.choice([np.float32, np.float64]))
        before = a.copy()
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # numpy warns on all-NaN rows
            want = np.nanmedian(a, axis=-1)
        got = pre.nanmedian_last(a)
        assert np.array_equal(a, before, equal_nan=True)
        assert np.array_equal(got, want, equal_nan=True)
        assert got.dtype == np.asarray(want).dtype
    # an odd count's middle value is returned as it is, where (x + x) / 2 would overflow
    # (numpy's own float32 path gives inf there); two huge middle values overflow as in numpy
    for dt, big in ((np.float32, 3e38), (np.float64, 1.7e308)):
        a = np.array([[big, big, 1.0], [big, big, np.nan], [np.nan, np.nan, np.nan]], dt)
        got = pre.nanmedian_last(a)
        assert got[0] == dt(big) and got[1] == np.inf and np.isnan(got[2])
    assert pre.nanmedian_last(np.zeros((3, 0), np.float32)).shape == (3,)
    assert np.isnan(pre.nanmedian_last(np.zeros((3, 0), np.float32))).all()
    with pytest.raises(TypeError):
        pre.nanmedian_last(np.arange(5))


@pytest.mark.parametrize("shape", [(64, 64), (128, 64), (256, 256), (200, 230), (1024, 1024),
                                   (64 * 9, 64 * 17), (64 * 3, 64 * 130), (70, 1000)])
def test_downsample_equals_the_reshape_mean_to_float32_rounding(shape) -> None:
    rng = np.random.default_rng(shape[0] * 7 + shape[1])
    img = (rng.normal(3000, 50, shape) * rng.choice([1.0, 1e-3, 1e3], shape)).astype(np.float32)
    got, want = pre.downsample(img, 64), plain_downsample(img, 64)
    assert got.dtype == np.float32 and got.shape == (64, 64)
    # the blocks add in another order: float32 rounding of the sums, nothing more
    exact = img.astype(np.float64)
    scale = plain_downsample(np.abs(exact), 64)  # the size of what each block adds up
    assert np.all(np.abs(got - want) <= 4e-7 * scale * max(shape[0] // 64, 1))


@pytest.mark.parametrize("shape", [(1024, 1024), (2048, 1024), (1024, 2048), (640, 4096),
                                   (1000, 1000), (512, 512), (64 * 3, 64 * 130)])
def test_downsample_counting_equals_downsample_and_a_count(shape) -> None:
    # the banded pass (frames over 2 MB, evenly divided) and the two calls (the rest) alike
    rng = np.random.default_rng(shape[0] + shape[1])
    img = rng.normal(3000, 50, shape).astype(np.float32)
    img[rng.random(shape) < 1e-3] = 65000.0
    img[:, 7] = 64300.0  # a bleed column, just over the level
    level = 0.98 * 65535.0
    for arr in (img, img[:, ::-1], img.astype(np.float64)):
        small, n = pre.downsample_counting(arr, 64, level)
        assert np.array_equal(small, pre.downsample(arr, 64))
        assert n == np.count_nonzero(arr >= level)


def test_robust_stats_and_fill_nonfinite_equal_the_plain_ones() -> None:
    rng = np.random.default_rng(1)
    for shape in [(10, 10), (255, 257), (512, 512), (1024, 1024)]:
        img = rng.normal(1000, 20, shape).astype(np.float32)
        for img in (img, np.where(rng.random(shape) < 0.05, np.nan, img).astype(np.float32)):
            assert pre.robust_stats(img) == plain_robust_stats(img)
            level = pre.robust_stats(img)[0]
            (a, fa), (b, fb) = pre.fill_nonfinite(img, level), plain_fill_nonfinite(img, level)
            assert fa == fb and np.array_equal(a, b)
    big = np.full((8, 8), 3e38, np.float32)  # a sum that overflows is not taken for a NaN
    assert pre.fill_nonfinite(big, 0.0)[1] == 1.0
    ints = rng.integers(0, 60000, (300, 300)).astype(np.uint16)
    assert pre.robust_stats(ints) == plain_robust_stats(ints)


def test_without_saturate_no_pixel_counts_as_saturated() -> None:
    """The brightest pixels of a frame without SATURATE are not taken as saturated (the
    frame's clipping plateau, if any, is read_calibration's to find)."""
    rng = np.random.default_rng(2)
    img = rng.normal(1000, 20, (256, 256)).astype(np.float32)
    img[100:104, 50:54] = 30000.0
    level, sigma = pre.robust_stats(img)
    col = pre.SCALAR_NAMES.index("log_saturated_fraction")
    bare = pre.frame_scalars(img, level, sigma, 1.0, {"EXPTIME": 30.0})
    told = pre.frame_scalars(img, level, sigma, 1.0, {"EXPTIME": 30.0, "SATURATE": 30000.0})
    assert bare[col] == pytest.approx(-6.0)
    assert told[col] == pytest.approx(math.log10(16 / img.size + 1e-6))
    assert np.array_equal(np.delete(bare, col), np.delete(told, col))


def test_select_equals_the_dense_distance_test() -> None:
    rng = np.random.default_rng(3)
    for n in (1, 5, 300, 3000):
        cat = ReferenceStars(rng.uniform(0, 1024, n), rng.uniform(0, 1024, n),
                             rng.uniform(10, 22, n), rng.random(n) < 0.8)
        assert np.array_equal(stars_mod._select(cat, 1024, 1024), plain_select(cat, 1024, 1024))
    # neighbours exactly ISOLATION_PIX away, duplicates and equal magnitudes
    x, y = np.round(rng.uniform(20, 200, (2, 200)))
    x[:20], y[:20] = x[20:40] + ISOLATION_PIX, y[20:40]
    x[40:50], y[40:50] = x[50:60], y[50:60]
    cat = ReferenceStars(x, y, np.round(rng.uniform(10, 16, 200)))
    assert np.array_equal(stars_mod._select(cat, 256, 256), plain_select(cat, 256, 256))


def test_stamps_shift_and_upsample_equal_the_plain_ones() -> None:
    rng = np.random.default_rng(4)
    img = rng.normal(0, 1, (300, 200)).astype(np.float32)
    ix, iy = rng.integers(STAMP, 200 - STAMP, 50), rng.integers(STAMP, 300 - STAMP, 50)
    assert np.array_equal(stars_mod._stamps(img, ix, iy), plain_stamps(img, ix, iy))
    for m in (1, 2, 32):
        st = rng.normal(0, 1, (m, 2 * STAMP + 1, 2 * STAMP + 1))
        fx, fy = rng.uniform(-0.5, 0.5, (2, m))
        fx[0], fy[-1] = 0.0, 0.5  # a whole-pixel and a half-pixel offset
        # the shift runs in float32, the image's precision: a few 1e-7 of the stamps' scale
        np.testing.assert_allclose(stars_mod._fourier_shift(st, fx, fy),
                                   plain_fourier_shift(st, fx, fy), rtol=0,
                                   atol=2e-6 * np.abs(st).max())
        np.testing.assert_allclose(stars_mod.upsample(st[0]), plain_upsample(st[0]),
                                   rtol=0, atol=1e-12)
    even = rng.normal(0, 1, (32, 32))
    np.testing.assert_allclose(stars_mod.upsample(even), plain_upsample(even), rtol=0, atol=1e-12)


def test_mask_morphology_equals_scipys() -> None:
    rng = np.random.default_rng(5)
    for _ in range(200):
        m = rng.random(rng.integers(1, 60, 2)) < rng.uniform(0.1, 0.9)
        k = int(rng.integers(1, 5))
        assert np.array_equal(masks.fill_holes(m), ndimage.binary_fill_holes(m))
        assert np.array_equal(masks.dilate(m, k), ndimage.binary_dilation(m, iterations=k))
        assert np.array_equal(masks.erode(m, k), ndimage.binary_erosion(m, iterations=k))
        assert np.array_equal(masks.close(m, k), ndimage.binary_closing(m, iterations=k))


def test_half_max_diameter_equals_the_plain_one() -> None:
    rng = np.random.default_rng(5)
    for _ in range(150):  # noisy stars and defocus doughnuts, some against the edge
        n = int(rng.choice([21, 33, 99]))
        y, x = np.mgrid[:n, :n] - n // 2 + rng.normal(0, 4, 2)[:, None, None]
        r2 = x ** 2 + y ** 2
        w = rng.uniform(1, n / 3)
        stack = np.exp(-r2 / w ** 2) * (1 + rng.uniform(0, 2) * r2 / w ** 2) \
            + rng.normal(0, rng.uniform(0, 0.3), (n, n))
        for closing in (1, 3):
            assert stars_mod.half_max_diameter(stack, closing) == \
                plain_half_max_diameter(stack, closing)


def test_disc_mask_equals_the_dense_distance_test() -> None:
    # discs of every size, on and off the frame by up to their radius and beyond
    rng = np.random.default_rng(12)
    for _ in range(200):
        ny, nx = (int(v) for v in rng.integers(5, 60, 2))
        step, n = int(rng.integers(1, 9)), int(rng.integers(1, 40))
        discs = stars_mod.SourceDiscs(rng.uniform(-20, nx * step + 20, n),
                                      rng.uniform(-20, ny * step + 20, n), rng.uniform(0.1, 25, n))
        assert np.array_equal(stars_mod._disc_mask(discs, step, ny, nx),
                              plain_disc_mask(discs, step, ny, nx))


def test_background_model_with_discs_equals_the_plain_one() -> None:
    rng = np.random.default_rng(7)
    for _ in range(10):
        ny, nx = (int(v) for v in rng.integers(60, 1100, 2))
        img = rng.normal(1000, 10, (ny, nx)).astype(np.float32) \
            + np.linspace(0, 50, nx, dtype=np.float32)
        n = int(rng.integers(1, 300))
        discs = stars_mod.SourceDiscs(rng.uniform(0, nx, n), rng.uniform(0, ny, n),
                                      rng.uniform(1, 30, n))
        assert np.allclose(stars_mod.background_model(img, sources=discs)[0],
                           plain_background_model(img, sources=discs)[0], rtol=0, atol=1e-9)


def test_background_model_equals_the_plain_one() -> None:
    rng = np.random.default_rng(6)
    for _ in range(10):
        ny, nx = rng.integers(60, 1100, 2)
        img = rng.normal(1000, 10, (ny, nx)).astype(np.float32) \
            + np.linspace(0, 50, nx, dtype=np.float32)
        assert np.array_equal(stars_mod.background_model(img)[0], plain_background_model(img)[0])


def test_reference_stars_from_truth_equal_the_record_copy() -> None:
    from skytwin.training.datasets import quality_request, render_safe
    from skytwin.training.sites import SITES

    for i in range(3):
        truth = render_safe(quality_request(29, i, SITES).with_(nx=512, ny=512)).truth
        s = truth[np.isin(truth["kind"], ("star", "bright_star", "galaxy"))
                  & np.isfinite(truth["mag"])]
        rng = np.random.default_rng([i, 29])
        want = (np.asarray(s["x"], float), np.asarray(s["y"], float),
                np.asarray(s["mag"], float)
                + rng.normal(0.0, stars_mod.CATALOG_MAG_ERROR, len(s)),
                np.asarray(s["kind"] != "galaxy"))
        got = ReferenceStars.from_truth(truth, seed=i)
        for g, w in zip((got.x, got.y, got.mag, got.is_star), want):
            assert g.dtype == w.dtype and np.array_equal(g, w)
