"""B METERS RFM-TX1 radio modules on water meters (driver ``rfmtx1``).

Facts (triple, field names, layout, the obfuscation tables) as documented by wmbusmeters'
driver definition drivers/src/rfmtx1.xmq, checked against our test vector.

The module sends CI 0x7A with a configuration word whose security mode is 16 (0x1006): a
proprietary scheme, not one of EN 13757-7's. Offsets in the payload after the short TPL
header:

======  ====  ================================================================
offset  size  what
======  ====  ================================================================
2       4     total volume in litres, 8 BCD digits (least significant byte
              first), each byte XORed with the access number and with a table
              value chosen by the access number's low nibble (:data:`_TABLE`)
13      6     meter time, BCD: second, minute, hour, day, month, year - 2000
======  ====  ================================================================

The decoder refuses security mode 16 today (it only knows modes 0, 5 and 7), so these
telegrams do not reach this driver yet; it needs the decoder to hand over the payload
undecrypted (``security_mode`` = 16, ``payload`` = the bytes after the TPL header, no
records parsed).
"""

from __future__ import annotations

from protocols.errors import FormatError
from protocols.meters.base import Fields, MeterDriver, Mvt
from protocols.meters.mfct import bcd_digits, need
from protocols.telegram import Telegram

MVT: tuple[Mvt, ...] = (("BMT", 0x05, 0x07),)

SECURITY_MODE = 16
_VOLUME_AT = 2
_TIME_AT = 13

# Row (access number & 0x0F) -> the values XORed into the four volume bytes.
_TABLE = (
    (122, 16, 26, 10),
    (112, 19, 34, 19),
    (185, 11, 142, 153),
    (121, 7, 74, 22),
    (7, 154, 203, 105),
    (50, 161, 57, 14),
    (156, 126, 96, 153),
    (180, 196, 128, 163),
    (10, 206, 25, 3),
    (240, 5, 165, 134),
    (22, 152, 17, 94),
    (12, 201, 125, 162),
    (74, 72, 228, 31),
    (119, 46, 138, 232),
    (189, 120, 87, 140),
    (57, 111, 40, 5),
)


def _bcd(value: int, what: str) -> int:
    digits = bcd_digits(value)
    if digits is None:
        raise FormatError(f"rfmtx1: {what} byte {value:02X} is not BCD")
    return digits


def rfmtx1_fields(payload: bytes, access_number: int) -> Fields:
    """``total_m3`` and ``meter_datetime`` of an RFM-TX1 payload."""
    need(payload, _TIME_AT + 6, "rfmtx1 payload")
    row = _TABLE[access_number & 0x0F]
    litres = 0
    for i in reversed(range(4)):
        plain = payload[_VOLUME_AT + i] ^ access_number ^ row[i]
        litres = litres * 100 + _bcd(plain, "volume")
    second, minute, hour, day, month, year = (_bcd(payload[_TIME_AT + i], "time") for i in range(6))
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 60):
        raise FormatError("rfmtx1: impossible meter time")
    return {
        "total_m3": litres / 1000,
        "meter_datetime": f"{2000 + year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}",
    }


class Rfmtx1:
    """``rfmtx1``: total volume and meter time from the obfuscated payload."""

    name = "rfmtx1"
    aliases: tuple[str, ...] = ()
    compact_layouts: tuple[bytes, ...] = ()
    mvt = frozenset(MVT)

    def fields(self, telegram: Telegram) -> Fields:
        """The decoded fields; ``{}`` for a telegram in another security mode."""
        if telegram.security_mode != SECURITY_MODE or telegram.access_number is None:
            return {}
        return rfmtx1_fields(telegram.payload, telegram.access_number)


DRIVERS: tuple[MeterDriver, ...] = (Rfmtx1(),)
