"""The Diehl PRIOS driver ``izarv2`` (LFSR-obfuscated manufacturer CI telegrams)."""

from __future__ import annotations

import pytest

from protocols.meters.families.diehl_izar import DEFAULT_KEYS, keystream, unscramble
from protocols.meters.registry import decode_fields
from protocols.telegram import MeterAddress, Telegram
from protocols.wmbus.address import id_to_bytes, manufacturer_field
from tests.protocols.test_vectors_wmbus import decode_vector, mismatches
from tests.protocols.vectors import load_jsonl

# As a decoder that honours the PRIOS A field reports it.
METER = MeterAddress("DME", "30405060", 0x78, 0x07)


def _header(meter: MeterAddress, ci: int) -> bytes:
    m = manufacturer_field(meter.manufacturer).to_bytes(2, "little")
    return m + bytes([meter.version, meter.device_type]) + id_to_bytes(meter.id) + bytes([ci])


def _scrambled(clear: bytes, head: bytes, key: bytes, ci: int = 0xA1) -> bytes:
    stream = keystream(_header(METER, ci), head, key, len(clear))
    return head + bytes(a ^ b for a, b in zip(clear, stream, strict=True))


def _telegram(data: bytes, ci: int = 0xA1) -> Telegram:
    return Telegram(METER, METER, 0x44, ci, None, None, None, 0, False, b"", (), None, data)


def _clear(total_l: int, billing_l: int, date: bytes) -> bytes:
    return b"\x4b" + total_l.to_bytes(4, "little") + billing_l.to_bytes(4, "little") + date


def test_the_vector_decodes_with_the_prios_address() -> None:
    vectors = [v for v in load_jsonl("wmbus.jsonl") if v["driver"] == "izarv2"]
    assert vectors
    for vector in vectors:
        fields = decode_vector(vector)
        assert fields["meter"] == "izarv2"
        assert mismatches(vector["expected"], fields) == {}


@pytest.mark.parametrize("key", DEFAULT_KEYS)
def test_either_default_key_unscrambles(key: bytes) -> None:
    # a: period 2^1 * 4 s, b: battery 9 years, no alarms; 2021-11-15 packed.
    date = bytes([0xAF, 0x2B])  # day 15, year bits 0-2 = 5; month 11, year bits 3-6 = 2
    data = _scrambled(_clear(521_602, 519_147, date), bytes([0x51, 0x12, 0x00, 0x15]), key)
    fields = decode_fields(_telegram(data))
    assert fields["meter"] == "izarv2"
    assert fields["total_m3"] == pytest.approx(521.602)
    assert fields["target_m3"] == pytest.approx(519.147)
    assert fields["target_date"] == "2021-11-15"
    assert fields["battery_y"] == pytest.approx(9)
    assert fields["transmit_period_s"] == 8
    assert fields["status"] == "OK"


def test_alarm_bits_are_named_sorted() -> None:
    head = bytes([0x02, 0x20 | 0x40 | 0x14, 0x40, 0x00])  # blocked, prev leakage; underflow
    data = _scrambled(b"\x4b" + (1000).to_bytes(4, "little"), head, DEFAULT_KEYS[0])
    fields = decode_fields(_telegram(data))
    assert fields["status"] == "METER_BLOCKED PREV_LEAKAGE UNDERFLOW"
    assert fields["total_m3"] == pytest.approx(1)
    assert "target_m3" not in fields
    assert fields["transmit_period_s"] == 16


def test_a_wrong_key_gives_nothing() -> None:
    data = _scrambled(_clear(1, 2, b"\x21\x21"), bytes(4), b"\x01" * 8)
    assert unscramble(_header(METER, 0xA1), data, DEFAULT_KEYS[0]) is None
    fields = decode_fields(_telegram(data))
    assert fields["meter"] == "izarv2"
    assert "total_m3" not in fields
