"""Wired M-Bus frames of libmbus (mbus_frames.jsonl): record fields and values agree."""

from __future__ import annotations

import math
from typing import Any

import pytest

from protocols.errors import DecodeError
from protocols.records import Record, parse_records
from tests.protocols.vectors import load_jsonl

# libmbus normalised unit -> (our canonical unit, factor from libmbus's unit to ours)
UNITS: dict[str, tuple[str, float]] = {
    "Wh": ("kwh", 1e-3),
    "J": ("kwh", 1 / 3.6e6),
    "m^3": ("m3", 1.0),
    "°C": ("c", 1.0),
    "K": ("k", 1.0),
    "W": ("kw", 1e-3),
    "m^3/h": ("m3h", 1.0),
    "V": ("v", 1.0),
    "A": ("a", 1.0),
    "s": ("h", 1 / 3600),
}
FUNCTIONS = {
    "Instantaneous value": "instantaneous",
    "Maximum value": "maximum",
    "Minimum value": "minimum",
    "Value during error state": "error_state",
}


def _variable_data_frames() -> list[dict[str, Any]]:
    frames = []
    for vec in load_jsonl("mbus_frames.jsonl"):
        raw = bytes.fromhex(vec["hex"].replace(" ", ""))
        if raw[0] == 0x68 and len(raw) > 8 and raw[6] in (0x72, 0x76):
            frames.append({**vec, "raw": raw})
    return frames


def _records(raw: bytes) -> list[Record]:
    # 68 L L 68 C A CI | 12-byte header | records | CS 16
    return parse_records(raw[19:-2])


def test_frames_expected_to_parse_have_all_their_records() -> None:
    for vec in _variable_data_frames():
        if vec["expect_parse_ok"] is not True:
            continue
        expected = vec["expected"]["raw"]["records"]
        assert len(_records(vec["raw"])) == len(expected), vec["name"]


def test_broken_frames_raise_decode_error() -> None:
    broken = [v for v in _variable_data_frames() if v["expect_parse_ok"] is False]
    assert broken
    for vec in broken:
        if len(vec["raw"]) < 21:  # too short for the header: not the record parser's job
            continue
        with pytest.raises(DecodeError):
            _records(vec["raw"])


def test_function_storage_tariff_subunit_agree_with_libmbus() -> None:
    for vec in _variable_data_frames():
        if vec["expect_parse_ok"] is not True:
            continue
        for rec, exp in zip(_records(vec["raw"]), vec["expected"]["raw"]["records"], strict=True):
            if exp["function"] in FUNCTIONS:
                assert rec.function.value == FUNCTIONS[exp["function"]], (vec["name"], rec.key)
                assert rec.storage == exp["storage_number"], (vec["name"], rec.key)
            if exp["tariff"] is not None:
                assert rec.tariff == exp["tariff"], (vec["name"], rec.key)
            if exp["device"] is not None:
                assert rec.subunit == exp["device"], (vec["name"], rec.key)


def test_values_agree_with_libmbus_normalised_values() -> None:
    compared = 0
    for vec in _variable_data_frames():
        normalized = vec["expected"].get("normalized")
        if vec["expect_parse_ok"] is not True or not normalized:
            continue
        for rec, exp in zip(_records(vec["raw"]), normalized["records"], strict=False):
            if exp["unit"] not in UNITS or not isinstance(rec.value, int | float):
                continue
            unit, factor = UNITS[exp["unit"]]
            want = float(exp["value"]) * factor
            assert rec.unit == unit, (vec["name"], rec.key)
            # libmbus prints six decimals in its own unit; real32 is good to ~1e-7
            tolerance = 5e-7 * factor
            assert math.isclose(rec.value, want, rel_tol=1e-7, abs_tol=tolerance), (
                vec["name"],
                rec.key,
            )
            compared += 1
    assert compared >= 250


# libmbus's fixed-data unit names -> (our canonical unit, factor from that unit to ours)
FIXED_UNITS = {"l": ("m3", 1e-3), "kWh": ("kwh", 1.0)}


def test_fixed_data_frames_decode_to_the_counters_libmbus_reads() -> None:
    from protocols.wmbus.decoder import TelegramDecoder

    fixed = [v for v in load_jsonl("mbus_frames.jsonl") if v["frame"].get("CI") in (0x73, 0x77)]
    assert fixed
    for vec in fixed:
        telegram = TelegramDecoder().decode(bytes.fromhex(vec["hex"]))
        expected = vec["expected"]["raw"]
        assert telegram.meter.id == expected["slave"]["id"], vec["name"]
        assert telegram.access_number == int(expected["slave"]["access_number"]), vec["name"]
        units = [exp["unit"] for exp in expected["records"]]
        for rec, exp in zip(telegram.records, expected["records"], strict=True):
            # "reserved but historic": counter 1's unit, its historic value (storage 1).
            unit = units[0] if exp["unit"] == "reserved but historic" else exp["unit"]
            ours, factor = FIXED_UNITS[unit]
            assert rec.unit == ours, vec["name"]
            assert math.isclose(float(rec.value), float(exp["value"]) * factor), vec["name"]  # type: ignore[arg-type]
            assert rec.storage == (1 if exp["unit"] == "reserved but historic" else 0)
