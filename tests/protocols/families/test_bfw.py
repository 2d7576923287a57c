"""The BFW ``bfw240radio`` driver (manufacturer layout after 2F 2F)."""

from __future__ import annotations

import pytest

from protocols.errors import DecodeError
from protocols.meters.families.bfw import decode_payload
from protocols.meters.registry import decode_fields
from protocols.telegram import MeterAddress, Telegram
from tests.protocols.test_vectors_wmbus import decode_vector, mismatches
from tests.protocols.vectors import load_jsonl

METER = MeterAddress("BFW", "00112233", 0x02, 0x08)


def _payload(prev: int, current: int, months: list[int], date: bytes) -> bytes:
    """Build the layout: 2F 2F, 2 bytes, prev, current, 2 bytes, packed months, date."""
    data = bytearray(40)
    data[0:2] = b"\x2f\x2f"
    data[4:6] = prev.to_bytes(2, "big")
    data[6:8] = current.to_bytes(2, "big")
    for k in range(9):
        newer, older = months[2 * k], months[2 * k + 1]
        data[36 - 3 * k] = newer & 0xFF
        data[35 - 3 * k] = (newer >> 8) | (older >> 8) << 4
        data[34 - 3 * k] = older & 0xFF
    data[37:40] = date
    return bytes(data)


def _telegram(payload: bytes) -> Telegram:
    return Telegram(METER, METER, 0x44, 0x7A, 1, 0xC0, 0, 0, False, payload, ())


def test_vectors_decode_exactly() -> None:
    vectors = [v for v in load_jsonl("wmbus.jsonl") if v["driver"] == "bfw240radio"]
    assert vectors
    for vector in vectors:
        fields = decode_vector(vector)
        assert fields["meter"] == "bfw240radio"
        assert mismatches(vector["expected"], fields) == {}


def test_twelve_bit_months_and_bcd_date() -> None:
    months = [0xABC, 0x123, 4095, 0, *range(1, 15)]
    fields = decode_fields(_telegram(_payload(961, 4000, months, b"\x28\x02\x21")))
    assert fields["meter"] == "bfw240radio"
    assert fields["prev_hca"] == 961
    assert fields["current_hca"] == 4000
    assert [fields[f"prev_{n:02d}_hca"] for n in range(1, 19)] == months
    assert fields["device_date"] == "2021-02-28"
    assert "status" not in fields


def test_short_or_non_bcd_payload_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        decode_payload(b"\x2f\x2f" + bytes(20))
    with pytest.raises(DecodeError):
        decode_payload(_payload(0, 0, [0] * 18, b"\x2a\x02\x21"))
