"""A battery bridge's uplink sessions (decision 0009), with a fake uplink on a fast clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from concentratord.bridge.spans import DAY
from concentratord.bridge.uplink_sessions import DELIVERY_DELAY_S, UplinkSessions
from concentratord.clock import ScaledClock

SCALE = 43_200.0  # a day in two seconds


class FakeUplink:
    """Connects at once; records sessions and the offline reasons."""

    def __init__(self) -> None:
        self.connected = asyncio.Event()
        self.starts = 0
        self.reasons: list[str] = []

    async def start(self) -> None:
        self.starts += 1
        self.connected.set()

    async def stop(self, reason: str = "stopped") -> None:
        if self.connected.is_set():
            self.reasons.append(reason)
        self.connected.clear()


class Outbox:
    """Pending rows of one tenant: the publisher drains them while connected."""

    def __init__(self, uplink: FakeUplink) -> None:
        self.uplink = uplink
        self.alarms = 0
        self.rows = 0
        self.sent: list[str] = []

    async def drained(self) -> bool:
        if self.uplink.connected.is_set():
            self.sent += ["alarm"] * self.alarms + ["row"] * self.rows
            self.alarms = self.rows = 0
        return self.alarms == self.rows == 0

    async def alarm_waiting(self) -> bool:
        return self.alarms > 0


def sessions_of(
    uplink: FakeUplink,
    outbox: Outbox,
    *,
    wake: asyncio.Event,
    immediate: bool = True,
    session_max: float = 900.0,
    drained: Callable[[], Awaitable[bool]] | None = None,
    start: float = 3600.0,
    scale: float = SCALE,
) -> UplinkSessions:
    """Sessions of tenant ``a``, four deliveries a day; the clock starts at 01:00 (the
    next delivery 0.42 s away) unless ``start`` says otherwise."""
    return UplinkSessions(
        "a",
        uplink,
        wake=wake,
        drained=drained or outbox.drained,
        alarm_waiting=outbox.alarm_waiting,
        clock=ScaledClock(scale, start=start),
        deliveries=4,
        immediate_alarms=immediate,
        session_max=session_max,
    )


def run(
    make: Callable[[asyncio.Event], UplinkSessions],
    real_s: float,
    during: Callable[[UplinkSessions, asyncio.Event], Awaitable[None]] | None = None,
) -> UplinkSessions:
    async def main() -> UplinkSessions:
        wake = asyncio.Event()
        sessions = make(wake)
        task = asyncio.create_task(sessions.run())
        if during is not None:
            await during(sessions, wake)
        await asyncio.sleep(real_s)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return sessions

    return asyncio.run(main())


def test_deliveries_are_evenly_spaced_from_midnight() -> None:
    uplink = FakeUplink()
    sessions = sessions_of(uplink, Outbox(uplink), wake=asyncio.Event())
    assert sessions.next_delivery(0.0) == DELIVERY_DELAY_S
    assert sessions.next_delivery(DELIVERY_DELAY_S) == DAY / 4 + DELIVERY_DELAY_S
    assert sessions.next_delivery(DAY - 1) == DAY + DELIVERY_DELAY_S


def test_a_day_has_one_session_per_delivery_after_the_start_one() -> None:
    uplink = FakeUplink()
    outbox = Outbox(uplink)
    started = DAY - 3600  # 23:00: the start session an hour before the day's first delivery
    last_delivery = DAY + 3 * DAY / 4 + DELIVERY_DELAY_S  # 18:01 the next day

    budgets: list[dict[str, object]] = []

    async def through_the_day(sessions: UplinkSessions, wake: asyncio.Event) -> None:
        # Until the last delivery of the day has begun, however busy the machine is; the
        # budget is read at once, while the start session is still within the day.
        for _ in range(1000):
            if sessions.clock() > last_delivery and uplink.starts >= 5:
                budgets.append(sessions.budget())
                return
            await asyncio.sleep(0.025)

    # Started at 23:00: the four deliveries of the next day follow, all within a day of the
    # start. (Started at midnight, a start session longer than the minute to the 00:01
    # delivery on a loaded machine made that delivery wait for the next midnight.) A day
    # in 10 s here, not 2, for the same reason.
    run(
        lambda w: sessions_of(uplink, outbox, wake=w, start=started, scale=DAY / 10),
        0.0,
        through_the_day,
    )
    assert budgets, "the last delivery did not come"
    assert budgets[0]["sessions_day_by_cause"] == {"start": 1, "delivery": 4, "alarm": 0}
    assert uplink.starts == 5


def test_no_connection_is_held_between_sessions() -> None:
    uplink = FakeUplink()
    outbox = Outbox(uplink)

    async def check(sessions: UplinkSessions, wake: asyncio.Event) -> None:
        await asyncio.sleep(0.2)  # the start session has ended, the first delivery not begun
        assert not uplink.connected.is_set()
        assert uplink.reasons == ["sleeping"]

    run(lambda w: sessions_of(uplink, outbox, wake=w), 0.25, check)


def store_between_deliveries(
    *, alarms: int = 0, rows: int = 0, immediate: bool = True
) -> tuple[Outbox, UplinkSessions]:
    """Store ``alarms`` / ``rows`` at 01:00 + 0.1 s (hours before the next delivery) and
    look at the outbox 0.05 s later: what went out by then, and the sessions."""
    uplink = FakeUplink()
    outbox = Outbox(uplink)
    seen: list[str] = []

    async def store(sessions: UplinkSessions, wake: asyncio.Event) -> None:
        await asyncio.sleep(0.1)
        outbox.alarms, outbox.rows = alarms, rows
        wake.set()
        await asyncio.sleep(0.05)  # far less than the six hours to the next delivery
        seen.extend(outbox.sent)

    sessions = run(lambda w: sessions_of(uplink, outbox, wake=w, immediate=immediate), 0.0, store)
    outbox.sent = seen
    return outbox, sessions


def test_an_alarm_opens_a_session_at_once_when_immediate() -> None:
    outbox, sessions = store_between_deliveries(alarms=1)
    assert outbox.sent == ["alarm"]
    assert sessions.budget()["sessions_day_by_cause"] == {"start": 1, "delivery": 0, "alarm": 1}


def test_a_stored_reading_does_not_open_a_session() -> None:
    outbox, _ = store_between_deliveries(rows=1)
    assert outbox.sent == [] and outbox.rows == 1


def test_a_scheduled_alarm_waits_for_the_next_delivery() -> None:
    outbox, _ = store_between_deliveries(alarms=1, immediate=False)
    assert outbox.sent == []


def test_a_session_that_cannot_drain_is_closed_at_session_max() -> None:
    uplink = FakeUplink()
    outbox = Outbox(uplink)

    async def never() -> bool:
        return False

    sessions = run(
        lambda w: sessions_of(uplink, outbox, wake=w, session_max=600.0, drained=never), 0.1
    )
    assert sessions.closed_pending == 1
    assert not uplink.connected.is_set()
