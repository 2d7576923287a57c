"""The driver registry: choosing a driver, compact layouts, and the decoded fields."""

from __future__ import annotations

import pytest

from protocols.crc import crc16_en13757
from protocols.meters import registry
from protocols.meters.generic import GenericDriver
from protocols.meters.kamstrup_water import KamstrupWater
from protocols.records.build import build_header
from protocols.records.model import Function, Record, VifRange
from protocols.telegram import MeterAddress, Telegram

INT8, INT16, INT32, REAL32 = 0x1, 0x2, 0x4, 0x5
MIN, MAX = Function.MINIMUM, Function.MAXIMUM
# kamwater: info codes, total volume, month volume, minimum flow and external temperature
# of the month.
KAMWATER_LAYOUT = b"".join(
    [
        build_header(b"\xff\x20", INT16),
        build_header(b"\x13", INT32),
        build_header(b"\x13", INT32, storage=1),
        build_header(b"\x5b", INT8, function=MIN, storage=1),
        build_header(b"\x67", INT8, function=MIN, storage=1),
    ]
)
# kampress: min, max and current pressure, two manufacturer real32 values, error flags.
KAMPRESS_LAYOUT = b"".join(
    [
        build_header(b"\x69", INT16, function=MIN),
        build_header(b"\x69", INT16, function=MAX),
        build_header(b"\x69", INT16),
        build_header(b"\xff\x09", REAL32),
        build_header(b"\xff\x0a", REAL32),
        build_header(b"\xfd\x17", INT16),
    ]
)


def address(manufacturer: str, version: int, device_type: int) -> MeterAddress:
    return MeterAddress(manufacturer, "76348799", version, device_type)


@pytest.mark.parametrize(
    ("mvt", "driver"),
    [
        (("KAM", 0x1B, 0x16), "kamwater"),
        (("KAW", 0x3C, 0x16), "kamwater"),
        (("KAM", 0x30, 0x0C), "kamheat"),
        (("KAM", 0x39, 0x04), "kamheat"),
        (("KAM", 0x01, 0x18), "kampress"),
        (("KAM", 0x30, 0x02), "omnipower"),
    ],
)
def test_driver_is_chosen_by_exact_manufacturer_version_and_type(
    mvt: tuple[str, int, int], driver: str
) -> None:
    assert registry.driver_for(address(*mvt)).name == driver


def test_unclaimed_meter_falls_back_to_the_generic_driver() -> None:
    chosen = registry.driver_for(address("KAM", 0x1C, 0x16))  # a water type, unknown version
    assert isinstance(chosen, GenericDriver)


def test_a_triple_claimed_by_two_drivers_is_refused() -> None:
    with pytest.raises(ValueError, match="claimed by"):
        registry.Registry((KamstrupWater(), KamstrupWater()))


def test_compact_layouts_are_keyed_by_their_format_signature() -> None:
    layouts = registry.compact_layouts()
    assert layouts[0xA8ED] == KAMWATER_LAYOUT
    assert layouts[0x73DE] == KAMPRESS_LAYOUT
    assert all(crc16_en13757(layout) == signature for signature, layout in layouts.items())


def test_every_driver_layout_is_in_the_registry() -> None:
    layouts = set(registry.compact_layouts().values())
    assert all(set(driver.compact_layouts) <= layouts for driver in registry.DRIVERS)


def test_drivers_are_found_by_alias() -> None:
    assert registry.driver_named("multical21") is registry.driver_named("kamwater")
    assert registry.driver_named("multical603") is registry.driver_named("kamheat")
    assert registry.driver_named("nosuchmeter") is None


def test_decode_fields_adds_id_manufacturer_media_and_meter() -> None:
    meter = address("KAM", 0x1B, 0x16)
    volume = Record(
        header=bytes.fromhex("0413"),
        data=bytes.fromhex("08190000"),
        function=Function.INSTANTANEOUS,
        storage=0,
        tariff=0,
        subunit=0,
        vif_range=VifRange.VOLUME,
        unit="m3",
        value=6.408,
        raw=6408,
    )
    telegram = Telegram(
        link=meter,
        meter=meter,
        c_field=0x44,
        ci=0x78,
        access_number=None,
        status=None,
        configuration=None,
        security_mode=0,
        encrypted=False,
        payload=b"",
        records=(volume,),
    )
    assert registry.decode_fields(telegram) == {
        "id": "76348799",
        "manufacturer": "KAM",
        "media": "cold water",
        "meter": "kamwater",
        "total_m3": 6.408,
        "status": "OK",
    }


def test_compact_layouts_are_a_copy_a_decoder_may_extend() -> None:
    registry.compact_layouts()[0x1234] = b"\x04\x13"
    assert 0x1234 not in registry.compact_layouts()
