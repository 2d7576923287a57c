"""The Apator drivers: apator162, apatorna1, apator08, apator172."""

from __future__ import annotations

import pytest

from protocols.meters.registry import decode_fields
from protocols.records import parse_records
from protocols.telegram import MeterAddress, Telegram
from protocols.wmbus import security
from protocols.wmbus.build import address_bytes
from tests.protocols.test_vectors_wmbus import decode_vector, mismatches
from tests.protocols.vectors import load_jsonl

A162 = MeterAddress("APA", "12345678", 0x05, 0x07)
NA1 = MeterAddress("APA", "04913581", 0x14, 0x07)


@pytest.mark.parametrize("name", ["apator162", "apatorna1", "apator08", "apator172"])
def test_vectors_decode_the_expected_values(name: str) -> None:
    vectors = [v for v in load_jsonl("wmbus.jsonl") if v["driver"] == name]
    assert vectors
    for vector in vectors:
        fields = decode_vector(vector)
        assert fields["meter"] == name
        # ids with hex letters are printed upper-case by the registry (not a driver's job)
        assert mismatches(vector["expected"], fields).keys() <= {"id"}


def _a162(block: bytes) -> Telegram:
    payload = b"\x2f\x2f\x0f" + block
    return Telegram(
        A162, A162, 0x44, 0x7A, 1, 0, 0, 0, False, payload, tuple(parse_records(payload))
    )


def test_apator162_walks_registers_to_the_total() -> None:
    status = bytes(7)
    block = (
        status + b"\x43\x01\x02" + b"\x72\x00" + bytes(12) + b"\x10" + (12345).to_bytes(4, "little")
    )
    fields = decode_fields(_a162(block + b"\xff\xff\x00\x00"))
    assert fields["total_m3"] == pytest.approx(12.345)


def test_apator162_unknown_register_keeps_generic_fields() -> None:
    fields = decode_fields(_a162(bytes(7) + b"\x55\x01\x02\x03\x00\x00"))
    assert fields["meter"] == "apator162"
    assert "total_m3" not in fields


def _na1(plain: bytes, access: int = 0x33, frame_status: int = 0x01) -> Telegram:
    m_field, a_field = address_bytes(NA1)
    iv = security.mode5_iv(m_field, a_field, access)
    encrypted = security.cbc_encrypt(bytes(16), iv, plain)
    data = bytes([access, frame_status]) + encrypted
    return Telegram(NA1, NA1, 0x44, 0xA0, access, None, None, 0, False, b"", manufacturer_data=data)


def test_apatorna1_decrypts_total_history_and_flags() -> None:
    count = 1000  # in 10-litre steps (exponent 1): 10 m3
    packed = (count >> 4) << 8 | (1 << 4) | (count & 0x0F)
    seconds = 24 * 3600  # 2000-01-02 00:00
    age = 5  # hours
    difference = 100  # steps: 1 m3
    meta = (age >> 8) << 2 | (difference & 0x03)
    plain = (
        b"\x2f"
        + packed.to_bytes(4, "little")
        + seconds.to_bytes(4, "little")
        + bytes([age & 0xFF, meta])
        + (difference >> 2).to_bytes(3, "little")
        + bytes([0x08, 0x80])
    )
    fields = decode_fields(_na1(plain))
    assert fields["total_m3"] == pytest.approx(10)
    assert fields["historic_m3"] == pytest.approx(9)
    assert fields["meter_datetime"] == "2000-01-02 00:00"
    assert fields["historic_datetime"] == "2000-01-01 19:00"
    assert fields["historic_age_h"] == 5
    assert fields["frame_status"] == "SUMMER_TIME"
    assert fields["current_status"] == "LEAK"
    assert fields["historic_status"] == "MINIMUM_FLOW"


def test_apatorna1_short_data_keeps_generic_fields() -> None:
    telegram = Telegram(
        NA1, NA1, 0x44, 0xA0, 1, None, None, 0, False, b"", manufacturer_data=b"\x01\x00"
    )
    fields = decode_fields(telegram)
    assert fields["meter"] == "apatorna1"
    assert "total_m3" not in fields


def test_apator08_counts_thirds_of_a_litre() -> None:
    meter = MeterAddress("APT", "00112233", 0x03, 0x03)
    data = (3000 * 7).to_bytes(4, "little") + bytes(8)
    fields = decode_fields(
        Telegram(meter, meter, 0x44, 0xA0, 1, None, None, 0, False, b"", manufacturer_data=data)
    )
    assert fields["total_m3"] == pytest.approx(7)


def test_apator172_is_water_to_a_tenth() -> None:
    meter = MeterAddress("APT", "00112233", 0x04, 0x11)
    data = (21533).to_bytes(4, "little") + bytes(8)
    fields = decode_fields(
        Telegram(meter, meter, 0x44, 0xA0, 1, None, None, 0, False, b"", manufacturer_data=data)
    )
    assert fields["media"] == "water"
    assert fields["total_m3"] == pytest.approx(7177.7)
