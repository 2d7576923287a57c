"""Commands down from the head-end: parsing, refusal reasons, and argument checks.

A command is published to ``{prefix}/gateway/{gw}/command/{name}`` with a JSON object::

    {"gateway": "gw-0001", "args": {...}, "reply_to": "...", "correlation_id": "...",
     "client_id": "...", "share_id": "..."}

``gateway`` is required and must be this gateway's id (a command routed to the wrong gateway
is refused, never run); ``args`` defaults to ``{}``; ``reply_to`` and ``correlation_id`` are for
MQTT 3.1.1 clients, which have no response topic or correlation data. ``client_id`` is the
head-end's own MQTT client id, for the audit trail (the broker does not tell subscribers
who published); ``share_id`` is presented once by the head-end of a tenant added at run time.

What a head-end sends back to itself through the gateway is bounded (docs/uplink.md, "Size
limits"): the payload (:data:`MAX_COMMAND_BYTES`), the reply topic (:data:`MAX_REPLY_TOPIC_BYTES`),
``correlation_id`` (:data:`MAX_CORRELATION_ID_BYTES`) and the MQTT 5 correlation data
(:data:`MAX_CORRELATION_DATA_BYTES`). Beyond, the command is refused and the over-long value
is never echoed: a head-end must not be able to make the gateway publish large copies of
its own input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

COMMAND_NAMES = (
    "backfill",
    "get_status",
    "set_priority_meters",
    "visibility",
    "keys_import",
    "keys_list",
    "keys_remove",
)
# Keys one keys_import may carry, and meters one keys_remove may name.
MAX_KEYS = 1000
MAX_CLIENT_ID_BYTES = 128
MAX_SHARE_ID_BYTES = 64
MAX_PRIORITY_METERS = 50
# Meters one visibility command may name (without a list: every meter of the tenant).
MAX_VISIBILITY_METERS = 1000
# A command payload as received (before decoding; a compact frame's document is bounded to
# the same size when decompressed). The largest real command is a backfill naming meters:
# about 5,000 ids fit; a backfill of every meter names none.
MAX_COMMAND_BYTES = 64 * 1024
# UTF-8 bytes of a reply topic named by the head-end: the payload's reply_to or the MQTT 5
# response topic (the same rule for both).
MAX_REPLY_TOPIC_BYTES = 256
# UTF-8 bytes of the payload's correlation_id, echoed in the reply payload.
MAX_CORRELATION_ID_BYTES = 256
# Bytes of the MQTT 5 correlation data, echoed as the reply's correlation data.
MAX_CORRELATION_DATA_BYTES = 256
_METER_ID = re.compile(r"^[0-9]{8}$")
_KEY_METER = re.compile(r"^(?:[A-Z@]{3}:)?[0-9A-F]{8}$")
_KEY_HEX = re.compile(r"^[0-9A-Fa-f]{32}$")
_GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_COMMAND_KEYS = frozenset(
    {"gateway", "args", "reply_to", "correlation_id", "client_id", "share_id"}
)


class CommandRefusedError(ValueError):
    """A command is refused; the message is the reason sent back in the reply."""


@dataclass(frozen=True, slots=True)
class BackfillArgs:
    """Resend what was published for intervals ending in [start, end)."""

    start: datetime
    end: datetime
    interval: str | None = None
    meters: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class PriorityMetersArgs:
    """Meters read every 5 minutes (replaces the configured list until restart): listed,
    or the tenant's meter group ``group``."""

    meters: tuple[str, ...] = ()
    group: str | None = None


@dataclass(frozen=True, slots=True)
class VisibilityArgs:
    """The reception rows of these meters (None: every meter of the tenant), or of the
    tenant's meter group ``group``."""

    meters: tuple[str, ...] | None = None
    group: str | None = None


@dataclass(frozen=True, slots=True)
class KeysImportArgs:
    """AES keys of the tenant's meters: meter (``ID`` or ``MAN:ID``) -> 16 bytes."""

    keys: dict[str, bytes]


