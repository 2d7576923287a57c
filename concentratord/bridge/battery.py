"""The battery bridge's two loops, started and stopped together by the daemon: the radio
windows and each tenant's delivery sessions, with the power budget they report."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from typing import Any

from concentratord.bridge.radio_windows import RadioWindows, Sleeper, auto_listen
from concentratord.bridge.uplink_sessions import SessionUplink, UplinkSessions
from concentratord.clock import ScaledClock
from concentratord.config.bridge import BridgeConfig
from concentratord.publisher import Publisher
from concentratord.store import Store


class BatteryBridge:
    """``[bridge]`` at work: one radio-windows loop, one session loop per tenant."""

    def __init__(self, config: BridgeConfig, clock: ScaledClock) -> None:
        self.config = config
        self.clock = clock
        self.radio: RadioWindows | None = None
        self.sessions: dict[str, UplinkSessions] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start_radio(
        self, radio: Sleeper, served_intervals: Callable[[], Iterable[float | None]]
    ) -> None:
        """Listen in windows from now on (``radio`` is awake)."""
        listen = self.config.listen

        def listen_s() -> float:
            return auto_listen(served_intervals()) if listen == "auto" else float(listen)

        self.radio = RadioWindows(
            radio, clock=self.clock, listen_s=listen_s, sleep_s=self.config.sleep
        )
        self._tasks["radio"] = asyncio.create_task(self.radio.run(), name="radio-windows")

    def start_sessions(
        self, tenant: str, uplink: SessionUplink, publisher: Publisher, store: Store
    ) -> None:
        """Deliver ``tenant``'s rows in sessions (its uplink is not started otherwise)."""

        async def drained() -> bool:
            if not publisher.idle:
                return False
            return not await store.pending(1, tenant=tenant)

        async def alarm_waiting() -> bool:
            rows = await store.pending(1, tenant=tenant)  # alarms come first
            return bool(rows) and rows[0].kind == "alarm"

        sessions = UplinkSessions(
            tenant,
            uplink,
            wake=publisher.wake,
            drained=drained,
            alarm_waiting=alarm_waiting,
            clock=self.clock,
            deliveries=self.config.deliveries,
            immediate_alarms=self.config.alarm_uplink == "immediate",
            session_max=self.config.session_max,
        )
        self.sessions[tenant] = sessions
        self._tasks[f"sessions-{tenant}"] = asyncio.create_task(
            sessions.run(), name=f"uplink-sessions-{tenant}"
        )

    async def stop_sessions(self, tenant: str) -> None:
        """``tenant`` is gone: its sessions end (an open one is closed)."""
        self.sessions.pop(tenant, None)
        await _cancel(self._tasks.pop(f"sessions-{tenant}", None))

    async def stop(self) -> None:
        """Both loops end; the daemon then stops the radio and the uplinks."""
        for name in list(self._tasks):
            await _cancel(self._tasks.pop(name))

    def listened(self, since: float, until: float) -> float:
        """Gateway seconds the radio listened within ``[since, until)``."""
        if self.radio is None:
            return max(0.0, until - since)
        return self.radio.listened(since, until)

    def silence_from(self) -> float:
        """Where the radio's silence starts counting for the watchdog (0: the last frame
        decides alone)."""
        return 0.0 if self.radio is None else self.radio.silence_from()

    def budget(self, tenant: str | None = None) -> dict[str, Any]:
        """The power budget: the radio's, and the sessions of ``tenant`` (every tenant's
        when None)."""
        out: dict[str, Any] = dict(self.radio.budget()) if self.radio is not None else {}
        out["alarm_uplink"] = self.config.alarm_uplink
        out["uplink_sessions"] = {
            name: s.budget() for name, s in self.sessions.items() if tenant in (None, name)
        }
        return out


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
