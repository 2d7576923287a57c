"""Builders for the uplink documents (docs/uplink.md, ``uplink/schemas/*.schema.json``).

Every uplink document carries ``gateway`` (the gateway id), ``schema`` (the payload schema
version, :data:`SCHEMA_VERSION`), ``message_id`` (the gateway's own monotonic id, assigned by
the caller's store so that it survives restarts; head-ends drop duplicates by it) and
``type``. The builders take every value, the message id and the time included, as
parameters: nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

SCHEMA_VERSION = 1

IntervalKind = Literal["5min", "hourly", "daily"]
INTERVAL_KINDS: tuple[IntervalKind, ...] = ("5min", "hourly", "daily")

Document = dict[str, Any]


class MessageError(ValueError):
    """A document cannot be built from the values given."""


def iso_utc(when: datetime) -> str:
    """``when`` as ISO 8601 UTC with ``Z``, whole seconds, or milliseconds when it has any.

    The same form as the decoded JSON's ``timestamp``; naive datetimes are refused because
    a gateway's local time zone must never leak into the contract.
    """
    if when.tzinfo is None:
        raise MessageError(f"naive datetime {when!r}: pass an aware (UTC) datetime")
    when = when.astimezone(UTC)
    if when.microsecond:
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _envelope(kind: str, gateway: str, message_id: int) -> Document:
    if not gateway:
        raise MessageError("gateway id is empty")
    if isinstance(message_id, bool) or not isinstance(message_id, int) or message_id < 0:
        raise MessageError(f"message_id {message_id!r} is not a non-negative integer")
    return {"gateway": gateway, "schema": SCHEMA_VERSION, "message_id": message_id, "type": kind}


class Uptime:
    """Seconds since construction, read from an injected monotonic clock."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._started = clock()

    def seconds(self) -> int:
        """Whole seconds since this object was made."""
        return max(0, int(self._clock() - self._started))


def online_state(
    *,
    gateway: str,
    message_id: int,
    time: datetime,
    version: str,
    profile: str,
    radio: Mapping[str, Any],
    uptime_s: int,
    counters: Mapping[str, int],
) -> Document:
    """The retained ``online`` document published after every connect."""
    doc = _envelope("state", gateway, message_id)
    doc.update(
        state="online",
        time=iso_utc(time),
        version=version,
        profile=profile,
        radio=dict(radio),
        uptime_s=int(uptime_s),
        counters={str(k): int(v) for k, v in counters.items()},
    )
    return doc


def offline_state(
    *, gateway: str, message_id: int, reason: str, time: datetime | None = None
) -> Document:
    """The retained ``offline`` document: the last will (``reason`` e.g. "connection lost",
    composed at connect time, so without ``time``) or the one sent on a clean stop."""
    doc = _envelope("state", gateway, message_id)
    doc.update(state="offline", reason=reason)
    if time is not None:
        doc["time"] = iso_utc(time)
    return doc


def alarm_event(
    *,
    gateway: str,
    message_id: int,
    meter_id: str,
    timestamp: datetime,
    status: str,
    previous_status: str,
    raised: Iterable[str] = (),
    cleared: Iterable[str] = (),
    fields: Mapping[str, Any] | None = None,
    clock_synchronised: bool = True,
) -> Document:
    """One alarm event: meter ``meter_id``'s status changed from ``previous_status`` to
    ``status`` (each ``OK`` or flags sorted A-Z), at ``timestamp`` (reception time of the
    telegram that showed it). ``fields`` are that telegram's decoded fields, if any.
    ``clock_synchronised`` False: ``timestamp`` comes from a clock not known to be right
    (the document then carries ``"clock_synchronised": false``)."""
    doc = _envelope("alarm", gateway, message_id)
    doc.update(
        id=meter_id,
        timestamp=iso_utc(timestamp),
        status=status,
        previous_status=previous_status,
        raised=sorted(set(raised)),
        cleared=sorted(set(cleared)),
    )
    if fields:
        doc["fields"] = dict(fields)
    if not clock_synchronised:
        doc["clock_synchronised"] = False
    return doc


