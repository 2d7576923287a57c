"""The Carlo Gavazzi ``em24`` driver."""

from __future__ import annotations

import pytest

from protocols.meters.registry import decode_fields
from protocols.records import parse_records
from protocols.records.build import encode_records
from protocols.telegram import MeterAddress, Telegram
from tests.protocols.test_vectors_wmbus import decode_vector, mismatches
from tests.protocols.vectors import load_jsonl

METER = MeterAddress("GAV", "12345678", 0x00, 0x02)


def _telegram(payload: bytes) -> Telegram:
    return Telegram(
        METER, METER, 0x44, 0x78, 1, None, None, 0, False, payload, tuple(parse_records(payload))
    )


def test_vectors_decode_exactly() -> None:
    vectors = [v for v in load_jsonl("wmbus.jsonl") if v["driver"] == "em24"]
    assert vectors
    for vector in vectors:
        fields = decode_vector(vector)
        assert fields["meter"] == "em24"
        assert mismatches(vector["expected"], fields) == {}


def test_apparent_energy_and_frequency_are_computed() -> None:
    payload = encode_records(
        [(b"\x04\x06", 3), (b"\x04\xfb\x82\x75", 4), (b"\x02\xfb\x2e", 500), (b"\x01\xfd\x17", 0)]
    )
    fields = decode_fields(_telegram(payload))
    assert fields["total_reactive_energy_consumption_kvarh"] == 4
    assert fields["total_apparent_energy_consumption_kvah"] == pytest.approx(5)
    assert fields["total_apparent_energy_production_kvah"] is None
    assert fields["frequency_hz"] == pytest.approx(50)
    assert fields["status"] == "OK"
    assert fields["error"] == ""
