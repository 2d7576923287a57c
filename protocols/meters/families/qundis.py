"""Qundis Q caloric heat cost allocators (driver ``qcaloric``, aliases ``whe5x``, ``whe46x``).

Facts (triples, field names) as documented by wmbusmeters' driver definition
drivers/src/qcaloric.xmq; the walk-by layout is the Qundis "WalkByDataSet" also used by
the QWater meters (protocols/meters/qundis_water.py), checked against our test vectors.

Standard telegrams (CI 0x7A) carry the current units, the last billing date and units
(storage 1) and the month-end date and units (storage 17) as standard records. Walk-by
telegrams (CI 0x78) carry them in one manufacturer record ``0D FF 5F``; offsets in its data
after the length byte:

======  ====  ===============================================================
offset  size  what
======  ====  ===============================================================
4       1     0x35 when the rest of the block is encrypted (not decoded here)
9       1     the VIF of the values (0x6E: heat cost allocation units)
10      2     error date (type G)
12      4     current units, BCD
16      2     last billing date (type G)
18      4     units at the last billing date, BCD
22      2     last month-end date (type G)
24      4     units at the last month end, BCD
======  ====  ===============================================================
"""

from __future__ import annotations

from protocols.errors import DecodeError
from protocols.meters.base import Fields, MeterDriver
from protocols.meters.fieldspec import Attr, FieldSpec, Match, Quantity, field
from protocols.meters.lookup import BitLookup
from protocols.meters.mfct import need, record_by_key
from protocols.meters.specdriver import SpecDriver
from protocols.records.model import Function, VifRange
from protocols.records.values import decode_bcd, decode_date
from protocols.telegram import Telegram

MVT = (
    ("LSE", 0x34, 0x08),
    ("LSE", 0x35, 0x08),
    ("QDS", 0x35, 0x08),
    ("QDS", 0x34, 0x08),
    ("QDS", 0x36, 0x08),
    ("LSE", 0x18, 0x08),
    ("ZRI", 0xFD, 0x08),
)

_MONTH_END = 17  # storage of the month-end copy
_WALK_BY_KEY = "0DFF5F"
_ENCRYPTED_AT, _ENCRYPTED = 4, 0x35
_VIF_AT, _VIF_HCA = 9, 0x6E
_WALK_BY_SIZE = 28


def _history(storage: int) -> tuple[FieldSpec, FieldSpec]:
    return (
        field(
            f"set_date_{storage}",
            Quantity.TEXT,
            Match(VifRange.DATE, storage=storage),
            info="A billing date.",
        ),
        field(
            f"consumption_at_set_date_{storage}",
            Quantity.HCA,
            Match(VifRange.HCA, storage=storage),
            info="Units at that billing date.",
        ),
    )


SPECS: tuple[FieldSpec, ...] = (
    field(
        "status",
        Quantity.TEXT,
        "01FD73",
        lookup=BitLookup("ERROR_FLAGS", {}, mask=0xFF, default="OK"),
        attrs=Attr.STATUS | Attr.INCLUDE_TPL_STATUS,
        info="Error flags of the meter and of the TPL status byte.",
    ),
    field("current_consumption", Quantity.HCA, Match(VifRange.HCA), info="Current units."),
    field("set_date", Quantity.DATE, Match(VifRange.DATE, storage=1), info="Last billing date."),
    field(
        "consumption_at_set_date",
        Quantity.HCA,
        Match(VifRange.HCA, storage=1),
        info="Units at the last billing date.",
    ),
    *(spec for storage in range(1, 18) for spec in _history(storage)),
    field(
        "error_date",
        Quantity.DATE,
        Match(VifRange.DATE, Function.ERROR_STATE),
        info="When the meter entered an error state.",
    ),
    field(
        "device_datetime",
        Quantity.DATE,
        Match(VifRange.DATE_TIME),
        info="The meter's date and time.",
    ),
    field("model_version", Quantity.TEXT, Match(VifRange.MODEL_VERSION), info="Model version."),
    field(
        "flow_temperature",
        Quantity.TEMPERATURE,
        Match(VifRange.FLOW_TEMPERATURE),
        info="Radiator surface temperature.",
    ),
)


def walk_by_fields(telegram: Telegram) -> Fields:
    """The values of a clear HCA walk-by block (``{}`` when there is none)."""
    record = record_by_key(telegram, _WALK_BY_KEY)
    if record is None or not isinstance(record.raw, bytes):
        return {}
    data = record.raw
    need(data, _WALK_BY_SIZE, "qcaloric walk-by block")
    if data[_ENCRYPTED_AT] == _ENCRYPTED or data[_VIF_AT] != _VIF_HCA:
        return {}
    set_date = decode_date(data[16:18])
    month_end = decode_date(data[22:24])
    return {
        "current_consumption_hca": decode_bcd(data[12:16]),
        "set_date": set_date,
        "consumption_at_set_date_hca": decode_bcd(data[18:22]),
        "set_date_1": set_date,
        "consumption_at_set_date_1_hca": decode_bcd(data[18:22]),
        f"set_date_{_MONTH_END}": month_end,
        f"consumption_at_set_date_{_MONTH_END}_hca": decode_bcd(data[24:28]),
    }


class Qcaloric(SpecDriver):
    """``qcaloric``: standard records, or the clear walk-by block."""

    def __init__(self) -> None:
        super().__init__("qcaloric", MVT, SPECS, aliases=("whe5x", "whe46x"))

    def fields(self, telegram: Telegram) -> Fields:
        """The standard fields, completed from the walk-by block when one is sent."""
        out = super().fields(telegram)
        if out.get("error_date", "") is None:
            out["error_date"] = ""  # the meter sends an empty (all-ones) error date
        try:
            walk_by = walk_by_fields(telegram)
        except DecodeError:
            return out  # a short walk-by block: keep what the standard records say
        for name, value in walk_by.items():
            out.setdefault(name, value)
        return out


DRIVERS: tuple[MeterDriver, ...] = (Qcaloric(),)
