"""Alarms of the gateway itself (``STORE_CORRUPT``, ``STORE_FULL``, ``CLOCK_...``): raised and
cleared to every tenant on the alarm topic (docs/uplink.md, "alarm").

Stored like a meter's alarm. When the store refuses it (the alarm may well be about the
store), it is published from memory instead, under its own message id, retried until the
broker acknowledges it (decision 0006).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from concentratord.documents import UNASSIGNED, utc
from concentratord.publisher import Publisher
from concentratord.store import MessageIds, OutboxItem, OutboxRow, Store, StoreWriteError
from uplink import messages

log = logging.getLogger(__name__)

State = Literal["raised", "cleared"]
# The gateway alarms kept for `concentratorctl alarms` and status: the newest.
RECENT = 200


@dataclass
class GatewayAlarm:
    """An alarm of the gateway itself (not of a meter)."""

    name: str
    detail: str
    timestamp: float
    state: str = "raised"


class GatewayAlarms:
    """Raises and clears the gateway's own alarms; keeps the recent ones for status."""

    def __init__(
        self,
        *,
        gateway: str,
        tenants: Iterable[str],
        store: Store,
        publishers: Mapping[str, Publisher],
        ids: MessageIds,
        clock: Callable[[], float],
        clock_trusted: Callable[[], bool],
    ) -> None:
        self.gateway = gateway
        self.tenants = tuple(tenants)
        self.store = store
        self.publishers = publishers
        self.ids = ids
        self.clock = clock
        self.clock_trusted = clock_trusted
        self.recent: deque[GatewayAlarm] = deque(maxlen=RECENT)
        self._jobs: set[asyncio.Future[None]] = set()

    def spawn(self, name: str, detail: str, state: State = "raised") -> None:
        """:meth:`raise_` from synchronous code (the task is kept until it is done)."""
        task = asyncio.ensure_future(self.raise_(name, detail, state))
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    async def cancel(self) -> None:
        """Cancel alarms still being stored (on stop)."""
        for task in list(self._jobs):
            task.cancel()
        await asyncio.gather(*self._jobs, return_exceptions=True)

    async def raise_(self, name: str, detail: str, state: State = "raised") -> None:
        """Raise (or clear) ``name`` to every tenant, stored or else sent from memory."""
        now = self.clock()
        self.recent.append(GatewayAlarm(name, detail, now, state))
        if state == "raised":
            log.error("gateway alarm %s: %s", name, detail)
        else:
            log.warning("gateway alarm %s cleared: %s", name, detail)
        trusted = self.clock_trusted()
        items = [
            OutboxItem(tenant, "alarm", now, self._document(name, detail, now, state, trusted))
            for tenant in self.tenants
        ]
        try:
            await self.store.enqueue(items)
        except StoreWriteError as exc:
            log.error("gateway alarm %s not stored (%s): publishing it from memory", name, exc)
            for item in items:
                self._send_unstored(item)
            return
        for item in items:
            publisher = self.publishers.get(item.tenant)
            if publisher is not None:
                publisher.wake.set()

    def _document(
        self, name: str, detail: str, now: float, state: State, trusted: bool
    ) -> dict[str, Any]:
        return messages.gateway_alarm(
            gateway=self.gateway,
            message_id=UNASSIGNED,
            alarm=name,
            detail=detail,
            time=utc(now),
            state=state,
            clock_synchronised=trusted,
        )

    def _send_unstored(self, item: OutboxItem) -> None:
        publisher = self.publishers.get(item.tenant)
        if publisher is None:
            return
        try:
            [message_id] = self.ids.take()
        except OSError as exc:  # the id mark cannot be written either: nothing safe to send
            log.error("gateway alarm not published: no message id: %s", exc)
            return
        publisher.send_unstored(
            OutboxRow(
                message_id=message_id,
                tenant=item.tenant,
                kind=item.kind,
                created_at=item.created_at,
                interval_end=item.interval_end,
                document=item.document,
                attempts=0,
            )
        )
