"""Everything the daemon stores goes through here: the store when it takes the items, the
bounded waiting room (:mod:`concentratord.unstored`) when it does not, and a retry loop
that moves them on once it can be written again.

A write error is never a reason to stop the frame reader or to forget an alarm: the items
wait (counted as ``store_failures``), the gateway raises ``STORE_FULL`` or
``STORE_UNWRITABLE`` once per episode, and clears it when the waiting room is empty again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence

from concentratord.store import OutboxItem, Store, StoreFullError, StoreWriteError
from concentratord.unstored import Unstored, UnstoredItems

log = logging.getLogger(__name__)

# Real seconds between retries while items wait for the store.
RETRY_S = 2.0

Problem = Callable[[str, str], None]


def problem_of(exc: StoreWriteError) -> str:
    """The gateway alarm a store write error raises."""
    return "STORE_FULL" if isinstance(exc, StoreFullError) else "STORE_UNWRITABLE"


class StoreWriter:
    """Stores items, keeping what the store refuses until it takes it.

    ``stored(tenants)`` is called after items of those tenants were stored (to wake their
    publishers); ``raised(alarm, detail)`` when the store starts refusing, ``cleared(alarm,
    detail)`` when everything waiting was stored.
    """

    def __init__(
        self,
        store: Store,
        *,
        stored: Callable[[set[str]], None],
        raised: Problem,
        cleared: Problem,
        unstored: UnstoredItems | None = None,
        retry_s: float = RETRY_S,
    ) -> None:
        self.store = store
        self.unstored = unstored or UnstoredItems()
        self._stored = stored
        self._raised = raised
        self._cleared = cleared
        self._retry_s = retry_s
        self._problem: str | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    @property
    def problem(self) -> str | None:
        """The gateway alarm raised and not yet cleared (``STORE_FULL``...), else None."""
        return self._problem

    def start(self) -> None:
        """Run the retry loop in the background."""
        self._task = asyncio.create_task(self._retry_loop(), name="store-retry")

    async def stop(self) -> None:
        """Stop retrying (what waits in memory is lost with the process; it was counted)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def enqueue(
        self,
        items: Sequence[OutboxItem],
        meter_status: Mapping[str, frozenset[str]] | None = None,
    ) -> bool:
        """Store ``items`` (with ``meter_status``, together); True if stored now, False if
        they wait in memory for the store. Never raises for a write error."""
        if not items:
            return True
        entry = Unstored(tuple(items), meter_status)
        async with self._lock:
            if len(self.unstored):
                # Others wait already: behind them, so that the store keeps their order.
                self.unstored.refused(entry)
                return False
            try:
                await self.store.enqueue(entry.items, meter_status=entry.meter_status)
            except StoreWriteError as exc:
                self.unstored.refused(entry)
                self._trouble(exc)
                return False
        self._stored({i.tenant for i in items})
        return True

    def _trouble(self, exc: StoreWriteError) -> None:
        log.error("store write failed, keeping the items in memory: %s", exc)
        if self._problem is None:
            self._problem = problem_of(exc)
            self._raised(self._problem, str(exc))

    async def flush(self) -> bool:
        """Try to store everything waiting, alarms first; True when nothing waits."""
        async with self._lock:
            while (entry := self.unstored.first()) is not None:
                try:
                    await self.store.enqueue(entry.items, meter_status=entry.meter_status)
                except StoreWriteError as exc:
                    self._trouble(exc)
                    return False
                self.unstored.stored(entry)
                self._stored({i.tenant for i in entry.items})
            if self._problem is not None:
                problem, self._problem = self._problem, None
                log.warning("store writable again: everything kept in memory is stored")
                self._cleared(problem, "the store takes writes again")
        return True

    async def _retry_loop(self) -> None:
        # A fixed pace, not a wake-up per refusal: a full disk needs a moment, not a spin.
        while True:
            await asyncio.sleep(self._retry_s)
            if len(self.unstored) or self._problem is not None:
                await self.flush()
