"""The observation generator: where schedulers' candidate requests come from.

Four sources, each a pure function of what the network knows (requests,
detections, telescope state, conditions), returning
:class:`~skytwin.site.types.ObservationRequest` s or decisions:

* :func:`survey_order` ranks survey fields by coverage (fewest visits so far
  first) and expected yield (priority x sin(altitude) x transparency);
* :func:`followups` turns a detection (of an alert counterpart or a new
  transient) into follow-up requests: another filter at the same site, another
  site for confirmation, and a later epoch;
* :func:`calibration_due` says when drift (focus, zero point) or the calendar
  (hours since the last calibration) calls for a calibration;
* :func:`fill_ins` proposes opportunistic short exposures of bright targets
  when the primary requests are infeasible, e.g. through thin cloud.

Units: seconds, degrees, magnitudes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from skytwin.site.types import Calibrate, ObservationRequest, RequestKind, TelescopeState

FOCUS_LIMIT_UM = 40.0  # refocus past this defocus (micrometres)
ZP_LIMIT_MAG = 0.02  # photometric calibration past this zero-point drift (mag)
CALENDAR_S = 6 * 3600.0  # s: calibrate at least this often while observing
FOLLOWUP_PRIORITY = 8.0
FOLLOWUP_EXPTIME_S = 120.0  # s
CONFIRM_WINDOW_S = 6 * 3600.0  # s: another site should confirm within this
LATER_EPOCH_S = 86400.0  # s: the later epoch comes a day on
FILL_IN_MAX_MAG = 12.0  # fill-ins only for targets brighter than this
FILL_IN_EXPTIME_S = 10.0  # s
FILL_IN_MIN_TRANSPARENCY = 0.4


def survey_order(visits_done: np.ndarray, priority: np.ndarray, alt_deg: np.ndarray, transparency: float) -> np.ndarray:
    """Survey candidates in the order to offer them: least covered first, then by expected yield."""
    yield_ = priority * np.sin(np.radians(np.clip(alt_deg, 0.0, 90.0))) * transparency
    return np.lexsort((np.arange(len(yield_)), -yield_, visits_done))


def followups(
    detection_id: str,
    ra_deg: float,
    dec_deg: float,
    t_s: float,
    site: str,
    filter: str,
    other_filters: Sequence[str],
    other_sites: Sequence[str],
    priority: float = FOLLOWUP_PRIORITY,
    alert_id: str | None = None,
) -> list[ObservationRequest]:
    """Follow-up requests for a detection: other filter, other site (confirmation), later epoch."""
    out = []
    base = dict(ra_deg=ra_deg, dec_deg=dec_deg, exptime_s=FOLLOWUP_EXPTIME_S, priority=priority, program="followup",
                kind=RequestKind.TOO, alert_id=alert_id, target=f"{detection_id} follow-up")
    colour = next((f for f in other_filters if f != filter), None)
    if colour is not None:
        out.append(ObservationRequest(id=f"FU-{detection_id}-colour", filter=colour, site=site,
                                      window_start_s=t_s, window_end_s=t_s + CONFIRM_WINDOW_S, **base))  # type: ignore[arg-type]
    for s in other_sites:
        if s != site:
            out.append(ObservationRequest(id=f"FU-{detection_id}-confirm", filter=filter, site=s,
                                          window_start_s=t_s, window_end_s=t_s + CONFIRM_WINDOW_S, **base))  # type: ignore[arg-type]
            break
    out.append(ObservationRequest(id=f"FU-{detection_id}-epoch2", filter=filter, site=None,
                                  window_start_s=t_s + LATER_EPOCH_S - 6 * 3600.0, window_end_s=t_s + LATER_EPOCH_S + 18 * 3600.0,
                                  **{**base, "priority": priority / 2}))  # type: ignore[arg-type]
    return out


def calibration_due(tel: TelescopeState, t_s: float, last_calibration_s: float | None, cloud_cover: float) -> Calibrate | None:
    """The calibration drift or the calendar calls for now, if any."""
    focus = abs(tel.focus_offset_um) > FOCUS_LIMIT_UM
    zp = tel.zp_error_mag > ZP_LIMIT_MAG and cloud_cover < 0.3
    calendar = last_calibration_s is not None and t_s - last_calibration_s > CALENDAR_S
    if focus and (zp or calendar):
        return Calibrate("both")
    if focus:
        return Calibrate("focus")
    if zp or (calendar and cloud_cover < 0.3):
        return Calibrate("photometric")
    return None


def fill_ins(
    requests: Sequence[ObservationRequest], alt_deg: np.ndarray, horizon_deg: float, transparency: float, t_s: float, max_n: int = 3
) -> list[ObservationRequest]:
    """Short exposures of bright, well-placed targets for when nothing primary is feasible.

    Through thin cloud (transparency at least ``FILL_IN_MIN_TRANSPARENCY``),
    bright targets (magnitude under ``FILL_IN_MAX_MAG``) still give useful
    photometry in a short exposure.
    """
    if transparency < FILL_IN_MIN_TRANSPARENCY:
        return []
    mags = np.array([r.magnitude for r in requests], dtype=float)
    ok = np.flatnonzero((mags < FILL_IN_MAX_MAG) & (alt_deg > horizon_deg + 10.0))
    ok = ok[np.lexsort((ok, -alt_deg[ok]))][:max_n]
    out = []
    for j in ok:
        r = requests[int(j)]
        out.append(ObservationRequest(
            id=f"FILL-{r.id}-{int(t_s)}", target=r.target, ra_deg=r.ra_deg, dec_deg=r.dec_deg, filter=r.filter,
            exptime_s=FILL_IN_EXPTIME_S, priority=0.5 * r.priority, program="fill_in", kind=RequestKind.MONITORING,
            window_start_s=t_s, window_end_s=t_s + 3600.0, magnitude=r.magnitude,
        ))
    return out


del math
