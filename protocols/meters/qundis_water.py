"""Qundis QWater 5.5 water meters (driver ``qwaterv2``).

They send two kinds of telegram. The standard one (CI 0x7A/0x72) holds the total, the
values at the end of last year (storage 1) and at the end of last month (storage 17) as
standard records; this driver names them as users of these meters know them (``target_m3``
is the month value, ``target_year_m3`` the year value). The walk-by one (CI 0x78) carries
the same readings in a manufacturer record ``0D FF 5F`` (facts as documented by
wmbusmeters' qwaterv2 driver), offsets in the record's data after its length byte:

======  ====  ==============================================
offset  size  what
======  ====  ==============================================
10      2     error date (type G)
12      4     total, litres, BCD
16      2     end-of-year date (type G)
18      4     end-of-year volume, litres, BCD
22      2     end-of-month date (type G)
24      4     end-of-month volume, litres, BCD
28      2x12  volume used in each of the previous months,
              litres, signed little-endian (``volume_delta_2`` ..)
======  ====  ==============================================
"""

from __future__ import annotations

from protocols.errors import FormatError
from protocols.meters.base import Fields
from protocols.meters.mfct import ExtendedDriver, need, record_by_key, sint_le
from protocols.records.values import decode_bcd, decode_date
from protocols.telegram import Telegram

_QDS_LSE_VERSIONS = (
    (0x33, 0x37),
    (0x35, 0x37),
    (0x16, 0x06),
    (0x16, 0x07),
    (0x17, 0x06),
    (0x17, 0x07),
    (0x18, 0x06),
    (0x18, 0x07),
    (0x19, 0x07),
    (0x1A, 0x06),
    (0x1A, 0x07),
    (0x1D, 0x06),
    (0x1D, 0x07),
    (0x36, 0x06),
    (0x36, 0x07),
)
# Qundis meters also appear under their former brand (LSE) from version 0x19 on.
MVT = tuple(("QDS", v, t) for v, t in _QDS_LSE_VERSIONS) + tuple(
    ("LSE", v, t) for v, t in _QDS_LSE_VERSIONS if v not in (0x16, 0x17, 0x18)
)

_WALK_BY_KEY = "0DFF5F"
_WALK_BY_MARKER = 0x13  # the byte before the error date in the walk-by layout
_DELTAS = 12

# Generic name -> this driver's name, for the standard telegram.
_RENAMES = (
    ("target_m3", "target_year_m3"),
    ("target_date", "target_year_date"),
    ("total_storage_17_m3", "target_m3"),
    ("meter_date_storage_17", "target_date"),
    ("flow_m3h", "volume_flow_m3h"),
    ("error_state_meter_date", "device_error_date"),
)


def _litres_bcd(data: bytes, pos: int) -> float | None:
    """Four BCD bytes of litres as m3 (``None`` when not BCD: the meter has no value)."""
    litres = decode_bcd(data[pos : pos + 4])
    return None if litres is None else litres / 1000


class QundisWater(ExtendedDriver):
    """``qwaterv2``: standard and walk-by telegrams of Qundis QWater meters."""

    def __init__(self) -> None:
        super().__init__("qwaterv2", MVT, ("qwater",))

    def extra(self, telegram: Telegram, generic: Fields) -> Fields:
        """Rename the standard fields; decode the walk-by record when present."""
        moved = [(new, generic.pop(old)) for old, new in _RENAMES if old in generic]
        generic.update(moved)
        record = record_by_key(telegram, _WALK_BY_KEY)
        if record is None:
            return {}
        data = record.data[1:]  # after the LVAR length byte
        need(data, 28, "qwaterv2 walk-by record")
        if data[9] != _WALK_BY_MARKER:
            raise FormatError(f"qwaterv2 walk-by record of unknown layout {data[9]:02X}")
        out: Fields = {
            "device_error_date": decode_date(data[10:12]),
            "total_m3": _litres_bcd(data, 12),
            "target_year_date": decode_date(data[16:18]),
            "target_year_m3": _litres_bcd(data, 18),
            "target_date": decode_date(data[22:24]),
            "target_m3": _litres_bcd(data, 24),
        }
        if len(data) >= 28 + 2 * _DELTAS:
            for i in range(_DELTAS):
                litres = sint_le(data, 28 + 2 * i, 2, "qwaterv2 monthly volume")
                out[f"volume_delta_{i + 2}_m3"] = litres / 1000
        return out
