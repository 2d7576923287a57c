"""The ``qwaterv2`` driver: Qundis QWater standard and walk-by (0D FF 5F) telegrams."""

from __future__ import annotations

from typing import Any

import pytest

from protocols.meters.qundis_water import QundisWater
from protocols.meters.registry import driver_for
from protocols.readout import telegram_fields
from protocols.records import parse_records
from protocols.telegram import MeterAddress, Telegram
from protocols.wmbus.decoder import TelegramDecoder
from tests.protocols.vectors import load_jsonl

ADDRESS = MeterAddress("QDS", "78563412", 0x16, 0x06)
NOT_COMPARED = {"timestamp", "meter", "name", "_", "media", "manufacturer"}
# The walk-by record of qwaterv2.xmq test 7 (wmbusmeters).
WALK_BY = (
    "0DFF5F3500824E00007F0007C113FFFF63961300DF2C82731200FE2463811300A400F200D100A900DD00"
    "E000E90006011601EA0027010F012F"
)


def _vector(source_end: str) -> dict[str, Any]:
    return next(v for v in load_jsonl("wmbus.jsonl") if v["source"].endswith(source_end))


def _decoded(vector: dict[str, Any]) -> dict[str, Any]:
    return telegram_fields(TelegramDecoder({}).decode(bytes.fromhex(vector["frames"][-1])))


def _fields(block_hex: str) -> dict[str, Any]:
    records = tuple(parse_records(bytes.fromhex(block_hex)))
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
    fields = _fields(WALK_BY)
    assert fields["total_m3"] == pytest.approx(139.663)
    assert fields["target_m3"] == pytest.approx(138.163)
    assert fields["target_year_date"] == "2022-12-31"
    assert fields["volume_delta_13_m3"] == pytest.approx(0.271)


def test_monthly_delta_is_signed() -> None:
    block = WALK_BY[: 8 + 56] + "0080" + WALK_BY[8 + 60 :]  # first delta 0x8000
    assert _fields(block)["volume_delta_2_m3"] == pytest.approx(-32.768)


def test_walk_by_record_of_another_layout_is_ignored() -> None:
    block = WALK_BY[: 8 + 18] + "14" + WALK_BY[8 + 20 :]  # layout marker 0x14, not 0x13
    assert "total_m3" not in _fields(block)
