"""Fixed-data answers as a meter and records (protocols/mbus/fixed_records.py)."""

from __future__ import annotations

from protocols.mbus.application import FixedCounter, FixedData
from protocols.mbus.fixed_records import fixed_meter, fixed_records
from protocols.records.model import VifRange


def fixed(medium: int, first: tuple[int, int], second: tuple[int, int]) -> FixedData:
    return FixedData(0x73, "12345678", 7, 0, medium, (FixedCounter(*first), FixedCounter(*second)))


def test_the_meter_has_the_id_and_the_medium_as_its_device_type() -> None:
    meter = fixed_meter(fixed(0x4, (1, 0x05), (1, 0x29)))
    assert (meter.manufacturer, meter.id, meter.version, meter.device_type) == (
        "",
        "12345678",
        0,
        0x04,
    )


def test_a_mode_2_medium_is_its_mode_1_device_type() -> None:
    assert fixed_meter(fixed(0xD, (1, 0x29), (1, 0x29))).device_type == 0x07


def test_counters_are_in_the_canonical_units() -> None:
    energy, volume = fixed_records(fixed(0x4, (6531, 0x05), (69, 0x29)))
    assert (energy.vif_range, energy.unit, energy.value) == (VifRange.ENERGY, "kwh", 6531)
    assert (volume.vif_range, volume.unit, volume.value) == (VifRange.VOLUME, "m3", 0.069)


def test_decades_scale_the_counter() -> None:
    (mwh, m3) = fixed_records(fixed(0x4, (12, 0x08), (5, 0x2E)))  # MWh, 100 m3
    assert (mwh.value, m3.value) == (12_000, 500)


def test_energy_in_joules_is_kwh() -> None:
    (gj, _) = fixed_records(fixed(0x4, (36, 0x11), (0, 0x29)))  # 36 GJ
    assert gj.value == 10_000


def test_historic_second_counter_takes_the_first_ones_unit_at_storage_1() -> None:
    now, then = fixed_records(fixed(0x7, (1, 0x29), (135, 0x3E)))
    assert (now.storage, then.storage) == (0, 1)
    assert (then.unit, then.value) == ("m3", 0.135)


def test_an_unknown_unit_keeps_the_raw_number() -> None:
    (_, other) = fixed_records(fixed(0x7, (1, 0x29), (42, 0x3B)))
    assert (other.vif_range, other.unit, other.value) == (VifRange.OTHER, "", 42)