def gateway_alarm(
    *,
    gateway: str,
    message_id: int,
    alarm: str,
    detail: str,
    time: datetime,
    state: Literal["raised", "cleared"] = "raised",
    clock_synchronised: bool = True,
) -> Document:
    """An alarm of the gateway itself (``alarm`` e.g. ``STORE_CORRUPT``), on the alarm topic:
    ``raised``, or ``cleared`` when the condition is over (``STORE_FULL``, ``CLOCK_...``).
    ``clock_synchronised`` as for :func:`alarm_event`."""
    doc = _envelope("gateway_alarm", gateway, message_id)
    doc.update(alarm=alarm, state=state, detail=detail, time=iso_utc(time))
    if not clock_synchronised:
        doc["clock_synchronised"] = False
    return doc


def readings_batch(
    *,
    gateway: str,
    message_id: int,
    batch_id: str,
    interval: IntervalKind,
    interval_end: datetime,
    readings: Iterable[Mapping[str, Any]],
) -> Document:
    """One batch of interval values.

    Each reading is a meter's decoded fields (names as ``concentratord decode`` prints them)
    with at least ``id``, ``status`` and ``timestamp`` (ISO string, when it was received);
    ``rssi_dbm`` when known. ``interval_end`` is set on each reading from the batch. The
    readings are sorted by meter id (then manufacturer), one per meter, so that a batch has one
    canonical form.
    """
    if interval not in INTERVAL_KINDS:
        raise MessageError(f"interval {interval!r} is not one of {', '.join(INTERVAL_KINDS)}")
    if not batch_id:
        raise MessageError("batch_id is empty")
    end = iso_utc(interval_end)
    rows: list[Document] = []
    for reading in readings:
        missing = [k for k in ("id", "status", "timestamp") if k not in reading]
        if missing:
            raise MessageError(f"reading {reading.get('id', '?')!r} lacks {', '.join(missing)}")
        row = dict(reading)
        row["interval_end"] = end
        rows.append(row)
    # A meter is its id and manufacturer: two manufacturers' meters may share an id.
    rows.sort(key=lambda r: (str(r["id"]), str(r.get("manufacturer", ""))))
    meters = [(r["id"], r.get("manufacturer")) for r in rows]
    if len(set(meters)) != len(meters):
        raise MessageError("a meter appears twice in one batch")
    doc = _envelope("readings", gateway, message_id)
    doc.update(batch_id=batch_id, interval=interval, interval_end=end, readings=rows)
    return doc


def stats_event(
    *,
    gateway: str,
    message_id: int,
    time: datetime,
    uptime_s: int,
    counters: Mapping[str, int],
    reception: Mapping[str, Any] | None = None,
    power: Mapping[str, Any] | None = None,
) -> Document:
    """Gateway and reception statistics (``counters`` are totals since start); ``power``:
    a battery bridge's power budget."""
    doc = _envelope("stats", gateway, message_id)
    doc.update(
        time=iso_utc(time),
        uptime_s=int(uptime_s),
        counters={str(k): int(v) for k, v in counters.items()},
    )
    if reception is not None:
        doc["reception"] = dict(reception)
    if power is not None:
        doc["power"] = dict(power)
    return doc


def command_reply(
    *,
    gateway: str,
    message_id: int,
    command: str,
    ok: bool,
    result: Mapping[str, Any] | None = None,
    error: str | None = None,
    correlation_id: str | None = None,
) -> Document:
    """The reply to a command: ``ok`` with an optional ``result``, or refused with ``error``."""
    if ok and error is not None:
        raise MessageError("a successful reply carries no error")
    if not ok and not error:
        raise MessageError("a refused command needs a reason in error")
    doc = _envelope("reply", gateway, message_id)
    doc.update(command=command, ok=ok)
    if result is not None:
        doc["result"] = dict(result)
    if error is not None:
        doc["error"] = error
    if correlation_id is not None:
        doc["correlation_id"] = correlation_id
    return doc
