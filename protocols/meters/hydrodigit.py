"""Bmeters Hydrodigit water meters (driver ``hydrodigit``).

Total volume and meter time are standard records. The rest is a manufacturer block
(DIF 0x0F) that starts with a contents byte saying which parts follow, always in this
order (facts as documented for these meters by wmbusmeters' hydrodigit driver):

====  ================  =====================================================
bit   part              bytes
====  ================  =====================================================
0x01  battery           1: low nibble indexes a voltage table
0x02  fraud             1 fraud type (bits 0xE0) + 3 date (YY, month, DD)
0x80  leak date         3 (YY, MM, DD, all BCD)
0x04  backflow          4: litres, little-endian
0x10  monthly totals    12 x 3: the total at the end of January..December in
                        units of 10 litres, little-endian
====  ================  =====================================================
"""

from __future__ import annotations

from protocols.meters.base import Fields
from protocols.meters.mfct import (
    ExtendedDriver,
    bcd_digits,
    iso_date,
    manufacturer_block,
    need,
    uint_le,
)
from protocols.telegram import Telegram

MVT = (
    ("BMT", 0x13, 0x06),
    ("BMT", 0x17, 0x06),
    ("BMT", 0x13, 0x07),
    ("BMT", 0x15, 0x07),
    ("BMT", 0x17, 0x07),
)

_BATTERY, _FRAUD, _BACKFLOW, _MONTHLY, _LEAK = 0x01, 0x02, 0x04, 0x10, 0x80
_CONTENTS = {
    _BATTERY: "BATTERY_VOLTAGE",
    _FRAUD: "FRAUD_DATE",
    _BACKFLOW: "BACKFLOW",
    _MONTHLY: "MONTHLY_DATA",
    _LEAK: "LEAK_DATE",
}
_FRAUD_TYPES = {
    0x80: "MAGNETIC_FRAUD_ATTEMPT",
    0x40: "SENSOR_FRAUD_ATTEMPT",
    0x20: "MODULE_REMOVED",
}
# Battery nibble -> volts; 0, 14 and 15 all mean a full battery (3.7 V).
_VOLTS = (3.7, 1.9, 2.1, 2.2, 2.3, 2.4, 2.5, 2.65, 2.8, 2.9, 3.05, 3.2, 3.35, 3.5, 3.7, 3.7)
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
# Monthly totals at or above this are "no value" (FFFFFF before the module was fitted);
# the established reader prints them as 0 and dashboards expect that.
_NO_MONTHLY_VALUE = 10_000_000


def _bcd_date(b0: int, b1: int, b2: int, *, binary_month: bool) -> str | None:
    """A date sent as YY, MM, DD (the fraud date's month is binary, the leak date's BCD)."""
    year = bcd_digits(b0)
    month = (b1 & 0x0F) if binary_month else bcd_digits(b1)
    day = bcd_digits(b2)
    if year is None or month is None or day is None:
        return None
    return iso_date(2000 + year, month, day)


class Hydrodigit(ExtendedDriver):
    """``hydrodigit``: the standard records plus battery, fraud, leak, backflow, months."""

    def __init__(self) -> None:
        super().__init__("hydrodigit", MVT)

    def extra(self, telegram: Telegram, generic: Fields) -> Fields:
        """Decode the manufacturer block part by part, as its contents byte announces."""
        data = manufacturer_block(telegram)
        if not data:
            return {}
        contents = data[0]
        out: Fields = {
            "contents": " ".join(sorted(n for b, n in _CONTENTS.items() if contents & b)),
        }
        pos = 1
        if contents & _BATTERY:
            out["voltage_v"] = _VOLTS[uint_le(data, pos, 1, "hydrodigit battery") & 0x0F]
            pos += 1
        if contents & _FRAUD:
            need(data, pos + 4, "hydrodigit fraud")
            kind = data[pos]
            names = [n for b, n in _FRAUD_TYPES.items() if kind & b]
            out["fraud_type"] = " ".join(sorted(names)) if names else "NO_TYPE_INFO"
            b0, b1, b2 = data[pos + 1 : pos + 4]
            out["fraud_date"] = _bcd_date(b0, b1, b2, binary_month=True)
            pos += 4
        if contents & _LEAK:
            need(data, pos + 3, "hydrodigit leak date")
            b0, b1, b2 = data[pos : pos + 3]
            out["leak_date"] = _bcd_date(b0, b1, b2, binary_month=False)
            pos += 3
        if contents & _BACKFLOW:
            out["backflow_m3"] = uint_le(data, pos, 4, "hydrodigit backflow") / 1000
            pos += 4
        if contents & _MONTHLY:
            need(data, pos + 36, "hydrodigit monthly totals")
            for i, month in enumerate(_MONTHS):
                raw = uint_le(data, pos + 3 * i, 3, "hydrodigit monthly total")
                out[f"{month}_total_m3"] = raw / 100 if raw < _NO_MONTHLY_VALUE else 0.0
        return out
