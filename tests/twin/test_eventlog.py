"""Event log: Parquet round trip and bad files."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from skytwin.errors import EventLogError
from skytwin.twin.eventlog import EventLog


def test_round_trip_keeps_every_event(tmp_path: Path) -> None:
    log = EventLog()
    log.add("weather", 0.0, "a", 0.1, 0.9, 30.0, 10.0, 3.0, 4.0, False, True, -20.0)
    log.add("alert", 5.0, "", "X-1", "gw", 10.0, -20.0, 5.0, 0.9, "LVK", "test")
    log.add("fault", 6.0, "a", "t1", "mount_stall", 3600.0)
    log.add("weather", 600.0, "a", 0.5, 1.1, 60.0, 9.0, 5.0, 7.0, True, False, -25.0)
    path = log.save(tmp_path / "e.parquet")
    table = pq.read_table(path)
    assert table.column_names[:4] == ["seq", "t_s", "kind", "site"]
    assert table.column("kind").to_pylist() == ["weather", "alert", "fault", "weather"]
    back = EventLog.load(path)
    assert back == log
    assert back.rows("weather")[1]["rain"] is True
    assert len(back) == 4


def test_empty_log_round_trips(tmp_path: Path) -> None:
    assert EventLog.load(EventLog().save(tmp_path / "e.parquet")) == EventLog()


def test_bad_files(tmp_path: Path) -> None:
    p = tmp_path / "x.parquet"
    p.write_bytes(b"not parquet")
    with pytest.raises(EventLogError, match="cannot read event log"):
        EventLog.load(p)
    import pyarrow as pa

    pq.write_table(pa.table({"a": [1]}), tmp_path / "y.parquet")
    with pytest.raises(EventLogError, match="missing columns"):
        EventLog.load(tmp_path / "y.parquet")
