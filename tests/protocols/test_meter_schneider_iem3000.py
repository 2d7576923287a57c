"""The ``iem3000`` driver: Schneider iEM3000 phases, averages, reactive and frequency."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from protocols.meters.registry import driver_for
from protocols.meters.schneider_iem3000 import SchneiderIem3000
from protocols.readout import telegram_fields
from protocols.records import parse_records
from protocols.records.build import build_header, encode_record
from protocols.telegram import MeterAddress, Telegram
from protocols.wmbus.decoder import TelegramDecoder
from tests.protocols.vectors import load_jsonl

ADDRESS = MeterAddress("SEC", "03313062", 0x15, 0x02)

REAL32 = 0x5  # data field (DIF low nibble)
VIF_ENERGY_WH = b"\x03"
VIF_POWER_KW = b"\x2e"


def _fields(block: bytes | str) -> dict[str, Any]:
    """The driver's fields of a record block (bytes, or hex for a hand-written one)."""
    data = bytes.fromhex(block) if isinstance(block, str) else block
    records = tuple(parse_records(data))
    telegram = Telegram(ADDRESS, ADDRESS, 0x08, 0x72, 1, 0, 0, 0, False, b"", records, wired=True)
    return dict(SchneiderIem3000().fields(telegram))


def test_iem3000_meters_get_the_iem3000_driver() -> None:
    assert driver_for(ADDRESS).name == "iem3000"


def test_every_expected_unit_value_of_the_vectors_is_decoded_by_name() -> None:
    vectors = [v for v in load_jsonl("wmbus.jsonl") if v["driver"] == "iem3000"]
    assert vectors
    for vector in vectors:
        raw = bytes.fromhex(vector["frames"][-1])
        fields = telegram_fields(TelegramDecoder({}).decode(raw))
        for name, value in vector["expected"].items():
            if name.endswith(("_kwh", "_kvarh", "_kw", "_v", "_a", "_hz")):
                assert fields.get(name) == pytest.approx(value), (vector["source"], name)


def test_subunit_1_energy_is_reactive_energy() -> None:
    # a 32-bit float energy register in Wh, subunit 1
    header = build_header(VIF_ENERGY_WH, REAL32, subunit=1)
    fields = _fields(encode_record(header, 12345.678))
    assert fields["total_reactive_energy_consumption_kvarh"] == pytest.approx(12.345678)
    assert not any(name.endswith("_kwh") for name in fields)


def test_float_measurements_are_rounded_to_six_decimals() -> None:
    power = bytes([REAL32]) + VIF_POWER_KW + struct.pack("<f", 2.7182817)
    assert _fields(power)["active_consumption_kw"] == 2.718282


def test_not_a_number_frequency_reads_null() -> None:
    assert _fields("05FF0B0000C0FF")["frequency_hz"] is None
