"""The ``microclima`` driver (families/maddalena.py) and its month arithmetic."""

from __future__ import annotations

from typing import Any

import pytest

from protocols.meters.families.maddalena import DRIVERS, months_before
from protocols.meters.registry import driver_for
from protocols.readout import telegram_fields
from protocols.records import parse_records
from protocols.records.build import encode_records
from protocols.telegram import MeterAddress, Telegram
from protocols.wmbus.decoder import TelegramDecoder
from tests.protocols.vectors import load_jsonl, vectors_available

ADDRESS = MeterAddress("MAD", "93573086", 0x00, 0x04)
NOT_COMPARED = {"timestamp", "meter", "name", "_"}


def test_month_ends_are_clamped() -> None:
    assert months_before("2020-12-31", 10) == "2020-02-29"
    assert months_before("2020-12-31", 2) == "2020-10-31"
    assert months_before("2021-01-15 10:00", 1) == "2020-12-15"
    assert months_before(None, 1) is None
    assert months_before("garbage", 1) is None


def test_microclima_meters_get_the_driver() -> None:
    assert driver_for(ADDRESS).name == "microclima"


def test_history_storages_get_dates_counted_back_from_the_set_date() -> None:
    # date 2020-12-31 as type G: day 31, month 12, year 20 split over both bytes
    year = 20
    date = bytes([31 | (year & 0x07) << 5, 12 | (year & 0x78) << 1])
    records = encode_records(
        [
            (b"\x04\x06", 2119),  # energy kWh, storage 0
            (b"\x42\x6c", int.from_bytes(date, "little")),  # date, storage 1
            (b"\x44\x06", 1222),  # energy, storage 1
            (b"\xc4\x01\x06", 1984),  # energy, storage 3
        ]
    )
    parsed = tuple(parse_records(records))
    telegram = Telegram(ADDRESS, ADDRESS, 0x44, 0x7A, 1, 0, 0, 0, False, records, parsed)
    fields = DRIVERS[0].fields(telegram)
    assert fields["total_energy_consumption_kwh"] == 2119
    assert fields["consumption_at_set_date_1_kwh"] == 1222
    assert fields["set_date_1_date"] == "2020-12-31"
    assert fields["consumption_at_set_date_3_kwh"] == 1984
    assert fields["set_date_3_date"] == "2020-10-31"


def _vectors() -> list[Any]:
    found = [
        pytest.param(v, id=v["source"].split("/")[-1])
        for v in (load_jsonl("wmbus.jsonl") if vectors_available() else [])
        if v["driver"] == "microclima"
    ]
    return found or [pytest.param(None, id="vectors-missing")]


@pytest.mark.parametrize("vector", _vectors())
def test_vectors_decode_to_their_expected_fields(vector: dict[str, Any] | None) -> None:
    if vector is None:
        load_jsonl("wmbus.jsonl")
        return
    fields = telegram_fields(TelegramDecoder({}).decode(bytes.fromhex(vector["frames"][-1])))
    for name, value in vector["expected"].items():
        if name not in NOT_COMPARED:
            assert fields.get(name) == pytest.approx(value), name
