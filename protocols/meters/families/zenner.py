"""Zenner water meters that put their readings in a manufacturer block (driver ``zenner0b``).

Facts as documented by wmbusmeters' zenner0b driver (drivers/src/zenner0b.xmq): after the
DIF 0x0F come three 4-byte little-endian words: a status word (0 = no fault), the volume
of the current month and the total volume, both in units of 1/256000 m3.
"""

from __future__ import annotations

from protocols.meters.base import Fields, MeterDriver
from protocols.meters.mfct import ExtendedDriver, manufacturer_block, uint_le
from protocols.telegram import Telegram

# Volumes count 1/256000 m3.
_VOLUME_STEP = 256_000


class Zenner0b(ExtendedDriver):
    """``zenner0b``: status, current month and total volume from the 0x0F block."""

    def __init__(self) -> None:
        super().__init__("zenner0b", (("ZRI", 0x0B, 0x16),))

    def extra(self, telegram: Telegram, generic: Fields) -> Fields:
        """Status word, month volume and total volume of the manufacturer block."""
        block = manufacturer_block(telegram)
        if block is None:
            return {}
        status = uint_le(block, 0, 4, "zenner0b status")
        return {
            # The meaning of the status bits is not published: a set word is printed as
            # its hex value, as the established driver prints it.
            "status": "OK" if status == 0 else f"STATUS_{status:X}",
            "target_m3": round(uint_le(block, 4, 4, "zenner0b month") / _VOLUME_STEP, 6),
            "total_m3": round(uint_le(block, 8, 4, "zenner0b total") / _VOLUME_STEP, 6),
        }


DRIVERS: tuple[MeterDriver, ...] = (Zenner0b(),)
