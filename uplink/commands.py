"""Commands down from the head-end: parsing, refusal reasons, and argument checks.

A command is published to ``{prefix}/gateway/{gw}/command/{name}`` with a JSON object::

    {"gateway": "gw-0001", "args": {...}, "reply_to": "...", "correlation_id": "..."}

``gateway`` is required and must be this gateway's id (a command routed to the wrong gateway
is refused, never run); ``args`` defaults to ``{}``; ``reply_to`` and ``correlation_id`` are for
MQTT 3.1.1 clients, which have no response topic or correlation data.

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

COMMAND_NAMES = ("backfill", "get_status", "set_priority_meters", "visibility")
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
_COMMAND_KEYS = frozenset({"gateway", "args", "reply_to", "correlation_id"})


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
    """Meters read every 5 minutes (replaces the configured list until restart)."""

    meters: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class VisibilityArgs:
    """The reception rows of these meters (None: every meter of the tenant)."""

    meters: tuple[str, ...] | None = None


CommandArgs = BackfillArgs | PriorityMetersArgs | VisibilityArgs


@dataclass(frozen=True, slots=True)
class Command:
    """A valid command for this gateway, as handed to the daemon's ``on_command``."""

    name: str
    args: dict[str, Any]
    parsed: CommandArgs | None = None
    correlation_id: str | None = None
    correlation_data: bytes | None = None


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


def check_set_priority_meters(args: Mapping[str, Any]) -> PriorityMetersArgs:
    """``{"meters": [at most 50 distinct 8-digit ids]}``."""
    _no_other_keys(args, {"meters"})
    return PriorityMetersArgs(_meter_ids(args.get("meters"), "meters", MAX_PRIORITY_METERS))


def check_visibility(args: Mapping[str, Any]) -> VisibilityArgs:
    """``{"meters"?: [at most 1,000 distinct 8-digit ids]}``."""
    _no_other_keys(args, {"meters"})
    meters = args.get("meters")
    if meters is None:
        return VisibilityArgs()
    return VisibilityArgs(_meter_ids(meters, "meters", MAX_VISIBILITY_METERS))


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
    else:
        check_get_status(args)
        parsed = None
    return Command(
        name=name,
        args=dict(args),
        parsed=parsed,
        correlation_id=correlation_id_of(doc),
        correlation_data=correlation_data,
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
