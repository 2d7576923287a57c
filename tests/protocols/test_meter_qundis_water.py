"""The ``qwaterv2`` driver: Qundis QWater standard and walk-by (0D FF 5F) telegrams."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from protocols.meters.qundis_water import QundisWater
from protocols.meters.registry import driver_for
from protocols.readout import telegram_fields
from protocols.records import parse_records
from protocols.records.build import build_header
from protocols.records.dif import FIELD_LVAR
from protocols.records.values import encode_bcd, encode_date_time
from protocols.telegram import MeterAddress, Telegram
from protocols.wmbus.decoder import TelegramDecoder
from tests.protocols.vectors import load_jsonl

ADDRESS = MeterAddress("QDS", "78563412", 0x16, 0x06)
NOT_COMPARED = {"timestamp", "meter", "name", "_", "media", "manufacturer"}
WALK_BY_MARKER = 0x13  # data byte 9: the layout this driver reads
MONTHLY_DELTAS_LITRES = (150, 271, 0, -5, 1200, 33, 64, 99, 100, 101, 2000, 271)


def _walk_by_record(
    *,
    marker: int = WALK_BY_MARKER,
    error_date: str = "2000-01-01",
    total_litres: int = 123456,
    year_date: str = "2022-12-31",
    year_litres: int = 100500,
    month_date: str = "2023-05-31",
    month_litres: int = 120000,
    deltas_litres: tuple[int, ...] = MONTHLY_DELTAS_LITRES,
) -> bytes:
    """A ``0D FF 5F`` record. Its data after the LVAR length byte: 0-8 unknown (zero), 9 the
    layout marker, then the error date, total, end-of-year date and volume, end-of-month
    date and volume (dates type G, volumes BCD litres) and twelve signed little-endian
    monthly volumes in litres."""
    data = (
        bytes(9)
        + bytes([marker])
        + encode_date_time(error_date)
        + encode_bcd(total_litres, 4)
        + encode_date_time(year_date)
        + encode_bcd(year_litres, 4)
        + encode_date_time(month_date)
        + encode_bcd(month_litres, 4)
        + struct.pack("<12h", *deltas_litres)
    )
    return build_header(b"\xff\x5f", FIELD_LVAR) + bytes([len(data)]) + data


def _vector(source_end: str) -> dict[str, Any]:
    return next(v for v in load_jsonl("wmbus.jsonl") if v["source"].endswith(source_end))


def _decoded(vector: dict[str, Any]) -> dict[str, Any]:
    return telegram_fields(TelegramDecoder({}).decode(bytes.fromhex(vector["frames"][-1])))


def _fields(block: bytes) -> dict[str, Any]:
    records = tuple(parse_records(block))
    telegram = Telegram(ADDRESS, ADDRESS, 0x44, 0x78, 1, None, None, 0, False, b"", records)
    return dict(QundisWater().fields(telegram))


@pytest.mark.parametrize("mvt", [("QDS", 0x16, 0x06), ("LSE", 0x1A, 0x07), ("QDS", 0x33, 0x37)])
def test_qundis_water_meters_get_the_qwaterv2_driver(mvt: tuple[str, int, int]) -> None:
    assert driver_for(MeterAddress(mvt[0], "12345678", mvt[1], mvt[2])).name == "qwaterv2"


@pytest.mark.parametrize(
    "test", ["qwaterv2.xmq test 4", "qwaterv2.xmq test 6", "qwaterv2.xmq test 7"]
)
def test_vector_decodes_to_its_expected_fields(test: str) -> None:
    vector = _vector(test)
    fields = _decoded(vector)
    for name, value in vector["expected"].items():
        if name not in NOT_COMPARED:
            assert fields.get(name) == pytest.approx(value), name


def test_standard_telegram_names_month_and_year_values() -> None:
    fields = _decoded(_vector("qwaterv2.xmq test 4"))
    assert fields["target_m3"] == pytest.approx(126.273)  # storage 17: end of last month
    assert fields["target_year_m3"] == pytest.approx(59.207)  # storage 1: end of last year
    assert "total_storage_17_m3" not in fields


def test_walk_by_record_gives_total_targets_and_monthly_deltas() -> None:
    fields = _fields(_walk_by_record())
    assert fields["total_m3"] == pytest.approx(123.456)
    assert fields["target_year_date"] == "2022-12-31"
    assert fields["target_year_m3"] == pytest.approx(100.5)
    assert fields["target_date"] == "2023-05-31"
    assert fields["target_m3"] == pytest.approx(120.0)
    assert fields["volume_delta_2_m3"] == pytest.approx(0.150)
    assert fields["volume_delta_13_m3"] == pytest.approx(0.271)


def test_monthly_delta_is_signed() -> None:
    deltas = (-32768, *MONTHLY_DELTAS_LITRES[1:])  # 0x8000: the most negative int16
    fields = _fields(_walk_by_record(deltas_litres=deltas))
    assert fields["volume_delta_2_m3"] == pytest.approx(-32.768)


def test_walk_by_record_of_another_layout_is_ignored() -> None:
    assert "total_m3" not in _fields(_walk_by_record(marker=0x14))
