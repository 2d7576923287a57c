"""What ``concentratorctl`` can ask the running daemon, and the role each needs.

The commands get narrow objects: the status, the meters the pipeline heard, the recent
alarms, the store (queue figures), the key store (the only writer of keys) and the
configuration; never the daemon.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from concentratord.config import Config, check_config
from concentratord.control import Command, ControlCommand, ControlError
from concentratord.keystore import KeyStore
from concentratord.pipeline import MeterState
from concentratord.store import Store
from concentratord.tap import Tap
from concentratord.tap_cmd import tap_command
from concentratord.visibility import AmbiguousMeterError, Visibility
from protocols.textformats import KeyFileError, parse_key


@dataclass(frozen=True)
class ControlContext:
    """What the control commands may read and change."""

    status: Callable[[], Awaitable[dict[str, Any]]]
    meters: Mapping[str, MeterState]  # live: the pipeline's meters, read only
    visibility: Visibility  # the rows of concentratorctl visible (one answer, three ways)
    alarms: Callable[[], list[dict[str, Any]]]
    store: Callable[[], Store | None]
    keys: KeyStore
    config: Config
    config_file: str
    tap: Tap  # the frame loop's live tap (concentratorctl tap)


def commands(ctx: ControlContext) -> dict[str, Command]:
    """The control commands bound to ``ctx``."""

    async def status(args: dict[str, Any]) -> Any:
        return await ctx.status()

    async def meters(args: dict[str, Any]) -> Any:
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

    async def visible(args: dict[str, Any]) -> Any:
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
        return {"meters": ctx.visibility.rows(None), "others": 0}

    async def alarms(args: dict[str, Any]) -> Any:
        return ctx.alarms()

    async def queue(args: dict[str, Any]) -> Any:
        store = ctx.store()
        if store is None:
            raise ControlError("the store is not open yet")
        return await store.stats()

    async def keys(args: dict[str, Any]) -> Any:
        action = args.get("action")
        if action == "list":
            return ctx.keys.listing()
        meter_id = str(args.get("meter_id") or "").upper()  # ID, or MAN:ID
        tenant = ctx.keys.decoding_tenant(meter_id.rpartition(":")[2]) if meter_id else None
        if tenant is None:
            raise ControlError(f"meter {meter_id or '?'} belongs to no decoding tenant")
        if action == "add":
            try:
                mid, key = parse_key(meter_id, str(args.get("key") or ""), "key")
            except KeyFileError as err:
                raise ControlError(str(err)) from None
            ctx.keys.add(tenant, mid, key)
            return {"added": mid, "tenant": tenant}
        if action == "remove":
            removed = ctx.keys.remove(tenant, meter_id)
            return {"removed": meter_id if removed else None}
        raise ControlError("keys needs list, add or remove")

    async def config(args: dict[str, Any]) -> Any:
        if args.get("action") == "check":
            return {"warnings": check_config(ctx.config_file)}
        return ctx.config.model_dump(mode="json")  # SecretStr prints as '**********'

    return {
        "status": ControlCommand("user", status),
        "meters": ControlCommand("user", meters),
        "visible": ControlCommand("user", visible),
        "alarms": ControlCommand("user", alarms),
        "queue": ControlCommand("user", queue),
        "keys": ControlCommand(
            "administrator",
            keys,
            changes=True,
            actions={
                "list": ("superuser", False),  # ids only, never key material
                "add": ("administrator", True),
                "remove": ("administrator", True),
            },
        ),
        "config": ControlCommand("superuser", config),
        "tap": tap_command(ctx.tap),  # a stream: superuser
    }
