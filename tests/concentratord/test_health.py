"""The watchdog's judge: a loop is stalled only past its own deadline; a broker that is down
is not a stall; a stall and the recovery are logged once each."""

from __future__ import annotations

import logging

import pytest

from concentratord.health import Deadlines, Health


class Loops:
    """Clocks and progress marks the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0  # gateway time
        self.mono = 50.0
        self.last_frame = 1000.0
        self.publishing: dict[str, float | None] = {"water": None}

    def health(self) -> Health:
        return Health(
            Deadlines(radio_silence=600, uplink_stall=60),
            clock=lambda: self.now,
            last_frame=lambda: self.last_frame,
            publishing_since=lambda: self.publishing,
            monotonic=lambda: self.mono,
        )


def test_progress_within_the_deadlines_is_healthy() -> None:
    loops = Loops()
    loops.now += 599
    loops.publishing["water"] = loops.mono - 59
    assert loops.health().check() is None


def test_a_radio_silent_past_its_deadline_is_stalled() -> None:
    loops = Loops()
    loops.now += 601
    reason = loops.health().check()
    assert reason is not None and reason.startswith("the radio loop stalled: no telegram for 601 s")


def test_a_publishing_pass_past_its_deadline_is_a_stalled_uplink() -> None:
    loops = Loops()
    loops.publishing["water"] = loops.mono - 61
    reason = loops.health().check()
    assert reason is not None and "uplink loop of tenant water stalled" in reason


def test_a_publisher_waiting_for_its_broker_is_not_stalled() -> None:
    loops = Loops()
    loops.mono += 10_000  # hours without a publishing pass: the broker is down
    assert loops.health().check() is None


def test_a_stall_and_its_recovery_are_logged_once_each(caplog: pytest.LogCaptureFixture) -> None:
    loops = Loops()
    health = loops.health()
    loops.now += 700
    with caplog.at_level(logging.WARNING, logger="concentratord.health"):
        health.check()
        health.check()
        loops.last_frame = loops.now
        health.check()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert messages[0].startswith("watchdog: the radio loop stalled")
    assert messages[1].startswith("watchdog: every loop makes progress again")
