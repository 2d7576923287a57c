"""The ``waterstarm`` driver (families/lorenz.py): history slots dated from the meter's date."""

from __future__ import annotations

from typing import Any

import pytest

from protocols.meters.families.lorenz import DRIVERS
from protocols.meters.registry import driver_for
from protocols.readout import telegram_fields
from protocols.records import parse_records
from protocols.records.build import encode_records
from protocols.telegram import MeterAddress, Telegram
from protocols.wmbus.decoder import TelegramDecoder
from tests.protocols.vectors import load_jsonl, vectors_available

ADDRESS = MeterAddress("DWZ", "20050666", 0x00, 0x06)
NOT_COMPARED = {"timestamp", "meter", "name", "_"}
# Vectors whose meter_datetime has the type F invalid bit set: we print null (the record
# parser's rule), the reference reader prints the date.
INVALID_DATETIME = {"wmbusmeters drivers/src/waterstarm.xmq test 6"}


def _datetime(year: int, month: int, day: int, hour: int, minute: int) -> int:
    """A type F date-time as the integer of its four bytes."""
    y = year - 2000
    data = bytes([minute, hour, day | (y & 0x07) << 5, month | (y & 0x78) << 1])
    return int.from_bytes(data, "little")


def test_waterstarm_triples_get_the_driver() -> None:
    assert driver_for(ADDRESS).name == "waterstarm"
    assert driver_for(MeterAddress("EFE", "50496629", 0x70, 0x07)).name == "waterstarm"


def test_history_slots_count_back_from_the_meter_date() -> None:
    records = encode_records(
        [
            (b"\x04\x6d", _datetime(2022, 9, 23, 14, 59)),
            (b"\x04\x13", 55360),  # litres
            (b"\x02\xfd\x17", 0x0040),
            (b"\x84\x01\x13", 53832),  # storage 2: history slot 1
            (b"\xc4\x01\x13", 52211),  # storage 3: history slot 2
        ]
    )
    parsed = tuple(parse_records(records))
    telegram = Telegram(ADDRESS, ADDRESS, 0x44, 0x7A, 1, 0x04, 0, 0, False, records, parsed)
    fields = DRIVERS[0].fields(telegram)
    assert fields["total_m3"] == pytest.approx(55.36)
    assert fields["status"] == "LEAKAGE_OR_NO_USAGE POWER_LOW"
    assert fields["consumption_at_history_1_m3"] == pytest.approx(53.832)
    assert fields["history_1_date"] == "2022-08-23"
    assert fields["history_2_date"] == "2022-07-23"


def _vectors() -> list[Any]:
    found = [
        pytest.param(v, id=v["source"].split("/")[-1])
        for v in (load_jsonl("wmbus.jsonl") if vectors_available() else [])
        if v["driver"] == "waterstarm" and v["source"] not in INVALID_DATETIME
    ]
    return found or [pytest.param(None, id="vectors-missing")]


@pytest.mark.parametrize("vector", _vectors())
def test_vectors_decode_to_their_expected_fields(vector: dict[str, Any] | None) -> None:
    if vector is None:
        load_jsonl("wmbus.jsonl")
        return
    keys = {}
    if vector.get("key"):
        keys = {vector["expected"]["id"]: bytes.fromhex(vector["key"])}
    fields = telegram_fields(TelegramDecoder(keys).decode(bytes.fromhex(vector["frames"][-1])))
    for name, value in vector["expected"].items():
        if name not in NOT_COMPARED:
            assert fields.get(name) == pytest.approx(value), name
