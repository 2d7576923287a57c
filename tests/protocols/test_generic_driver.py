"""The generic OMS driver: names, units and status from standard records."""

from __future__ import annotations

import pytest

from protocols.meters.generic import GenericDriver, field_name, status_flags
from protocols.records import parse_records
from protocols.telegram import MeterAddress, Telegram

ADDRESS = MeterAddress("XXX", "12345678", 1, 7)


def _fields(block_hex: str, status: int | None = 0) -> dict[str, object]:
    records = tuple(parse_records(bytes.fromhex(block_hex)))
    telegram = Telegram(ADDRESS, ADDRESS, 0x44, 0x7A, 1, status, 0, 0, False, b"", records)
    return dict(GenericDriver().fields(telegram))


def test_driver_identity() -> None:
    driver = GenericDriver()
    assert driver.name == "generic"
    assert driver.mvt == frozenset()
    assert driver.compact_layouts == ()


def test_water_meter_total_and_target_volume() -> None:
    # aptmbusna.xmq test 1 (wmbusmeters): total 22.791 m3, target 22.178 m3 on 2026-04-01
    fields = _fields(
        "0C7857513400046D0BAB5934041307590000023B00004413A2560000426C41340227CB0803FD175E0B00"
        "04FF0A0404010002FF0B000003FF0C9700B90F0004351BFF0001020100"
    )
    assert fields["total_m3"] == pytest.approx(22.791)
    assert fields["target_m3"] == pytest.approx(22.178)
    assert fields["target_date"] == "2026-04-01"
    assert fields["flow_m3h"] == 0
    assert fields["status"] == "ERROR_FLAGS_B5E"
    assert fields["fabrication_no"] == 345157


def test_heat_meter_names() -> None:
    # sharky774.xmq test 0: energy, volume, power, flow/return temperature
    fields = _fields(
        "2F2F0C06846800000C13195364000B3B0400000C2B110100000A5A17050A5E76020AA61800004C0647630000"
        "426CBF25"
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
    # amiplus.xmq test 0
    fields = _fields(
        "2F2F0E035040691500000B2B300300066D00790C7423400C78371204860BABC8FC100000000E833C80740000"
        "00000BAB3C0000000AFDC9FC0136022F2F2F2F2F"
    )
    assert fields["total_energy_consumption_kwh"] == pytest.approx(15694.05)
    assert fields["total_energy_production_kwh"] == pytest.approx(7.48)
    assert fields["current_power_consumption_kw"] == pytest.approx(0.33)
    assert fields["current_power_production_kw"] == 0


def test_voltage_per_phase_from_combinable_extension() -> None:
    fields = _fields("0AFDC9FC0135020AFDC9FC0245020AFDC9FC033902")
    assert fields["voltage_at_phase_1_v"] == 235
    assert fields["voltage_at_phase_2_v"] == 245
    assert fields["voltage_at_phase_3_v"] == 239


def test_tariffs_get_tariff_qualifier() -> None:
    fields = _fields("8E1003" + "533642020000" + "8E2003" + "000000000000")
    assert fields["total_energy_consumption_tariff_1_kwh"] == pytest.approx(2423.653)
    assert fields["total_energy_consumption_tariff_2_kwh"] == 0


def test_hca_storage_numbers() -> None:
    # aventieshca.xmq test 0
    fields = _fields("0B6E660100426EA60082016EA600C2016E9E00")
    assert fields["current_consumption_hca"] == 166
    assert fields["consumption_at_set_date_hca"] == 166
    assert fields["consumption_at_set_date_2_hca"] == 166
    assert fields["consumption_at_set_date_3_hca"] == 158


def test_maximum_flow_gets_max_prefix() -> None:
    fields = _fields("523B1000023B0500")
    assert fields["max_flow_storage_1_m3h"] == pytest.approx(0.016)
    assert fields["flow_m3h"] == pytest.approx(0.005)


def test_colliding_records_get_header_qualified_names() -> None:
    fields = _fields("04130100000004933C02000000")
    assert fields["total_m3"] == pytest.approx(0.001)
    assert fields["total_backward_m3"] == pytest.approx(0.002)
    fields = _fields("0413010000000493FF0102000000")
    assert fields["total_m3"] == pytest.approx(0.001)
    assert fields["total_0493ff01_m3"] == pytest.approx(0.002)


def test_manufacturer_records_are_left_out() -> None:
    fields = _fields("04FF23000800000413010000000F0102")
    assert set(fields) == {"total_m3", "status"}


def test_error_flags_are_hex_and_in_status() -> None:
    fields = _fields("02FD172800", status=0x12)  # uiws: flags 0x28, status error + temporary
    assert fields["error_flags"] == "ERROR_FLAGS_28"
    assert fields["status"] == "ERROR ERROR_FLAGS_28 TEMPORARY_ERROR"


def test_zero_error_flags_read_ok() -> None:
    fields = _fields("02FD170000")
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
    assert _fields("041301000000", status=None)["status"] == "OK"
    assert _fields("041301000000", status=0x4C)["status"] == (
        "PERMANENT_ERROR POWER_LOW UNKNOWN_40"
    )


def test_field_name_of_date_time_storage() -> None:
    (rec,) = parse_records(bytes.fromhex("C4016D3B179F27"))
    assert field_name(rec) == "meter_datetime_storage_3"


def test_invalid_value_is_null() -> None:
    fields = _fields("0C13FFFFFFFF")
    assert fields["total_m3"] is None
