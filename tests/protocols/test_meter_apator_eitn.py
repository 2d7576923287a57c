"""The ``apatoreitn`` driver: Apator E-ITN heat cost allocators (CI A0 / B6 data)."""

from __future__ import annotations

import struct
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
STATUS_POWER_LOW = 0x04


def _packed_date(year: int, month: int, day: int) -> int:
    """Apator's date: ``yyyyy mmmm ddddd``, years since 2000."""
    return (year - 2000) << 9 | month << 5 | day


def _eitn_data(
    *,
    season_start: int = _packed_date(2016, 5, 1),
    previous_hca: int = 89,
    seal_break: int = 0,
    current_hca: int = 1,
    current_date: int = _packed_date(2022, 9, 18),
    last_season_room_c: float = 19.75,
    this_season_room_c: float = 21.5,
) -> bytes:
    """The 15 bytes after the A0: season start date (low byte only: the high byte is always
    A0), two unknown bytes (zero), previous HCA, seal break date (0: intact), current HCA,
    current date, then the average room temperatures of last and this season in 1/256 C."""
    return struct.pack(
        "<B2xHHHHHH",
        season_start & 0xFF,
        previous_hca,
        seal_break,
        current_hca,
        current_date,
        round(last_season_room_c * 256),
        round(this_season_room_c * 256),
    )


DIRECT = _eitn_data(seal_break=_packed_date(2019, 8, 28))


def _fields(ci: int, data: bytes, status: int | None = None) -> dict[str, Any]:
    telegram = Telegram(
        ADDRESS, ADDRESS, 0x44, ci, None, status, None, 0, False, b"", (), None, data
    )
    return dict(ApatorEitn().fields(telegram))


def _b6(prefix: bytes, marker: int, data: bytes) -> bytes:
    """CI B6 data: a count N, N bytes, the marker (A0 for the direct layout), the layout."""
    return bytes([len(prefix)]) + prefix + bytes([marker]) + data


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


def test_direct_layout_fields_are_read_at_their_offsets() -> None:
    fields = _fields(0xA0, _eitn_data())
    assert fields["season_start_date"] == "2016-05-01"
    assert fields["previous_hca"] == 89
    assert fields["esb_date"] is None
    assert fields["current_hca"] == 1
    assert fields["current_date"] == "2022-09-18"
    assert fields["temp_room_prev_avg_c"] == pytest.approx(19.75)
    assert fields["temp_room_avg_c"] == pytest.approx(21.5)


def test_b6_prefix_is_skipped_to_the_a0_layout() -> None:
    assert _fields(0xB6, _b6(b"\xff\xff", 0xA0, DIRECT)) == _fields(0xA0, DIRECT)


def test_b6_prefix_without_a0_degrades_to_generic_fields() -> None:
    assert "current_hca" not in _fields(0xB6, _b6(b"\xff\xff", 0xA1, DIRECT))


def test_seal_break_joins_the_other_status_flags() -> None:
    fields = _fields(0xA0, DIRECT, status=STATUS_POWER_LOW)
    assert fields["esb_date"] == "2019-08-28"
    assert fields["status"] == "POWER_LOW SEAL_BROKEN"
