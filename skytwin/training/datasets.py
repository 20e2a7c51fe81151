"""Quality data sets made by the twin's pixel renderer, split by seed and by site.

Units: frames are ``nx`` x ``ny`` float32 ADU images; conditions as in
:class:`skytwin.twin.frames.RenderRequest` (arcsec, seconds, mag/arcsec^2).

Each frame ``i`` of a data set with seed ``S`` gets its own generator
``SeedSequence([S, i])``: a site (cycling through the chosen profiles), a
pointing, and a *problem* drawn so that the labels come out balanced: none,
seeing, defocus, tracking (elongation or a drift trail), clouds (mean and
patchy), moonlight, background (twilight / light pollution), satellite and
aircraft trails, saturation (a bright star or a long exposure), or two of
them at once. Hot pixels, cosmic rays, dead pixels, vignetting and the
flat field come with each site's camera. The label and reason are the
renderer's own (:func:`skytwin.twin.frames.quality_label` on the physical
truth), never a measurement.

Splits: frames of :data:`~skytwin.training.sites.HELDOUT_SITES` are
``heldout``; the others are ``train`` / ``val`` / ``test`` by a hash of
``(seed, i)`` (80 / 10 / 10).

Catalogue: the model's inputs are made with the frame's reference stars
(the twin's catalogue, standing in for Gaia). One frame in
``no_catalogue_every`` (drawn per frame) is also preprocessed without them, as a
camera's frame arrives when no catalogue is matched: an extra row of the
same frame (same label, split and truth) with ``catalogue`` False, so that
the model learns that case too and the benchmark can score it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from skytwin.agents.quality.inputs import quality_model_input
from skytwin.agents.quality.stars import ReferenceStars
from skytwin.agents.quality.labels import LABELS, REASONS
from skytwin.errors import SkytwinError
from skytwin.training.sites import HELDOUT_SITES, SITES, SiteProfile
from skytwin.twin.frames import RenderRequest, render_frame, zeropoint_e_per_s
from skytwin.twin.frames.quality import QualityInputs

# the labelling rule's inputs (:class:`~skytwin.twin.frames.quality.QualityInputs`), stored per
# frame so a model can learn the measurements behind the label, not the label alone
CONDITIONS: tuple[str, ...] = QualityInputs.__slots__

FRAME_SIZE = 256  # default side of a drawn frame (pixels; the anomaly data's)
# raised whenever the frames, their inputs or their labels change, so that a cached data set of
# an older version is made again (2: the truth ellipticity of trailed PSFs)
# 3: rows without the catalogue; 4: those and the baseline's frames; 5: the transparency
# measured above the frame's background model; 6: that model's blocks where they lie; 7: the
# catalogue sources' light left out of that model; 8: near-vertical trails of saturated frames
# no longer taken for bleeds; 9: the profile grid's FWHM of a broad stack, a scalar more;
# 10: without a catalogue only star-like peaks stacked (no trail pieces, no galaxy knots)
QUALITY_DATA_VERSION = 10
# drawn per frame (an index stride had picked one site)
NO_CATALOGUE_EVERY = 4  # one frame in 4 is also preprocessed without its reference stars
QUALITY_FRAME_SIZE = 512  # side of the quality data set's frames: enough stars for the PSF
PROBLEMS = ("none", "none", "seeing", "defocus", "tracking", "clouds", "moon", "background",
            "trail", "saturation", "mixed")
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)  # train, val, test of the non-held-out sites


def split_of(seed: int, index: int, site_name: str) -> str:
    """The split of frame ``index`` of a data set with ``seed``."""
    if site_name in HELDOUT_SITES:
        return "heldout"
    u = np.random.default_rng([seed, index, 7]).uniform()
    return "train" if u < SPLIT_FRACTIONS[0] else "val" if u < sum(SPLIT_FRACTIONS[:2]) \
        else "test"


def _apply(problem: str, rng: np.random.Generator, p: dict[str, Any], s: SiteProfile,
           dark: float) -> None:
    """Change the request fields ``p`` to give the frame ``problem``."""
    area_deg2 = (p["nx"] * s.pixel_scale_arcsec / 3600.0) ** 2
    hours = p["exptime_s"] / 3600.0
    if problem == "seeing":
        p["seeing_arcsec"] = rng.uniform(1.3, 5.5)
    elif problem == "defocus":
        p["defocus_arcsec"] = rng.uniform(1.0, 9.0)
    elif problem == "tracking":
        if rng.uniform() < 0.5:
            p["ellipticity"] = rng.uniform(0.05, 0.6)
            p["ellipticity_pa_deg"] = rng.uniform(0, 180)
        else:
            p["trail_arcsec"] = rng.uniform(0.3, 6.0)
            p["trail_pa_deg"] = rng.uniform(0, 180)
    elif problem == "clouds":
        p["transparency"] = rng.uniform(0.25, 1.0)
        p["cloud_patchiness"] = rng.uniform(0.0, 0.3)
        p["cloud_gradient"] = rng.uniform(0.0, 0.2)
    elif problem in ("moon", "background"):
        p["sky_mag_arcsec2"] = dark - rng.uniform(0.3, 4.5)
        p["sky_gradient"] = rng.uniform(0.0, 0.15)
        p["sky_gradient_pa_deg"] = rng.uniform(0, 360)
        if problem == "moon":
            p["moon_illumination"] = rng.uniform(0.3, 1.0)
            p["moon_sep_deg"] = rng.uniform(15.0, 88.0)
    elif problem == "trail":
        lam = rng.uniform(0.3, 5.0)
        p["satellite_rate"] = lam / (area_deg2 * hours)
        if rng.uniform() < 0.3:
            p["aircraft_rate"] = rng.uniform(0.2, 1.5) / (area_deg2 * hours)
    elif problem == "saturation":
        p["bright_star_mag"] = rng.uniform(3.0, 12.0)
        p["exptime_s"] = float(rng.choice([p["exptime_s"], 300.0]))


def quality_request(seed: int, index: int, sites: Sequence[SiteProfile],
                    size: int = FRAME_SIZE) -> RenderRequest:
    """The render request of frame ``index``, ``size`` pixels square (see the module docstring)."""
    rng = np.random.default_rng([seed, index])
    s = sites[index % len(sites)]
    band = str(rng.choice(s.band))
    from skytwin.agents.preprocess import DARK_SKY_MAG
    dark = DARK_SKY_MAG[band]
    airmass = rng.uniform(1.0, 1.8)
    p: dict[str, Any] = dict(
        ra_deg=rng.uniform(0, 360), dec_deg=math.degrees(math.asin(rng.uniform(-0.9, 0.95))),
        rotation_deg=rng.uniform(0, 360), nx=size, ny=size,
        pixel_scale_arcsec=s.pixel_scale_arcsec, exptime_s=float(rng.choice(s.exptime_s)),
        band=band, zeropoint_e_per_s=zeropoint_e_per_s(s.aperture_m, band, 0.6),
        seeing_arcsec=s.seeing_arcsec * airmass ** 0.6 * math.exp(rng.normal(0, 0.15)),
        optics_fwhm_arcsec=rng.uniform(0.2, 0.6), defocus_arcsec=rng.uniform(0.0, 0.6),
        ellipticity=rng.uniform(0.0, 0.08), ellipticity_pa_deg=rng.uniform(0, 180),
        field_curvature=rng.uniform(0.0, 0.15),
        sky_mag_arcsec2=dark - s.light_pollution_mag - rng.uniform(0.0, 0.6),
        sky_gradient=rng.uniform(0.0, 0.03), sky_gradient_pa_deg=rng.uniform(0, 360),
        transparency=rng.uniform(0.85, 1.0), cloud_patchiness=rng.uniform(0.0, 0.03),
        airmass=airmass, star_density=math.exp(rng.uniform(0.0, math.log(4.0))),
        gain_e_per_adu=s.gain_e_per_adu, read_noise_e=s.read_noise_e, bias_adu=s.bias_adu,
        full_well_e=s.full_well_e, hot_pixel_fraction=s.hot_pixel_fraction,
        cosmic_ray_rate=s.cosmic_ray_rate, vignetting=rng.uniform(0.0, 0.15),
        site=s.name, telescope=f"{s.name}-t1", frame_id=f"q{seed}-{index}", seed=seed,
        date_obs=f"2025-{1 + index % 12:02d}-{1 + index % 28:02d}T03:00:00",
    )
    problem = str(rng.choice(PROBLEMS))
    if problem == "mixed":
        for q in rng.choice(PROBLEMS[2:-1], size=2, replace=False):
            _apply(str(q), rng, p, s, dark)
    else:
        _apply(problem, rng, p, s, dark)
    # the site's own tendencies on top
    if rng.uniform() < s.p_clouds * 0.3:
        p["transparency"] = min(p["transparency"], rng.uniform(0.4, 1.0))
    if rng.uniform() < s.p_defocus * 0.3:
        p["defocus_arcsec"] = max(p["defocus_arcsec"], rng.uniform(0.5, 4.0))
    return RenderRequest(**p)


@dataclass
class QualitySample:
    """One rendered and preprocessed frame."""

    x: NDArray[np.float32]  # (2, 64, 64)
    s: NDArray[np.float32]  # scalars
    label: int
    reasons: NDArray[np.float32]  # multi-hot over REASONS
    site: str
    split: str
    baseline: NDArray[np.float32]  # measured features (NaN when not measured)
    conditions: NDArray[np.float64]  # the physical truth behind the label, over CONDITIONS
    # the same frame preprocessed without its reference stars (None when not made)
    x_no_catalogue: NDArray[np.float32] | None = None
    s_no_catalogue: NDArray[np.float32] | None = None


def reasons_vector(reason: str) -> NDArray[np.float32]:
    """Multi-hot vector over :data:`REASONS` of a "+"-joined reason."""
    v = np.zeros(len(REASONS), np.float32)
    for r in filter(None, reason.split("+")):
        v[REASONS.index(r)] = 1.0
    return v


def _moon(req: RenderRequest) -> tuple[float, float]:
    return req.moon_illumination, req.moon_sep_deg


def render_safe(req: RenderRequest, tries: int = 4):  # type: ignore[no-untyped-def]
    """``render_frame(req)``; on the renderer's edge-stamp ValueError, move the pointing 0.1 deg.

    The renderer (at this commit) fails to place a galaxy stamp larger than
    its padding next to a frame edge; a nearby pointing avoids the galaxy.
    """
    for k in range(tries):
        try:
            frame = render_frame(req)
            if not np.isfinite(frame.image).any():
                raise ValueError("renderer returned an all-NaN image")
            return frame
        except ValueError:
            if k == tries - 1:
                raise
            req = req.with_(ra_deg=(req.ra_deg + 0.1) % 360.0)
    raise AssertionError("unreachable")


def _one_in(k: int, seed: int, index: int, stream: int) -> bool:
    """Whether frame ``index`` is among one in ``k`` (0: none), drawn per frame.

    Drawn, not ``index % k``: the sites cycle with the index, so a stride picks
    sites (``index % 8`` had put every measured training frame on one site).
    """
    return k > 0 and np.random.default_rng([seed, index, stream]).uniform() * k < 1.0


def make_quality_sample(args: tuple[int, int, tuple[str, ...], int, int]
                        ) -> QualitySample | None:
    """Render, label and preprocess frame ``index`` (a picklable worker function).

    The classical features are measured on one training frame in
    ``measure_every``, every validation and test frame and one held-out frame in
    three (drawn; 0: never); measuring costs ~4x the render. One frame in ``no_catalogue_every``
    (drawn; 0: none) is also preprocessed without its reference stars.
    """
    seed, index, site_names, measure_every, no_catalogue_every = args
    sites = [s for s in SITES if s.name in site_names]
    req = quality_request(seed, index, sites, QUALITY_FRAME_SIZE)
    x_nc = s_nc = None
    try:
        frame = render_safe(req)
        stars = ReferenceStars.from_truth(frame.truth, seed=index)
        x, s = quality_model_input(frame.image, frame.header, _moon(req), stars)
        if _one_in(no_catalogue_every, seed, index, stream=77):
            x_nc, s_nc = quality_model_input(frame.image, frame.header, _moon(req), None)
    except (SkytwinError, ValueError):
        return None  # a draw the renderer cannot make (e.g. an all-NaN image): skipped
    base = np.full(len(BASELINE_FEATURES), np.nan, np.float32)
    split = split_of(seed, index, req.site)
    if measure_every and (split in ("val", "test")
                          or (split == "train" and _one_in(measure_every, seed, index, 78))
                          or (split == "heldout" and _one_in(3, seed, index, 78))):
        from skytwin.agents.quality.baseline import baseline_features
        base = baseline_features(frame.image, frame.header, _moon(req), stars)
    cond = np.array([frame.conditions[k] for k in CONDITIONS], np.float64)
    return QualitySample(x, s, LABELS.index(frame.quality), reasons_vector(frame.reason),
                         req.site, split, base, cond, x_nc, s_nc)


from skytwin.agents.quality.baseline import BASELINE_FEATURES  # noqa: E402


def _one_blas_thread() -> None:
    """Each worker process's BLAS on one thread: the workers already fill the cores, and
    a multithreaded least-squares fit in each (the kernel fit of a subtraction) made the
    2000-field detection data take 13 minutes instead of 5 on two cores."""
    from threadpoolctl import threadpool_limits
    threadpool_limits(1)


def _map(fn: Callable, items: list, workers: int, progress: Callable[[int], None] | None
         ) -> list:
    out = []
    if workers <= 1:
        for it in items:
            out.append(fn(it))
            if progress:
                progress(1)
        return out
    with ProcessPoolExecutor(workers, initializer=_one_blas_thread) as ex:
        for r in ex.map(fn, items, chunksize=8):
            out.append(r)
            if progress:
                progress(1)
    return out


def make_quality_dataset(n: int, seed: int, sites: Sequence[str] | None = None,
                         measure_every: int = 8, workers: int = 2,
                         progress: Callable[[int], None] | None = None,
                         no_catalogue_every: int = NO_CATALOGUE_EVERY) -> dict[str, NDArray]:
    """``n`` quality frames as arrays: x, s, label, reasons, site, split, baseline, conditions,
    catalogue (False on the extra rows made without reference stars; see the module
    docstring), and the data's ``version`` (:data:`QUALITY_DATA_VERSION`, a 0-d array)."""
    names = tuple(sites) if sites else tuple(s.name for s in SITES)
    items = [(seed, i, names, measure_every, no_catalogue_every) for i in range(n)]
    samples = [q for q in _map(make_quality_sample, items, workers, progress) if q is not None]
    blind = [q for q in samples if q.x_no_catalogue is not None]
    rows = samples + blind
    nan_base = np.full(len(BASELINE_FEATURES), np.nan, np.float32)
    return dict(
        x=np.stack([q.x for q in samples] + [q.x_no_catalogue for q in blind]),
        s=np.stack([q.s for q in samples] + [q.s_no_catalogue for q in blind]),
        label=np.array([q.label for q in rows], np.int64),
        reasons=np.stack([q.reasons for q in rows]),
        site=np.array([q.site for q in rows]), split=np.array([q.split for q in rows]),
        # the classical baseline is measured once per frame
        baseline=np.stack([q.baseline for q in samples] + [nan_base for _ in blind]),
        conditions=np.stack([q.conditions for q in rows]),
        catalogue=np.array([True] * len(samples) + [False] * len(blind)),
        version=np.array(QUALITY_DATA_VERSION),
    )


def save(data: dict[str, NDArray], path: str | Path) -> Path:
    """Write a data set (a dict of arrays) as a compressed ``.npz``."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **data)
    return out


def load(path: str | Path) -> dict[str, NDArray]:
    """Read a data set written by :func:`save`."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
