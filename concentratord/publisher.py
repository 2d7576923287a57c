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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from concentratord.store import OutboxRow, Store
from uplink import MqttUplink, UplinkError
from uplink.codecs import CompactCodec, Reference

# The compact codec codes a readings batch against the last acknowledged batch of the same
# slot (interval kind and batch number) within the same period: the first batch of a period
# is self-contained (a keyframe), so a head-end that lost a reference loses at most one
# period's deltas until it gets the reference again by backfill (docs/uplink.md).
DELTA_PERIOD_S = {"hourly": 86_400.0, "5min": 3_600.0}

log = logging.getLogger(__name__)


@dataclass
class PublisherCounters:
    """What this publisher has done since start."""

    published: int = 0
    failures: int = 0
    last_publish: float | None = None


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = float(max(1, burst))
        self.tokens = self.burst
        self.at = now

    def _fill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now

    def wait(self, now: float) -> float:
        """Seconds until one token is there."""
        self._fill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self, wanted: int, now: float) -> int:
        """Take up to ``wanted`` whole tokens; how many were taken."""
        self._fill(now)
        taken = min(wanted, int(self.tokens))
        self.tokens -= taken
        return taken


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
        on_batch: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
    ) -> None:
        """``on_batch``: told of each readings batch the broker acknowledged (the
        tenant's Home Assistant feed, concentratord/hass_feed.py)."""
        self.tenant = tenant
        self.store = store
        self.uplink = uplink
        self.window = max(1, window)
        self.backlog_rate = backlog_rate
        self.clock = clock
        self.monotonic = monotonic
        self.counters = PublisherCounters()
        self._on_batch = on_batch
        #: Monotonic time the current publishing pass began (None: idle or waiting for the
        #: broker): the watchdog's measure of progress (concentratord/health.py).
        self.publishing_since: float | None = None
        self.wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._replays: asyncio.Queue[OutboxRow] = asyncio.Queue()
        # (interval, batch slot) -> (interval end, message id) of the last acknowledged batch
        self._references: dict[tuple[str, str], tuple[float, int]] = {}

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

    @property
    def idle(self) -> bool:
        """No publishing pass under way and no replay waiting (rows pending in the store
        aside: ask the store)."""
        return self.publishing_since is None and self._replays.empty()

    def replay(self, rows: list[OutboxRow]) -> None:
        """Publish delivered rows again (the backfill command), with their message ids."""
        for row in rows:
            self._replays.put_nowait(row)
        self.wake.set()

    def send_unstored(self, row: OutboxRow) -> None:
        """Publish a document the store could not take (a gateway alarm about the store
        itself) under its own message id: retried until acknowledged, like a replay, and
        never marked delivered (it has no row)."""
        self.replay([row])

    def topic_of(self, row: OutboxRow) -> str:
        """Where a row goes in the topic tree."""
        topics = self.uplink.topics
        return {"alarm": topics.alarm, "readings": topics.readings}.get(row.kind, topics.stats)

    def encode(self, row: OutboxRow, reference: OutboxRow | None = None) -> bytes:
        """The row's document with its message id, in the tenant's codec (a compact delta
        frame against ``reference`` when one is given)."""
        document = dict(row.document)
        document["message_id"] = row.message_id
        codec = self.uplink.codec
        if reference is not None and isinstance(codec, CompactCodec):
            ref_doc = dict(reference.document)
            ref_doc["message_id"] = reference.message_id
            return codec.encode(document, Reference(reference.message_id, ref_doc))
        return codec.encode(document)

    @staticmethod
    def _slot(row: OutboxRow) -> tuple[str, str] | None:
        """A readings batch's series: its interval kind and its batch number."""
        interval = row.document.get("interval")
        batch_id = row.document.get("batch_id")
        if row.kind != "readings" or interval not in DELTA_PERIOD_S or row.interval_end is None:
            return None
        if not isinstance(batch_id, str):
            return None
        return str(interval), batch_id.rsplit("-", 1)[-1]

    async def _reference(self, row: OutboxRow) -> OutboxRow | None:
        """The acknowledged batch to code ``row`` against, if the codec and period allow."""
        if not isinstance(self.uplink.codec, CompactCodec):
            return None
        slot = self._slot(row)
        if slot is None or slot not in self._references:
            return None
        assert row.interval_end is not None
        ref_end, ref_id = self._references[slot]
        period = DELTA_PERIOD_S[slot[0]]
        if not ref_end < row.interval_end or ref_end // period != row.interval_end // period:
            return None  # the first batch of a period is a keyframe
        return await self.store.get(ref_id)

    def _acknowledged(self, row: OutboxRow) -> None:
        slot = self._slot(row)
        if slot is None or row.interval_end is None:
            return
        known = self._references.get(slot)
        if known is None or known[0] < row.interval_end:
            self._references[slot] = (row.interval_end, row.message_id)

    async def _run(self) -> None:
        bucket = TokenBucket(self.backlog_rate, burst=self.window, now=self.monotonic())
        while True:
            await self.uplink.connected.wait()
            rows = await self.store.pending(self.window, tenant=self.tenant)
            replays = self._take_replays()
            if not rows and not replays:
                self.wake.clear()
                with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), 5.0)
                continue
            # Alarms go at once; bulk rows at a bounded rate (a token bucket with a burst of
            # one window), so a drained backlog cannot starve a slow link.
            alarms = [r for r in rows if r.kind == "alarm"]
            bulk = [r for r in rows if r.kind != "alarm"]
            if bulk and not alarms and not replays:
                await asyncio.sleep(bucket.wait(self.monotonic()))
            allowed = bucket.take(len(bulk), self.monotonic())
            self.publishing_since = self.monotonic()
            try:
                await self._publish(alarms + bulk[:allowed], replays)
            finally:
                self.publishing_since = None

    def _take_replays(self) -> list[OutboxRow]:
        out: list[OutboxRow] = []
        while not self._replays.empty() and len(out) < self.window:
            out.append(self._replays.get_nowait())
        return out

    async def _publish(self, rows: list[OutboxRow], replays: list[OutboxRow]) -> None:
        results = await asyncio.gather(
            *(self._send(r) for r in rows),
            *(self._send(r, replay=True) for r in replays),
            return_exceptions=True,
        )
        acked = [r.message_id for r, ok in zip(rows, results, strict=False) if ok is True]
        for row, ok in zip(rows, results, strict=False):
            if ok is True:
                self._acknowledged(row)
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

    async def _send(self, row: OutboxRow, replay: bool = False) -> bool:
        try:
            # Replays (backfill) are always self-contained: they answer a missed reference.
            reference = None if replay else await self._reference(row)
            await self.uplink.publish(self.topic_of(row), self.encode(row, reference), qos=1)
        except UplinkError as err:
            log.debug("publish of %d failed: %s", row.message_id, err)
            return False
        self.counters.published += 1
        self.counters.last_publish = self.clock()
        if self._on_batch is not None and row.kind == "readings" and not replay:
            await self._on_batch(row.document)
        return True
