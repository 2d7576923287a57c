"""Techem drivers of protocols/meters/families/techem.py."""

from __future__ import annotations

from typing import Any

import pytest

from protocols.errors import FormatError
from protocols.meters.families.techem import monthly_profile
from protocols.meters.registry import decode_fields, driver_for
from protocols.records import parse_records
from protocols.records.build import RawValue, build_header, encode_profile, encode_records
from protocols.telegram import MeterAddress, Telegram
from tests.protocols.test_vectors_wmbus import decode_vector, mismatches
from tests.protocols.vectors import load_jsonl

FAMILIES = ["compact5", "mkradio3", "vario411", "vario451mid", "mkradio4a", "fhkvdataiv"]


def _mfct(address: MeterAddress, ci: int, data: bytes) -> Telegram:
    return Telegram(address, address, 0x44, ci, None, None, None, 0, False, b"", (), None, data)


def _records(address: MeterAddress, payload: bytes) -> Telegram:
    records = tuple(parse_records(payload))
    return Telegram(address, address, 0x44, 0x7A, 1, 0, 0, 0, False, payload, records)


@pytest.mark.parametrize("family", FAMILIES)
def test_vectors_decode_exactly(family: str) -> None:
    vectors: list[dict[str, Any]] = [v for v in load_jsonl("wmbus.jsonl") if v["driver"] == family]
    assert vectors
    for vector in vectors:
        fields = decode_vector(vector)
        assert fields["meter"] == family
        assert mismatches(vector["expected"], fields) == {}, vector["source"]


def test_compact5_sums_the_two_billing_periods() -> None:
    meter = MeterAddress("TCH", "12345678", 0x45, 0x43)
    # 3 bytes, previous period 0x012345 kWh, 1 byte, current period 700 kWh, padding.
    data = bytes([0, 0x11, 0x22]) + (0x012345).to_bytes(3, "little") + b"\x60"
    data += (700).to_bytes(3, "little") + bytes(8)
    fields = decode_fields(_mfct(meter, 0xA2, data))
    assert fields["meter"] == "compact5"
    assert fields["media"] == "heat"
    assert fields["previous_kwh"] == 0x012345
    assert fields["current_kwh"] == 700
    assert fields["total_kwh"] == 0x012345 + 700


def test_compact5_short_data_keeps_the_generic_fields() -> None:
    meter = MeterAddress("TCH", "12345678", 0x45, 0x43)
    fields = decode_fields(_mfct(meter, 0xA2, bytes(6)))
    assert "total_kwh" not in fields
    assert fields["meter"] == "compact5"


def _packed(year: int, month: int, day: int) -> int:
    return (year - 2000) << 9 | month << 5 | day


@pytest.mark.parametrize(
    ("current", "expected"),
    [((2, 14), "2024-02-14"), ((6, 30), "2024-06-30"), ((7, 1), "2023-07-01")],
)
def test_mkradio3_current_year_rolls_over_at_the_previous_date(
    current: tuple[int, int], expected: str
) -> None:
    meter = MeterAddress("TCH", "00001111", 0x74, 0x72)
    month, day = current
    data = bytes([6]) + _packed(2023, 6, 30).to_bytes(2, "little") + (123).to_bytes(2, "little")
    data += (month << 9 | day << 4).to_bytes(2, "little") + (45).to_bytes(2, "little") + bytes(20)
    fields = decode_fields(_mfct(meter, 0xA2, data))
    assert fields["meter"] == "mkradio3"
    assert fields["media"] == "water"
    assert fields["prev_date"] == "2023-06-30"
    assert fields["current_date"] == expected
    assert fields["target_m3"] == pytest.approx(12.3)
    assert fields["total_m3"] == pytest.approx(16.8)


def _profile_payload(values: list[int]) -> bytes:
    """HCA now 7, at storage 1 40, storage 8 date 2023-01-31 and a monthly profile."""
    body = bytes([0x72, 0xFE]) + b"".join(v.to_bytes(2, "little") for v in values)
    records: list[tuple[bytes, RawValue]] = [
        (build_header(b"\x6e", 0x3), 7),
        (build_header(b"\x6e", 0x3, storage=1), 40),
        (build_header(b"\x6c", 0x2, storage=1), "2023-12-31"),
        (build_header(b"\x6c", 0x2, storage=8), "2023-01-31"),
        (build_header(b"\xee\x1f", 0xD, storage=8), body),
    ]
    return b"\x2f\x2f" + encode_records(records)


def test_fhkvdataiv_expands_the_monthly_profile_newest_first() -> None:
    meter = MeterAddress("TCH", "22223333", 0x94, 0x08)
    fields = decode_fields(_records(meter, _profile_payload([5, 0, 9, 11])))
    assert fields["meter"] == "fhkvdataiv"
    assert fields["current_consumption_hca"] == 7
    assert fields["consumption_at_set_date_hca"] == 40
    assert fields["set_date"] == "2023-12-31"
    assert fields["set_date_8"] == "2023-01-31"
    # The last element is the month after the storage 8 date.
    assert fields["consumption_at_set_date_1_hca"] == 11
    assert fields["consumption_at_set_date_1"] == "2023-02-28"
    assert fields["consumption_at_set_date_4_hca"] == 5
    assert fields["consumption_at_set_date_4"] == "2023-05-31"
    assert not any("8d04" in name for name in fields)


@pytest.mark.parametrize(("unit", "spacing"), [(2, 1), (3, 0xFD), (3, 0xFF)])
def test_a_profile_that_is_not_monthly_is_refused(unit: int, spacing: int) -> None:
    header = build_header(b"\x6c", 0x2, storage=8)
    profile = encode_profile(
        b"\x6e", [1, 2], element_field=0x2, kind=0x1F, unit=unit, spacing=spacing, mode=1
    )
    record = parse_records(encode_records([(header, "2023-01-31")]) + profile)[-1]
    with pytest.raises(FormatError):
        monthly_profile(record, "2023-01-31")


def test_fhkvdataiv_without_base_date_keeps_the_readings() -> None:
    meter = MeterAddress("TCH", "22223333", 0x94, 0x08)
    profile = encode_profile(b"\x6e", [5, 6], element_field=0x2, kind=0x1F, storage=8, mode=1)
    fields = decode_fields(_records(meter, encode_records([(b"\x03\x6e", 7)]) + profile))
    assert fields["current_consumption_hca"] == 7
    assert not any(name.startswith("consumption_at_set_date") for name in fields)


def test_triples_of_the_reference_are_claimed() -> None:
    for mvt, name in [
        (("TCH", 0x45, 0x04), "compact5"),
        (("TCH", 0x39, 0x43), "compact5"),
        (("TCH", 0x74, 0x62), "mkradio3"),
        (("TCH", 0x28, 0x04), "vario411"),
        (("TCH", 0x17, 0x04), "vario451mid"),
        (("HYD", 0xFE, 0x06), "mkradio4a"),
        (("TCH", 0x69, 0x08), "fhkvdataiv"),
    ]:
        assert driver_for(MeterAddress(mvt[0], "00000001", mvt[1], mvt[2])).name == name
