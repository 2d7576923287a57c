"""Commands from the head-end (docs/uplink.md, "Commands"): backfill, set_priority_meters,
get_status, visibility. uplink has checked the gateway id and the arguments; these carry
them out, for one tenant, with only what each needs: the status, the store's delivered rows,
the tenant's publisher, the priority meters, the reception rows."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from concentratord.priority import PriorityError, PriorityMeters
from concentratord.publisher import Publisher
from concentratord.store import Store
from concentratord.visibility import Visibility
from uplink import Command, Reply
from uplink.commands import BackfillArgs, PriorityMetersArgs, VisibilityArgs

log = logging.getLogger(__name__)

StatusOf = Callable[[], Awaitable[dict[str, Any]]]


class HeadEndCommands:
    """The command handler of one tenant's uplink: it acts on that tenant's data only."""

    def __init__(
        self,
        tenant: str,
        *,
        status: StatusOf,
        store: Store,
        publisher: Publisher,
        priority: PriorityMeters,
        visibility: Visibility,
    ) -> None:
        self.tenant = tenant
        self._status = status
        self._store = store
        self._publisher = publisher
        self._priority = priority
        self._visibility = visibility

    async def handle(self, command: Command) -> Reply | None:
        """Carry out one command; the reply goes back on the command's reply route."""
        log.info("head-end command %s from tenant %s", command.name, self.tenant)
        if command.name == "get_status":
            return Reply(ok=True, result=await self._status())  # scoped to this tenant
        if command.name == "backfill" and isinstance(command.parsed, BackfillArgs):
            return await self._backfill(command.parsed)
        if command.name == "set_priority_meters" and isinstance(command.parsed, PriorityMetersArgs):
            try:
                meters = self._priority.replace(self.tenant, command.parsed.meters)
            except PriorityError as err:
                return Reply.refused(str(err))
            return Reply(ok=True, result={"priority_meters": sorted(meters)})
        if command.name == "visibility" and isinstance(command.parsed, VisibilityArgs):
            # The tenant's own meters only, and a count of the others (docs/visibility.md).
            rows = self._visibility.rows(self.tenant, command.parsed.meters)
            return Reply(
                ok=True, result={"meters": rows, "others": self._visibility.others(self.tenant)}
            )
        return Reply.refused(f"command {command.name} is not supported by this gateway")

    async def _backfill(self, args: BackfillArgs) -> Reply:
        rows = await self._store.delivered_between(
            self.tenant, args.start.timestamp(), args.end.timestamp()
        )
        if args.interval is not None:
            rows = [r for r in rows if r.document.get("interval") == args.interval]
        if args.meters is not None:
            wanted = set(args.meters)
            rows = [r for r in rows if _mentions(r.document, wanted)]
        self._publisher.replay(rows)
        return Reply(ok=True, result={"messages": len(rows)})


def _mentions(document: dict[str, Any], meters: set[str]) -> bool:
    if document.get("id") in meters:
        return True
    readings = document.get("readings")
    return isinstance(readings, list) and any(
        isinstance(r, dict) and r.get("id") in meters for r in readings
    )
