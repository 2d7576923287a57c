"""The Zenner ``caltose`` driver (inverse compact profile of monthly values)."""

from __future__ import annotations

from protocols.meters.registry import decode_fields
from protocols.records import parse_records
from protocols.records.build import build_header, encode_profile, encode_records
from protocols.telegram import MeterAddress, Telegram
from tests.protocols.test_vectors_wmbus import decode_vector, mismatches
from tests.protocols.vectors import load_jsonl

METER = MeterAddress("ZRI", "80000001", 0xFC, 0x08)


def _telegram(payload: bytes, status: int = 0) -> Telegram:
    return Telegram(
        METER, METER, 0x44, 0x7A, 1, status, 0, 0, False, payload, tuple(parse_records(payload))
    )


def test_vectors_decode_exactly() -> None:
    vectors = [v for v in load_jsonl("wmbus.jsonl") if v["driver"] == "caltose"]
    assert vectors
    for vector in vectors:
        fields = decode_vector(vector)
        assert fields["meter"] == "caltose"
        assert mismatches(vector["expected"], fields) == {}


def _profile(values: list[str]) -> bytes:
    body = bytes.fromhex("3bfe" + "".join(values))
    return bytes.fromhex("82046c4132") + bytes.fromhex("8d04ee13") + bytes([len(body)]) + body


def test_profile_values_run_back_month_by_month() -> None:
    fields = decode_fields(_telegram(_profile(["120000", "340000", "ffffff"]), status=0x44))
    assert fields["base_date"] == "2026-02-01"
    assert fields["consumption_1_hca"] == 12
    assert fields["consumption_1"] == "2026-01-01"
    assert fields["consumption_2_hca"] == 34
    assert fields["consumption_2"] == "2025-12-01"
    assert "consumption_3_hca" not in fields  # an empty slot
    assert fields["status"] == "BATTERY_WARNING MODE_2F"


def test_increment_profiles_are_not_read() -> None:
    body = bytes.fromhex("7bfe120000")
    payload = bytes.fromhex("8d04ee13") + bytes([len(body)]) + body
    fields = decode_fields(_telegram(payload))
    assert "consumption_1_hca" not in fields
    assert fields["status"] == "OK"


def test_month_end_base_stays_at_month_ends() -> None:
    base = encode_records([(build_header(b"\x6c", 0x2, storage=8), "2025-04-30")])
    profile = encode_profile(b"\x6e", [5, 6], element_field=0xB, storage=8)
    fields = decode_fields(_telegram(base + profile))
    assert fields["base_date"] == "2025-04-30"
    assert fields["consumption_1"] == "2025-03-31"
    assert fields["consumption_2"] == "2025-02-28"


def test_profile_records_are_not_printed_as_hex() -> None:
    fields = decode_fields(_telegram(_profile(["120000"])))
    assert not any(isinstance(v, str) and v.startswith("3BFE") for v in fields.values())
