"""Whether the clock may label an interval: sync sources, the floor, and the tracker's
restart from it (decision 0006, "Time you can trust")."""

from __future__ import annotations

from pathlib import Path

from concentratord.schedule import IntervalTracker
from concentratord.timekeeping import FlagFile, TimeKeeper, Trusted, sync_source

HOUR = 3600.0


class Clock:
    """A clock the test sets."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Flag:
    name = "test"

    def __init__(self, synchronised: bool) -> None:
        self.value = synchronised

    def synchronised(self) -> bool:
        return self.value


def test_a_flag_file_source_is_synchronised_while_the_file_exists(tmp_path: Path) -> None:
    flag = tmp_path / "synchronized"
    source = FlagFile(str(flag))
    assert source.synchronised() is False
    flag.touch()
    assert source.synchronised() is True


def test_sources_are_named_by_the_configuration(tmp_path: Path) -> None:
    for name in ("system", "file", "trusted"):
        assert sync_source(name, str(tmp_path / "f")).name == name


def test_a_trusted_source_is_always_synchronised() -> None:
    assert Trusted().synchronised() is True


def test_a_clock_behind_the_floor_is_not_trusted() -> None:
    clock = Clock(10 * HOUR)
    keeper = TimeKeeper(clock, Flag(True), floor=15 * HOUR)
    _, verdict = keeper.check()
    assert (verdict.synchronised, verdict.behind_store, verdict.trusted) == (True, True, False)


def test_a_clock_past_the_floor_is_trusted_again() -> None:
    clock = Clock(10 * HOUR)
    keeper = TimeKeeper(clock, Flag(True), floor=15 * HOUR)
    keeper.check()
    clock.now = 15 * HOUR + 1
    previous, verdict = keeper.check()
    assert previous.trusted is False and verdict.trusted is True


def test_an_unsynchronised_clock_is_not_trusted() -> None:
    keeper = TimeKeeper(Clock(10 * HOUR), Flag(False), floor=0.0)
    assert keeper.check()[1].trusted is False


def test_taking_an_interval_raises_the_floor() -> None:
    keeper = TimeKeeper(Clock(10 * HOUR), Flag(True), floor=0.0)
    keeper.taken(10 * HOUR)
    keeper.taken(9 * HOUR)
    assert keeper.floor == 10 * HOUR


def test_the_tracker_starts_after_the_floor_when_the_clock_is_behind_it() -> None:
    tracker = IntervalTracker(Clock(10 * HOUR), grace_s=10.0)
    tracker.start("hourly", now=10 * HOUR + 5, floor=15 * HOUR + 300)
    assert tracker.next_end("hourly") == 16 * HOUR


def test_the_tracker_labels_nothing_at_or_before_the_floor() -> None:
    clock = Clock(10 * HOUR)
    tracker = IntervalTracker(clock, grace_s=10.0)
    tracker.start("5min", floor=15 * HOUR)
    clock.now = 15 * HOUR + 20  # the clock crossed the floor
    assert tracker.due("5min") == []
    clock.now = 15 * HOUR + 310
    assert tracker.due("5min") == [15 * HOUR + 300]


def test_the_tracker_starts_at_the_current_interval_without_a_floor() -> None:
    tracker = IntervalTracker(Clock(10 * HOUR + 5), grace_s=10.0)
    tracker.start("hourly")
    assert tracker.next_end("hourly") == 11 * HOUR