@dataclass(frozen=True, slots=True)
class KeysRemoveArgs:
    """Meters whose keys go."""

    meters: tuple[str, ...]


CommandArgs = BackfillArgs | PriorityMetersArgs | VisibilityArgs | KeysImportArgs | KeysRemoveArgs


@dataclass(frozen=True, slots=True)
class Command:
    """A valid command for this gateway, as handed to the daemon's ``on_command``."""

    name: str
    args: dict[str, Any]
    parsed: CommandArgs | None = None
    correlation_id: str | None = None
    correlation_data: bytes | None = None
    client_id: str | None = None  # the head-end's own MQTT client id, as it declares it
    share_id: str | None = None  # a runtime tenant's first command presents it


@dataclass(frozen=True, slots=True)
class Reply:
    """What the daemon answers: ``ok`` with a ``result``, or not ok with an ``error``."""

    ok: bool
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @classmethod
    def refused(cls, reason: str) -> Reply:
        """A refusal with ``reason``."""
        return cls(ok=False, error=reason)


def _timestamp(args: Mapping[str, Any], key: str) -> datetime:
    value = args.get(key)
    if not isinstance(value, str):
        raise CommandRefusedError(f"args.{key}: an ISO 8601 timestamp is required")
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CommandRefusedError(f"args.{key}: {value!r} is not an ISO 8601 timestamp") from None
    if when.tzinfo is None:
        raise CommandRefusedError(f"args.{key}: {value!r} has no time zone (use Z for UTC)")
    return when


def _meter_ids(value: Any, key: str, limit: int | None) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise CommandRefusedError(f"args.{key}: a list of 8-digit meter ids is required")
    bad = [v for v in value if not isinstance(v, str) or not _METER_ID.match(v)]
    if bad:
        raise CommandRefusedError(f"args.{key}: {bad[0]!r} is not an 8-digit meter id")
    if len(set(value)) != len(value):
        raise CommandRefusedError(f"args.{key}: a meter id appears twice")
    if limit is not None and len(value) > limit:
        raise CommandRefusedError(f"args.{key}: {len(value)} meters, at most {limit} allowed")
    return tuple(value)


