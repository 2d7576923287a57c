"""Kaden/Ecomess water meter driver (protocols/meters/families/kaden.py)."""

from __future__ import annotations

from protocols.meters.families.kaden import KadenWater
from protocols.meters.registry import driver_for
from protocols.records import parse_records
from protocols.records.build import encode_records
from protocols.telegram import MeterAddress, Telegram
from tests.protocols.test_vectors_wmbus import decode_vector, mismatches
from tests.protocols.vectors import load_jsonl

_ADDRESS = MeterAddress("KDN", "19220000", 0x01, 0x07)


def _fields(records: bytes, status: int) -> dict[str, object]:
    parsed = tuple(parse_records(records))
    telegram = Telegram(_ADDRESS, _ADDRESS, 0x44, 0x7A, 1, status, None, 0, False, b"", parsed)
    return dict(KadenWater().fields(telegram))


def test_both_manufacturer_codes_get_the_driver() -> None:
    for man in ("KDN", "VIP"):
        assert driver_for(MeterAddress(man, "00000001", 0x01, 0x07)).name == "kadenwater"


def test_kadenwater_vectors_decode_to_their_expected_fields() -> None:
    vectors = [v for v in load_jsonl("wmbus.jsonl") if v["driver"] == "kadenwater"]
    assert vectors
    for vector in vectors:
        assert mismatches(vector["expected"], decode_vector(vector)) == {}, vector["source"]


def test_second_registers_and_leak_bits() -> None:
    records = encode_records(
        [
            (b"\x04\x12", 810976),  # total, 0.1 l
            (b"\x04\x12", 96),  # second volume register
            (b"\x04\x74", 12),  # actuality duration, s
            (b"\x04\x74", 30),  # second duration
        ]
    )
    out = _fields(records, 0x03 | 0x20)
    assert out["total_m3"] == 81.0976
    assert out["volume_b_m3"] == 0.0096
    assert out["actuality_duration_s"] == 12
    assert out["duration_b_s"] == 30
    assert out["status"] == "ALARM LEAK_FLOW_LOW"
    assert _fields(records, 0)["status"] == "OK"


def test_missing_second_registers_are_left_out() -> None:
    out = _fields(encode_records([(b"\x04\x12", 5)]), 0)
    assert out["total_m3"] == 0.0005
    assert "volume_b_m3" not in out
    assert "duration_b_s" not in out
