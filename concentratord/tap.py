"""The live tap: what the running daemon hears, for whoever is watching.

The frame loop hands every telegram it has judged to :meth:`Tap.publish` (a dict, see
:data:`TapEvent`); each watcher (``concentratorctl tap``, the web page's placement view)
holds a :class:`TapSubscription` with its own bounded queue. A watcher that does not keep up
loses the oldest events, counted in ``dropped``, never slows collection: ``publish`` never
waits and costs one dict lookup when nobody watches.

A subscription may be narrowed to one tenant (what a tenant-scoped caller may see) and to
one meter (``ID`` or ``MAN:ID``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

# An event: {"time": ISO UTC, "id", "manufacturer", "tenant" (or None), "rssi_dbm",
# "link_mode", "decode" ("ok" | "no_key" | "wrong_key" | "error" | "repeat"),
# "fields" (decoded values, or None), "error" (the reason, or None)}.
TapEvent = dict[str, Any]

DEFAULT_QUEUE = 256  # events a slow watcher may fall behind before the oldest are dropped
MAX_WATCHERS = 16  # watchers at once; one more is refused (TapBusyError)


class TapBusyError(Exception):
    """Too many watchers already."""


class TapSubscription:
    """One watcher's view of the tap: iterate it for events; close it when done."""

    def __init__(self, tap: Tap, *, tenant: str | None, meter: str | None, queue_size: int) -> None:
        self._tap = tap
        self.tenant = tenant
        self.meter = meter.upper() if meter else None
        self.queue: asyncio.Queue[TapEvent] = asyncio.Queue(maxsize=queue_size)
        self.dropped = 0

    def wants(self, event: TapEvent) -> bool:
        """Whether this watcher may and wants to see ``event``."""
        if self.tenant is not None and event.get("tenant") != self.tenant:
            return False
        if self.meter is None:
            return True
        if ":" in self.meter:
            return f"{event.get('manufacturer')}:{event.get('id')}" == self.meter
        return event.get("id") == self.meter

    def offer(self, event: TapEvent) -> None:
        """Queue ``event``, dropping the oldest one when the queue is full."""
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    def close(self) -> None:
        """Stop receiving events."""
        self._tap.unsubscribe(self)

    def __enter__(self) -> TapSubscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __aiter__(self) -> AsyncIterator[TapEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[TapEvent]:
        while True:
            yield await self.queue.get()


class Tap:
    """The broadcast point between the frame loop and its watchers."""

    def __init__(self, max_watchers: int = MAX_WATCHERS) -> None:
        self.max_watchers = max_watchers
        self._watchers: list[TapSubscription] = []

    @property
    def watching(self) -> bool:
        """Whether anyone watches (the frame loop builds no event otherwise)."""
        return bool(self._watchers)

    def subscribe(
        self,
        *,
        tenant: str | None = None,
        meter: str | None = None,
        queue_size: int = DEFAULT_QUEUE,
    ) -> TapSubscription:
        """A new watcher; :class:`TapBusyError` when :attr:`max_watchers` already watch."""
        if len(self._watchers) >= self.max_watchers:
            raise TapBusyError(f"{self.max_watchers} watchers already")
        subscription = TapSubscription(self, tenant=tenant, meter=meter, queue_size=queue_size)
        self._watchers.append(subscription)
        return subscription

    def unsubscribe(self, subscription: TapSubscription) -> None:
        """Forget a watcher (closing twice is harmless)."""
        if subscription in self._watchers:
            self._watchers.remove(subscription)

    def publish(self, event: TapEvent) -> None:
        """Give ``event`` to every watcher that wants it; never waits."""
        for watcher in self._watchers:
            if watcher.wants(event):
                watcher.offer(event)
