"""The Kamstrup drivers, record by record (hand-built records; the vectors are elsewhere)."""

from __future__ import annotations

from typing import Any

from protocols.meters.fieldspec import BACKWARD_FLOW
from protocols.meters.kamstrup_heat import KamstrupHeat
from protocols.meters.kamstrup_omnipower import KamstrupOmnipower
from protocols.meters.kamstrup_pressure import KamstrupPressure
from protocols.meters.kamstrup_water import KamstrupWater
from protocols.records.model import Function, Record, VifRange
from protocols.telegram import MeterAddress, Telegram

MANUFACTURER_SPECIFIC = VifRange.MANUFACTURER_SPECIFIC


def rec(header: str, vif: VifRange = MANUFACTURER_SPECIFIC, **kw: Any) -> Record:
    """A record as the parser would give it; only what a test cares about is passed."""
    fields: dict[str, Any] = {
        "data": b"",
        "function": Function.INSTANTANEOUS,
        "storage": 0,
        "tariff": 0,
        "subunit": 0,
        "unit": "",
        "value": 0,
        "raw": 0,
    }
    fields.update(kw)
    return Record(header=bytes.fromhex(header), vif_range=vif, **fields)


def telegram(*records: Record, status: int | None = None) -> Telegram:
    address = MeterAddress("KAM", "12345678", 0x1B, 0x16)
    return Telegram(
        link=address,
        meter=address,
        c_field=0x44,
        ci=0x78 if status is None else 0x7A,
        access_number=None,
        status=status,
        configuration=None,
        security_mode=0,
        encrypted=False,
        payload=b"",
        records=records,
    )


WATER, HEAT = KamstrupWater(), KamstrupHeat()
PRESSURE, OMNIPOWER = KamstrupPressure(), KamstrupOmnipower()


def test_water_status_names_unknown_bit_as_error_flags_hex() -> None:
    assert WATER.fields(telegram(rec("04FF23", raw=0x800)))["status"] == "ERROR_FLAGS_800"


def test_water_status_names_info_codes() -> None:
    fields = WATER.fields(telegram(rec("04FF23", raw=0x0230)))
    assert fields["status"] == "LOW_BATTERY NO_CONSUMPTION TAMPER"


def test_water_16_bit_alarms_go_into_status_and_current_status() -> None:
    fields = WATER.fields(telegram(rec("02FF20", raw=0x0071)))
    assert fields["status"] == "DRY"
    assert fields["current_status"] == "DRY"
    assert "status16" not in fields


def test_water_current_status_is_empty_without_alarms() -> None:
    fields = WATER.fields(telegram(rec("02FF20", raw=0)))
    assert (fields["current_status"], fields["status"]) == ("", "OK")


def test_water_durations_come_from_the_16_bit_info_codes() -> None:
    fields = WATER.fields(telegram(rec("02FF20", raw=0x0071 | 0x0400 | 0xE000)))
    assert fields["time_dry"] == "22-31 days"
    assert fields["time_reversed"] == ""
    assert fields["time_leaking"] == "1-8 hours"
    assert fields["time_bursting"] == "22-31 days"


def test_water_status_includes_the_tpl_status_byte() -> None:
    fields = WATER.fields(telegram(rec("02FF20", raw=0x04), status=0x04))
    assert fields["status"] == "LEAK POWER_LOW"


def test_water_total_and_target_volume_come_from_storage_0_and_1() -> None:
    fields = WATER.fields(
        telegram(
            rec("0413", VifRange.VOLUME, unit="m3", value=6.408),
            rec("4413", VifRange.VOLUME, unit="m3", value=6.0, storage=1),
            rec("426C", VifRange.DATE, storage=1, value="2022-11-01"),
        )
    )
    assert (fields["total_m3"], fields["target_m3"], fields["target_date"]) == (
        6.408,
        6.0,
        "2022-11-01",
    )


def test_water_flow_temperature_is_the_minimum_of_storage_1_or_2() -> None:
    minimum = rec(
        "A1015B", VifRange.FLOW_TEMPERATURE, function=Function.MINIMUM, storage=2, value=2
    )
    fields = WATER.fields(telegram(minimum))
    assert fields["flow_temperature_c"] == 2
    assert fields["min_flow_temperature_c"] == 2


def test_water_ignores_external_temperature_with_manufacturer_vife() -> None:
    record = rec(
        "8101E7FF0F",
        VifRange.EXTERNAL_TEMPERATURE,
        storage=2,
        combinables=(0x7F,),
        manufacturer_vifes=(0x0F,),
        value=22,
    )
    assert WATER.fields(telegram(record)) == {"status": "OK"}


def test_heat_backward_energy_is_not_consumption() -> None:
    fields = HEAT.fields(
        telegram(rec("04863C", VifRange.ENERGY, unit="kwh", value=5, combinables=(BACKWARD_FLOW,)))
    )
    assert fields["total_energy_backward_kwh"] == 5
    assert "total_energy_consumption_kwh" not in fields


