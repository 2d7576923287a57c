"""The Zenner ``zenner0b`` driver (manufacturer block after DIF 0x0F)."""

from __future__ import annotations

import pytest

from protocols.meters.registry import decode_fields
from protocols.records import parse_records
from protocols.telegram import MeterAddress, Telegram
from tests.protocols.test_vectors_wmbus import decode_vector, mismatches
from tests.protocols.vectors import load_jsonl

METER = MeterAddress("ZRI", "12345678", 0x0B, 0x16)


def _telegram(block: bytes) -> Telegram:
    payload = b"\x2f\x2f\x0f" + block
    records = tuple(parse_records(payload))
    return Telegram(METER, METER, 0x44, 0x7A, 1, 0, 0, 0, False, payload, records)


def _block(status: int, month: int, total: int) -> bytes:
    return b"".join(v.to_bytes(4, "little") for v in (status, month, total)) + b"\x00"


def test_vectors_decode_exactly() -> None:
    vectors = [v for v in load_jsonl("wmbus.jsonl") if v["driver"] == "zenner0b"]
    assert vectors
    for vector in vectors:
        fields = decode_vector(vector)
        assert fields["meter"] == "zenner0b"
        assert mismatches(vector["expected"], fields) == {}


def test_volumes_count_1_256000_m3() -> None:
    fields = decode_fields(_telegram(_block(0, 256_000 * 3, 256_000 * 10 + 128_000)))
    assert fields["status"] == "OK"
    assert fields["target_m3"] == pytest.approx(3)
    assert fields["total_m3"] == pytest.approx(10.5)


def test_a_set_status_word_is_printed_in_hex() -> None:
    assert decode_fields(_telegram(_block(0x4001, 0, 0)))["status"] == "STATUS_4001"


def test_a_short_block_keeps_the_generic_fields() -> None:
    fields = decode_fields(_telegram(b"\x00\x00\x00\x00\x01"))
    assert fields["meter"] == "zenner0b"
    assert "total_m3" not in fields
