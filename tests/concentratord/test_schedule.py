"""Interval boundaries in scaled time, and catching up after a late firing."""

from __future__ import annotations

from datetime import UTC, datetime

from concentratord.clock import ScaledClock
from concentratord.schedule import BoundaryTrigger, IntervalTracker, last_boundary


class FakeTime:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_last_boundary_is_on_the_hour() -> None:
    assert last_boundary(7200.0 + 59, 3600.0) == 7200.0


def test_scaled_clock_runs_scale_times_faster() -> None:
    real = FakeTime(100.0)
    clock = ScaledClock(360.0, start=0.0, real=real)
    real.t = 110.0
    assert clock() == 3600.0


def test_trigger_fires_at_the_real_time_of_the_next_boundary_plus_grace() -> None:
    real = FakeTime(1000.0)
    clock = ScaledClock(360.0, start=3000.0, real=real)
    trigger = BoundaryTrigger(clock, 3600.0, grace_s=36.0)
    fire = trigger.get_next_fire_time(None, datetime.fromtimestamp(1000.0, UTC))
    assert fire is not None
    # boundary 3600 + 36 s grace = 636 simulated seconds ahead = 1.7667 real seconds
    assert abs(fire.timestamp() - (1000.0 + 636.0 / 360.0)) < 1e-6


def test_tracker_reports_each_due_interval_once() -> None:
    now = FakeTime(3590.0)
    tracker = IntervalTracker(now, grace_s=5.0)
    tracker.start("hourly")
    assert tracker.due("hourly") == []
    now.t = 3606.0
    assert tracker.due("hourly") == [3600.0]
    assert tracker.due("hourly") == []


def test_tracker_catches_up_after_a_missed_firing() -> None:
    now = FakeTime(10.0)
    tracker = IntervalTracker(now, grace_s=0.0)
    tracker.start("5min")
    now.t = 3 * 300.0 + 1
    assert tracker.due("5min") == [300.0, 600.0, 900.0]


def test_tracker_takes_an_end_a_frame_has_passed_without_waiting_for_the_grace() -> None:
    now = FakeTime(3590.0)
    tracker = IntervalTracker(now, grace_s=10.0)
    tracker.start("hourly")
    assert tracker.next_end("hourly") == 3600.0
    now.t = 3601.0  # within the grace: the scheduled job would still wait
    assert tracker.due("hourly", passed=3600.5) == [3600.0]
    assert tracker.next_end("hourly") == 7200.0
    now.t = 3611.0
    assert tracker.due("hourly") == []  # the scheduled job finds it taken
