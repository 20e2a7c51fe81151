"""Hardware timing and drifts."""

from __future__ import annotations

import pytest

from skytwin.scenarios.schema import Dome, Mount, Telescope
from skytwin.twin import hardware
from skytwin.twin.links import Link


def test_trapezoidal_axis_time() -> None:
    # 2 deg/s top rate, 1 deg/s^2: ramps cover 4 deg
    assert hardware.axis_time_s(0.0, 2.0, 1.0) == 0.0
    assert hardware.axis_time_s(1.0, 2.0, 1.0) == pytest.approx(2.0)  # triangle: 2*sqrt(1/1)
    assert hardware.axis_time_s(4.0, 2.0, 1.0) == pytest.approx(4.0)
    assert hardware.axis_time_s(-24.0, 2.0, 1.0) == pytest.approx(14.0)  # 24/2 + 2/1


def test_slew_waits_for_slower_axis_dome_and_settle() -> None:
    tel = Telescope(mount=Mount(max_rate_deg_s=2.0, accel_deg_s2=1.0, settle_s=5.0))
    dome = Dome(rotation_deg_s=1.0)
    t = hardware.slew_time_s(tel, dome, 0.0, 0.0, 24.0, 1.0, 0.0, 2.0)
    assert t == pytest.approx(14.0 + 5.0)
    t = hardware.slew_time_s(tel, dome, 0.0, 0.0, 1.0, 0.0, 0.0, 90.0)
    assert t == pytest.approx(90.0 + 5.0)  # the dome is slower
    roof = Dome(kind="roll_off_roof")
    assert hardware.slew_time_s(tel, roof, 0.0, 0.0, 1.0, 0.0, 0.0, 90.0) == pytest.approx(2.0 + 5.0)
    # hour angle wraps: 350 -> 10 is 20 degrees
    assert hardware.slew_time_s(tel, roof, 350.0, 0.0, 10.0, 0.0, 0.0, 0.0) == pytest.approx(hardware.axis_time_s(20, 2, 1) + 5)


def test_drifts() -> None:
    tel = Telescope()
    assert hardware.focus_offset_um(tel, 5.0, 10.0) == pytest.approx(-5.0 * tel.focus.drift_um_per_c)
    assert hardware.throughput(tel, 0.0) == 1.0
    assert hardware.throughput(tel, 100.0) == pytest.approx((1 - tel.throughput.loss_per_day) ** 100)
    assert hardware.zp_error_mag(tel, 10.0) == pytest.approx(10 * tel.throughput.zp_drift_mag_per_day)


def test_link_store_and_forward() -> None:
    link = Link(2.0, [(100.0, 200.0), (150.0, 300.0), (500.0, 600.0)])
    assert link.outages == [(100.0, 300.0), (500.0, 600.0)]
    assert link.up(50.0) and not link.up(120.0) and not link.up(299.0) and link.up(300.0)
    assert link.deliver_s(50.0) == 52.0
    assert link.deliver_s(120.0) == 302.0
    assert link.deliver_s(550.0) == 602.0
