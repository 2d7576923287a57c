"""BFW 240 radio heat cost allocator (driver ``bfw240radio``).

After the two 0x2F fill bytes the application data is BFW's own layout, not data records
(facts as documented by wmbusmeters' bfw240radio driver, src/driver_bfw240radio.cc;
offsets count from the first 0x2F, i.e. in ``Telegram.payload``):

======  ==========================================================================
bytes   meaning
======  ==========================================================================
4-5     consumption at the end of the previous billing period (big-endian)
6-7     consumption so far in this billing period (big-endian)
10-36   18 monthly values of 12 bits, packed two per three bytes, read from byte 36
        backwards: in a group (a, b, c) = (byte 36-3k, 35-3k, 34-3k) the newer month
        is a + 256 * (b & 0x0F), the older c + 256 * (b >> 4)
37-39   device date: day, month, year (BCD, years since 2000)
======  ==========================================================================
"""

from __future__ import annotations

from protocols.errors import FormatError
from protocols.meters.base import Fields, MeterDriver
from protocols.meters.mfct import ExtendedDriver, bcd_digits, iso_date, need
from protocols.telegram import Telegram

_SIZE = 40
_HISTORY_END = 36  # the newest month's low byte
_MONTHS = 18


def _history(data: bytes) -> list[int]:
    """The 18 monthly values, newest first."""
    out: list[int] = []
    for k in range(_MONTHS // 2):
        a, b, c = (data[_HISTORY_END - 3 * k - i] for i in range(3))
        out.append(a | (b & 0x0F) << 8)
        out.append(c | (b >> 4) << 8)
    return out


def decode_payload(data: bytes) -> Fields:
    """The values of a bfw240radio application payload (starting with its 2F 2F)."""
    need(data, _SIZE, "bfw240radio payload")
    day, month, year = (bcd_digits(b) for b in data[37:40])
    if day is None or month is None or year is None:
        raise FormatError("bfw240radio: device date is not BCD")
    out: Fields = {
        "current_hca": int.from_bytes(data[6:8], "big"),
        "prev_hca": int.from_bytes(data[4:6], "big"),
    }
    for n, value in enumerate(_history(data), start=1):
        out[f"prev_{n:02d}_hca"] = value
    out["device_date"] = iso_date(2000 + year, month, day)
    return out


class Bfw240Radio(ExtendedDriver):
    """``bfw240radio``: billing values, 18 months of history and the device date."""

    def __init__(self) -> None:
        super().__init__("bfw240radio", (("BFW", 0x02, 0x08),))

    def extra(self, telegram: Telegram, generic: Fields) -> Fields:
        """Decode the BFW layout from the raw application data."""
        # The bytes after 2F 2F are no data records: whatever a record parser made of
        # them is dropped from the output.
        # BFW uses the TPL status byte's manufacturer bits (0xC0 in every telegram seen),
        # which the generic status would print as unknown flags: left out as well.
        values = decode_payload(telegram.payload)
        generic.clear()
        return values


DRIVERS: tuple[MeterDriver, ...] = (Bfw240Radio(),)