def test_heat_subunit_volumes_are_named_by_subunit() -> None:
    fields = HEAT.fields(
        telegram(
            rec("844014", VifRange.VOLUME, unit="m3", value=1.0, subunit=1),
            rec("84804014", VifRange.VOLUME, unit="m3", value=2.0, subunit=2),
            rec("C44014", VifRange.VOLUME, unit="m3", value=3.0, subunit=1, storage=1),
        )
    )
    assert fields["total_volume_subunit1_m3"] == 1.0
    assert fields["total_volume_subunit2_m3"] == 2.0
    assert fields["target_volume_subunit1_m3"] == 3.0
    assert "total_volume_m3" not in fields


def test_heat_forward_and_return_energy_are_raw_registers_in_m3c() -> None:
    fields = HEAT.fields(telegram(rec("04FF07", raw=153189), rec("04FF08", raw=124887)))
    assert (fields["forward_energy_m3c"], fields["return_energy_m3c"]) == (153189, 124887)


def test_heat_pulse_inputs_are_counters() -> None:
    fields = HEAT.fields(telegram(rec("04EEFF07", VifRange.HCA, raw=179393, value=179393)))
    assert fields["va_counter"] == 179393


def test_heat_operating_time_needs_the_kamstrup_manufacturer_vife() -> None:
    with_vife = rec(
        "04A5FF21",
        VifRange.OPERATING_TIME,
        unit="h",
        value=43489.183333,
        combinables=(0x7F,),
        manufacturer_vifes=(0x21,),
    )
    plain = rec("0426", VifRange.OPERATING_TIME, unit="h", value=1.0)
    assert HEAT.fields(telegram(with_vife))["operating_time_h"] == 43489.183333
    assert "operating_time_h" not in HEAT.fields(telegram(plain))


def test_heat_status_merges_32_bit_16_bit_and_narrow_info_codes() -> None:
    fields = HEAT.fields(
        telegram(
            rec("04FF22", raw=0x00010060),
            rec("02FF22", raw=0x0004),
            rec("02FD17", VifRange.ERROR_FLAGS, raw=0x1000),
        )
    )
    assert fields["status"] == (
        "RESERVED_BIT_2 SENSOR_T1_BELOW_MEASURING_RANGE SENSOR_T2_BELOW_MEASURING_RANGE "
        "V1_AIR V1_COMMUNICATION_ERROR"
    )


def test_heat_enhanced_id_is_printed_as_the_hex_of_its_number() -> None:
    fields = HEAT.fields(telegram(rec("02F9FF15", VifRange.ENHANCED_ID, data=b"\x11\x13")))
    assert fields["enhanced_id"] == "1311"


def test_heat_target_date_is_null_when_the_date_is_invalid() -> None:
    fields = HEAT.fields(telegram(rec("426C", VifRange.DATE, storage=1, value=None)))
    assert fields["target_date"] is None


def test_heat_library_fields() -> None:
    fields = HEAT.fields(
        telegram(
            rec("026C", VifRange.DATE, value="2021-09-25"),
            rec("0322", VifRange.ON_TIME, unit="h", value=2697),
            rec("3322", VifRange.ON_TIME, unit="h", value=0, function=Function.ERROR_STATE),
            rec("0261", VifRange.TEMPERATURE_DIFFERENCE, unit="k", value=1.1),
        )
    )
    assert fields["meter_date"] == "2021-09-25"
    assert (fields["on_time_h"], fields["on_time_at_error_h"]) == (2697, 0)
    assert fields["flow_return_temperature_difference_c"] == 1.1


def test_pressure_status_comes_from_the_error_flags_record() -> None:
    fields = PRESSURE.fields(telegram(rec("02FD17", VifRange.ERROR_FLAGS, raw=0x08)))
    assert fields == {"status": "LOW"}


def test_pressure_reports_current_maximum_and_minimum() -> None:
    fields = PRESSURE.fields(
        telegram(
            rec("226966", VifRange.PRESSURE, function=Function.MINIMUM, unit="bar", value=1.02),
            rec("126967", VifRange.PRESSURE, function=Function.MAXIMUM, unit="bar", value=1.03),
            rec("026966", VifRange.PRESSURE, unit="bar", value=1.01),
        )
    )
    assert (fields["pressure_bar"], fields["max_pressure_bar"], fields["min_pressure_bar"]) == (
        1.01,
        1.03,
        1.02,
    )


def test_pressure_alfa_and_beta_are_raw_reals_rounded_to_six_decimals() -> None:
    fields = PRESSURE.fields(telegram(rec("05FF09", raw=0.0012460976), rec("05FF0A", raw=-7.06e-4)))
    assert (fields["alfa_counter"], fields["beta_counter"]) == (0.001246, -0.000706)


def test_omnipower_production_comes_from_backward_flow_records() -> None:
    backward = (BACKWARD_FLOW,)
    fields = OMNIPOWER.fields(
        telegram(
            rec("0404", VifRange.ENERGY, unit="kwh", value=7.94),
            rec("04843C", VifRange.ENERGY, unit="kwh", value=1.5, combinables=backward),
            rec("042B", VifRange.POWER, unit="kw", value=0.003),
            rec("04AB3C", VifRange.POWER, unit="kw", value=0.25, combinables=backward),
        )
    )
    assert fields == {
        "total_energy_consumption_kwh": 7.94,
        "total_energy_production_kwh": 1.5,
        "current_power_consumption_kw": 0.003,
        "current_power_production_kw": 0.25,
    }


def test_omnipower_prints_no_status() -> None:
    assert OMNIPOWER.fields(telegram()) == {}
