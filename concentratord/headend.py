"""Commands from the head-end (docs/uplink.md, "Commands"): backfill, set_priority_meters,
get_status, visibility, keys_import, keys_list, keys_remove. uplink has checked the gateway
id and the arguments; these carry them out for one tenant, as that tenant's head-end (its
role, ``access.headend_role``, within its own tenant only), with only what each needs.

Every command is decided by the one authorisation function and written to the audit trail
as ``tenant:<name>`` from ``<host>/mqtt:<client id>``, refusals included. A tenant added at
run time answers nothing but the presentation of its share ID until it is presented.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from concentratord.access import Authority, NotPermittedError, Permission
from concentratord.access.identity import headend
from concentratord.config.sections import Role
from concentratord.groups import GroupError, MeterGroups
from concentratord.keystore import KeyImportError, KeyStore
from concentratord.priority import PriorityError, PriorityMeters
from concentratord.publisher import Publisher
from concentratord.store import Store
from concentratord.tenancy import TenantMap
from concentratord.visibility import Visibility
from uplink import Command, Reply
from uplink.commands import (
    MAX_CLIENT_ID_BYTES,
    BackfillArgs,
    KeysImportArgs,
    KeysRemoveArgs,
    PriorityMetersArgs,
    VisibilityArgs,
)

log = logging.getLogger(__name__)

StatusOf = Callable[[], Awaitable[dict[str, Any]]]

# The permission each command needs (docs/access.md).
PERMISSION = {
    "get_status": Permission.DATA,
    "visibility": Permission.DATA,
    "backfill": Permission.READINGS,
    "set_priority_meters": Permission.READINGS,
    "keys_import": Permission.DEVICES,
    "keys_list": Permission.DEVICES,
    "keys_remove": Permission.DEVICES,
}
# The commands that change something; the others only read (audited as "read").
CHANGES = frozenset({"backfill", "set_priority_meters", "keys_import", "keys_remove"})
WAITING = "this tenant is waiting for its share ID: present it in share_id"


@dataclass(frozen=True)
class TenantServices:
    """What one tenant's commands may use; each scoped to the tenant by the handler."""

    status: StatusOf  # already scoped to the tenant
    store: Store
    publisher: Publisher
    priority: PriorityMeters
    visibility: Visibility
    keys: KeyStore
    tenants: TenantMap
    groups: MeterGroups
    authority: Authority
    keys_changed: Callable[[list[str]], None]
    activated: Callable[[str], Awaitable[None]]  # a runtime tenant presented its share ID


class HeadEndCommands:
    """The command handler of one tenant's uplink: it acts on that tenant's data only."""

    def __init__(self, tenant: str, role: Role, services: TenantServices) -> None:
        self.tenant = tenant
        self.role = role
        self._s = services

    async def handle(self, command: Command) -> Reply | None:
        """Decide, carry out and audit one command; the reply goes back on its route."""
        s = self._s
        caller = headend(self.tenant, self.role, command.client_id)
        log.info("head-end command %s from tenant %s", command.name, self.tenant)
        if not s.tenants.is_active(self.tenant):
            if command.share_id is None or not s.tenants.present(self.tenant, command.share_id):
                reason = WAITING if command.share_id is None else "the share ID is not valid"
                await s.authority.record(
                    caller, command.name, command.args, f"refused: {reason}", event="refusal"
                )
                return Reply.refused(reason)
            await s.activated(self.tenant)
            await s.authority.record(caller, "tenant activate", {}, "done: share ID presented")
        permission = PERMISSION.get(command.name)
        if permission is None:
            return Reply.refused(f"command {command.name} is not supported by this gateway")
        try:
            await s.authority.check(caller, permission, command.name, command.args)
        except NotPermittedError as err:
            return Reply.refused(str(err))
        reply = await self._run(command)
        outcome = "done" if reply.ok else f"refused: {reply.error}"
        await s.authority.record(
            caller,
            command.name,
            command.args,
            outcome,
            event=("change" if command.name in CHANGES else "read") if reply.ok else "refusal",
        )
        return reply

    async def refused(self, name: str, doc: dict[str, Any], reason: str) -> None:
        """A command the uplink refused before it reached :meth:`handle` (malformed, for
        another gateway, bad arguments): audited like every refusal."""
        declared = doc.get("client_id")
        valid = (
            isinstance(declared, str)
            and len(declared.encode("utf-8", "surrogatepass")) <= MAX_CLIENT_ID_BYTES
        )
        client = declared if valid else None
        args = doc.get("args")
        await self._s.authority.record(
            headend(self.tenant, self.role, client),
            name,
            args if isinstance(args, dict) else {},
            f"refused: {reason}",
            event="refusal",
        )

    async def _run(self, command: Command) -> Reply:
        s, tenant, parsed = self._s, self.tenant, command.parsed
        if command.name == "get_status":
            return Reply(ok=True, result=await s.status())  # scoped to this tenant
        if command.name == "backfill" and isinstance(parsed, BackfillArgs):
            return await self._backfill(parsed)
        if command.name == "set_priority_meters" and isinstance(parsed, PriorityMetersArgs):
            try:
                wanted = parsed.meters
                if parsed.group is not None:
                    members = s.groups.members(parsed.group, tenant)
                    wanted = tuple(sorted({m.rpartition(":")[2] for m in members}))
                meters = s.priority.replace(tenant, wanted)
            except (PriorityError, GroupError) as err:
                return Reply.refused(str(err))
            return Reply(ok=True, result={"priority_meters": sorted(meters)})
        if command.name == "visibility" and isinstance(parsed, VisibilityArgs):
            # The tenant's own meters only, and a count of the others (docs/visibility.md).
            try:
                group = parsed.group
                shown = s.groups.members(group, tenant) if group is not None else parsed.meters
            except GroupError as err:
                return Reply.refused(str(err))
            rows = s.visibility.rows(tenant, shown)
            return Reply(ok=True, result={"meters": rows, "others": s.visibility.others(tenant)})
        if command.name == "keys_list":
            rows = [{"id": r["id"], "source": r["source"]} for r in s.keys.listing(tenant)]
            return Reply(ok=True, result={"keys": rows})
        try:
            if command.name == "keys_import" and isinstance(parsed, KeysImportArgs):
                done = s.keys.import_keys(parsed.keys, s.tenants.key_route, tenant)
                s.keys_changed(done)
                return Reply(ok=True, result={"imported": len(done), "meters": done})
            if command.name == "keys_remove" and isinstance(parsed, KeysRemoveArgs):
                gone = s.keys.remove_keys(parsed.meters, tenant)
                s.keys_changed(gone)
                return Reply(ok=True, result={"removed": gone})
        except KeyImportError as err:
            return Reply.refused(str(err))
        except OSError:
            return Reply.refused("the gateway could not store the keys; nothing changed")
        return Reply.refused(f"command {command.name} is not supported by this gateway")

    async def _backfill(self, args: BackfillArgs) -> Reply:
        s = self._s
        rows = await s.store.delivered_between(
            self.tenant, args.start.timestamp(), args.end.timestamp()
        )
        if args.interval is not None:
            rows = [r for r in rows if r.document.get("interval") == args.interval]
        if args.meters is not None:
            wanted = set(args.meters)
            rows = [r for r in rows if _mentions(r.document, wanted)]
        s.publisher.replay(rows)
        return Reply(ok=True, result={"messages": len(rows)})


def _mentions(document: dict[str, Any], meters: set[str]) -> bool:
    if document.get("id") in meters:
        return True
    readings = document.get("readings")
    return isinstance(readings, list) and any(
        isinstance(r, dict) and r.get("id") in meters for r in readings
    )
