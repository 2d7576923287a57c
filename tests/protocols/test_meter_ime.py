"""The ``ime`` driver: IME electricity meters, every value in a manufacturer-VIF record."""

from __future__ import annotations

from typing import Any

import pytest

from protocols.meters.ime import Ime
from protocols.meters.registry import driver_for
from protocols.readout import telegram_fields
from protocols.records import parse_records
from protocols.telegram import MeterAddress, Telegram
from protocols.wmbus.decoder import TelegramDecoder
from tests.protocols.vectors import load_jsonl

ADDRESS = MeterAddress("IME", "12345678", 0x66, 0x02)
NOT_COMPARED = {"timestamp", "meter", "name", "_", "media", "manufacturer"}


def _decoded(vector: dict[str, Any]) -> dict[str, Any]:
    return telegram_fields(TelegramDecoder({}).decode(bytes.fromhex(vector["frames"][-1])))


def _fields(block_hex: str) -> dict[str, Any]:
    records = tuple(parse_records(bytes.fromhex(block_hex)))
    telegram = Telegram(ADDRESS, ADDRESS, 0x08, 0x72, 1, 0, 0, 0, False, b"", records, wired=True)
    return dict(Ime().fields(telegram))


def test_ime_meters_get_the_ime_driver() -> None:
    assert driver_for(ADDRESS).name == "ime"


def test_every_vector_decodes_to_its_expected_fields() -> None:
    vectors = [v for v in load_jsonl("wmbus.jsonl") if v["driver"] == "ime"]
    assert vectors
    for vector in vectors:
        fields = _decoded(vector)
        for name, value in vector["expected"].items():
            if name not in NOT_COMPARED:
                assert fields.get(name) == pytest.approx(value), (vector["source"], name)


def test_energy_is_signed_hundredths_of_kwh() -> None:
    # positive total active energy -0.05 kWh: FB FF FF FF
    assert _fields("849010FF80843BFBFFFFFF")["positive_total_active_energy_kwh"] == -0.05


def test_unknown_enumeration_value_is_named_by_its_number() -> None:
    assert _fields("82B010FF8C2B0900")["power_factor_sector"] == "POWER_FACTOR_SECTOR_9"


def test_unknown_manufacturer_records_are_left_out() -> None:
    fields = _fields("8410FF99190100000002FF8A48F401")
    assert fields["frequency_hz"] == 50
    assert not any(name.startswith("8410") for name in fields)
