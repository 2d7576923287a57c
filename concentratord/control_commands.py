"""What ``concentratorctl`` can ask the running daemon, and the role each needs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from concentratord.config import check_config
from concentratord.control import ControlCommand, ControlError
from protocols.textformats import KeyFileError, parse_key, parse_keys

if TYPE_CHECKING:
    from concentratord.daemon import Daemon


def local_keys_path(daemon: Daemon) -> Path:
    """Keys added through the control socket: in the state directory, mode 0600."""
    return Path(daemon.config.gateway.state_dir) / "keys.local"


def load_local_keys(daemon: Daemon) -> None:
    """Apply the keys added earlier through the control socket (they outlive restarts)."""
    path = local_keys_path(daemon)
    if not path.exists():
        return
    for meter_id, key in parse_keys(path.read_text(), str(path)).items():
        tenant = daemon.pipeline.tenant_for(meter_id)
        if tenant is not None and not tenant.raw:
            tenant.keys[meter_id] = key


def commands(daemon: Daemon) -> dict[str, ControlCommand]:
    """The control commands bound to ``daemon``."""

    async def status(args: dict[str, Any]) -> Any:
        return await daemon.status()

    async def meters(args: dict[str, Any]) -> Any:
        rows = []
        for state in sorted(daemon.pipeline.meters.values(), key=lambda s: s.meter_id):
            last = state.readings[-1] if state.readings else None
            rows.append(
                {
                    "id": state.meter_id,
                    "manufacturer": state.manufacturer,
                    "tenant": state.tenant,
                    "meter": last.fields.get("meter") if last else None,
                    "status": last.fields.get("status") if last else state.last_error,
                    "rssi_dbm": state.rssi_last,
                    "telegrams": state.telegrams,
                }
            )
        return rows

    async def visible(args: dict[str, Any]) -> Any:
        serial = args.get("serial")
        if serial:
            state = daemon.pipeline.meters.get(str(serial).upper())
            if state is None:
                raise ControlError(f"meter {serial} has not been heard")
            return state.visibility()
        rows = [s.visibility() for s in daemon.pipeline.meters.values()]
        rows.sort(key=lambda v: -(v["rssi_dbm"] if v["rssi_dbm"] is not None else -999))
        keep = (
            "id",
            "manufacturer",
            "telegrams",
            "rssi_dbm",
            "rssi_min_dbm",
            "rssi_max_dbm",
            "link_mode",
            "decode_errors",
        )
        return [{k: v[k] for k in keep} for v in rows]

    async def alarms(args: dict[str, Any]) -> Any:
        gateway = [
            {"id": daemon.gateway, "status": a.name, "detail": a.detail}
            for a in daemon.state.gateway_alarms
        ]
        return gateway + list(daemon.state.recent_alarms)

    async def queue(args: dict[str, Any]) -> Any:
        assert daemon.store is not None
        return await daemon.store.stats()

    async def keys(args: dict[str, Any]) -> Any:
        action = args.get("action")
        if action == "list":
            return [
                {"tenant": t.name, "id": m} for t in daemon.pipeline.tenants for m in sorted(t.keys)
            ]
        meter_id = str(args.get("meter_id") or "")
        tenant = daemon.pipeline.tenant_for(meter_id.upper()) if meter_id else None
        if tenant is None or tenant.raw:
            raise ControlError(f"meter {meter_id or '?'} belongs to no decoding tenant")
        if action == "add":
            try:
                mid, key = parse_key(meter_id, str(args.get("key") or ""), "key")
            except KeyFileError as err:
                raise ControlError(str(err)) from None
            tenant.keys[mid] = key
            _save_local_keys(daemon)
            return {"added": mid, "tenant": tenant.name}
        if action == "remove":
            removed = tenant.keys.pop(meter_id.upper(), None)
            _save_local_keys(daemon)
            return {"removed": meter_id.upper() if removed else None}
        raise ControlError("keys needs list, add or remove")

    async def config(args: dict[str, Any]) -> Any:
        if args.get("action") == "check":
            return {"warnings": check_config(daemon.config_file)}
        return daemon.config.model_dump(mode="json")  # SecretStr prints as '**********'

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
    }


def _save_local_keys(daemon: Daemon) -> None:
    path = local_keys_path(daemon)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("# keys added with concentratorctl keys add\n")
        for tenant in daemon.pipeline.tenants:
            for meter_id, key in sorted(tenant.keys.items()):
                f.write(f"{meter_id} {key.hex().upper()}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
