"""The generic OMS driver: names, units and status from standard records."""

from __future__ import annotations

import pytest

from protocols.meters.generic import GenericDriver, field_name, status_flags
from protocols.records import parse_records
from protocols.records.build import (
    build_header,
    encode_manufacturer_data,
    encode_profile,
    encode_record,
    encode_records,
    encode_scaled,
)
from protocols.telegram import MeterAddress, Telegram

ADDRESS = MeterAddress("XXX", "12345678", 1, 7)

# Data fields (DIF low nibble).
INT16, INT24, INT32, BCD4, BCD6, BCD8, BCD12 = 0x2, 0x3, 0x4, 0xA, 0xB, 0xC, 0xE
FILLER = b"\x2f"
# VIFs (EN 13757-3 table 10 and the FD/extension tables).
VIF_ENERGY_WH = b"\x03"
VIF_ENERGY_KWH = b"\x06"
VIF_VOLUME_L = b"\x13"
VIF_POWER_W = b"\x2b"
VIF_FLOW_L_H = b"\x3b"
VIF_FLOW_TEMPERATURE_01C = b"\x5a"
VIF_RETURN_TEMPERATURE_01C = b"\x5e"
VIF_DATE_G = b"\x6c"
VIF_DATE_TIME_F = b"\x6d"
VIF_HCA = b"\x6e"
VIF_FABRICATION_NO = b"\x78"
VIF_MANUFACTURER = b"\xff\x35"  # manufacturer-specific VIF and its manufacturer VIFE
VIFE_ERROR_FLAGS = b"\xfd\x17"
VIFE_VOLTS = b"\xfd\xc9"  # 1 V; extension bit set: a combinable VIFE follows
AT_PHASE = b"\xfc"  # combinable extension VIFE: the next VIFE is the phase number
BACKWARD = 0x3C  # combinable VIFE: backward flow


def _with_vife(vif: bytes, vife: int) -> bytes:
    """A one-byte VIF with its extension bit set, followed by ``vife``."""
    return bytes([vif[0] | 0x80, vife])


def _fields(block: bytes | str, status: int | None = 0) -> dict[str, object]:
    """The generic fields of a record block (bytes, or hex for a hand-written one)."""
    data = bytes.fromhex(block) if isinstance(block, str) else block
    records = tuple(parse_records(data))
    telegram = Telegram(ADDRESS, ADDRESS, 0x44, 0x7A, 1, status, 0, 0, False, b"", records)
    return dict(GenericDriver().fields(telegram))


def test_driver_identity() -> None:
    driver = GenericDriver()
    assert driver.name == "generic"
    assert driver.mvt == frozenset()
    assert driver.compact_layouts == ()


def test_water_meter_total_and_target_volume() -> None:
    fields = _fields(
        encode_records(
            [
                (build_header(VIF_FABRICATION_NO, BCD8), 12345678),
                (build_header(VIF_DATE_TIME_F, INT32), "2026-04-16 10:11"),
            ]
        )
        + encode_scaled(build_header(VIF_VOLUME_L, INT32), 12.345)
        + encode_scaled(build_header(VIF_FLOW_L_H, INT16), 0)
        + encode_scaled(build_header(VIF_VOLUME_L, INT32, storage=1), 11.5)
        + encode_record(build_header(VIF_DATE_G, INT16, storage=1), "2026-04-01")
        + encode_record(build_header(VIFE_ERROR_FLAGS, INT24), 0x0B5E)
    )
    assert fields["total_m3"] == pytest.approx(12.345)
    assert fields["target_m3"] == pytest.approx(11.5)
    assert fields["target_date"] == "2026-04-01"
    assert fields["flow_m3h"] == 0
    assert fields["status"] == "ERROR_FLAGS_B5E"
    assert fields["fabrication_no"] == 12345678


def test_heat_meter_names() -> None:
    fields = _fields(
        FILLER * 2
        + encode_scaled(build_header(VIF_ENERGY_KWH, BCD8), 6884)
        + encode_scaled(build_header(VIF_VOLUME_L, BCD8), 645.319)
        + encode_scaled(build_header(VIF_FLOW_L_H, BCD6), 0.004)
        + encode_scaled(build_header(VIF_POWER_W, BCD8), 0.111)
        + encode_scaled(build_header(VIF_FLOW_TEMPERATURE_01C, BCD4), 51.7)
        + encode_scaled(build_header(VIF_RETURN_TEMPERATURE_01C, BCD4), 27.6)
        + encode_scaled(build_header(VIF_ENERGY_KWH, BCD8, storage=1), 6347)
        + encode_record(build_header(VIF_DATE_G, INT16, storage=1), "2021-05-31")
    )
    assert fields["total_energy_consumption_kwh"] == 6884
    assert fields["total_m3"] == pytest.approx(645.319)
    assert fields["flow_m3h"] == pytest.approx(0.004)
    assert fields["current_power_consumption_kw"] == pytest.approx(0.111)
    assert fields["flow_temperature_c"] == pytest.approx(51.7)
    assert fields["return_temperature_c"] == pytest.approx(27.6)
    assert fields["target_energy_kwh"] == 6347
    assert fields["target_date"] == "2021-05-31"


