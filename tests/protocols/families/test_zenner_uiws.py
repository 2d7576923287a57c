"""The Zenner IUWS water meter driver ``uiws`` (monthly volume profile)."""

from __future__ import annotations

from typing import Any

import pytest

from protocols.meters.registry import decode_fields, driver_for
from protocols.records import parse_records
from protocols.records.build import build_header, encode_profile, encode_records, encode_scaled
from protocols.telegram import MeterAddress, Telegram
from tests.protocols.test_vectors_wmbus import decode_vector, mismatches
from tests.protocols.vectors import load_jsonl, vectors_available

METER = MeterAddress("ZRI", "80000002", 0x99, 0x07)
NO_VALUE = 0x80000000  # signed 32-bit minimum: the meter's "no value"

DATE_30 = build_header(b"\x6c", 0x2, storage=30)  # 82 0F 6C
VOLUME_30 = build_header(b"\x13", 0x4, storage=30)  # 84 0F 13
VOLUME_1 = build_header(b"\x13", 0x4, storage=1)  # 44 13
PROFILE = build_header(b"\x93\x13", 0xD, storage=30)  # 8D 0F 93 13: inverse profile, litres


def _telegram(payload: bytes, status: int = 0) -> Telegram:
    records = tuple(parse_records(payload))
    return Telegram(METER, METER, 0x44, 0x7A, 1, status, 0, 0, False, payload, records)


def _profile(values: list[int], control: int = 0x34, spacing: int = 0xFE) -> bytes:
    body = bytes([control, spacing]) + b"".join(v.to_bytes(4, "little") for v in values)
    # The meter's own LVAR byte: the plain length (encode_records has no such form).
    return PROFILE + bytes([len(body)]) + body


def _payload(values: list[int], **profile: int) -> bytes:
    standard = encode_records([(b"\x04\x13", 1234), (VOLUME_1, NO_VALUE), (DATE_30, "2026-02-01")])
    return standard + encode_scaled(VOLUME_30, 1.2) + _profile(values, **profile)


def _vectors() -> list[Any]:
    found = [
        pytest.param(v, id=v["source"].split("/")[-1] + "-" + str(i))
        for i, v in enumerate(load_jsonl("wmbus.jsonl") if vectors_available() else [])
        if v["driver"] == "uiws"
    ]
    return found or [pytest.param(None, id="vectors-missing")]


@pytest.mark.parametrize("vector", _vectors())
def test_vectors_decode_exactly(vector: dict[str, Any] | None) -> None:
    if vector is None:
        load_jsonl("wmbus.jsonl")  # fails in CI, skips elsewhere, with the reason
        return
    fields = decode_vector(vector)
    assert fields["meter"] == "uiws"
    assert mismatches(vector["expected"], fields) == {}


def test_the_triple_gets_the_driver() -> None:
    assert driver_for(METER).name == "uiws"


def test_profile_runs_back_month_by_month_from_the_base() -> None:
    fields = decode_fields(_telegram(_payload([1100, NO_VALUE, 900]), status=0x10))
    assert fields["meter"] == "uiws"
    assert fields["total_m3"] == pytest.approx(1.234)
    assert fields["unknown_m3"] is None
    assert fields["target_date"] == "2026-02-01"
    assert fields["target_m3"] == pytest.approx(1.2)
    assert fields["target_1_m3"] == pytest.approx(1.1)
    assert fields["target_1_date"] == "2026-01-01"
    assert fields["target_2_m3"] is None
    assert fields["target_2_date"] == "2025-12-01"
    assert fields["target_3_m3"] == pytest.approx(0.9)
    assert fields["target_3_date"] == "2025-11-01"
    assert "target_4_m3" not in fields
    assert fields["status"] == "TEMPORARY_ERROR"
    # the profile's records are named, not printed again under generic names
    assert not any("storage" in name for name in fields)


def test_no_value_base_is_null() -> None:
    payload = encode_records([(DATE_30, "2026-02-01"), (VOLUME_30, NO_VALUE)])
    fields = decode_fields(_telegram(payload))
    assert fields["target_m3"] is None


def test_negative_profile_values_are_signed() -> None:
    fields = decode_fields(_telegram(_payload([2**32 - 5])))
    assert fields["target_1_m3"] == pytest.approx(-0.005)


def test_profile_of_another_element_size_is_not_read() -> None:
    # control 0x32: 16-bit elements; the driver only knows the 32-bit kind
    fields = decode_fields(_telegram(_payload([1100], control=0x32)))
    assert "target_1_m3" not in fields
    assert fields["target_m3"] == pytest.approx(1.2)


def test_profile_without_monthly_spacing_has_no_dates() -> None:
    fields = decode_fields(_telegram(_payload([1100], control=0x24)))  # spacing unit 2
    assert fields["target_1_m3"] == pytest.approx(1.1)
    assert "target_1_date" not in fields


def test_profile_with_a_dangling_byte_is_read() -> None:
    standard = _payload([])[: -len(_profile([]))]
    profile = encode_profile(b"\x13", [1.1], element_field=0x4, storage=30, dangling=b"\x07")
    assert profile.startswith(PROFILE)
    fields = decode_fields(_telegram(standard + profile))
    assert fields["target_1_m3"] == pytest.approx(1.1)
    assert fields["target_1_date"] == "2026-01-01"
    assert "target_2_m3" not in fields


def test_profile_with_spacing_zero_keeps_the_other_fields() -> None:
    fields = decode_fields(_telegram(_payload([1100], spacing=0)))
    assert "target_1_m3" not in fields
    assert fields["target_m3"] == pytest.approx(1.2)
    assert fields["total_m3"] == pytest.approx(1.234)
