"""Techem meters that send only manufacturer-specific telegrams (CI 0xA0-0xA2).

``mkradio3a`` (MK Radio 3a water meter) and ``fhkvdataiii`` (FHKV data III heat cost
allocator). Their whole application data is Techem's; the layouts below are facts as
documented by wmbusmeters' drivers of the same names, offsets counted in the data after
the CI field (``Telegram.manufacturer_data``).
"""

from __future__ import annotations

from protocols.errors import FormatError
from protocols.meters.base import Fields
from protocols.meters.mfct import ExtendedDriver, iso_date, need, packed_date, uint_le
from protocols.telegram import Telegram

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")

# mkradio3a: 0-1 unknown, 2-3 current date (packed), 4-6 total in 0.1 m3, then twelve
# (separator byte, 2-byte history word) pairs and a last byte.
_MK3A_SIZE = 44
_MK3A_HISTORY = 8  # offset of the first history word


def _mk3a_months(data: bytes, day: int) -> list[float]:
    """The twelve month volumes (m3), newest first, from the history words.

    Each history word holds two half-month counts in 0.1 m3 (low byte, high byte). In the
    first half of a month a month's volume is the high half of the older word plus the
    low half of its own; later in the month both halves of its own word.
    """
    words = [uint_le(data, _MK3A_HISTORY + 3 * i, 2, "mkradio3a history") for i in range(12)]
    out: list[float] = []
    for i, word in enumerate(words):
        lo, hi = word & 0xFF, word >> 8
        if day <= 15:
            previous_hi = words[i - 1] >> 8 if i > 0 else 0
            out.append((previous_hi + lo) / 10)
        else:
            out.append((lo + hi) / 10)
    return out


class TechemMkRadio3a(ExtendedDriver):
    """``mkradio3a``: total, current month and the last twelve months of a water meter."""

    def __init__(self) -> None:
        super().__init__("mkradio3a", (("TCH", 0x50, 0x72),))

    def extra(self, telegram: Telegram, generic: Fields) -> Fields:
        """Decode the Techem block: date, total, month history."""
        data = telegram.manufacturer_data
        if data is None:
            return {}
        need(data, _MK3A_SIZE - 1, "mkradio3a data")
        raw_date = uint_le(data, 2, 2, "mkradio3a date")
        day, month = raw_date & 0x1F, (raw_date >> 5) & 0x0F
        if not 1 <= month <= 12:
            raise FormatError(f"mkradio3a: month {month} in the current date")
        months = _mk3a_months(data, day)
        out: Fields = {
            "total_m3": uint_le(data, 4, 3, "mkradio3a total") / 10,
            "target_m3": months[0],
            "target_date": packed_date(raw_date),
        }
        # months[k] is k months before the current one.
        for k, volume in enumerate(months):
            out[f"last_{_MONTHS[(month - 1 - k) % 12]}_m3"] = volume
        return out


# fhkvdataiii: first byte tells the layout; 0x0F has one more byte before the temperatures.
_FHKV_TEMPERATURES_AT = {0x01: 9, 0x11: 9, 0x0F: 10}


class TechemFhkvDataIII(ExtendedDriver):
    """``fhkvdataiii``: current and previous period values and two temperatures."""

    def __init__(self) -> None:
        super().__init__("fhkvdataiii", (("TCH", 0x69, 0x80), ("TCH", 0x94, 0x80)))

    def extra(self, telegram: Telegram, generic: Fields) -> Fields:
        """1-2 previous date, 3-4 previous HCA, 5-6 current date, 7-8 current HCA, temps."""
        data = telegram.manufacturer_data
        if not data:
            return {}
        temps = _FHKV_TEMPERATURES_AT.get(data[0])
        if temps is None:
            raise FormatError(f"fhkvdataiii: unknown layout {data[0]:02X}")
        need(data, temps + 4, "fhkvdataiii data")
        previous = uint_le(data, 1, 2, "fhkvdataiii previous date")
        current = uint_le(data, 5, 2, "fhkvdataiii current date")
        prev_day, prev_month, prev_year = previous & 0x1F, (previous >> 5) & 0x0F, previous >> 9
        # The current date has no year and is shifted by four bits; day 0 / month 0 stand
        # for 1 / 12. Its year is the previous one's, or the next once past that date.
        day = (current >> 4) & 0x1F or 1
        month = (current >> 9) & 0x0F or 12
        rolled = month < prev_month or (month == prev_month and day <= prev_day)
        return {
            "current_hca": uint_le(data, 7, 2, "fhkvdataiii current"),
            "current_date": iso_date(2000 + prev_year + rolled, month, day),
            "previous_hca": uint_le(data, 3, 2, "fhkvdataiii previous"),
            "previous_date": iso_date(2000 + prev_year, prev_month, prev_day),
            # Room and radiator temperatures in 0.01 C.
            "temp_room_c": uint_le(data, temps, 2, "fhkvdataiii room") / 100,
            "temp_radiator_c": uint_le(data, temps + 2, 2, "fhkvdataiii radiator") / 100,
        }