def test_backward_energy_and_power_are_production() -> None:
    fields = _fields(
        encode_scaled(build_header(VIF_ENERGY_WH, BCD12), 15694.05)
        + encode_scaled(build_header(VIF_POWER_W, BCD6), 0.33)
        + encode_scaled(build_header(_with_vife(VIF_ENERGY_WH, BACKWARD), BCD12), 7.48)
        + encode_scaled(build_header(_with_vife(VIF_POWER_W, BACKWARD), BCD6), 0)
    )
    assert fields["total_energy_consumption_kwh"] == pytest.approx(15694.05)
    assert fields["total_energy_production_kwh"] == pytest.approx(7.48)
    assert fields["current_power_consumption_kw"] == pytest.approx(0.33)
    assert fields["current_power_production_kw"] == 0


def test_voltage_per_phase_from_combinable_extension() -> None:
    fields = _fields(
        b"".join(
            encode_scaled(build_header(VIFE_VOLTS + AT_PHASE + bytes([phase]), BCD4), volts)
            for phase, volts in ((1, 231), (2, 229), (3, 233))
        )
    )
    assert fields["voltage_at_phase_1_v"] == 231
    assert fields["voltage_at_phase_2_v"] == 229
    assert fields["voltage_at_phase_3_v"] == 233


def test_tariffs_get_tariff_qualifier() -> None:
    fields = _fields(
        encode_scaled(build_header(VIF_ENERGY_WH, BCD12, tariff=1), 2423.653)
        + encode_scaled(build_header(VIF_ENERGY_WH, BCD12, tariff=2), 0)
    )
    assert fields["total_energy_consumption_tariff_1_kwh"] == pytest.approx(2423.653)
    assert fields["total_energy_consumption_tariff_2_kwh"] == 0


def test_hca_storage_numbers() -> None:
    fields = _fields(
        encode_records(
            [
                (build_header(VIF_HCA, BCD6), 166),
                (build_header(VIF_HCA, INT16, storage=1), 160),
                (build_header(VIF_HCA, INT16, storage=2), 152),
                (build_header(VIF_HCA, INT16, storage=3), 141),
            ]
        )
    )
    assert fields["current_consumption_hca"] == 166
    assert fields["consumption_at_set_date_hca"] == 160
    assert fields["consumption_at_set_date_2_hca"] == 152
    assert fields["consumption_at_set_date_3_hca"] == 141


def test_maximum_flow_gets_max_prefix() -> None:
    fields = _fields("523B1000023B0500")
    assert fields["max_flow_storage_1_m3h"] == pytest.approx(0.016)
    assert fields["flow_m3h"] == pytest.approx(0.005)


def test_colliding_records_get_header_qualified_names() -> None:
    total = encode_scaled(build_header(VIF_VOLUME_L, INT32), 0.007)
    fields = _fields(
        total + encode_scaled(build_header(_with_vife(VIF_VOLUME_L, BACKWARD), INT32), 0.009)
    )
    assert fields["total_m3"] == pytest.approx(0.007)
    assert fields["total_backward_m3"] == pytest.approx(0.009)
    # VIFE FF: manufacturer-specific VIFEs follow, here 01
    vib = _with_vife(VIF_VOLUME_L, 0xFF) + b"\x01"
    fields = _fields(total + encode_scaled(build_header(vib, INT32), 0.009))
    assert fields["total_m3"] == pytest.approx(0.007)
    assert fields["total_0493ff01_m3"] == pytest.approx(0.009)


def test_manufacturer_records_are_left_out() -> None:
    fields = _fields(
        encode_record(build_header(VIF_MANUFACTURER, INT32), 0x0917)
        + encode_scaled(build_header(VIF_VOLUME_L, INT32), 0.004)
        + encode_manufacturer_data(b"\x5a\x07")
    )
    assert set(fields) == {"total_m3", "status"}


def test_error_flags_are_hex_and_in_status() -> None:
    # flags 0x41; status byte 0x12: error + temporary error
    fields = _fields(encode_record(build_header(VIFE_ERROR_FLAGS, INT16), 0x41), status=0x12)
    assert fields["error_flags"] == "ERROR_FLAGS_41"
    assert fields["status"] == "ERROR ERROR_FLAGS_41 TEMPORARY_ERROR"


def test_zero_error_flags_read_ok() -> None:
    fields = _fields(encode_record(build_header(VIFE_ERROR_FLAGS, INT16), 0))
    assert fields["error_flags"] == "OK"
    assert fields["status"] == "OK"


