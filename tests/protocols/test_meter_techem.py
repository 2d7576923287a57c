"""The Techem drivers ``mkradio3a`` and ``fhkvdataiii`` (manufacturer CI telegrams)."""

from __future__ import annotations

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
# mkradio3a.xmq test 0 (wmbusmeters): the data after CI A2.
MK3A_DATA = (
    "0C007C3110250000293400373A002E38000E15002F37003A39003835002F24003930001D2500312500162900"
)


def _telegram(address: MeterAddress, ci: int, data_hex: str) -> Telegram:
    data = bytes.fromhex(data_hex)
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


def test_mkradio3a_early_in_the_month_spans_two_history_words() -> None:
    # Day 5 instead of 28: month k = high half of word k-1 + low half of word k.
    data = MK3A_DATA[:4] + "6531" + MK3A_DATA[8:]  # 0x3165: 2024-11-05
    fields = TechemMkRadio3a().fields(_telegram(MK3A, 0xA2, data))
    assert fields["target_date"] == "2024-11-05"
    assert fields["target_m3"] == pytest.approx(4.1)  # 0x29 only
    assert fields["last_oct_m3"] == pytest.approx((0x34 + 0x37) / 10)


def test_mkradio3a_short_data_degrades_to_generic_fields() -> None:
    fields = TechemMkRadio3a().fields(_telegram(MK3A, 0xA2, MK3A_DATA[:40]))
    assert "total_m3" not in fields
    assert fields["status"] == "OK"


def test_fhkvdataiii_current_date_rolls_into_the_next_year() -> None:
    # previous 2019-12-31, current 02-08: the current period is in 2020
    data = "119F27020480048300C408F709"
    fields = TechemFhkvDataIII().fields(_telegram(FHKV, 0xA0, data))
    assert fields["current_date"] == "2020-02-08"
    assert fields["temp_radiator_c"] == pytest.approx(25.51)


def test_fhkvdataiii_unknown_layout_byte_is_not_guessed() -> None:
    fields = TechemFhkvDataIII().fields(_telegram(FHKV, 0xA0, "229F27020480048300C408F709"))
    assert "current_hca" not in fields
