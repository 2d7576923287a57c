"""The ``hydrodigit`` driver: Bmeters Hydrodigit manufacturer block (contents byte first)."""

from __future__ import annotations

from typing import Any

import pytest

from protocols.errors import DecodeError
from protocols.meters.hydrodigit import Hydrodigit
from protocols.meters.registry import driver_for
from protocols.readout import telegram_fields
from protocols.records import parse_records
from protocols.telegram import MeterAddress, Telegram
from protocols.wmbus.decoder import TelegramDecoder
from tests.protocols.vectors import load_jsonl

ADDRESS = MeterAddress("BMT", "87654321", 0x13, 0x07)
CI_TPL_SHORT = 0x7A
NOT_COMPARED = {"timestamp", "meter", "name", "_", "media", "manufacturer"}


def _vectors() -> list[dict[str, Any]]:
    return [v for v in load_jsonl("wmbus.jsonl") if v["driver"] == "hydrodigit"]


def _decoded(vector: dict[str, Any]) -> dict[str, Any]:
    return telegram_fields(TelegramDecoder({}).decode(bytes.fromhex(vector["frames"][-1])))


def _fields(block_hex: str) -> dict[str, Any]:
    records = tuple(parse_records(bytes.fromhex(block_hex)))
    telegram = Telegram(ADDRESS, ADDRESS, 0x44, 0x7A, 1, 0, 0, 0, False, b"", records)
    return dict(Hydrodigit().fields(telegram))


def test_hydrodigit_meters_get_the_hydrodigit_driver() -> None:
    assert driver_for(ADDRESS).name == "hydrodigit"


def test_every_vector_decodes_to_its_expected_fields() -> None:
    for vector in _vectors():
        fields = _decoded(vector)
        for name, value in vector["expected"].items():
            if name not in NOT_COMPARED:
                assert fields.get(name) == pytest.approx(value), (vector["source"], name)


def test_battery_nibble_maps_to_volts() -> None:
    # contents 0x01 (battery only), battery byte 0x0B -> 3.2 V
    assert _fields("0C13640400000F010B")["voltage_v"] == pytest.approx(3.2)


def test_monthly_totals_are_in_tens_of_litres_and_unset_months_read_zero() -> None:
    months = "A40500" + "FFFFFF" * 11  # January 14.44 m3, the others never recorded
    fields = _fields("0C13640400000F10" + months)
    assert fields["January_total_m3"] == pytest.approx(14.44)
    assert fields["December_total_m3"] == 0
    assert fields["contents"] == "MONTHLY_DATA"


def test_fraud_date_month_is_binary_and_leak_date_is_bcd() -> None:
    # contents 0x82: fraud (type 0x80, 2024-10-05 with month as 0x0A) then leak 2024-04-25
    fields = _fields("0C13640400000F8280240A05240425")
    assert fields["fraud_type"] == "MAGNETIC_FRAUD_ATTEMPT"
    assert fields["fraud_date"] == "2024-10-05"
    assert fields["leak_date"] == "2024-04-25"


def test_truncated_manufacturer_block_keeps_the_standard_fields() -> None:
    fields = _fields("0C13640400000F1401")  # announces backflow and months, has one byte
    assert fields["total_m3"] == pytest.approx(0.464)
    assert "backflow_m3" not in fields


def test_every_truncation_of_a_real_block_decodes_or_degrades() -> None:
    vector = next(
        v for v in _vectors() if v["source"] == "wmbusmeters drivers/src/hydrodigit.xmq test 2"
    )
    frame = bytes.fromhex(vector["frames"][-1])
    assert frame[10] == CI_TPL_SHORT
    block = frame[10 + 1 + 4 :]  # after CI 0x7A and its 4-byte header
    for end in range(len(block), 0, -1):
        try:
            records = tuple(parse_records(block[:end]))
        except DecodeError:  # the record parser's own errors are not this driver's business
            continue
        telegram = Telegram(ADDRESS, ADDRESS, 0x44, 0x7A, 1, 0, 0, 0, False, b"", records)
        Hydrodigit().fields(telegram)
