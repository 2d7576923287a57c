"""Watching the radio field over time: silent meters, the statistics kept across restarts
and the ``event/stats`` document (docs/visibility.md).

One loop, on the gateway clock: every :data:`CHECK_S` it looks for tenant meters that have
missed ``visibility.silent_after`` expected telegrams (``METER_SILENT`` raised; cleared by
the frame loop through :meth:`FieldWatch.heard` when the meter is back), and every
:data:`SAVE_S` it writes the reception statistics to the store as one compressed blob
(also at a clean stop). The stats document goes out on its own boundary schedule.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from concentratord.clock import ScaledClock
from concentratord.documents import silent_alarm_item, stats_item
from concentratord.pipeline import MeterState, Pipeline
from concentratord.store import OutboxItem, Store, StoreWriteError
from concentratord.visibility import Visibility, dump_statistics, is_back, load_statistics

log = logging.getLogger(__name__)

CHECK_S = 30.0  # gateway seconds between looks for silent meters
# Gateway seconds between saves of the statistics: they are judged over hours, so a power
# cut loses little, and a save of 30,000 meters (about 0.4 MB) is not worth more often on
# flash storage.
SAVE_S = 6 * 3600.0
BLOB_NAME = "reception"

Emit = Callable[[list[OutboxItem]], Awaitable[None]]


class FieldWatch:
    """Silent meters, saved statistics and stats documents of one gateway."""

    def __init__(
        self,
        *,
        gateway: str,
        pipeline: Pipeline,
        visibility: Visibility,
        store: Store,
        emit: Emit,
        clock: ScaledClock,
        clock_trusted: Callable[[], bool],
    ) -> None:
        self.gateway = gateway
        self.pipeline = pipeline
        self.visibility = visibility
        self.store = store
        self.emit = emit
        self.clock = clock
        self.clock_trusted = clock_trusted
        self._last_save = clock()

    async def restore(self) -> int:
        """The statistics saved before the restart, into the pipeline's meters."""
        try:
            blob = await self.store.load_blob(BLOB_NAME)
            if blob is None:
                return 0
            entries = load_statistics(blob, self.pipeline.reception_window_s)
        except ValueError as err:
            log.warning("reception statistics not restored (starting afresh): %s", err)
            return 0
        restored = self.pipeline.restore_reception(entries)
        log.info("reception statistics of %d meters restored", restored)
        return restored

    async def save(self) -> None:
        """Write every meter's statistics to the store (logged, not raised, on failure)."""
        states = list(self.pipeline.meters.values())
        blob = await asyncio.to_thread(dump_statistics, states)
        try:
            await self.store.save_blob(BLOB_NAME, blob)
        except StoreWriteError as err:
            log.warning("reception statistics not saved: %s", err)
        self._last_save = self.clock()

    async def heard(self, meter: MeterState, when: float) -> None:
        """After each telegram of ``meter``: clear its METER_SILENT if it had one."""
        if is_back(meter) and meter.tenant is not None:
            log.info("meter %s is heard again", meter.key)
            await self.emit([self._alarm(meter, when, raised=False)])

    async def check(self) -> list[MeterState]:
        """Raise METER_SILENT for the tenant meters that have just gone silent."""
        silent = self.visibility.newly_silent()
        if silent:
            now = self.clock()
            for meter in silent:
                log.warning("meter %s is silent since %.0f", meter.key, meter.reception.last_heard)
            await self.emit([self._alarm(m, now, raised=True) for m in silent])
        return silent

    async def run(self) -> None:
        """Check for silent meters and save the statistics, until cancelled."""
        while True:
            await asyncio.sleep(self.clock.real_delay(CHECK_S))
            try:
                await self.check()
                if self.clock() - self._last_save >= SAVE_S:
                    await self.save()
            except Exception:  # one failed round must not end the watch
                log.exception("field watch round failed")

    async def publish_stats(
        self,
        tenants: Iterable[str],
        uptime_s: int,
        counters_of: Callable[[str], dict[str, int]],
        power_of: Callable[[str], dict[str, Any]] | None = None,
    ) -> None:
        """Each tenant's ``event/stats``: its own counters and its reception (and the power
        budget, ``power_of``, on a battery bridge)."""
        now = self.clock()
        items = [
            stats_item(
                self.gateway,
                tenant,
                now,
                uptime_s=uptime_s,
                counters=counters_of(tenant),
                reception=self.visibility.summary(tenant),
                power=None if power_of is None else power_of(tenant),
            )
            for tenant in tenants
        ]
        await self.emit(items)

    def _alarm(self, meter: MeterState, when: float, *, raised: bool) -> OutboxItem:
        return silent_alarm_item(
            self.gateway, meter, when, raised=raised, clock_synchronised=self.clock_trusted()
        )
