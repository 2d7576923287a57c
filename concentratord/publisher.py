"""The outbox drained to one tenant's broker: alarms first, then oldest first, a row marked
delivered only when the broker acknowledged it.

After an outage the backlog of bulk rows drains at a bounded rate (``backlog_rate``
messages per second) while alarms go out as soon as they are stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from concentratord.store import OutboxRow, Store
from uplink import MqttUplink, UplinkError

log = logging.getLogger(__name__)


@dataclass
class PublisherCounters:
    """What this publisher has done since start."""

    published: int = 0
    failures: int = 0
    last_publish: float | None = None


class Publisher:
    """Drains one tenant's outbox rows to its uplink."""

    def __init__(
        self,
        tenant: str,
        store: Store,
        uplink: MqttUplink,
        *,
        window: int,
        backlog_rate: float,
        clock: Callable[[], float],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tenant = tenant
        self.store = store
        self.uplink = uplink
        self.window = max(1, window)
        self.backlog_rate = backlog_rate
        self.clock = clock
        self.monotonic = monotonic
        self.counters = PublisherCounters()
        self.wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._replays: asyncio.Queue[OutboxRow] = asyncio.Queue()

    def start(self) -> None:
        """Run in the background until :meth:`stop`."""
        self._task = asyncio.create_task(self._run(), name=f"publisher-{self.tenant}")

    async def stop(self) -> None:
        """Stop draining (rows not acknowledged stay pending in the store)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def replay(self, rows: list[OutboxRow]) -> None:
        """Publish delivered rows again (the backfill command), with their message ids."""
        for row in rows:
            self._replays.put_nowait(row)
        self.wake.set()

    def topic_of(self, row: OutboxRow) -> str:
        """Where a row goes in the topic tree."""
        topics = self.uplink.topics
        return {"alarm": topics.alarm, "readings": topics.readings}.get(row.kind, topics.stats)

    def encode(self, row: OutboxRow) -> bytes:
        """The row's document with its message id, in the tenant's codec."""
        document = dict(row.document)
        document["message_id"] = row.message_id
        return self.uplink.codec.encode(document)

    async def _run(self) -> None:
        next_bulk = self.monotonic()
        while True:
            await self.uplink.connected.wait()
            rows = await self.store.pending(self.window, tenant=self.tenant)
            replays = self._take_replays()
            if not rows and not replays:
                self.wake.clear()
                with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), 5.0)
                continue
            batch: list[OutboxRow] = []
            for row in rows:
                if row.kind == "alarm":
                    batch.append(row)
                    continue
                # Bulk rows at a bounded rate: a drained backlog must not starve the link.
                now = self.monotonic()
                if now < next_bulk and batch:
                    break
                if now < next_bulk:
                    await asyncio.sleep(next_bulk - now)
                next_bulk = max(next_bulk, self.monotonic()) + 1.0 / self.backlog_rate
                batch.append(row)
                if len(batch) >= self.window:
                    break
            await self._publish(batch, replays)

    def _take_replays(self) -> list[OutboxRow]:
        out: list[OutboxRow] = []
        while not self._replays.empty() and len(out) < self.window:
            out.append(self._replays.get_nowait())
        return out

    async def _publish(self, rows: list[OutboxRow], replays: list[OutboxRow]) -> None:
        results = await asyncio.gather(
            *(self._send(r) for r in rows),
            *(self._send(r) for r in replays),
            return_exceptions=True,
        )
        acked = [r.message_id for r, ok in zip(rows, results, strict=False) if ok is True]
        failed = [r.message_id for r, ok in zip(rows, results, strict=False) if ok is not True]
        for row, ok in zip(replays, results[len(rows) :], strict=True):
            if ok is not True:
                self._replays.put_nowait(row)  # try again on the next connection
        if acked:
            await self.store.mark_delivered(acked, self.clock())
        if failed:
            await self.store.mark_attempt(failed)
            self.counters.failures += len(failed)
            with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                await asyncio.wait_for(self._reconnected(), 1.0)

    async def _reconnected(self) -> None:
        while self.uplink.connected.is_set():
            await asyncio.sleep(0.05)
        await self.uplink.connected.wait()

    async def _send(self, row: OutboxRow) -> bool:
        try:
            await self.uplink.publish(self.topic_of(row), self.encode(row), qos=1)
        except UplinkError as err:
            log.debug("publish of %d failed: %s", row.message_id, err)
            return False
        self.counters.published += 1
        self.counters.last_publish = self.clock()
        return True
