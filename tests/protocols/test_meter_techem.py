"""The Techem drivers ``mkradio3a`` and ``fhkvdataiii`` (manufacturer CI telegrams)."""

from __future__ import annotations

import struct
from collections.abc import Sequence

import pytest

from protocols.meters.registry import driver_for
from protocols.meters.techem import TechemFhkvDataIII, TechemMkRadio3a
from protocols.readout import telegram_fields
from protocols.telegram import MeterAddress, Telegram
from protocols.wmbus.decoder import TelegramDecoder
from tests.protocols.vectors import load_jsonl

MK3A = MeterAddress("TCH", "62560642", 0x50, 0x72)
FHKV = MeterAddress("TCH", "11776622", 0x69, 0x80)
NOT_COMPARED = {"timestamp", "meter", "name", "_", "media", "manufacturer"}
FHKV_LAYOUT = 0x11  # the first data byte: temperatures at offset 9


def _packed_date(year: int, month: int, day: int) -> int:
    """Techem's 16-bit date: ``yyyyyyy mmmm ddddd``, years since 2000."""
    return (year - 2000) << 9 | month << 5 | day


def _mk3a_data(
    date: int, total_tenths_m3: int, history: Sequence[tuple[int, int]] = ((0, 0),) * 12
) -> bytes:
    """The 44 data bytes after CI A2: 0-1 unknown (zero), 2-3 current date, 4-6 total in
    0.1 m3, then twelve (separator, history word) triples, newest first, and a last byte.
    A history word holds two half-month counts in 0.1 m3: (low byte, high byte)."""
    data = bytes(2) + struct.pack("<H", date) + total_tenths_m3.to_bytes(3, "little")
    for low, high in history:
        data += bytes([0]) + bytes([low, high])
    return data + bytes(1)


def _fhkv_data(
    layout: int,
    previous_date: int,
    previous_hca: int,
    current_day: int,
    current_month: int,
    current_hca: int,
    room_c: float,
    radiator_c: float,
) -> bytes:
    """The data after CI A0: layout, previous date (packed), previous HCA, current date
    (day in bits 4-8, month in bits 9-12, no year), current HCA, room and radiator
    temperatures in 0.01 C, all little-endian."""
    current_date = current_month << 9 | current_day << 4
    return bytes([layout]) + struct.pack(
        "<HHHHHH",
        previous_date,
        previous_hca,
        current_date,
        current_hca,
        round(room_c * 100),
        round(radiator_c * 100),
    )


def _telegram(address: MeterAddress, ci: int, data: bytes) -> Telegram:
    return Telegram(address, address, 0x44, ci, None, None, None, 0, False, b"", (), None, data)


@pytest.mark.parametrize("driver", ["mkradio3a", "fhkvdataiii"])
def test_every_vector_decodes_to_its_expected_fields(driver: str) -> None:
    vectors = [v for v in load_jsonl("wmbus.jsonl") if v["driver"] == driver]
    assert vectors
    for vector in vectors:
        raw = bytes.fromhex(vector["frames"][-1])
        fields = telegram_fields(TelegramDecoder({}).decode(raw))
        assert fields["meter"] == driver
        for name, value in vector["expected"].items():
            if name not in NOT_COMPARED:
                assert fields.get(name) == pytest.approx(value), (vector["source"], name)


def test_both_techem_meters_get_their_drivers() -> None:
    assert driver_for(MK3A).name == "mkradio3a"
    assert driver_for(FHKV).name == "fhkvdataiii"


def test_mkradio3a_late_in_the_month_sums_both_halves_of_each_word() -> None:
    # Day 28: month k = low + high half of word k.
    history = [(12, 30), (7, 5)] + [(0, 0)] * 10
    data = _mk3a_data(_packed_date(2024, 11, 28), 12345, history)
    fields = TechemMkRadio3a().fields(_telegram(MK3A, 0xA2, data))
    assert fields["total_m3"] == pytest.approx(1234.5)
    assert fields["target_date"] == "2024-11-28"
    assert fields["target_m3"] == pytest.approx((12 + 30) / 10)
    assert fields["last_nov_m3"] == pytest.approx((12 + 30) / 10)
    assert fields["last_oct_m3"] == pytest.approx((7 + 5) / 10)


def test_mkradio3a_early_in_the_month_spans_two_history_words() -> None:
    # Day 5: month k = high half of word k-1 + low half of word k (word 0: low half only).
    history = [(12, 30), (7, 5)] + [(0, 0)] * 10
    data = _mk3a_data(_packed_date(2024, 11, 5), 12345, history)
    fields = TechemMkRadio3a().fields(_telegram(MK3A, 0xA2, data))
    assert fields["target_date"] == "2024-11-05"
    assert fields["target_m3"] == pytest.approx(12 / 10)
    assert fields["last_oct_m3"] == pytest.approx((30 + 7) / 10)


def test_mkradio3a_short_data_degrades_to_generic_fields() -> None:
    data = _mk3a_data(_packed_date(2024, 11, 28), 12345)[:20]
    fields = TechemMkRadio3a().fields(_telegram(MK3A, 0xA2, data))
    assert "total_m3" not in fields
    assert fields["status"] == "OK"


def test_fhkvdataiii_current_date_rolls_into_the_next_year() -> None:
    # previous 2019-12-31, current 02-08: the current period is in 2020
    data = _fhkv_data(FHKV_LAYOUT, _packed_date(2019, 12, 31), 1500, 8, 2, 131, 22.44, 25.51)
    fields = TechemFhkvDataIII().fields(_telegram(FHKV, 0xA0, data))
    assert fields["previous_date"] == "2019-12-31"
    assert fields["current_date"] == "2020-02-08"
    assert fields["previous_hca"] == 1500
    assert fields["current_hca"] == 131
    assert fields["temp_room_c"] == pytest.approx(22.44)
    assert fields["temp_radiator_c"] == pytest.approx(25.51)


def test_fhkvdataiii_unknown_layout_byte_is_not_guessed() -> None:
    data = _fhkv_data(0x22, _packed_date(2019, 12, 31), 1500, 8, 2, 131, 22.44, 25.51)
    fields = TechemFhkvDataIII().fields(_telegram(FHKV, 0xA0, data))
    assert "current_hca" not in fields
