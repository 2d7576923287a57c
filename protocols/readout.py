"""A decoded telegram as the JSON object tools print (docs/cli.md, "Decoded JSON")."""

from __future__ import annotations

from typing import Any

from protocols.errors import DecodeError
from protocols.meters.registry import BUILTIN, Registry
from protocols.records.model import Record
from protocols.telegram import Telegram


def telegram_fields(
    telegram: Telegram, *, with_records: bool = False, registry: Registry = BUILTIN
) -> dict[str, Any]:
    """The decoded fields of a telegram by ``registry``'s drivers; ``records`` lists every
    raw record when asked."""
    fields: dict[str, Any] = registry.decode_fields(telegram)
    if telegram.warnings:
        fields["warnings"] = list(telegram.warnings)
    if with_records:
        fields["records"] = [record_fields(r) for r in telegram.records]
    return fields


def record_fields(record: Record) -> dict[str, Any]:
    """One record for technicians: where it sits, what it measures, its value."""
    value: Any = record.value
    if isinstance(value, bytes):
        value = value.hex().upper()
    return {
        "key": record.key,
        "function": record.function.value,
        "storage": record.storage,
        "tariff": record.tariff,
        "subunit": record.subunit,
        "quantity": record.vif_range.value,
        "unit": record.unit,
        "value": value,
    }


def error_fields(error: DecodeError) -> dict[str, Any]:
    """What is known of a telegram that did not decode."""
    out: dict[str, Any] = {"error": str(error), "error_type": type(error).__name__}
    if error.meter_id is not None:
        out["id"] = error.meter_id
    if error.manufacturer is not None:
        out["manufacturer"] = error.manufacturer
    return out