def _no_other_keys(args: Mapping[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(args) - allowed)
    if extra:
        raise CommandRefusedError(f"args: unknown argument {extra[0]!r}")


def check_backfill(args: Mapping[str, Any]) -> BackfillArgs:
    """``{"from": ISO, "to": ISO, "interval"?: "5min"|"hourly"|"daily", "meters"?: [id]}``."""
    _no_other_keys(args, {"from", "to", "interval", "meters"})
    start, end = _timestamp(args, "from"), _timestamp(args, "to")
    if not start < end:
        raise CommandRefusedError("args: from must be before to")
    interval = args.get("interval")
    if interval is not None and interval not in ("5min", "hourly", "daily"):
        raise CommandRefusedError(f"args.interval: {interval!r} is not 5min, hourly or daily")
    meters = args.get("meters")
    return BackfillArgs(
        start=start,
        end=end,
        interval=interval,
        meters=None if meters is None else _meter_ids(meters, "meters", None),
    )


def _group(args: Mapping[str, Any]) -> str | None:
    group = args.get("group")
    if group is None:
        return None
    if not isinstance(group, str) or not _GROUP.match(group):
        raise CommandRefusedError("args.group: a group name (1-64 letters, digits, . _ -)")
    if "meters" in args:
        raise CommandRefusedError("args: give meters or group, not both")
    return group


def check_set_priority_meters(args: Mapping[str, Any]) -> PriorityMetersArgs:
    """``{"meters": [at most 50 distinct 8-digit ids]}`` or ``{"group": NAME}``."""
    _no_other_keys(args, {"meters", "group"})
    group = _group(args)
    if group is not None:
        return PriorityMetersArgs(group=group)
    return PriorityMetersArgs(_meter_ids(args.get("meters"), "meters", MAX_PRIORITY_METERS))


def check_visibility(args: Mapping[str, Any]) -> VisibilityArgs:
    """``{"meters"?: [at most 1,000 distinct 8-digit ids]}`` or ``{"group": NAME}``."""
    _no_other_keys(args, {"meters", "group"})
    group = _group(args)
    if group is not None:
        return VisibilityArgs(group=group)
    meters = args.get("meters")
    if meters is None:
        return VisibilityArgs()
    return VisibilityArgs(_meter_ids(meters, "meters", MAX_VISIBILITY_METERS))


def check_keys_import(args: Mapping[str, Any]) -> KeysImportArgs:
    """``{"keys": [{"id": "ID"|"MAN:ID", "key": 32 hex digits}, ...]}``, at most 1,000.

    A refusal names the entry by its position, never by the key it carries."""
    _no_other_keys(args, {"keys"})
    entries = args.get("keys")
    if not isinstance(entries, list) or not entries:
        raise CommandRefusedError("args.keys: a list of {id, key} objects is required")
    if len(entries) > MAX_KEYS:
        raise CommandRefusedError(f"args.keys: {len(entries)} keys, at most {MAX_KEYS} allowed")
    keys: dict[str, bytes] = {}
    for i, entry in enumerate(entries, start=1):
        where = f"args.keys[{i}]"
        if not isinstance(entry, dict) or set(entry) != {"id", "key"}:
            raise CommandRefusedError(f"{where}: an object with id and key only")
        meter, key = entry["id"], entry["key"]
        if not isinstance(meter, str) or not _KEY_METER.match(meter.upper()):
            raise CommandRefusedError(f"{where}.id: an 8-digit meter id or MAN:ID")
        if not isinstance(key, str) or not _KEY_HEX.match(key):
            raise CommandRefusedError(f"{where}.key: 32 hex digits (AES-128)")
        if meter.upper() in keys:
            raise CommandRefusedError(f"{where}.id: meter {meter.upper()} appears twice")
        keys[meter.upper()] = bytes.fromhex(key)
    return KeysImportArgs(keys)


def check_keys_remove(args: Mapping[str, Any]) -> KeysRemoveArgs:
    """``{"meters": [at most 1,000 ids or MAN:IDs]}``."""
    _no_other_keys(args, {"meters"})
    meters = args.get("meters")
    if not isinstance(meters, list) or not meters or len(meters) > MAX_KEYS:
        raise CommandRefusedError(f"args.meters: a list of 1 to {MAX_KEYS} meter ids")
    bad = [m for m in meters if not isinstance(m, str) or not _KEY_METER.match(m.upper())]
    if bad:
        raise CommandRefusedError(f"args.meters: {bad[0]!r} is not a meter id")
    return KeysRemoveArgs(tuple(m.upper() for m in meters))


def _declared(doc: Mapping[str, Any], name: str, limit: int) -> str | None:
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value or (_utf8_size(value) or limit + 1) > limit:
        raise CommandRefusedError(f"{name}: a string of at most {limit} bytes")
    return value


def check_get_status(args: Mapping[str, Any]) -> None:
    """``{}``: no arguments."""
    _no_other_keys(args, set())


def parse_command(
    name: str,
    doc: Mapping[str, Any],
    *,
    gateway: str,
    allowed: frozenset[str] | None = None,
    correlation_data: bytes | None = None,
) -> Command:
    """A :class:`Command` from a decoded payload, or :class:`CommandRefusedError` with the reason.

    ``allowed`` limits the commands this gateway runs (default: all of
    :data:`COMMAND_NAMES`).
    """
    if name not in COMMAND_NAMES:
        raise CommandRefusedError(f"unknown command {name!r}")
    if allowed is not None and name not in allowed:
        raise CommandRefusedError(f"command {name!r} is not allowed on this gateway")
    target = doc.get("gateway")
    if not isinstance(target, str):
        raise CommandRefusedError("gateway: the target gateway id is required")
    if target != gateway:
        raise CommandRefusedError(f"gateway: command is for {target!r}, this is {gateway!r}")
    extra = sorted(set(doc) - _COMMAND_KEYS)
    if extra:
        raise CommandRefusedError(f"unknown field {extra[0]!r}")
    check_correlation(doc, correlation_data)
    args = doc.get("args", {})
    if not isinstance(args, dict):
        raise CommandRefusedError("args: must be an object")
    parsed: CommandArgs | None
    if name == "backfill":
        parsed = check_backfill(args)
    elif name == "set_priority_meters":
        parsed = check_set_priority_meters(args)
    elif name == "visibility":
        parsed = check_visibility(args)
    elif name == "keys_import":
        parsed = check_keys_import(args)
    elif name == "keys_remove":
        parsed = check_keys_remove(args)
    else:  # get_status, keys_list
        check_get_status(args)
        parsed = None
    return Command(
        name=name,
        args=dict(args),
        parsed=parsed,
        correlation_id=correlation_id_of(doc),
        correlation_data=correlation_data,
        client_id=_declared(doc, "client_id", MAX_CLIENT_ID_BYTES),
        share_id=_declared(doc, "share_id", MAX_SHARE_ID_BYTES),
    )


def _utf8_size(value: str) -> int | None:
    """Bytes of ``value`` in UTF-8; None when it has none (a lone surrogate, which JSON's
    ``\\ud800`` escapes allow but no MQTT topic or reply can carry)."""
    try:
        return len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return None


def check_reply_to(value: Any, what: str = "reply_to") -> str:
    """``value`` if it is a string of at most :data:`MAX_REPLY_TOPIC_BYTES`, else
    :class:`CommandRefusedError` naming ``what`` (``reply_to`` or ``response topic``).

    Only the type and the size: whether the topic lies under the tenant's reply prefix is
    :meth:`uplink.topics.Topics.check_reply_topic`.
    """
    if not isinstance(value, str):
        raise CommandRefusedError(f"{what}: must be a string")
    size = _utf8_size(value)
    if size is None:
        raise CommandRefusedError(f"{what}: not valid UTF-8")
    if size > MAX_REPLY_TOPIC_BYTES:
        # The size, never the value: the reason is published.
        raise CommandRefusedError(f"{what}: {size} bytes, at most {MAX_REPLY_TOPIC_BYTES}")
    return value


def check_correlation(doc: Mapping[str, Any], correlation_data: bytes | None) -> None:
    """Refuse (:class:`CommandRefusedError`) a ``correlation_id`` or correlation data over its
    limit; the reason gives the size, not the value."""
    value = doc.get("correlation_id")
    if isinstance(value, str):
        size = _utf8_size(value)
        if size is None:
            raise CommandRefusedError("correlation_id: not valid UTF-8")
        if size > MAX_CORRELATION_ID_BYTES:
            raise CommandRefusedError(
                f"correlation_id: {size} bytes, at most {MAX_CORRELATION_ID_BYTES}"
            )
    if correlation_data is not None and len(correlation_data) > MAX_CORRELATION_DATA_BYTES:
        raise CommandRefusedError(
            f"correlation data: {len(correlation_data)} bytes, at most {MAX_CORRELATION_DATA_BYTES}"
        )


def correlation_id_of(doc: Mapping[str, Any]) -> str | None:
    """The payload's ``correlation_id`` to echo, even in refusals: a string within
    :data:`MAX_CORRELATION_ID_BYTES`; None for anything else (never echoed)."""
    value = doc.get("correlation_id")
    if not isinstance(value, str):
        return None
    size = _utf8_size(value)
    return value if size is not None and size <= MAX_CORRELATION_ID_BYTES else None


def correlation_data_of(data: bytes | None) -> bytes | None:
    """The MQTT 5 correlation data to echo, even in refusals: None when over
    :data:`MAX_CORRELATION_DATA_BYTES` (never echoed)."""
    if data is not None and len(data) <= MAX_CORRELATION_DATA_BYTES:
        return data
    return None
