"""Site profiles for training data: how the network's telescopes and skies differ.

Units: pixel scale arcsec/pixel, apertures metres, exposure seconds, seeing
arcsec (median delivered atmospheric FWHM at zenith), sky brightness offset
mag/arcsec^2 brighter than the band's dark sky (light pollution), rates as
the probability that a frame suffers the named problem.

Each profile is a camera + telescope + climate: the quality and detection
data sets draw frames per site, so that whole sites can be held out
(:data:`HELDOUT_SITES` are never used in training; the benchmark scores them
separately). Profiles are loosely modelled on the sites of
``shared/realdata/observatory_sites.csv`` (median seeing and darkness), with
cameras typical of 0.4-1 m robotic telescopes; none is a copy of a real one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SiteProfile:
    """One site's telescope, camera and climate (units in the module docstring)."""

    name: str
    pixel_scale_arcsec: float
    aperture_m: float
    gain_e_per_adu: float
    read_noise_e: float
    bias_adu: float
    exptime_s: tuple[float, ...]
    band: tuple[str, ...]
    seeing_arcsec: float
    light_pollution_mag: float
    p_clouds: float
    p_defocus: float
    p_tracking: float
    p_moon: float
    p_trail: float
    hot_pixel_fraction: float
    cosmic_ray_rate: float
    full_well_e: float = 100000.0


SITES: tuple[SiteProfile, ...] = (
    SiteProfile("teide", 0.6, 0.5, 1.5, 8.0, 1000.0, (30.0, 60.0, 120.0), ("r", "g", "i"),
                1.0, 0.2, 0.15, 0.1, 0.1, 0.15, 0.1, 2e-4, 0.02),
    SiteProfile("la_palma", 0.45, 1.0, 1.2, 5.0, 500.0, (60.0, 90.0), ("r", "V", "i"),
                0.9, 0.1, 0.15, 0.1, 0.05, 0.15, 0.1, 1e-4, 0.02),
    SiteProfile("siding_spring", 0.9, 0.4, 2.0, 10.0, 1500.0, (60.0, 120.0), ("V", "R", "clear"),
                1.4, 0.4, 0.25, 0.15, 0.1, 0.15, 0.12, 5e-4, 0.03),
    SiteProfile("cerro_pachon", 0.5, 0.8, 1.0, 6.0, 800.0, (30.0, 60.0), ("g", "r", "i", "z"),
                0.8, 0.0, 0.1, 0.1, 0.05, 0.2, 0.15, 1e-4, 0.02),
    SiteProfile("haleakala", 0.7, 0.6, 1.6, 7.0, 1200.0, (45.0, 90.0), ("r", "i"),
                1.0, 0.2, 0.2, 0.15, 0.1, 0.15, 0.1, 3e-4, 0.03),
    SiteProfile("mt_john", 1.1, 0.6, 2.2, 12.0, 2000.0, (60.0, 180.0), ("B", "V", "R"),
                1.6, 0.5, 0.35, 0.1, 0.15, 0.15, 0.1, 6e-4, 0.02),
    # held out of training: a small fine-pixel camera and a coarse wide-field one
    SiteProfile("sutherland", 0.55, 0.4, 1.3, 9.0, 600.0, (60.0, 120.0), ("V", "r", "I"),
                1.2, 0.3, 0.2, 0.15, 0.1, 0.15, 0.1, 3e-4, 0.025),
    SiteProfile("mt_lemmon", 1.0, 0.7, 1.8, 6.0, 1000.0, (30.0, 90.0), ("g", "r", "clear"),
                1.3, 0.6, 0.2, 0.1, 0.15, 0.15, 0.15, 2e-4, 0.02),
)

HELDOUT_SITES: tuple[str, ...] = ("sutherland", "mt_lemmon")
TRAIN_SITES: tuple[str, ...] = tuple(s.name for s in SITES if s.name not in HELDOUT_SITES)


def site(name: str) -> SiteProfile:
    """The profile called ``name``."""
    for s in SITES:
        if s.name == name:
            return s
    from skytwin.errors import UnknownNameError
    raise UnknownNameError("site profile", name, [s.name for s in SITES])
