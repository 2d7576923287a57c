"""What ``concentratorctl`` can ask the running daemon, and the permission each needs
(docs/access.md, "Permissions of each action").

The commands get narrow objects: the status, the meters the pipeline heard, the recent
alarms, the store (queue figures, the audit trail), the key store (the only writer of
keys), the tenant map, the meter groups, the authority and the configuration; never the
daemon. What changes is saved through ``save`` (the store) by name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from concentratord.access import Authority, Caller, Permission, PermissionTableError
from concentratord.config import Config, TenantConfig, check_config
from concentratord.control import Audited, Command, ControlCommand, ControlError
from concentratord.groups import GroupError, MeterGroups
from concentratord.keystore import KeyImportError, KeyStore
from concentratord.mbus_control import DecodeWired, mbus_command
from concentratord.pipeline import MeterState
from concentratord.reload import ReloadRefusedError
from concentratord.store import Store
from concentratord.tap import Tap
from concentratord.tap_cmd import tap_command
from concentratord.tenancy import TenantError, TenantMap
from concentratord.visibility import AmbiguousMeterError, Visibility
from concentratord.wired_bus import WiredBus
from protocols.textformats import KeyFileError, parse_keys

P = Permission


@dataclass(frozen=True)
class ControlContext:
    """What the control commands may read and change."""

    status: Callable[[], Awaitable[dict[str, Any]]]
    meters: Mapping[str, MeterState]  # live: the pipeline's meters, read only
    visibility: Visibility  # the rows of concentratorctl visible (one answer, three ways)
    alarms: Callable[[], list[dict[str, Any]]]
    store: Callable[[], Store | None]
    keys: KeyStore
    tenants: TenantMap
    groups: MeterGroups
    authority: Authority
    config: Callable[[], Config]  # the running configuration (a reload replaces it)
    config_file: str
    reload: Callable[[Caller], Awaitable[dict[str, Any]]]  # ReloadRefusedError
    tap: Tap  # the frame loop's live tap (concentratorctl tap)
    keys_changed: Callable[[list[str]], None]  # meters whose tenant a key may have changed
    save: Callable[[str], Awaitable[None]]  # keep "access", "groups" or "tenants" in the store
    add_tenant: Callable[[TenantConfig], Awaitable[str]]  # the share ID
    remove_tenant: Callable[[str], Awaitable[None]]
    buses: Mapping[str, WiredBus]  # the [[mbus]] buses by port (concentratorctl mbus)
    decode_wired: DecodeWired  # a wired answer as `decode` prints it


def _text(args: Mapping[str, Any], name: str) -> str:
    value = args.get(name)
    if not isinstance(value, str) or not value:
        raise ControlError(f"{name} is required")
    return value


def _time(args: Mapping[str, Any], name: str) -> float | None:
    value = args.get(name)
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ControlError(f"{name}: {value!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise ControlError(f"{name}: {value!r} has no time zone (use Z for UTC)")
    return when.timestamp()


def _meter_list(args: Mapping[str, Any]) -> list[str]:
    meters = args.get("meters")
    if not isinstance(meters, list) or not meters or not all(isinstance(m, str) for m in meters):
        raise ControlError("meters: give one or more meter ids")
    return [m.upper() for m in meters]


def commands(ctx: ControlContext) -> dict[str, Command]:
    """The control commands bound to ``ctx``."""

    async def status(args: dict[str, Any], caller: Caller) -> Any:
        return await ctx.status()

    async def meters(args: dict[str, Any], caller: Caller) -> Any:
        rows = []
        for state in sorted(ctx.meters.values(), key=lambda s: (s.meter_id, s.manufacturer)):
            last = state.readings[-1] if state.readings else None
            rows.append(
                {
                    "id": state.meter_id,
                    "manufacturer": state.manufacturer,
                    "tenant": state.tenant,
                    "meter": last.fields.get("meter") if last else None,
                    "status": last.fields.get("status") if last else state.last_error,
                    "rssi_dbm": state.reception.rssi_last,
                    "telegrams": state.reception.telegrams,
                }
            )
        return rows

    async def visible(args: dict[str, Any], caller: Caller) -> Any:
        # The operator's view: every meter heard, the neighbours' included (tenant None).
        serial = args.get("serial")
        if serial:
            try:
                row = ctx.visibility.row(str(serial), None)
            except AmbiguousMeterError as err:
                raise ControlError(str(err)) from None
            if row is None:
                raise ControlError(f"meter {serial} has not been heard")
            state = ctx.meters.get(f"{row['manufacturer']}:{row['id']}")
            if state is not None:  # what a technician needs beyond the installer's row
                row.update(
                    repeats=state.repeats,
                    decode_errors=state.decode_errors,
                    last_error=state.last_error,
                )
            return row
        group = args.get("group")
        try:
            members = ctx.groups.members(str(group), None) if group else None
        except GroupError as err:
            raise ControlError(str(err)) from None
        return {"meters": ctx.visibility.rows(None, members), "others": 0}

    async def alarms(args: dict[str, Any], caller: Caller) -> Any:
        return ctx.alarms()

    def store() -> Store:
        found = ctx.store()
        if found is None:
            raise ControlError("the store is not open yet")
        return found

    async def queue(args: dict[str, Any], caller: Caller) -> Any:
        return await store().stats()

    async def keys(args: dict[str, Any], caller: Caller) -> Any:
        action = args.get("action")
        scope = args.get("tenant")
        if scope is not None and scope not in ctx.tenants.names:
            raise ControlError(f"no tenant {scope!r}")
        if action == "list":
            return ctx.keys.listing(scope)
        try:
            if action == "import":
                source = str(args.get("source") or "stdin")
                parsed = parse_keys(_text(args, "text"), source)
                if not parsed:
                    raise ControlError(f"{source}: no keys in it")
                done = ctx.keys.import_keys(parsed, ctx.tenants.key_route, scope)
                ctx.keys_changed(done)
                return Audited(
                    {"imported": len(done), "meters": done}, f"done: {len(done)} keys imported"
                )
            if action == "remove":
                gone = ctx.keys.remove_keys(_meter_list(args), scope)
                ctx.keys_changed(gone)
                return Audited({"removed": gone}, f"done: {len(gone)} keys removed")
        except (KeyFileError, KeyImportError) as err:
            raise ControlError(str(err)) from None
        except OSError as err:
            raise ControlError(f"the runtime keys file cannot be written: {err}") from None
        raise ControlError("keys needs list, import or remove")

    async def config(args: dict[str, Any], caller: Caller) -> Any:
        if args.get("action") == "check":
            return {"warnings": check_config(ctx.config_file)}
        return ctx.config().model_dump(mode="json")  # SecretStr prints as '**********'

    async def reload(args: dict[str, Any], caller: Caller) -> Any:
        try:
            result = await ctx.reload(caller)
        except ReloadRefusedError as err:
            raise ControlError(f"reload refused, the running configuration stays: {err}") from None
        changed = result["changed"]
        return Audited(result, f"done: {', '.join(changed)}" if changed else "done: no change")

    async def audit(args: dict[str, Any], caller: Caller) -> Any:
        return await store().audit.between(_time(args, "since"), _time(args, "until"))

    async def access(args: dict[str, Any], caller: Caller) -> Any:
        action = args.get("action")
        table = ctx.authority.table
        if action == "show":
            return table.rows()
        if action not in ("grant", "revoke"):
            raise ControlError("access needs show, grant or revoke")
        try:
            change = table.grant if action == "grant" else table.revoke
            changed = change(_text(args, "role"), _text(args, "permission"))
        except PermissionTableError as err:
            raise ControlError(str(err)) from None
        await ctx.save("access")
        return Audited(table.rows(), "done" if changed else "done: no change")

    async def group(args: dict[str, Any], caller: Caller) -> Any:
        action = args.get("action")
        groups = ctx.groups
        try:
            if action == "list":
                return groups.listing(None)
            name = _text(args, "name")
            if action == "show":
                return {"name": name, "meters": groups.members(name, None)}
            if action == "create":
                tenant = args.get("tenant")
                if tenant is not None and tenant not in ctx.tenants.names:
                    raise ControlError(f"no tenant {tenant!r}")
                groups.create(name, tenant, None)
                result: Any = {"created": name}
            elif action == "delete":
                groups.delete(name, None)
                result = {"deleted": name}
            elif action == "add":
                result = {"added": groups.add(name, _meter_list(args), None)}
            elif action == "remove":
                result = {"removed": groups.remove(name, _meter_list(args), None)}
            else:
                raise ControlError("group needs create, delete, add, remove, list or show")
        except GroupError as err:
            raise ControlError(str(err)) from None
        await ctx.save("groups")
        return result

    async def tenant(args: dict[str, Any], caller: Caller) -> Any:
        action = args.get("action")
        if action == "list":
            return ctx.tenants.listing()
        name = _text(args, "name")
        try:
            if action == "add":
                config = _tenant_config(args)
                share_id = await ctx.add_tenant(config)
                return Audited(
                    {"tenant": name, "share_id": share_id, "state": "waiting for its share ID"},
                    "done: share ID issued",
                )
            if action == "remove":
                await ctx.remove_tenant(name)
                return {"removed": name}
        except TenantError as err:
            raise ControlError(str(err)) from None
        raise ControlError("tenant needs add, remove or list")

    keys_actions = {
        "import": (P.DEVICES, True),
        "remove": (P.DEVICES, True),
        "list": (P.DEVICES, False),
    }
    groups_actions = {a: (P.GROUPS, True) for a in ("create", "delete", "add", "remove")}
    groups_actions.update({"list": (P.DATA, False), "show": (P.DATA, False)})
    return {
        "status": ControlCommand(P.DATA, status),
        "meters": ControlCommand(P.DATA, meters),
        "visible": ControlCommand(P.DATA, visible),
        "alarms": ControlCommand(P.DATA, alarms),
        "queue": ControlCommand(P.DATA, queue),
        "keys": ControlCommand(P.DEVICES, keys, changes=True, actions=keys_actions),
        "config": ControlCommand(P.SYSTEM, config),
        "reload": ControlCommand(P.SYSTEM, reload, changes=True),
        "tap": tap_command(ctx.tap),  # a stream: reading management
        "mbus": mbus_command(ctx.buses, ctx.decode_wired),  # a stream: device management
        "audit": ControlCommand(P.ACCESS, audit),
        "access": ControlCommand(
            P.ACCESS, access, changes=True, actions={"show": (P.ACCESS, False)}
        ),
        "group": ControlCommand(P.GROUPS, group, changes=True, actions=groups_actions),
        "tenant": ControlCommand(P.ACCESS, tenant, changes=True, actions={"list": (P.DATA, False)}),
    }


def _tenant_config(args: Mapping[str, Any]) -> TenantConfig:
    """A runtime tenant from ``tenant add``'s arguments, checked as the file's tables are."""
    uplink = {
        k: args[k]
        for k in ("broker", "prefix", "codec", "username", "password", "client_id")
        if args.get(k) is not None
    }
    data = {
        "name": args.get("name"),
        "meters": args.get("meters") or [],
        "meters_from_keys": bool(args.get("meters_from_keys")),
        "payload": args.get("payload") or "decoded",
        "uplink": uplink,
    }
    try:
        return TenantConfig.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise TenantError(f"{where}: {first['msg']}") from None
