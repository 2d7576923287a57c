"""BMT HYDROCAL-M3 (protocols/meters/families/bmt.py), HYDROCAL-M4 and iWM-TX5 (the data
drivers drivers/hydrocalm4.toml and iwmtx5.toml)."""

from __future__ import annotations

from typing import Any

import pytest

from protocols.meters.base import MeterDriver
from protocols.meters.families.bmt import DRIVERS
from protocols.meters.registry import driver_for, driver_named
from protocols.readout import telegram_fields
from protocols.records import parse_records
from protocols.records.build import encode_records, encode_scaled
from protocols.telegram import MeterAddress, Telegram
from protocols.wmbus.decoder import TelegramDecoder
from tests.protocols.test_vectors_wmbus import mismatches
from tests.protocols.vectors import load_jsonl

_M3 = MeterAddress("BMT", "71727300", 0x0B, 0x0D)
_M4 = MeterAddress("BMT", "71727301", 0x1A, 0x0D)
_TX5 = MeterAddress("BMT", "24360500", 0x18, 0x06)


def _telegram(address: MeterAddress, records: bytes, status: int) -> Telegram:
    parsed = tuple(parse_records(records))
    return Telegram(address, address, 0x44, 0x7A, 1, status, None, 0, False, b"", parsed)


def _named(name: str) -> MeterDriver:
    driver = driver_named(name)
    assert driver is not None, name
    return driver


def _vectors() -> list[dict[str, Any]]:
    names = {"hydrocalm3", "hydrocalm4", "iwmtx5"}
    return [v for v in load_jsonl("wmbus.jsonl") if v["driver"] in names]


@pytest.mark.parametrize(
    "mvt", [("BMT", 0x0B, 0x0D), ("BMT", 0x1A, 0x0D), ("BMT", 0x18, 0x06), ("BMT", 0x18, 0x07)]
)
def test_bmt_meters_get_their_driver(mvt: tuple[str, int, int]) -> None:
    driver = driver_for(MeterAddress(mvt[0], "00000001", mvt[1], mvt[2]))
    assert driver.name in {"hydrocalm3", "hydrocalm4", "iwmtx5"}


def test_bmt_vectors_decode_to_their_expected_fields() -> None:
    vectors = _vectors()
    assert vectors
    for vector in vectors:
        raw = bytes.fromhex(vector["frames"][-1])
        got = telegram_fields(TelegramDecoder({}).decode(raw))
        assert mismatches(vector["expected"], got) == {}, vector["source"]


def test_hydrocalm3_names_repeated_registers_by_position() -> None:
    records = encode_records(
        [
            (b"\x0c\x06", 1200),  # heating energy, kWh
            (b"\x0c\x13", 55555),  # heating volume, litres
            (b"\x0c\x06", 34),  # cooling energy
            (b"\x0c\x13", 66),  # cooling volume
            (b"\x0c\x13", 7),  # input C1
            (b"\x0c\x13", 8),  # input C2
        ]
    )
    out = DRIVERS[0].fields(_telegram(_M3, records, 0))
    assert out["total_heating_kwh"] == 1200
    assert out["total_cooling_kwh"] == 34
    assert out["total_heating_m3"] == 55.555
    assert out["total_cooling_m3"] == 0.066
    assert out["c1_volume_m3"] == 0.007
    assert out["c2_volume_m3"] == 0.008
    assert out["status"] == "OK"


def test_manufacturer_tpl_bits_are_named_and_the_rest_kept() -> None:
    records = encode_scaled(b"\x0c\x13", 1.5)
    hydrocal = DRIVERS[0].fields(_telegram(_M3, records, 0x80 | 0x04))
    assert hydrocal["status"] == "POWER_LOW SABOTAGE_ENCLOSURE"
    m4 = _named("hydrocalm4").fields(_telegram(_M4, records, 0x80 | 0x20 | 0x03))
    assert m4["status"] == "ALARM SABOTAGE_ENCLOSURE TPL_STATUS_20"
    assert m4["total_heating_m3"] == 1.5
    tx5 = _named("iwmtx5").fields(_telegram(_TX5, records, 0x40))
    assert tx5["status"] == "TAMPER"
    assert tx5["total_m3"] == 1.5
    # A manufacturer bit without a known meaning is reported, not dropped.
    assert _named("iwmtx5").fields(_telegram(_TX5, records, 0x20))["status"] == "TPL_STATUS_20"
