"""Apator E-ITN heat cost allocators (driver ``apatoreitn``).

They send only manufacturer data: CI 0xA0, or CI 0xB6 followed by a count N, N bytes and
then 0xA0. The layout, offsets in the data after the 0xA0 (facts as documented by
wmbusmeters' apatoreitn driver):

======  ====  ==========================================================
offset  size  what
======  ====  ==========================================================
0       1     season start date, low byte (the high byte is always 0xA0)
3       2     previous period HCA units
5       2     electronic seal break date (0: seal intact)
7       2     current period HCA units
9       2     current date
11      2     average room temperature last season, 1/256 C
13      2     average room temperature this season, 1/256 C
======  ====  ==========================================================

Dates are packed ``yyyyy mmmm ddddd`` (years since 2000).
"""

from __future__ import annotations

from protocols.errors import FormatError
from protocols.meters.base import Fields
from protocols.meters.mfct import ExtendedDriver, iso_date, need, uint_le, with_flag
from protocols.telegram import Telegram

MVT = (("APA", 0x04, 0x08), ("APT", 0x04, 0x08))

_SIZE = 15
_CI_DIRECT = 0xA0
_CI_PREFIXED = 0xB6  # N, N bytes, then 0xA0 and the direct layout
_SEASON_START_HIGH = 0xA0


def _date(raw: int) -> str | None:
    """Packed date with a five-bit year (years since 2000)."""
    return iso_date(2000 + ((raw >> 9) & 0x1F), (raw >> 5) & 0x0F, raw & 0x1F)


class ApatorEitn(ExtendedDriver):
    """``apatoreitn``: HCA values, dates, seal status and average room temperatures."""

    def __init__(self) -> None:
        super().__init__("apatoreitn", MVT)

    def extra(self, telegram: Telegram, generic: Fields) -> Fields:
        """Decode the fixed layout of the manufacturer data."""
        data = telegram.manufacturer_data
        if data is None:
            return {}
        if telegram.ci == _CI_PREFIXED:
            need(data, 1, "apatoreitn prefix")
            skip = data[0] + 1
            need(data, skip + 1, "apatoreitn prefix")
            if data[skip] != _CI_DIRECT:
                raise FormatError(f"apatoreitn: {data[skip]:02X} where A0 belongs")
            data = data[skip + 1 :]
        need(data, _SIZE, "apatoreitn data")
        seal_break = uint_le(data, 5, 2, "apatoreitn seal date")
        status = generic.get("status", "OK")
        return {
            "current_hca": uint_le(data, 7, 2, "apatoreitn current"),
            "previous_hca": uint_le(data, 3, 2, "apatoreitn previous"),
            "current_date": _date(uint_le(data, 9, 2, "apatoreitn date")),
            "season_start_date": _date(_SEASON_START_HIGH << 8 | data[0]),
            "esb_date": _date(seal_break) if seal_break else None,
            "status": with_flag(status, "SEAL_BROKEN") if seal_break else status,
            "temp_room_avg_c": uint_le(data, 13, 2, "apatoreitn temperature") / 256,
            "temp_room_prev_avg_c": uint_le(data, 11, 2, "apatoreitn temperature") / 256,
        }
