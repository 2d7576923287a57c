"""ABB B23 driver (protocols/meters/families/abb.py)."""

from __future__ import annotations

from protocols.meters.families.abb import AbbB23
from protocols.meters.registry import driver_for
from protocols.records import parse_records
from protocols.records.build import encode_records
from protocols.telegram import MeterAddress, Telegram
from tests.protocols.test_vectors_wmbus import decode_vector, mismatches
from tests.protocols.vectors import load_jsonl

_ADDRESS = MeterAddress("ABB", "33221100", 0x20, 0x02)


def _fields(records: bytes) -> dict[str, object]:
    parsed = tuple(parse_records(records))
    telegram = Telegram(_ADDRESS, _ADDRESS, 0x44, 0x7A, 1, 0, None, 0, False, b"", parsed)
    return dict(AbbB23().fields(telegram))


def test_abb_b23_gets_its_driver() -> None:
    assert driver_for(_ADDRESS).name == "abbb23"


def test_abbb23_vectors_decode_to_their_expected_fields() -> None:
    vectors = [v for v in load_jsonl("wmbus.jsonl") if v["driver"] == "abbb23"]
    assert vectors
    for vector in vectors:
        assert mismatches(vector["expected"], decode_vector(vector)) == {}, vector["source"]


def test_flags_join_status_and_unknown_bits_are_kept() -> None:
    records = encode_records(
        [
            (b"\x0e\x84\x00", 524917),  # active energy imported, 10 Wh, VIFE 0x00
            (b"\x07\xff\xa6\x00", 0x10),  # error flags
            (b"\x07\xff\xa9\x00", 0x01),  # alarm flags
            (b"\x07\xff\xa8\x00", 0),  # information flags
        ]
    )
    out = _fields(records)
    assert out["total_energy_consumption_kwh"] == 5249.17
    assert out["error_flags"] == "ERROR_FLAGS_10"
    assert out["alarm_flags"] == "ALARM_FLAGS_1"
    assert out["information_flags"] == ""
    assert out["status"] == "ALARM_FLAGS_1 ERROR_FLAGS_10"
    assert "product_no" not in out