@pytest.mark.parametrize(
    ("status", "flags"),
    [
        (0x00, []),
        (0x01, ["BUSY"]),
        (0x02, ["ERROR"]),
        (0x03, ["ALARM"]),
        (0x04, ["POWER_LOW"]),
        (0x08, ["PERMANENT_ERROR"]),
        (0x10, ["TEMPORARY_ERROR"]),
        (0xF8, ["PERMANENT_ERROR", "TEMPORARY_ERROR", "UNKNOWN_E0"]),
    ],
)
def test_status_byte_flags(status: int, flags: list[str]) -> None:
    assert status_flags(status) == flags


def test_status_is_sorted_and_without_tpl_is_ok() -> None:
    volume = encode_scaled(build_header(VIF_VOLUME_L, INT32), 0.25)
    assert _fields(volume, status=None)["status"] == "OK"
    assert _fields(volume, status=0x4C)["status"] == "PERMANENT_ERROR POWER_LOW UNKNOWN_40"


def test_field_name_of_date_time_storage() -> None:
    header = build_header(VIF_DATE_TIME_F, INT32, storage=3)
    (rec,) = parse_records(encode_record(header, "2025-03-09 12:30"))
    assert field_name(rec) == "meter_datetime_storage_3"


def test_invalid_value_is_null() -> None:
    fields = _fields("0C13FFFFFFFF")
    assert fields["total_m3"] is None


def _base_date(storage: int, date: str = "2026-02-01") -> tuple[bytes, str]:
    return (build_header(VIF_DATE_G, INT16, storage=storage), date)


def test_inverse_profile_is_one_value_per_storage_number_with_its_date() -> None:
    profile = encode_profile(VIF_HCA, [12, None, 7], element_field=BCD6, kind=0x13, storage=8)
    fields = _fields(encode_records([_base_date(8), (build_header(VIF_HCA, BCD6), 5)]) + profile)
    assert fields["current_consumption_hca"] == 5
    assert fields["meter_date_storage_8"] == "2026-02-01"
    assert fields["consumption_at_set_date_9_hca"] == 12
    assert fields["consumption_at_set_date_9_date"] == "2026-01-01"
    assert fields["consumption_at_set_date_10_hca"] is None  # no value, still dated
    assert fields["consumption_at_set_date_10_date"] == "2025-12-01"
    assert fields["consumption_at_set_date_11_hca"] == 7
    assert fields["consumption_at_set_date_11_date"] == "2025-11-01"
    assert "consumption_at_set_date_12_hca" not in fields
    assert not any(isinstance(v, str) and v.startswith("3BFE") for v in fields.values())


def test_compact_profile_is_scaled_and_runs_newest_first() -> None:
    # 0x1F as the fhkvdataiv vector shows it: the last element one month after the base.
    profile = encode_profile(VIF_VOLUME_L, [0.5, 0.25], element_field=INT32, kind=0x1F, storage=1)
    fields = _fields(encode_records([_base_date(1, "2023-01-31")]) + profile)
    assert fields["target_date"] == "2023-01-31"
    assert fields["total_storage_2_m3"] == pytest.approx(0.5)
    assert fields["total_storage_2_date"] == "2023-03-31"
    assert fields["total_storage_3_m3"] == pytest.approx(0.25)
    assert fields["total_storage_3_date"] == "2023-02-28"


def test_profile_without_base_date_or_unreadable_is_left_out() -> None:
    profile = encode_profile(VIF_HCA, [12], element_field=BCD6, kind=0x13, storage=8)
    other_storage = encode_records([_base_date(1)])
    assert set(_fields(other_storage + profile)) == {"target_date", "status"}
    for kind in (0x1E, 0x1F):  # real32 elements: no known element size
        header = build_header(bytes((VIF_HCA[0] | 0x80, kind)), 0xD, storage=8)
        body = bytes([0x35, 0xFE, 0, 0, 0, 0])
        fields = _fields(encode_records([_base_date(8)]) + header + bytes([len(body)]) + body)
        assert set(fields) == {"meter_date_storage_8", "status"}


def test_profile_with_a_dangling_byte_is_still_expanded() -> None:
    profile = encode_profile(VIF_HCA, [3], element_field=INT16, storage=8, dangling=b"\x01")
    fields = _fields(encode_records([_base_date(8)]) + profile)
    assert fields["consumption_at_set_date_9_hca"] == 3


def test_profile_element_colliding_with_a_record_gets_a_header_qualified_name() -> None:
    profile = encode_profile(VIF_HCA, [12], element_field=BCD6, kind=0x13, storage=8)
    storage_9 = (build_header(VIF_HCA, INT16, storage=9), 40)
    fields = _fields(encode_records([_base_date(8), storage_9]) + profile)
    assert fields["consumption_at_set_date_9_hca"] == 40
    assert fields["consumption_at_set_date_9_8d04ee13_hca"] == 12
    assert fields["consumption_at_set_date_9_date"] == "2026-01-01"
