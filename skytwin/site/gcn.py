"""Real alert notices into the project's :class:`~skytwin.site.types.Alert`.

Live mode receives NASA GCN notices; this module reads the two forms in
``shared/realdata/gcn``: VOEvent 2.0 XML (Fermi, Swift, INTEGRAL, LVK) and
the Fink broker's GCN table (Parquet, one notice per row). Positions are in
degrees; a notice without a position (LVK VOEvents point to a sky map) gets
NaN ``ra``/``dec``/``ra_dec_error``.

Containment: VOEvent ``Error2Radius`` is the statistical 68 % radius for
Fermi GBM and the 90 % radius for Swift and INTEGRAL (GCN's documentation of
each notice type); ``containment_probability`` says which.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from skytwin.errors import SkytwinError
from skytwin.site.types import Alert

_CONTAINMENT = {"Fermi": 0.68}
_GW_MISSIONS = ("LVC", "LVK", "LIGO", "gwnet")


class AlertParseError(SkytwinError):
    """A notice that cannot be read as an alert."""


def _iso(text: str) -> str:
    """Normalise a notice timestamp to ISO 8601 UTC with a Z."""
    t = text.strip().replace(" ", "T")
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise AlertParseError(f"not a timestamp: {text!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _mission_from_ivorn(ivorn: str) -> tuple[str, str]:
    # ivo://nasa.gsfc.gcn/Fermi#GBM_Fin_Pos...  ->  ("Fermi", "GBM");  ivo://gwnet/LVC#S230623ai-2-Preliminary -> ("LVK", "")
    path = ivorn.split("//", 1)[-1]
    stream = path.split("/", 1)[-1].split("#", 1)[0]
    frag = ivorn.split("#", 1)[-1] if "#" in ivorn else ""
    if stream in _GW_MISSIONS or path.startswith("gwnet"):
        return "LVK", ""
    return stream, frag.split("_", 1)[0]


def _kind(messenger: str, mission: str) -> str:
    return "gw" if messenger == "GW" else "grb" if mission in ("Fermi", "Swift", "INTEGRAL", "SVOM", "Einstein Probe") else "sn"


def parse_voevent(xml_text: str) -> Alert:
    """A VOEvent 2.0 notice (GCN or LVK) as an :class:`Alert`."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise AlertParseError(f"not VOEvent XML: {exc}") from None
    if not root.tag.endswith("VOEvent"):
        raise AlertParseError(f"root element is {root.tag!r}, expected VOEvent")
    ivorn = root.get("ivorn", "")
    role = root.get("role", "observation")
    mission, instrument = _mission_from_ivorn(ivorn)
    messenger = "GW" if mission == "LVK" else "EM"
    params = {p.get("name"): p.get("value") for p in root.iter() if p.tag.endswith("Param")}
    date = next((e.text for e in root.iter() if e.tag.endswith("Date") and e.text), None)
    iso_time = next((e.text for e in root.iter() if e.tag.endswith("ISOTime") and e.text), None)
    c1 = next((e.text for e in root.iter() if e.tag.endswith("C1")), None)
    c2 = next((e.text for e in root.iter() if e.tag.endswith("C2")), None)
    err = next((e.text for e in root.iter() if e.tag.endswith("Error2Radius")), None)
    if date is None:
        raise AlertParseError(f"{ivorn}: no Who/Date")
    ra = float(c1) if c1 else math.nan
    dec = float(c2) if c2 else math.nan
    if messenger == "GW":
        instrument = params.get("Instruments", "") or "LIGO-Virgo-KAGRA"
        ident = params.get("GraceID", ivorn)
    else:
        ident = params.get("TrigID", ivorn)
    alert_type = "retraction" if (params.get("AlertType", "") or "").lower() == "retraction" else (
        "initial" if params.get("Sequence_Num", "0") in ("0", None) and "Prelim" not in ivorn else "update"
    )
    return Alert(
        id=(str(ident), ivorn) if ivorn else (str(ident),),
        alert_datetime=_iso(date),
        alert_tense="test" if role == "test" else "current",
        alert_type=alert_type,  # type: ignore[arg-type]
        trigger_time=_iso(iso_time) if iso_time else _iso(date),
        ra=ra,
        dec=dec,
        ra_dec_error=float(err) if err else math.nan,
        containment_probability=_CONTAINMENT.get(mission, 0.9),
        mission=mission,
        instrument=instrument,
        messenger=messenger,  # type: ignore[arg-type]
        kind=_kind(messenger, mission),  # type: ignore[arg-type]
    )


def parse_fink_row(row: dict[str, Any]) -> Alert:
    """One row of Fink's GCN table (``observatory``, ``ra``, ``err_arcmin``, ``raw_event`` ...)."""
    try:
        mission = str(row["observatory"])
        messenger = "GW" if mission in _GW_MISSIONS or row.get("event") == "gw" else "EM"
        status = str(row.get("gcn_status", "initial"))
        raw = str(row.get("raw_event", ""))
        tense = "current"
        if raw.lstrip().startswith("{"):
            if json.loads(raw).get("alert_type", "").upper() == "RETRACTION":
                status = "retraction"
        elif 'role="test"' in raw:
            tense = "test"
        return Alert(
            id=tuple(str(x) for x in (row["triggerId"], row.get("ivorn")) if x),
            alert_datetime=_iso(str(row["ackTime"])),
            alert_tense=tense,  # type: ignore[arg-type]
            alert_type="retraction" if status == "retraction" else "initial" if status == "initial" else "update",
            trigger_time=_iso(str(row["triggerTimeUTC"])),
            ra=float(row["ra"]),
            dec=float(row["dec"]),
            ra_dec_error=float(row["err_arcmin"]) / 60.0,
            containment_probability=_CONTAINMENT.get(mission, 0.9),
            mission="LVK" if messenger == "GW" else mission,
            instrument=str(row["instrument"]),
            messenger=messenger,  # type: ignore[arg-type]
            kind=_kind(messenger, mission),  # type: ignore[arg-type]
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise AlertParseError(f"not a Fink GCN row: {exc!r}") from None


def read_fink_parquet(path: str | Path) -> list[Alert]:
    """Every notice in a Fink GCN Parquet file."""
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(path).to_pylist()
    except Exception as exc:  # pyarrow raises several unrelated types
        raise AlertParseError(f"cannot read {path}: {exc}") from None
    return [parse_fink_row(r) for r in rows]
