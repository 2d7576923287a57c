"""Lorenz waterstar M water meters, also sold by Engelmann (driver ``waterstarm``).

All values are standard records. Code is needed for the monthly history: the meter sends
the volume at up to 15 earlier month ends (storage 2-16) without their dates; history slot
N (storage N+1) is the month N months before the meter's own date.

Facts (meter triples, field names, error-flag bits, the history rule) as the wmbusmeters
driver drivers/src/waterstarm.xmq declares them; the telegrams of our test vectors.
"""

from __future__ import annotations

from protocols.meters.base import Fields, Mvt
from protocols.meters.fieldspec import BACKWARD_FLOW, Match, Quantity, field
from protocols.meters.lookup import BitLookup
from protocols.meters.mfct import NamedDriver, error_flags_status, months_before, storage_history
from protocols.meters.specdriver import SpecDriver
from protocols.records.model import VifRange
from protocols.telegram import Telegram

MVT: tuple[Mvt, ...] = (
    ("DWZ", 0x00, 0x06),
    ("DWZ", 0x02, 0x06),
    ("DWZ", 0x02, 0x07),
    ("EFE", 0x03, 0x07),
    ("EFE", 0x70, 0x07),
    ("DWZ", 0x00, 0x07),
)
_HISTORY = range(2, 17)  # storage numbers of the monthly volume history
_BACKWARD = frozenset({BACKWARD_FLOW})

_ERROR_FLAGS = BitLookup(
    "ERROR_FLAGS",
    {
        0x001: "SW_ERROR",
        0x002: "CRC_ERROR",
        0x004: "SENSOR_ERROR",
        0x008: "MEASUREMENT_ERROR",
        0x010: "BATTERY_VOLTAGE_ERROR",
        0x020: "MANIPULATION",
        0x040: "LEAKAGE_OR_NO_USAGE",
        0x080: "REVERSE_FLOW",
        0x100: "OVERLOAD",
    },
    0xFFFF,
    "OK",
)

_SPECS = (
    error_flags_status(_ERROR_FLAGS, tpl=True),
    field("meter_datetime", Quantity.DATE, Match(VifRange.DATE_TIME)),
    field("total", Quantity.VOLUME, Match(VifRange.VOLUME)),
    field("total_backwards", Quantity.VOLUME, Match(VifRange.VOLUME, combinables=_BACKWARD)),
    field("meter_version", Quantity.TEXT, Match(VifRange.MODEL_VERSION)),
    field("parameter_set", Quantity.TEXT, Match(VifRange.PARAMETER_SET)),
    field("battery", Quantity.VOLTAGE, Match(VifRange.VOLTAGE)),
    field("set_date", Quantity.DATE, Match(VifRange.DATE, storage=1)),
    field("consumption_at_set_date", Quantity.VOLUME, Match(VifRange.VOLUME, storage=1)),
    field(
        "total_backwards_at_set_date",
        Quantity.VOLUME,
        Match(VifRange.VOLUME, storage=1, combinables=_BACKWARD),
    ),
)


class Waterstarm(NamedDriver):
    """``waterstarm``: the standard fields plus the monthly history with its dates."""

    def __init__(self) -> None:
        super().__init__("waterstarm", MVT)
        self._spec = SpecDriver("waterstarm", MVT, _SPECS)

    def fields(self, telegram: Telegram) -> Fields:
        """The declared fields, then ``consumption_at_history_N_m3`` and
        ``history_N_date`` for each history slot the telegram holds."""
        out = self._spec.fields(telegram)
        now = out.get("meter_datetime")
        meter_date = now if isinstance(now, str) else None
        for storage, value in storage_history(telegram, VifRange.VOLUME, _HISTORY).items():
            n = storage - 1
            out[f"consumption_at_history_{n}_m3"] = value
            out[f"history_{n}_date"] = months_before(meter_date, n)
        return out


DRIVERS: tuple[Waterstarm, ...] = (Waterstarm(),)
