"""The event log: every weather sample, alert, fault, command and frame.

Rows are appended as tuples per kind (cheap in the hot loop) and written to
one Parquet table whose columns are the union over kinds: ``seq`` (order of
recording), ``t_s``, ``kind``, ``site``, then each kind's own fields (null
where a kind has no such field). ``EventLog.load`` reads it back to the same
log, so a run can be replayed and compared.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from skytwin.errors import EventLogError

# kind -> field names after (seq, t_s, kind, site)
SCHEMAS: dict[str, tuple[str, ...]] = {
    "weather": ("cloud_cover", "seeing_arcsec", "humidity_pct", "temperature_c", "wind_mps", "gust_mps", "rain", "safe", "sun_alt_deg"),
    "alert": ("alert_id", "alert_kind", "ra_deg", "dec_deg", "error_deg", "containment", "mission", "alert_tense"),
    "alert_received": ("alert_id",),
    "request": ("request_id", "program", "target", "ra_deg", "dec_deg", "priority", "request_kind"),
    "fault": ("telescope", "fault", "duration_s"),
    "fault_end": ("telescope", "fault"),
    "link": ("up",),
    "dome": ("telescope", "open", "duration_s"),
    "command": ("telescope", "command", "duration_s"),
    "refused": ("telescope", "command", "reason"),
    "decision": ("telescope", "decision", "request_id"),
    "frame": (
        "telescope", "frame_id", "request_id", "program", "target", "ra_deg", "dec_deg", "filter", "exptime_s",
        "alt_deg", "airmass", "moon_sep_deg", "seeing_arcsec", "fwhm_arcsec", "ellipticity", "sky_mag_arcsec2",
        "sky_e_per_pix", "transparency", "limiting_mag", "snr_expected", "cloud_cover", "focus_offset_um", "zp_error_mag", "delivered_t_s",
    ),
    "frame_delivered": ("frame_id",),
    "frame_file": ("frame_id", "path", "quality", "reason", "measured_fwhm_arcsec"),
    "visit_done": ("request_id", "program", "priority"),
    "calibration": ("telescope", "calibration"),
    "maintenance": ("telescope", "maintenance"),
}

_BASE = ("seq", "t_s", "kind", "site")


class EventLog:
    """An append-only, typed event log."""

    def __init__(self) -> None:
        self._rows: dict[str, list[tuple[Any, ...]]] = {k: [] for k in SCHEMAS}
        self._seq = 0

    def add(self, kind: str, t_s: float, site: str, *values: Any) -> None:
        """Record one event; ``values`` in the order of ``SCHEMAS[kind]``."""
        self._rows[kind].append((self._seq, t_s, site) + values)
        self._seq += 1

    def __len__(self) -> int:
        return self._seq

    def rows(self, kind: str) -> list[dict[str, Any]]:
        """Events of one kind as dicts (in recording order)."""
        names = ("seq", "t_s", "site") + SCHEMAS[kind]
        return [dict(zip(names, r)) for r in self._rows[kind]]

    def count(self, kind: str) -> int:
        return len(self._rows[kind])

    def column(self, kind: str, name: str) -> list[Any]:
        names = ("seq", "t_s", "site") + SCHEMAS[kind]
        j = names.index(name)
        return [r[j] for r in self._rows[kind]]

    def kinds(self) -> Sequence[str]:
        return [k for k, v in self._rows.items() if v]

    # ------------------------------------------------------------- Parquet
    def to_table(self) -> pa.Table:
        tables = []
        for kind, rows in self._rows.items():
            if not rows:
                continue
            names = ("seq", "t_s", "site") + SCHEMAS[kind]
            cols = list(zip(*rows))
            arrays = {n: pa.array(c) for n, c in zip(names, cols)}
            arrays["kind"] = pa.array([kind] * len(rows), pa.string())
            tables.append(pa.table(arrays))
        if not tables:
            return pa.table({n: pa.array([], t) for n, t in zip(_BASE, (pa.int64(), pa.float64(), pa.string(), pa.string()))})
        table = pa.concat_tables(tables, promote_options="permissive")
        order = pc.sort_indices(table, [("seq", "ascending")])
        table = table.take(order)
        first = [n for n in _BASE if n in table.column_names]
        rest = [n for n in table.column_names if n not in first]
        return table.select(first + rest)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(self.to_table(), path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "EventLog":
        path = Path(path)
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowInvalid) as exc:
            raise EventLogError(f"cannot read event log {path}: {exc}") from None
        missing = [n for n in _BASE if n not in table.column_names]
        if missing:
            raise EventLogError(f"{path} is not a skytwin event log: missing columns {missing}")
        log = cls()
        data = table.to_pydict()
        n = table.num_rows
        for i in range(n):
            kind = data["kind"][i]
            if kind not in SCHEMAS:
                raise EventLogError(f"{path}: unknown event kind {kind!r} in row {i}")
            vals = tuple(data[f][i] if f in data else None for f in SCHEMAS[kind])
            log._rows[kind].append((data["seq"][i], data["t_s"][i], data["site"][i]) + vals)
        log._seq = (max(data["seq"]) + 1) if n else 0
        return log

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EventLog):
            return NotImplemented
        return self._rows == other._rows

    def extend_from(self, events: Iterable[tuple[str, float, str, tuple[Any, ...]]]) -> None:
        for kind, t_s, site, values in events:
            self.add(kind, t_s, site, *values)
