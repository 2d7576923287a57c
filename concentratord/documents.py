"""Uplink documents from what the pipeline produced (the shapes are uplink's; the
contents are ours)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from concentratord.pipeline import AlarmEvent, MeterState, Reading
from concentratord.store import OutboxItem
from uplink import messages

# The store assigns message ids; documents are built with this placeholder and the
# publisher writes the real id in before encoding.
UNASSIGNED = 0
# The alarm of a tenant meter that stopped being heard (docs/visibility.md).
SILENT = "METER_SILENT"


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


def alarm_item(
    gateway: str, event: AlarmEvent, previous_status: str, *, clock_synchronised: bool = True
) -> OutboxItem:
    """The outbox item of one alarm event (published at once); ``clock_synchronised`` False
    flags its timestamp as taken from a clock not known to be right."""
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
        clock_synchronised=clock_synchronised,
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

    Rows with the same fields go together (one meter type, one telegram layout), their keys
    in one order: such a batch is a table, which the store and the compact codec lay out in
    columns (about 3 bytes a value instead of 26). Within a group, rows go by meter id.
    """
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for reading in readings:
        row = reading_row(reading)
        groups.setdefault(tuple(sorted(row)), []).append(row)
    items = []
    end = utc(interval_end)
    n = 0
    for _shape, group in sorted(groups.items(), key=lambda kv: (str(kv[1][0].get("meter")), kv[0])):
        order = list(group[0])
        group.sort(key=lambda row: (str(row["id"]), str(row.get("manufacturer", ""))))
        for start in range(0, len(group), batch_meters):
            chunk = [{k: row[k] for k in order} for row in group[start : start + batch_meters]]
            batch_id = f"{interval}-{int(interval_end)}-{tenant}-{n}"
            n += 1
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


def silent_alarm_item(
    gateway: str,
    meter: MeterState,
    timestamp: float,
    *,
    raised: bool,
    clock_synchronised: bool = True,
) -> OutboxItem:
    """The alarm event of a tenant meter that went silent (``raised``) or was heard again:
    ``METER_SILENT`` on the normal alarm path (docs/visibility.md, "Silent meters")."""
    assert meter.tenant is not None, "only a tenant's meter raises METER_SILENT"
    flags = " ".join(sorted(meter.flags)) if meter.flags else "OK"
    reception = meter.reception
    document = messages.alarm_event(
        gateway=gateway,
        message_id=UNASSIGNED,
        meter_id=meter.meter_id,
        timestamp=utc(timestamp),
        status=SILENT if raised else flags,
        previous_status=flags if raised else SILENT,
        raised=[SILENT] if raised else [],
        cleared=[] if raised else [SILENT],
        fields={
            "manufacturer": meter.manufacturer,
            "last_heard": messages.iso_utc(utc(reception.last_heard)),
            "interval_s": reception.interval_s,
        },
        clock_synchronised=clock_synchronised,
    )
    return OutboxItem(meter.tenant, "alarm", timestamp, document)


def stats_item(
    gateway: str,
    tenant: str,
    now: float,
    *,
    uptime_s: int,
    counters: dict[str, int],
    reception: dict[str, Any],
    power: dict[str, Any] | None = None,
) -> OutboxItem:
    """One tenant's ``event/stats`` document: the gateway's counters and its reception
    (and a battery bridge's power budget)."""
    document = messages.stats_event(
        gateway=gateway,
        message_id=UNASSIGNED,
        time=utc(now),
        uptime_s=uptime_s,
        counters=counters,
        reception=reception,
        power=power,
    )
    return OutboxItem(tenant, "stats", now, document)
