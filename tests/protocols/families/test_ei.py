"""Ei6500 smoke alarm driver (protocols/meters/families/ei.py)."""

from __future__ import annotations

from protocols.meters.families.ei import Ei6500
from protocols.meters.registry import driver_for
from protocols.records import parse_records
from protocols.records.build import build_header, encode_records
from protocols.telegram import MeterAddress, Telegram
from tests.protocols.test_vectors_wmbus import decode_vector, mismatches
from tests.protocols.vectors import load_jsonl

_ADDRESS = MeterAddress("EIE", "01097200", 0x0C, 0x1A)
_HEAD = bytes.fromhex("8440FF2C")


def _fields(head: int) -> dict[str, object]:
    records = encode_records(
        [
            (_HEAD, head),
            (build_header(b"\xfd\x61", 0x2, tariff=1, subunit=1), 3),  # alarms counted
        ]
    )
    parsed = tuple(parse_records(records))
    telegram = Telegram(_ADDRESS, _ADDRESS, 0x44, 0x7A, 1, 0, None, 0, False, b"", parsed)
    return dict(Ei6500().fields(telegram))


def test_ei6500_gets_its_driver() -> None:
    assert driver_for(_ADDRESS).name == "ei6500"


def test_ei6500_vectors_decode_to_their_expected_fields() -> None:
    vectors = [v for v in load_jsonl("wmbus.jsonl") if v["driver"] == "ei6500"]
    assert vectors
    for vector in vectors:
        assert mismatches(vector["expected"], decode_vector(vector)) == {}, vector["source"]


def test_head_status_word_values_and_flags() -> None:
    # Dust 2, battery step 5 (2.50 V), obstacle code 3, self-test done, tamper while removed.
    out = _fields(0x02 | 0x40 | 0x0500 | 0x10000 | 0x300000)
    assert out["alarm_counter"] == 3
    assert out["dust_level"] == "DUST_2"
    assert out["dust_level_counter"] == 2
    assert out["battery_level"] == "2.50V"
    assert out["obstacle_distance"] == "38_TO_53_CM"
    assert out["status"] == "TAMPER_WHILE_REMOVED"


def test_self_test_not_completed_and_cleaning_are_reported() -> None:
    out = _fields(0x1D | 0x100000)
    assert out["obstacle_distance"] == ""
    assert out["status"] == "CLEANING_RECOMMENDED SEODS_NOT_YET_COMPLETED"
