"""Interval values: which boundaries are due, whether the clock may label them, the snapshot,
and the persister that builds the batches and stores them.

At each 5-minute (priority meters), hourly and daily boundary of the injected clock (plus a
grace period) the latest reading of each meter before it is captured, at once; building the
batches and storing them runs in the persister task, so an alarm telegram behind a
30,000-meter snapshot is not kept waiting for it. Only while the clock is trusted
(decision 0006, "Time you can trust"): the snapshots wait otherwise, and resume from the
right boundary when it is trusted again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from apscheduler.schedulers.base import BaseScheduler

from concentratord.clock import ScaledClock
from concentratord.documents import batch_items, utc
from concentratord.gateway_alarms import GatewayAlarms
from concentratord.pipeline import Reading
from concentratord.priority import PriorityMeters
from concentratord.schedule import PERIODS, BoundaryTrigger, IntervalTracker
from concentratord.store_writer import StoreWriter
from concentratord.timekeeping import ClockVerdict, TimeKeeper
from uplink import messages

log = logging.getLogger(__name__)

# Snapshots run this long (simulated seconds) after a boundary, so telegrams received just
# before it have been through the pipeline; short against any interval.
GRACE_S = 10.0
# How often (real seconds) the clock is judged between boundaries, for its alarms.
CLOCK_CHECK_S = 1.0

Snapshot = Callable[[float, Iterable[str] | None], list[Reading]]


class Intervals:
    """One owner of the interval schedule: the tracker, the clock verdict, the persister."""

    def __init__(
        self,
        *,
        gateway: str,
        clock: ScaledClock,
        timekeeper: TimeKeeper,
        snapshot: Snapshot,
        priority: PriorityMeters,
        writer: StoreWriter,
        batch_meters: Mapping[str, int],
        alarms: GatewayAlarms,
    ) -> None:
        self.gateway = gateway
        self.clock = clock
        self.timekeeper = timekeeper
        self.tracker = IntervalTracker(clock, GRACE_S)
        self.batches = 0  # batch documents made
        self._snapshot = snapshot
        self._priority = priority
        self._writer = writer
        self._batch_meters = batch_meters
        self._alarms = alarms
        self._kinds: list[str] = []
        self._lock = asyncio.Lock()
        self._to_persist: asyncio.Queue[tuple[str, float, list[Reading]]] = asyncio.Queue()
        self._persist_task: asyncio.Task[None] | None = None
        self._watch_task: asyncio.Task[None] | None = None

    @property
    def trusted(self) -> bool:
        """Whether the clock was trusted when last judged."""
        return self.timekeeper.verdict.trusted

    def schedule(self, scheduler: BaseScheduler, kinds: list[str]) -> None:
        """Take ``kinds`` (``5min``, ``hourly``, ``daily``) at their boundaries from now on,
        never at or before the newest interval end stored."""
        self._kinds = list(kinds)
        for kind in kinds:
            self.tracker.start(kind, floor=self.timekeeper.floor)
            scheduler.add_job(
                self.take,
                BoundaryTrigger(self.clock, PERIODS[kind], GRACE_S),
                args=[kind],
                id=kind,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
            )
        self._persist_task = asyncio.create_task(self._persister(), name="persister")
        self._watch_task = asyncio.create_task(self._watch_clock(), name="clock")

    async def stop(self) -> None:
        """Stop taking; store what was taken already (waiting at most 30 s), then stop."""
        await _cancel(self._watch_task)
        if self._persist_task is not None:
            with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                await asyncio.wait_for(self._to_persist.join(), 30)
        await _cancel(self._persist_task)
        self._persist_task = self._watch_task = None

    # -- taking ---------------------------------------------------------------------------

    async def frame_arrived(self, timestamp: float) -> None:
        """A frame received ``timestamp``: an interval that ended before it is taken now,
        before newer readings push the meters' last ones before the end out of their short
        history (the scheduled job may run late: a busy box, a high time scale in tests)."""
        if any(
            (end := self.tracker.next_end(kind)) is not None and end <= timestamp
            for kind in self._kinds
        ):
            for kind in self._kinds:
                await self.take(kind, passed=timestamp)

    async def take(self, kind: str, passed: float | None = None) -> None:
        """Capture the values of every due ``kind`` boundary (catching up if late);
        ``passed``: of every boundary at or before that time (``IntervalTracker.due``)."""
        async with self._lock:
            if not self.check_clock():
                return  # the snapshots wait for a clock that can label them
            for end in self.tracker.due(kind, passed):
                self.timekeeper.taken(end)
                meters = self._priority.meters if kind == "5min" else None
                if kind == "5min" and not meters:
                    continue
                self._to_persist.put_nowait((kind, end, self._snapshot(end, meters)))

    async def _persister(self) -> None:
        """Store captured interval values, in the order they were taken."""
        while True:
            kind, end, readings = await self._to_persist.get()
            try:
                await self._store(kind, end, readings)
            except Exception:
                log.exception("interval values of %s ending %s could not be stored", kind, end)
            finally:
                self._to_persist.task_done()

    async def _store(self, kind: str, end: float, readings: list[Reading]) -> None:
        by_tenant: dict[str, list[Reading]] = {}
        for reading in readings:
            by_tenant.setdefault(reading.tenant, []).append(reading)
        now = self.clock()
        for tenant, rows in by_tenant.items():
            items = batch_items(
                self.gateway, tenant, kind, end, rows, self._batch_meters[tenant], now
            )
            await self._writer.enqueue(items)  # stored, or kept in memory until it can be
            self.batches += len(items)
            await asyncio.sleep(0)  # let frames through between tenants' batches

    # -- the clock ------------------------------------------------------------------------

    def check_clock(self) -> bool:
        """Judge the clock; on a change raise or clear its alarms, and when it is trusted
        again restart the tracker (intervals that passed meanwhile are not invented).
        Whether interval values may be taken now."""
        keeper = self.timekeeper
        previous, now = keeper.check()
        for alarm, was, is_ in (
            ("CLOCK_UNSYNCHRONISED", not previous.synchronised, not now.synchronised),
            ("CLOCK_STEPPED_BACK", previous.behind_store, now.behind_store),
        ):
            if is_ != was:
                self._alarms.spawn(alarm, self._detail(now), "raised" if is_ else "cleared")
        if now.trusted and not previous.trusted and self._kinds:
            # Behind the store only: the clock became right the moment it passed the floor.
            # Unsynchronised: when is unknown, so from now (nothing invented before it).
            since = keeper.floor if previous.synchronised else self.clock()
            for kind in self._kinds:
                self.tracker.start(kind, now=since, floor=keeper.floor)
            log.warning("clock trusted again: intervals resume after %s", utc(since))
        return now.trusted

    def _detail(self, verdict: ClockVerdict) -> str:
        keeper = self.timekeeper
        parts = [f"clock source {keeper.source.name}"]
        parts.append("synchronised" if verdict.synchronised else "not synchronised")
        if keeper.floor:
            floor = messages.iso_utc(utc(keeper.floor))
            relation = "behind" if verdict.behind_store else "past"
            parts.append(f"{relation} the newest stored interval end {floor}")
        return "; ".join(parts)

    async def _watch_clock(self) -> None:
        while True:
            await asyncio.sleep(CLOCK_CHECK_S)
            self.check_clock()

    def clock_status(self) -> dict[str, Any]:
        """The clock's part of the gateway status."""
        keeper = self.timekeeper
        verdict = keeper.verdict
        return {
            "source": keeper.source.name,
            "synchronised": verdict.synchronised,
            "behind_store": verdict.behind_store,
            "trusted": verdict.trusted,
            "newest_interval_end": messages.iso_utc(utc(keeper.floor)) if keeper.floor else None,
        }


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
