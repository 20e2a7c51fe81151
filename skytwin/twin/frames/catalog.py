"""Sky content of a pointing: stars, galaxies and optional contamination.

Units: positions in degrees (ICRS); magnitudes in the frame's band (Vega for
Johnson-Cousins, AB for ugriz); galaxy sizes in arcsec; densities per deg^2.

Star counts (a parametric model in the spirit of Bahcall & Soneira 1980)::

    log10 N_pole(<V) = -0.4 + 0.35 (V - 10) - 0.005 (V - 10)^2     [deg^-2]
    N(<V, l, b)      = N_pole(<V) * 1.06 / (sin|b| + 0.06)
                                  * (1 + 1.5 exp(-l'^2 / (2 * 40^2)))

where ``b`` is the Galactic latitude and ``l'`` the longitude wrapped to
[-180, 180) deg: ~400 stars deg^-2 brighter than V = 20 at the pole, ~18x more
in the plane, and up to 2.5x more towards the bulge. A star's band magnitude
is ``V + STAR_COLOR_FROM_V[band] + N(0, 0.3)``.

Galaxy counts (r band, Euclidean slope 0.45 bright, 0.33 faint of r = 21)::

    dN/dm = 600 * 10**(0.45 (r - 20))           r <= 21    [deg^-2 mag^-1]
          = 600 * 10**0.45 * 10**(0.33 (r - 21)) r > 21

Galaxies are Sersic profiles: 65% discs (n uniform in [1, 1.5], axis ratio q
uniform in [0.15, 1]) and 35% spheroids (n in [3, 4.5], q in [0.5, 1]); the
half-light radius falls with magnitude, ``r_e = 10**(0.5 - 0.12 (r - 18))``
arcsec times a log-normal scatter of 0.15 dex; position angle uniform. The
profile is truncated at 4.5 r_e and the flux is the truncated total.

Determinism: the sky is cut into cells (bands of 0.25 deg in Dec, each cut
into ~0.25 deg in RA) and magnitude slices; each (seed, kind, cell, slice)
seeds its own ``numpy.random.SeedSequence``, and a cell's star density is
taken at its own centre (Galactic latitude). A field therefore holds the same
sources on every visit and from every site, whatever the frame's rotation,
size or depth: a deeper frame adds fainter slices without moving the others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from skytwin.twin.frames.request import STAR_COLOR_FROM_V, RenderRequest
from skytwin.twin.frames.wcs import pixel_to_sky, sky_to_pixel

CELL_DEG = 0.25  # sky cell size, degrees
KIND_STAR, KIND_GALAXY = 0, 1
GALAXY_COLOR_FROM_R: dict[str, float] = {
    "u": 1.8, "g": 0.7, "r": 0.0, "i": -0.4, "z": -0.6,
    "B": 1.2, "V": 0.4, "R": -0.2, "I": -0.7, "clear": 0.0,
}
STAR_SLICES = (-1.0, 10.0, 14.0, 17.0, 19.0, 20.0, 21.0, 22.0, 23.0, 24.0, 25.0)  # V mag
GALAXY_SLICES = (12.0, 18.0, 20.0, 21.0, 22.0, 23.0, 24.0, 25.0)  # r mag
TRUNC_RE = 4.5  # Sersic truncation radius in half-light radii

# ICRS -> Galactic rotation matrix (Hipparcos definition).
_GAL = np.array([[-0.0548755604162154, -0.8734370902348850, -0.4838350155487132],
                 [0.4941094278755837, -0.4448296299600112, 0.7469822444972189],
                 [-0.8676661490190047, -0.1980763734312015, 0.4559837761750669]])


def galactic(ra_deg: float, dec_deg: float) -> tuple[float, float]:
    """Galactic longitude and latitude (degrees) of an ICRS position."""
    a, d = math.radians(ra_deg), math.radians(dec_deg)
    v = _GAL @ np.array([math.cos(d) * math.cos(a), math.cos(d) * math.sin(a), math.sin(d)])
    return math.degrees(math.atan2(v[1], v[0])) % 360.0, math.degrees(math.asin(v[2]))


def star_counts(v_mag: float | NDArray[np.float64], l_deg: float, b_deg: float
                ) -> float | NDArray[np.float64]:
    """Cumulative star density N(<V) per deg^2 at Galactic (l, b)."""
    dm = np.asarray(v_mag, dtype=float) - 10.0
    pole = 10.0 ** (-0.4 + 0.35 * dm - 0.005 * dm ** 2)
    lw = (l_deg + 180.0) % 360.0 - 180.0
    lat = 1.06 / (abs(math.sin(math.radians(b_deg))) + 0.06)
    lon = 1.0 + 1.5 * math.exp(-lw ** 2 / (2 * 40.0 ** 2))
    return pole * lat * lon


def galaxy_counts(r_mag: float | NDArray[np.float64]) -> float | NDArray[np.float64]:
    """Cumulative galaxy density N(<r) per deg^2 (integral of the dN/dm above)."""
    r = np.asarray(r_mag, dtype=float)
    bright = 600.0 / (0.45 * math.log(10)) * 10.0 ** (0.45 * (np.minimum(r, 21.0) - 20.0))
    a21 = 600.0 * 10.0 ** 0.45
    faint = a21 / (0.33 * math.log(10)) * (10.0 ** (0.33 * (np.maximum(r, 21.0) - 21.0)) - 1.0)
    return bright + faint


@dataclass(frozen=True)
class SkyCatalog:
    """Sources of one field (arrays of equal length).

    ``kind``: 0 star, 1 galaxy. ``mag``: in the frame's band. Galaxy columns
    (``sersic_n``, ``r_e_arcsec``, ``q``, ``pa_deg`` of the major axis, east
    of north on the sky) are NaN for stars.
    """

    kind: NDArray[np.int8]
    ra_deg: NDArray[np.float64]
    dec_deg: NDArray[np.float64]
    mag: NDArray[np.float64]
    sersic_n: NDArray[np.float64]
    r_e_arcsec: NDArray[np.float64]
    q: NDArray[np.float64]
    pa_deg: NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.kind.size)

    @staticmethod
    def concat(parts: list[SkyCatalog]) -> SkyCatalog:
        if not parts:
            z = np.zeros(0)
            return SkyCatalog(np.zeros(0, np.int8), z, z, z, z, z, z, z)
        return SkyCatalog(*(np.concatenate([getattr(p, f) for p in parts])
                            for f in ("kind", "ra_deg", "dec_deg", "mag", "sersic_n",
                                      "r_e_arcsec", "q", "pa_deg")))

    def select(self, mask: NDArray[np.bool_]) -> SkyCatalog:
        return SkyCatalog(self.kind[mask], self.ra_deg[mask], self.dec_deg[mask], self.mag[mask],
                          self.sersic_n[mask], self.r_e_arcsec[mask], self.q[mask],
                          self.pa_deg[mask])


def _cells(ra_deg: float, dec_deg: float, radius_deg: float) -> list[tuple[int, int, float, float,
                                                                            float, float]]:
    """Sky cells (jd, jr, dec_lo, dec_hi, ra_lo, ra_hi) that may overlap a disc."""
    out = []
    n_dec = int(round(180.0 / CELL_DEG))
    jd0 = max(0, int(math.floor((dec_deg - radius_deg + 90.0) / CELL_DEG)))
    jd1 = min(n_dec - 1, int(math.floor((dec_deg + radius_deg + 90.0) / CELL_DEG)))
    for jd in range(jd0, jd1 + 1):
        lo, hi = -90.0 + jd * CELL_DEG, -90.0 + (jd + 1) * CELL_DEG
        n_ra = max(1, int(360.0 * math.cos(math.radians(0.5 * (lo + hi))) / CELL_DEG))
        width = 360.0 / n_ra
        maxcos = max(math.cos(math.radians(lo)), math.cos(math.radians(hi)))
        mincos = min(math.cos(math.radians(max(abs(lo), abs(hi)))), maxcos)
        if mincos < 1e-6 or radius_deg / mincos >= 180.0 - width:
            jrs = range(n_ra)
        else:
            half = radius_deg / mincos
            jrs = range(int(math.floor((ra_deg - half) / width)),
                        int(math.floor((ra_deg + half) / width)) + 1)
        for jr in dict.fromkeys(j % n_ra for j in jrs):
            out.append((jd, jr, lo, hi, jr * width, (jr + 1) * width))
    return out


def _uniform_in_cell(rng: np.random.Generator, n: int, cell: tuple[int, int, float, float,
                                                                   float, float]
                     ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    _, _, lo, hi, ra_lo, ra_hi = cell
    s = rng.uniform(math.sin(math.radians(lo)), math.sin(math.radians(hi)), n)
    return rng.uniform(ra_lo, ra_hi, n), np.degrees(np.arcsin(s))


def _cell_area(cell: tuple[int, int, float, float, float, float]) -> float:
    _, _, lo, hi, ra_lo, ra_hi = cell
    return ((math.sin(math.radians(hi)) - math.sin(math.radians(lo)))
            * math.radians(ra_hi - ra_lo) * (180.0 / math.pi) ** 2)


def _mags_from_cdf(rng: np.random.Generator, n: int, lo: float, hi: float, cdf) -> NDArray:
    """Magnitudes in [lo, hi) distributed as the cumulative count ``cdf``."""
    grid = np.linspace(lo, hi, 64)
    c = np.asarray(cdf(grid), dtype=float)
    return np.interp(rng.uniform(c[0], c[-1], n), c, grid)


def _stars(seq: np.random.SeedSequence, n: int, lo: float, hi: float, cdf, band: str,
           ra: NDArray, dec: NDArray) -> SkyCatalog:
    rng = np.random.default_rng(seq)
    v = _mags_from_cdf(rng, n, lo, hi, cdf)
    mag = v + STAR_COLOR_FROM_V[band] + rng.normal(0.0, 0.3, n)
    nan = np.full(n, np.nan)
    return SkyCatalog(np.zeros(n, np.int8), ra, dec, mag, nan, nan, nan, nan)


def _galaxies(rng: np.random.Generator, n: int, lo: float, hi: float, band: str,
              ra: NDArray, dec: NDArray) -> SkyCatalog:
    r = _mags_from_cdf(rng, n, lo, hi, galaxy_counts)
    disc = rng.uniform(size=n) < 0.65
    sersic_n = np.where(disc, rng.uniform(1.0, 1.5, n), rng.uniform(3.0, 4.5, n))
    q = np.where(disc, rng.uniform(0.15, 1.0, n), rng.uniform(0.5, 1.0, n))
    r_e = 10.0 ** (0.5 - 0.12 * (r - 18.0) + rng.normal(0.0, 0.15, n))
    pa = rng.uniform(0.0, 180.0, n)
    mag = r + GALAXY_COLOR_FROM_R[band]
    return SkyCatalog(np.ones(n, np.int8), ra, dec, mag, sersic_n, r_e, q, pa)


def field_catalog(req: RenderRequest, mag_limit: float) -> SkyCatalog:
    """Stars and galaxies of the pointing, brighter than ``mag_limit`` in the band.

    Built from sky cells (see the module docstring), then cut to the frame
    with a margin of 32 pixels so that sources just outside still spill light in.
    """
    half_diag = 0.5 * math.hypot(req.nx, req.ny) * req.pixel_scale_arcsec / 3600.0
    radius = half_diag + 32 * req.pixel_scale_arcsec / 3600.0
    parts: list[SkyCatalog] = []
    vlim = mag_limit - STAR_COLOR_FROM_V[req.band] + 1.0  # colour scatter margin
    rlim = mag_limit - GALAXY_COLOR_FROM_R[req.band]
    for cell in _cells(req.ra_deg, req.dec_deg, radius):
        area = _cell_area(cell)
        # star density at the cell's centre, not the pointing's: a pointing a
        # pixel away must draw the same number of stars in each cell, or the
        # cell's whole random stream (and every position) changes
        l_deg, b_deg = galactic(0.5 * (cell[4] + cell[5]), 0.5 * (cell[2] + cell[3]))

        def scdf(v, l_deg=l_deg, b_deg=b_deg):
            return star_counts(v, l_deg, b_deg)
        for i, (lo, hi) in enumerate(zip(STAR_SLICES[:-1], STAR_SLICES[1:])):
            if lo >= vlim or req.star_density <= 0:
                break
            seq = np.random.SeedSequence([req.seed, KIND_STAR, cell[0], cell[1], i])
            child_pos, child_mag = seq.spawn(2)
            rng = np.random.default_rng(child_pos)
            lam = area * req.star_density * float(scdf(hi) - scdf(lo))
            n = int(rng.poisson(lam))
            ra, dec = _uniform_in_cell(rng, n, cell)
            parts.append(_stars(child_mag, n, lo, hi, scdf, req.band, ra, dec))
        for i, (lo, hi) in enumerate(zip(GALAXY_SLICES[:-1], GALAXY_SLICES[1:])):
            if lo >= rlim or req.galaxy_density <= 0:
                break
            rng = np.random.default_rng([req.seed, KIND_GALAXY, cell[0], cell[1], i])
            lam = area * req.galaxy_density * float(galaxy_counts(hi) - galaxy_counts(lo))
            n = int(rng.poisson(lam))
            ra, dec = _uniform_in_cell(rng, n, cell)
            parts.append(_galaxies(rng, n, lo, hi, req.band, ra, dec))
    cat = SkyCatalog.concat(parts)
    x, y = sky_to_pixel(cat.ra_deg, cat.dec_deg, req.ra_deg, req.dec_deg,
                        req.pixel_scale_arcsec, req.rotation_deg, req.nx, req.ny)
    keep = ((cat.mag < mag_limit) & (x > -32) & (x < req.nx + 32) & (y > -32)
            & (y < req.ny + 32))
    return cat.select(keep)


def fixed_catalog(req: RenderRequest, n_stars: int, n_galaxies: int, mag_limit: float,
                  rng: np.random.Generator) -> SkyCatalog:
    """``n_stars`` and ``n_galaxies`` placed uniformly on the frame (benchmarks, tests).

    Magnitudes follow the count models between 14 and ``mag_limit`` (stars)
    and 17 and ``mag_limit`` (galaxies), at the Galactic pole.
    """
    l_deg, b_deg = 0.0, 90.0

    def scdf(v):
        return star_counts(v, l_deg, b_deg)

    def place(n: int) -> tuple[NDArray, NDArray]:
        x = rng.uniform(0.0, req.nx - 1.0, n)
        y = rng.uniform(0.0, req.ny - 1.0, n)
        return pixel_to_sky(x, y, req.ra_deg, req.dec_deg, req.pixel_scale_arcsec,
                            req.rotation_deg, req.nx, req.ny)
    ra, dec = place(n_stars)
    vlim = mag_limit - STAR_COLOR_FROM_V[req.band]
    seq = np.random.SeedSequence(int(rng.integers(2 ** 63)))
    stars = _stars(seq, n_stars, min(14.0, vlim - 1), vlim, scdf, req.band, ra, dec)
    ra, dec = place(n_galaxies)
    rlim = mag_limit - GALAXY_COLOR_FROM_R[req.band]
    gals = _galaxies(rng, n_galaxies, min(17.0, rlim - 1), rlim, req.band, ra, dec)
    return SkyCatalog.concat([stars, gals])
