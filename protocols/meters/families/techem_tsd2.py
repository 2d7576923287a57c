"""Techem smoke detector ``tsd2`` (TCH, version 0x76, device type 0xF0, CI 0xA0).

Facts (triple, field names, status values, payload layout) from wmbusmeters' driver
definition drivers/src/tsd2.xmq. The whole application data is Techem's own (CI 0xA0,
no TPL header, no data records); counted in ``Telegram.manufacturer_data``:

======  ======================================================================
byte    what
======  ======================================================================
0       detector status: 0x00 OK, 0x01 SMOKE, 0x80 DEFECT (one code, not bits:
        any other value is reported as ``STATUS_<HEX>``)
1-2     date of the previous billing period, little endian, packed
        ``yyyyyyy mmmm ddddd`` (years since 2000)
3..     not decoded
======  ======================================================================

Device type 0xF0 is not in EN 13757-3 table 3, so the driver sets ``media`` itself.
"""

from __future__ import annotations

from protocols.errors import DecodeError
from protocols.meters.base import Fields, MeterDriver, Mvt
from protocols.meters.lookup import IndexLookup, join_status, tpl_status_flags
from protocols.meters.mfct import NamedDriver, packed_date, uint_le
from protocols.telegram import Telegram

MVT: tuple[Mvt, ...] = (("TCH", 0x76, 0xF0),)

# What the meter measures (its device type code is Techem's own).
MEDIA = "smoke detector"

# The status byte is one code; unknown codes print as STATUS_<HEX>.
_DETECTOR = IndexLookup("STATUS", {0x00: "OK", 0x01: "SMOKE", 0x80: "DEFECT"}, mask=0xFF)

# ``status`` when the payload is too short for status byte and date: a smoke detector
# must not read "OK" when its state could not be decoded. The word is the one users of
# the reference reader already see for such telegrams.
PAYLOAD_ERROR = "DECODING_ERROR_payload"


def decode_payload(data: bytes) -> tuple[int, str | None]:
    """(status byte, previous billing date) of a tsd2 payload.

    Raises :class:`~protocols.errors.TruncatedError` when the three bytes are not there.
    """
    status = uint_le(data, 0, 1, "tsd2 status byte")
    previous = uint_le(data, 1, 2, "tsd2 previous billing date")
    return status, packed_date(previous)


class TechemTsd2(NamedDriver):
    """``tsd2``: detector status and the previous billing date from the Techem block."""

    def __init__(self) -> None:
        super().__init__("tsd2", MVT)

    def fields(self, telegram: Telegram) -> Fields:
        """``media``, ``status`` (detector code plus any TPL flags) and ``prev_date``."""
        tpl = tpl_status_flags(telegram.status)
        try:
            code, prev_date = decode_payload(telegram.manufacturer_data or b"")
        except DecodeError:
            return {
                "media": MEDIA,
                "status": join_status([PAYLOAD_ERROR, *tpl]),
                "prev_date": None,
            }
        return {
            "media": MEDIA,
            "status": join_status([_DETECTOR(code), *tpl]),
            "prev_date": prev_date,
        }


TSD2 = TechemTsd2()

DRIVERS: tuple[MeterDriver, ...] = (TSD2,)
