"""The ``apatoreitn`` driver: Apator E-ITN heat cost allocators (CI A0 / B6 data)."""

from __future__ import annotations

from typing import Any

import pytest

from protocols.meters.apator_eitn import ApatorEitn
from protocols.meters.registry import driver_for
from protocols.readout import telegram_fields
from protocols.telegram import MeterAddress, Telegram
from protocols.wmbus.decoder import TelegramDecoder
from tests.protocols.vectors import load_jsonl

ADDRESS = MeterAddress("APA", "37373731", 0x04, 0x08)
NOT_COMPARED = {"timestamp", "meter", "name", "_", "media", "manufacturer"}
DIRECT = "A1000059001C270100322DE413B415"  # apatoreitn.xmq test 0 (wmbusmeters)


def _fields(ci: int, data_hex: str, status: int | None = None) -> dict[str, Any]:
    data = bytes.fromhex(data_hex)
    telegram = Telegram(
        ADDRESS, ADDRESS, 0x44, ci, None, status, None, 0, False, b"", (), None, data
    )
    return dict(ApatorEitn().fields(telegram))


def test_apator_eitn_meters_get_the_apatoreitn_driver() -> None:
    assert driver_for(ADDRESS).name == "apatoreitn"
    assert driver_for(MeterAddress("APT", "37373731", 0x04, 0x08)).name == "apatoreitn"


def test_every_vector_decodes_to_its_expected_fields() -> None:
    vectors = [v for v in load_jsonl("wmbus.jsonl") if v["driver"] == "apatoreitn"]
    assert vectors
    for vector in vectors:
        raw = bytes.fromhex(vector["frames"][-1])
        fields = telegram_fields(TelegramDecoder({}).decode(raw))
        for name, value in vector["expected"].items():
            if name not in NOT_COMPARED:
                assert fields.get(name) == pytest.approx(value), (vector["source"], name)


def test_b6_prefix_is_skipped_to_the_a0_layout() -> None:
    assert _fields(0xB6, "02FFFFA0" + DIRECT) == _fields(0xA0, DIRECT)


def test_b6_prefix_without_a0_degrades_to_generic_fields() -> None:
    assert "current_hca" not in _fields(0xB6, "02FFFFA1" + DIRECT)


def test_seal_break_joins_the_other_status_flags() -> None:
    assert _fields(0xA0, DIRECT, status=0x04)["status"] == "POWER_LOW SEAL_BROKEN"
