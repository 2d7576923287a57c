"""Zenner Caltos E heat cost allocators (driver ``caltose``, alias ``zennerhca``).

Facts (triple, field names, TPL status bit meanings) as documented by wmbusmeters' driver
definition drivers/src/caltose.xmq; the profile layout is the OMS compact profile (OMS
Vol. 2 / EN 13757-3 annex on compact profiles), checked against our test vectors.

The meters send the current value (storage 0), the last billing date and value
(storage 1), a base date and value (storage 8) and the monthly history as one record
``8D 04 EE 13``: DIF 0x8D (variable length, DIFE 0x04: storage 8), VIF 0xEE (HCA), VIFE
0x13, an *inverse* compact profile: the values run backwards in time from the base date
(value n belongs to base date minus n spacings). Its data, after the LVAR length byte:

======  ======================================================================
byte    what
======  ======================================================================
0       spacing control: bits 0-3 the data field code of each value (as in a
        DIF: 0xB = 6-digit BCD), bits 4-5 the spacing unit, bits 6-7 the
        increment mode (0: absolute values)
1       spacing value (0xFE: one month)
2..     the values; a value that is not valid BCD is an empty slot
======  ======================================================================

Until the record parser expands compact profiles itself, this driver reads the profile
record directly, so it does not depend on how such an expansion will be represented.
"""

from __future__ import annotations

from protocols.meters.base import Fields, FieldValue, MeterDriver
from protocols.meters.fieldspec import FieldSpec, Match, Quantity, field
from protocols.meters.lookup import BitLookup, join_status
from protocols.meters.specdriver import SpecDriver
from protocols.records.model import Record, VifRange
from protocols.records.values import decode_bcd
from protocols.telegram import Telegram

MVT = (("ZRI", 0xFC, 0x08),)

INVERSE_COMPACT_PROFILE = 0x13  # combinable VIFE announcing an inverse compact profile
_BASE_STORAGE = 8
_MONTH_SPACING = 0xFE

# Data field code -> (value size in bytes, BCD?), as in the DIF.
_CODES = {
    0x1: (1, False),
    0x2: (2, False),
    0x3: (3, False),
    0x4: (4, False),
    0x6: (6, False),
    0x7: (8, False),
    0x9: (1, True),
    0xA: (2, True),
    0xB: (3, True),
    0xC: (4, True),
    0xE: (6, True),
}

# The TPL status byte: bits 0-1 and 4 as EN 13757-7 defines them, the others as Zenner
# documents them for these meters.
_STATUS = BitLookup(
    "UNKNOWN",
    {
        0x01: "BUSY",
        0x02: "ERROR",
        0x04: "BATTERY_WARNING",
        0x08: "INVALID_METROLOGICAL_TABLE",
        0x10: "TEMPORARY_ERROR",
        0x20: "REMOVAL",
        0x40: "MODE_2F",
        0x80: "PRODUCT_SCALE",
    },
    mask=0xFF,
)

SPECS: tuple[FieldSpec, ...] = (
    field("consumption", Quantity.HCA, Match(VifRange.HCA), info="Current period units."),
    field("target_date", Quantity.DATE, Match(VifRange.DATE, storage=1), info="Last billing date."),
    field("target", Quantity.HCA, Match(VifRange.HCA, storage=1), info="Units at that date."),
    field(
        "base_date",
        Quantity.DATE,
        Match(VifRange.DATE, storage=_BASE_STORAGE),
        info="Base date of the monthly history (its most recent month end).",
    ),
    field(
        "base",
        Quantity.HCA,
        Match(VifRange.HCA, storage=_BASE_STORAGE),
        info="Units at the base date.",
    ),
)


def months_before(date: str, months: int) -> str | None:
    """``YYYY-MM-DD`` minus whole months (day kept; ``None`` when the day does not exist)."""
    year, month, day = (int(part) for part in date.split("-"))
    index = year * 12 + (month - 1) - months
    year, month = divmod(index, 12)
    if day > 28 and day > _days_in(year, month + 1):
        return None
    return f"{year:04d}-{month + 1:02d}-{day:02d}"


def _days_in(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def inverse_profile(record: Record) -> list[int | None]:
    """The values of an inverse compact profile record, most recent first.

    An empty slot (a value that is not BCD) is ``None``. Only absolute values (increment
    mode 0) are returned; a profile of increments or an unknown data code gives ``[]``.
    """
    raw = record.raw
    if not isinstance(raw, bytes) or len(raw) < 2:
        return []
    control = raw[0]
    coding = _CODES.get(control & 0x0F)
    if coding is None or control >> 6:
        return []
    size, bcd = coding
    body = raw[2:]
    values: list[int | None] = []
    for pos in range(0, len(body) - size + 1, size):
        chunk = body[pos : pos + size]
        values.append(decode_bcd(chunk) if bcd else int.from_bytes(chunk, "little"))
    return values


def profile_fields(telegram: Telegram, base_date: FieldValue) -> Fields:
    """``consumption_<n>_hca`` and ``consumption_<n>`` (its date) of the monthly profile."""
    for record in telegram.records:
        if (
            record.vif_range is VifRange.HCA
            and record.storage == _BASE_STORAGE
            and INVERSE_COMPACT_PROFILE in (c & 0x7F for c in record.combinables)
        ):
            break
    else:
        return {}
    raw = record.raw
    monthly = isinstance(raw, bytes) and len(raw) >= 2 and raw[1] == _MONTH_SPACING
    out: Fields = {}
    for n, value in enumerate(inverse_profile(record), start=1):
        if value is None:
            continue
        out[f"consumption_{n}_hca"] = value
        if monthly and isinstance(base_date, str):
            out[f"consumption_{n}"] = months_before(base_date, n)
    return out


class Caltose(SpecDriver):
    """``caltose``: the standard records, the monthly profile and the TPL status flags."""

    def __init__(self) -> None:
        super().__init__("caltose", MVT, SPECS, aliases=("zennerhca",))

    def fields(self, telegram: Telegram) -> Fields:
        """Standard fields, then the profile's, then ``status``."""
        out = super().fields(telegram)
        out.update(profile_fields(telegram, out.get("base_date")))
        out["status"] = join_status([_STATUS(telegram.status or 0)])
        return out


DRIVERS: tuple[MeterDriver, ...] = (Caltose(),)
