"""Uplink documents from what the pipeline produced (the shapes are uplink's; the
contents are ours)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from concentratord.pipeline import AlarmEvent, Reading
from concentratord.store import OutboxItem
from uplink import messages

# The store assigns message ids; documents are built with this placeholder and the
# publisher writes the real id in before encoding.
UNASSIGNED = 0


def utc(timestamp: float) -> datetime:
    """An epoch time as an aware UTC datetime."""
    return datetime.fromtimestamp(timestamp, UTC)


def reading_row(reading: Reading) -> dict[str, Any]:
    """One meter's value in a readings batch: the decoded fields, RSSI and reception time."""
    row = dict(reading.fields)
    row["id"] = reading.meter_id
    row.setdefault("status", "OK")
    row["rssi_dbm"] = reading.rssi_dbm
    row["link_mode"] = reading.link_mode
    row["timestamp"] = messages.iso_utc(utc(reading.timestamp))
    return row


def alarm_item(gateway: str, event: AlarmEvent, previous_status: str) -> OutboxItem:
    """The outbox item of one alarm event (published at once)."""
    document = messages.alarm_event(
        gateway=gateway,
        message_id=UNASSIGNED,
        meter_id=event.meter_id,
        timestamp=utc(event.timestamp),
        status=event.status,
        previous_status=previous_status,
        raised=event.raised,
        cleared=event.cleared,
        fields=event.reading.fields,
    )
    return OutboxItem(event.tenant, "alarm", event.timestamp, document)


def batch_items(
    gateway: str,
    tenant: str,
    interval: str,
    interval_end: float,
    readings: Iterable[Reading],
    batch_meters: int,
    created_at: float,
) -> list[OutboxItem]:
    """Readings batches of at most ``batch_meters`` meters for one interval end.

    Meters are grouped by driver first: batches of one meter type store and compress best.
    """
    rows = sorted(
        (reading_row(r) for r in readings),
        key=lambda row: (str(row.get("meter", "")), str(row["id"])),
    )
    items = []
    end = utc(interval_end)
    for n, start in enumerate(range(0, len(rows), batch_meters)):
        chunk = rows[start : start + batch_meters]
        batch_id = f"{interval}-{int(interval_end)}-{tenant}-{n}"
        document = messages.readings_batch(
            gateway=gateway,
            message_id=UNASSIGNED,
            batch_id=batch_id,
            interval=interval,  # type: ignore[arg-type]
            interval_end=end,
            readings=chunk,
        )
        items.append(
            OutboxItem(tenant, "readings", created_at, document, interval_end=interval_end)
        )
    return items
