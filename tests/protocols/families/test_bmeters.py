"""The B METERS ``rfmtx1`` driver (security mode 16 payload)."""

from __future__ import annotations

import pytest

from protocols.errors import FormatError
from protocols.meters.families.bmeters import _TABLE, rfmtx1_fields
from protocols.meters.registry import decode_fields
from protocols.telegram import MeterAddress, Telegram

METER = MeterAddress("BMT", "12345678", 0x05, 0x07)


def _payload(litres: int, access: int) -> bytes:
    digits = f"{litres:08d}"
    bcd = [int(digits[i : i + 2], 16) for i in (6, 4, 2, 0)]  # least significant first
    row = _TABLE[access & 0x0F]
    volume = bytes(b ^ access ^ row[i] for i, b in enumerate(bcd))
    time = bytes.fromhex("59 04 10 31 03 20")  # 2020-03-31 10:04:59
    return b"\x00\x00" + volume + bytes(7) + time + bytes(4)


@pytest.mark.parametrize("access", [0x00, 0xA5, 0x3F])
def test_volume_and_time_are_recovered(access: int) -> None:
    fields = rfmtx1_fields(_payload(188560, access), access)
    assert fields == {"total_m3": 188.56, "meter_datetime": "2020-03-31 10:04"}


def test_mode_16_telegram_through_the_registry() -> None:
    telegram = Telegram(METER, METER, 0x44, 0x7A, 0x21, 0, 0x1006, 16, True, _payload(42, 0x21))
    assert decode_fields(telegram)["total_m3"] == pytest.approx(0.042)


def test_a_non_bcd_volume_is_a_format_error() -> None:
    payload = bytearray(_payload(0, 0))
    payload[2] ^= 0xAA
    with pytest.raises(FormatError):
        rfmtx1_fields(bytes(payload), 0)
