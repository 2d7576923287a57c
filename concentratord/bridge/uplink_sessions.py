"""A battery bridge's uplink: connected only to deliver (decision 0009).

One loop per tenant on the gateway clock. A session opens at each of ``bridge.deliveries``
times a day (evenly spaced from midnight, :data:`DELIVERY_DELAY_S` after the boundary so
that the interval batches made at it go out), at start (the head-end sees the gateway
come up), and, with ``bridge.alarm_uplink = "immediate"``, as soon as an alarm is stored.
It closes once the tenant's outbox is empty and nothing is in flight, after
:data:`LINGER_S` for the commands of a head-end that answers the ``online`` state (a
command sent while the bridge is offline is not queued for it), or at
``bridge.session_max``. Between sessions no connection is held; rows wait in the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from typing import Literal, Protocol

from concentratord.bridge.spans import DAY, OnSpans
from concentratord.clock import ScaledClock

log = logging.getLogger(__name__)

Cause = Literal["start", "delivery", "alarm"]
CAUSES: tuple[Cause, ...] = ("start", "delivery", "alarm")
DELIVERY_DELAY_S = 60.0  # after the boundary: the batches due at it are made by then
LINGER_S = 30.0  # gateway seconds a session stays up with nothing left to send
DRAIN_POLL_S = 0.05  # real seconds between looks at the outbox during a session
OFFLINE_REASON = "sleeping"  # the retained offline state between sessions


class SessionUplink(Protocol):
    """What a session needs of an uplink (uplink/client.py ``MqttUplink``)."""

    @property
    def connected(self) -> asyncio.Event:
        """Set while connected."""
        ...

    async def start(self) -> None:
        """Start connecting."""
        ...

    async def stop(self, reason: str = "stopped") -> None:
        """Publish the offline state with ``reason`` and disconnect."""
        ...


class UplinkSessions:
    """One tenant's delivery sessions."""

    def __init__(
        self,
        tenant: str,
        uplink: SessionUplink,
        *,
        wake: asyncio.Event,
        drained: Callable[[], Awaitable[bool]],
        alarm_waiting: Callable[[], Awaitable[bool]],
        clock: ScaledClock,
        deliveries: int,
        immediate_alarms: bool,
        session_max: float,
    ) -> None:
        """``wake``: set whenever something is stored for the tenant (its publisher's);
        ``drained()``: nothing pending for it and nothing in flight; ``alarm_waiting()``:
        an alarm of it is pending."""
        self.tenant = tenant
        self.uplink = uplink
        self.wake = wake
        self.drained = drained
        self.alarm_waiting = alarm_waiting
        self.clock = clock
        self.deliveries = deliveries
        self.immediate_alarms = immediate_alarms
        self.session_max = session_max
        self.spans = OnSpans()
        self.closed_pending = 0  # sessions closed at session_max with rows still pending
        self._causes: deque[tuple[float, Cause]] = deque()

    def next_delivery(self, now: float) -> float:
        """The first delivery time after ``now``."""
        period = DAY / self.deliveries
        k = (now - DELIVERY_DELAY_S) // period + 1
        return k * period + DELIVERY_DELAY_S

    async def run(self) -> None:
        """Sessions until cancelled (an open one is closed on the way out)."""
        await self.session("start")
        while True:
            due = self.next_delivery(self.clock())
            delay = self.clock.real_delay(due - self.clock())
            woken = False
            with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                woken = await asyncio.wait_for(self.wake.wait(), delay)
            if not woken:
                await self.session("delivery")
                continue
            self.wake.clear()
            if self.immediate_alarms and await self.alarm_waiting():
                await self.session("alarm")

    async def session(self, cause: Cause) -> None:
        """Connect, deliver what is pending, and disconnect."""
        opened = self.clock()
        self.spans.begin(opened)
        self._causes.append((opened, cause))
        self._forget(opened)
        log.info("uplink %s: %s session", self.tenant, cause)
        try:
            await self.uplink.start()
            await self._deliver(opened + self.session_max)
        finally:
            await self._close()

    async def _deliver(self, deadline: float) -> None:
        """Until the outbox is drained and has stayed so for LINGER_S, or ``deadline``."""
        idle_since: float | None = None
        while True:
            now = self.clock()
            drained = self.uplink.connected.is_set() and await self.drained()
            if not drained:
                idle_since = None
            elif idle_since is None:
                idle_since = now
            if idle_since is not None and now - idle_since >= LINGER_S:
                return
            if now >= deadline:
                break
            wait = min(DRAIN_POLL_S, self.clock.real_delay(min(LINGER_S, deadline - now)))
            await asyncio.sleep(wait)
        if not drained:
            self.closed_pending += 1
            log.warning(
                "uplink %s: session closed after bridge.session_max = %g s with rows pending "
                "(they go at the next session)",
                self.tenant,
                self.session_max,
            )

    async def _close(self) -> None:
        try:
            await self.uplink.stop(OFFLINE_REASON)
        finally:
            self.spans.end(self.clock())

    def _forget(self, now: float) -> None:
        while self._causes and self._causes[0][0] < now - DAY:
            self._causes.popleft()

    def budget(self) -> dict[str, object]:
        """This tenant's sessions over the last day, by cause, next to what is asked."""
        now = self.clock()
        self._forget(now)
        causes = Counter(cause for _, cause in self._causes)
        return {
            "connected": self.uplink.connected.is_set(),
            "in_session": self.spans.on,
            "sessions": self.spans.count,
            "sessions_day": sum(causes.values()),
            "sessions_day_by_cause": {c: causes[c] for c in CAUSES},
            "deliveries_configured": self.deliveries,
            "closed_pending": self.closed_pending,
        }
