"""Listening windows of a battery bridge's radio (decision 0009), on a fast clock."""

from __future__ import annotations

import asyncio

import pytest

from concentratord.bridge.radio_windows import LEARNING_LISTEN_S, RadioWindows, auto_listen
from concentratord.clock import ScaledClock
from radio.driver import ModuleError

LISTEN, SLEEP = 600.0, 3000.0
SCALE = 36_000.0  # one cycle of an hour in 0.1 s


class FakeRadio:
    """Records sleep and wake; ``wake_failures`` wakes fail first."""

    sleep_method = "low-power mode"
    last_sleep: str | None = None

    def __init__(self, wake_failures: int = 0) -> None:
        self.calls: list[str] = []
        self.awake = True
        self.wake_failures = wake_failures

    async def sleep(self) -> None:
        self.calls.append("sleep")
        self.awake = False
        self.last_sleep = "port closed"  # as a module that refused its low-power mode

    async def wake(self, start_timeout: float = 10.0) -> None:
        self.calls.append("wake")
        if self.wake_failures:
            self.wake_failures -= 1
            raise ModuleError("no answer")
        self.awake = True


def run_for(windows: RadioWindows, real_s: float) -> None:
    async def main() -> None:
        task = asyncio.create_task(windows.run())
        await asyncio.sleep(real_s)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def make(radio: FakeRadio, clock: ScaledClock) -> RadioWindows:
    return RadioWindows(radio, clock=clock, listen_s=lambda: LISTEN, sleep_s=SLEEP)


def test_the_radio_sleeps_and_wakes_in_turn() -> None:
    radio = FakeRadio()
    windows = make(radio, ScaledClock(SCALE, start=0.0))
    run_for(windows, 0.55)
    # About five cycles of 0.1 s; a busy machine may run fewer, never out of turn.
    assert len(radio.calls) >= 6
    assert radio.calls == ["sleep", "wake"] * (len(radio.calls) // 2) + (
        ["sleep"] if len(radio.calls) % 2 else []
    )


def test_the_measured_radio_on_share_is_the_configured_one() -> None:
    clock = ScaledClock(SCALE, start=0.0)
    windows = make(FakeRadio(), clock)
    run_for(windows, 1.0)
    budget = windows.budget()
    assert budget["radio_on_share_configured"] == round(LISTEN / (LISTEN + SLEEP), 4)
    assert abs(float(str(budget["radio_on_share"])) - LISTEN / (LISTEN + SLEEP)) < 0.03
    assert budget["radio_sleep"] == "port closed"  # what the sleeps achieved, not the best


def test_a_radio_that_does_not_wake_is_tried_again_after_another_sleep() -> None:
    radio = FakeRadio(wake_failures=1)
    windows = make(radio, ScaledClock(SCALE, start=0.0))
    run_for(windows, 0.25)
    assert radio.calls[:4] == ["sleep", "wake", "wake", "sleep"]
    assert windows.wake_failures == 1


def test_listened_counts_only_the_windows() -> None:
    clock = ScaledClock(SCALE, start=0.0)
    windows = make(FakeRadio(), clock)
    run_for(windows, 0.75)  # past two full cycles
    first_two_cycles = windows.listened(windows.started, windows.started + 2 * (LISTEN + SLEEP))
    assert abs(first_two_cycles - 2 * LISTEN) < 0.02 * 2 * (LISTEN + SLEEP)


def test_silence_counts_from_now_while_asleep_and_from_the_window_opening_awake() -> None:
    clock = ScaledClock(1.0, start=1000.0, real=lambda: 0.0, real_start=0.0)
    windows = make(FakeRadio(), clock)
    assert windows.silence_from() == 1000.0  # asleep (no window open yet): now
    windows.spans.begin(900.0)
    assert windows.silence_from() == 900.0


def test_auto_listen_learns_the_intervals_first() -> None:
    assert auto_listen([]) == LEARNING_LISTEN_S
    assert auto_listen([16.0, None]) == LEARNING_LISTEN_S


def test_auto_listen_covers_the_longest_interval_one_and_a_half_times() -> None:
    assert auto_listen([16.0, 900.0, 120.0]) == 1350.0


def test_auto_listen_is_at_least_two_minutes() -> None:
    assert auto_listen([16.0]) == 120.0
