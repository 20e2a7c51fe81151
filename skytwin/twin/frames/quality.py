"""The frame quality label: good / medium / bad, from the physical truth, with the reason.

Inputs are physical truth values (not measurements): delivered FWHM (arcsec),
mean transparency (fraction), sky brightness and the band's dark-sky value
(mag/arcsec^2), PSF ellipticity (1 - b/a), the defocus and seeing parts of the
FWHM (arcsec), the number of satellite/aircraft trails, the fraction of
pixels at full well, and the Moon's illumination and separation.

Each criterion gives a grade; the frame's label is the worst grade, and the
reason lists every criterion at that grade, joined by "+" ("" when good):

=============  =====================================  ============  ===========
reason         quantity                               medium from   bad from
=============  =====================================  ============  ===========
clouds         transparency (lower is worse)          < 0.8         < 0.5
seeing         FWHM (arcsec), seeing-dominated        > 2.0         > 3.5
defocus        FWHM (arcsec), defocus >= seeing part  > 2.0         > 3.5
tracking       ellipticity 1 - b/a                    > 0.15        > 0.3
moonlight      sky - dark sky (mag brighter),         > 1.0         > 2.5
               Moon > 25% lit and < 90 deg away
background     as moonlight, otherwise (twilight,     > 1.0         > 2.5
               light pollution)
trail          satellite/aircraft trails              >= 1          >= 3
saturation     fraction of pixels at full well        > 1e-4        > 1e-3
=============  =====================================  ============  ===========
"""

from __future__ import annotations

from dataclasses import dataclass

GOOD, MEDIUM, BAD = "good", "medium", "bad"
_RANK = {GOOD: 0, MEDIUM: 1, BAD: 2}

# (medium threshold, bad threshold) per criterion; see the table above.
CLOUDS = (0.8, 0.5)
FWHM_ARCSEC = (2.0, 3.5)
ELLIPTICITY = (0.15, 0.3)
SKY_EXCESS_MAG = (1.0, 2.5)
TRAILS = (1, 3)
SATURATED_FRACTION = (1e-4, 1e-3)
MOON_LIT = 0.25  # Moon illumination above which a bright sky is blamed on the Moon
MOON_NEAR_DEG = 90.0  # ... if the Moon is closer than this (degrees)


@dataclass(frozen=True, slots=True)
class QualityInputs:
    """Physical truth behind the label (units in the module docstring)."""

    fwhm_arcsec: float
    transparency: float = 1.0
    sky_mag_arcsec2: float = 21.0
    dark_sky_mag_arcsec2: float = 21.0
    ellipticity: float = 0.0
    seeing_arcsec: float = 0.0
    defocus_arcsec: float = 0.0
    n_trails: int = 0
    saturated_fraction: float = 0.0
    moon_illumination: float = 0.0
    moon_sep_deg: float = 180.0


def _grade_high(value: float, limits: tuple[float, float]) -> str:
    return BAD if value > limits[1] else MEDIUM if value > limits[0] else GOOD


def quality_label(q: QualityInputs) -> tuple[str, str]:
    """The label (good/medium/bad) and the reason (criteria at that grade, "+"-joined)."""
    grades: list[tuple[str, str]] = []
    clouds = BAD if q.transparency < CLOUDS[1] else MEDIUM if q.transparency < CLOUDS[0] else GOOD
    grades.append((clouds, "clouds"))
    blur = "defocus" if q.defocus_arcsec >= q.seeing_arcsec > 0 or (
        q.defocus_arcsec > 0 and q.seeing_arcsec <= 0) else "seeing"
    grades.append((_grade_high(q.fwhm_arcsec, FWHM_ARCSEC), blur))
    grades.append((_grade_high(q.ellipticity, ELLIPTICITY), "tracking"))
    excess = q.dark_sky_mag_arcsec2 - q.sky_mag_arcsec2
    moon = q.moon_illumination > MOON_LIT and q.moon_sep_deg < MOON_NEAR_DEG
    grades.append((_grade_high(excess, SKY_EXCESS_MAG), "moonlight" if moon else "background"))
    trails = BAD if q.n_trails >= TRAILS[1] else MEDIUM if q.n_trails >= TRAILS[0] else GOOD
    grades.append((trails, "trail"))
    grades.append((_grade_high(q.saturated_fraction, SATURATED_FRACTION), "saturation"))
    worst = max((g for g, _ in grades), key=_RANK.__getitem__)
    if worst == GOOD:
        return GOOD, ""
    return worst, "+".join(r for g, r in grades if g == worst)
