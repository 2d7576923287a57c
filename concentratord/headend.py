"""Commands from the head-end (DESIGN.md section 4): backfill, set_priority_meters,
get_status. uplink has checked the gateway id and the arguments; these carry them out."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from concentratord.config import PRIORITY_METERS_MAX
from uplink import Command, Reply
from uplink.commands import BackfillArgs, PriorityMetersArgs

if TYPE_CHECKING:
    from concentratord.daemon import Daemon

log = logging.getLogger(__name__)


class HeadEndCommands:
    """The command handler of one tenant's uplink: it acts on that tenant's data only."""

    def __init__(self, daemon: Daemon, tenant: str) -> None:
        self.daemon = daemon
        self.tenant = tenant

    async def handle(self, command: Command) -> Reply | None:
        """Carry out one command; the reply goes back on the command's reply route."""
        log.info("head-end command %s from tenant %s", command.name, self.tenant)
        if command.name == "get_status":
            status = await self.daemon.status()
            status["uplink"] = {self.tenant: status["uplink"].get(self.tenant)}
            return Reply(ok=True, result=status)
        if command.name == "backfill" and isinstance(command.parsed, BackfillArgs):
            return await self._backfill(command.parsed)
        if command.name == "set_priority_meters" and isinstance(command.parsed, PriorityMetersArgs):
            return self._priority(command.parsed)
        return Reply.refused(f"command {command.name} is not supported by this gateway")

    async def _backfill(self, args: BackfillArgs) -> Reply:
        store = self.daemon.store
        assert store is not None
        rows = await store.delivered_between(
            self.tenant, args.start.timestamp(), args.end.timestamp()
        )
        if args.interval is not None:
            rows = [r for r in rows if r.document.get("interval") == args.interval]
        if args.meters is not None:
            wanted = set(args.meters)
            rows = [r for r in rows if _mentions(r.document, wanted)]
        self.daemon.publishers[self.tenant].replay(rows)
        return Reply(ok=True, result={"messages": len(rows)})

    def _owner(self, meter_id: str) -> str | None:
        return _owner_name(self.daemon, meter_id)

    def _priority(self, args: PriorityMetersArgs) -> Reply:
        if len(args.meters) > PRIORITY_METERS_MAX:
            return Reply.refused(f"at most {PRIORITY_METERS_MAX} priority meters")
        foreign = [m for m in args.meters if self._owner(m) != self.tenant]
        if foreign:
            return Reply.refused(f"meters not of this tenant: {', '.join(sorted(foreign))}")
        others = {
            m
            for m in self.daemon.priority_meters
            if (t := self.daemon.pipeline.tenant_for(m)) is not None and t.name != self.tenant
        }
        if len(others) + len(args.meters) > PRIORITY_METERS_MAX:
            return Reply.refused(f"at most {PRIORITY_METERS_MAX} priority meters per gateway")
        self.daemon.priority_meters = others | set(args.meters)
        return Reply(ok=True, result={"priority_meters": sorted(args.meters)})


def _owner_name(daemon: Daemon, meter_id: str) -> str | None:
    tenant = daemon.pipeline.tenant_for(meter_id)
    return tenant.name if tenant is not None else None


def _mentions(document: dict[str, Any], meters: set[str]) -> bool:
    if document.get("id") in meters:
        return True
    readings = document.get("readings")
    return isinstance(readings, list) and any(
        isinstance(r, dict) and r.get("id") in meters for r in readings
    )
