"""Kaden (Ecomess) type 07 water meters: driver ``kadenwater``.

Facts (triples, field names, the records they come from, the leak bits of the TPL status
byte) as wmbusmeters' driver definition drivers/src/kadenwater.xmq declares them, which
cites the Kaden/Ecomess wM-Bus OMS specification.

Why code and not a data driver:

- A water leak is reported in the TPL status byte: application status 3 (``ALARM``) and,
  in the manufacturer bits, 0x20 when the flow stayed below 100 l/h during the leak and
  0x40 when it went above (both may be set). A data driver can only print those bits as
  ``TPL_STATUS_<HEX>``.
- The meter sends a second volume register and a second actuality duration with the same
  headers as the first ones (their purpose is not documented): only their position tells
  them apart.

The Kaden heat cost allocators (``kaden``) are a data driver (drivers/kaden.toml).
"""

from __future__ import annotations

from protocols.meters.base import Fields, FieldValue
from protocols.meters.fieldspec import Attr, Match, Quantity, field
from protocols.meters.lookup import BitLookup, join_status, tpl_status_flags
from protocols.meters.specdriver import SpecDriver
from protocols.records.model import Function, Record, VifRange
from protocols.telegram import Telegram

_TPL_STANDARD = 0x1F  # application status and the EN 13757 flags
_TPL_MANUFACTURER = 0xE0  # bits 5-7: the manufacturer's
_LEAK_BITS = BitLookup(
    "TPL_STATUS",
    {0x20: "LEAK_FLOW_LOW", 0x40: "LEAK_FLOW_HIGH"},
    mask=_TPL_MANUFACTURER,
)
# The meaning of the error flag bits is not published for these meters.
_ERROR_FLAGS = BitLookup("ERROR_FLAGS", {}, mask=0xFFFF, default="OK")

_SPECS = (
    field(
        "status", Quantity.TEXT, Match(VifRange.ERROR_FLAGS), lookup=_ERROR_FLAGS, attrs=Attr.STATUS
    ),
    field(
        "total",
        Quantity.VOLUME,
        Match(VifRange.VOLUME),
        info="Water used since the meter was made.",
    ),
    field("volume_flow", Quantity.FLOW, Match(VifRange.VOLUME_FLOW), info="Water flow now."),
    field(
        "max_flow",
        Quantity.FLOW,
        Match(VifRange.VOLUME_FLOW, Function.MAXIMUM),
        info="Highest flow of the measuring period.",
    ),
    field(
        "meter_datetime",
        Quantity.DATE,
        Match(VifRange.DATE_TIME),
        info="The meter's date and time.",
    ),
    field(
        "fabrication_no",
        Quantity.TEXT,
        Match(VifRange.FABRICATION_NO),
        info="Fabrication number.",
    ),
)


def _current(record: Record, vif: VifRange) -> bool:
    """A current register of this quantity: instantaneous, storage/tariff/subunit 0."""
    return (
        record.vif_range is vif
        and record.function is Function.INSTANTANEOUS
        and record.storage == 0
        and record.tariff == 0
        and record.subunit == 0
        and not record.combinables
        and not record.manufacturer_vifes
    )


def _seconds(record: Record) -> FieldValue:
    """An actuality duration in seconds: the parser gives hours."""
    value = record.value
    if isinstance(value, int | float):
        return round(value * 3600, 6)
    return None


def _volume(record: Record) -> FieldValue:
    value = record.value
    if isinstance(value, float):
        return round(value, 6)
    return value if isinstance(value, int) else None


class KadenWater(SpecDriver):
    """Kaden/Ecomess type 07 water meters (see the module doc)."""

    def __init__(self) -> None:
        super().__init__("kadenwater", (("KDN", 0x01, 0x07), ("VIP", 0x01, 0x07)), _SPECS)

    def fields(self, telegram: Telegram) -> Fields:
        """The declared fields, the repeated registers by position, and the leak flags."""
        out = super().fields(telegram)
        volumes = [r for r in telegram.records if _current(r, VifRange.VOLUME)]
        durations = [r for r in telegram.records if _current(r, VifRange.ACTUALITY_DURATION)]
        if len(volumes) > 1:
            out["volume_b_m3"] = _volume(volumes[1])
        if durations:
            out["actuality_duration_s"] = _seconds(durations[0])
        if len(durations) > 1:
            out["duration_b_s"] = _seconds(durations[1])
        status = telegram.status or 0
        words = [str(out.get("status", "OK"))]
        words.extend(tpl_status_flags(status & _TPL_STANDARD))
        words.extend(_LEAK_BITS.flags(status & _TPL_MANUFACTURER))
        out["status"] = join_status(words)
        return out


DRIVERS = (KadenWater(),)
