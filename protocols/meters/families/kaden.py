"""Kaden (Ecomess) type 07 water meters: driver ``kadenwater``.

Facts (triples, field names, the records they come from, the leak bits of the TPL status
byte) as wmbusmeters' driver definition drivers/src/kadenwater.xmq declares them, which
cites the Kaden/Ecomess wM-Bus OMS specification.

A water leak is reported in the TPL status byte: application status 3 (``ALARM``) and,
in the manufacturer bits, 0x20 when the flow stayed below 100 l/h during the leak and 0x40
when it went above (both may be set).

Why code and not a data driver (which could name those bits with ``tpl_status``): the
meter sends a second volume register and a second actuality duration with the same headers
as the first ones (their purpose is not documented); only their position tells them apart.

The Kaden heat cost allocators (``kaden``) are a data driver (drivers/kaden.toml).
"""

from __future__ import annotations

from protocols.meters.base import Fields, FieldValue
from protocols.meters.fieldspec import Match, Quantity, field, library
from protocols.meters.lookup import BitLookup, join_status
from protocols.meters.mfct import (
    error_flags_status,
    is_current_register,
    record_number,
    tpl_flags_named,
)
from protocols.meters.specdriver import SpecDriver
from protocols.records.model import Function, Record, VifRange
from protocols.telegram import Telegram

# TPL status byte, manufacturer bits: the leak flow classes.
_LEAK_BITS = BitLookup("TPL_STATUS", {0x20: "LEAK_FLOW_LOW", 0x40: "LEAK_FLOW_HIGH"})
_SPECS = (
    error_flags_status(),  # the meaning of the error flag bits is not published
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
    *library("meter_datetime", "fabrication_no"),
)


def _current(record: Record, vif: VifRange) -> bool:
    """A current register of this quantity (:func:`is_current_register`)."""
    return record.vif_range is vif and is_current_register(record)


def _seconds(record: Record) -> FieldValue:
    """An actuality duration in seconds: the parser gives hours."""
    value = record.value
    if isinstance(value, int | float):
        return round(value * 3600, 6)
    return None


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
            out["volume_b_m3"] = record_number(volumes[1])
        if durations:
            out["actuality_duration_s"] = _seconds(durations[0])
        if len(durations) > 1:
            out["duration_b_s"] = _seconds(durations[1])
        tpl = tpl_flags_named(telegram.status, _LEAK_BITS)
        out["status"] = join_status([str(out.get("status", "OK")), *tpl])
        return out


DRIVERS = (KadenWater(),)
