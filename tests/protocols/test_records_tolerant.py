"""The tolerant block parser (issue 12): what real meters send beyond the standard keeps
every record before the fault, with a warning naming the byte and the reason."""

from __future__ import annotations

import contextlib
import random

import pytest

from protocols.errors import DecodeError
from protocols.records import encode_records, encode_scaled, parse_block, parse_records

VOLUME = bytes.fromhex("0413")  # int32, litres
TEMPERATURE = bytes.fromhex("025A")  # int16, 0.1 degC flow temperature
GOOD = encode_scaled(VOLUME, 12.345) + encode_scaled(TEMPERATURE, 41.5)


def test_a_standard_block_parses_as_the_strict_parser_does_without_warnings() -> None:
    block = parse_block(GOOD)
    assert block.records == parse_records(GOOD)
    assert block.warnings == ()


def test_a_record_without_its_vif_at_the_end_keeps_the_records_before_it() -> None:
    block = parse_block(GOOD + b"\x04")
    assert [r.value for r in block.records] == [12.345, 41.5]
    (warning,) = block.warnings
    assert "record has no VIF" in warning and f"byte {len(GOOD)}" in warning


def test_a_frame_ending_inside_a_dife_keeps_the_records_before_it() -> None:
    block = parse_block(GOOD + b"\x84")
    assert len(block.records) == 2
    assert "DIFE" in block.warnings[0]


def test_an_lvar_running_past_the_block_keeps_the_records_before_it() -> None:
    block = parse_block(GOOD + bytes.fromhex("0D7C") + b"\x01X" + b"\x09abc")
    assert len(block.records) == 2
    assert "longer than the block" in block.warnings[0]


@pytest.mark.parametrize("dif", [0x3F, 0x4F, 0x5F, 0x6F, 0xFF, 0x7F])
def test_a_reserved_special_dif_keeps_what_follows_as_manufacturer_data(dif: int) -> None:
    block = parse_block(GOOD + bytes([dif]) + b"\x01\x02\x03")
    *standard, rest = block.records
    assert len(standard) == 2
    assert rest.data == b"\x01\x02\x03" and rest.header == bytes([dif])
    assert f"0x{dif:02X}" in block.warnings[0] and f"byte {len(GOOD)}" in block.warnings[0]


def test_idle_fillers_and_manufacturer_data_need_no_warning() -> None:
    block = parse_block(b"\x2f\x2f" + GOOD + b"\x0f\xaa\xbb")
    assert len(block.records) == 3 and block.warnings == ()


def test_a_block_that_yields_nothing_is_an_error() -> None:
    with pytest.raises(DecodeError, match="no VIF"):
        parse_block(b"\x04")


def test_records_after_idle_fillers_following_the_fault_are_not_invented() -> None:
    # Where the next record would start is unknown after a broken one: nothing is guessed.
    block = parse_block(GOOD + bytes.fromhex("0DFF") + b"\x20" + b"\x2f" * 3 + GOOD)
    assert len(block.records) == 2


def test_random_and_mutated_blocks_raise_only_decode_errors() -> None:
    rng = random.Random(757)
    text = bytes.fromhex("0DFD11") + b"\x03CBA"  # customer, LVAR text of 3 characters
    seeds = [GOOD, GOOD + b"\x6f\x01", encode_records([(VOLUME, 1)]) + text]
    for i in range(20_000):
        if i % 2:
            data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 48)))
        else:
            buf = bytearray(rng.choice(seeds))
            for _ in range(rng.randrange(1, 5)):
                if buf:
                    buf[rng.randrange(len(buf))] = rng.getrandbits(8)
            data = bytes(buf[: rng.randrange(len(buf) + 1)])
        with contextlib.suppress(DecodeError):
            block = parse_block(data)
            assert block.records or not data.strip(b"\x2f")
