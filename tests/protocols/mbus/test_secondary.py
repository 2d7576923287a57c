"""The 8-byte secondary address: wire form and wildcard matching."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.errors import DecodeError, FormatError, TruncatedError
from protocols.mbus import (
    ANY,
    SecondaryAddress,
    build_secondary,
    matches,
    parse_secondary,
    select_secondary,
)
from protocols.mbus.frames import parse_long

nibbles = st.text("0123456789F", min_size=8, max_size=8)
addresses = st.builds(
    SecondaryAddress, nibbles, st.integers(0, 0xFFFF), st.integers(0, 255), st.integers(0, 255)
)

KAM = SecondaryAddress.of("76348799", "KAM", 0x1B, 0x16)


def test_wire_bytes_follow_the_standard() -> None:
    # id least significant byte first, then M (little-endian), version, medium
    assert build_secondary(KAM) == bytes.fromhex("998734762D2C1B16")


@given(addresses)
def test_round_trip(address: SecondaryAddress) -> None:
    assert parse_secondary(build_secondary(address)) == address


def test_selection_frame_carries_the_pattern() -> None:
    pattern = SecondaryAddress.of("7634FFFF")
    assert parse_long(select_secondary(build_secondary(pattern))).data == bytes.fromhex(
        "FFFF3476FFFFFFFF"
    )


def test_manufacturer_code_and_wildcard() -> None:
    assert KAM.manufacturer_code == "KAM" and ANY.manufacturer_code is None
    assert ANY.is_pattern and not KAM.is_pattern


def test_full_wildcard_matches_everything() -> None:
    assert matches(KAM, ANY)


@pytest.mark.parametrize("position", range(8))
def test_each_id_digit_is_a_wildcard_on_its_own(position: int) -> None:
    digits = list(KAM.id)
    digits[position] = "F"
    pattern = SecondaryAddress("".join(digits), KAM.manufacturer, KAM.version, KAM.medium)
    assert matches(KAM, pattern)
    other = list(KAM.id)
    other[position] = "0" if other[position] != "0" else "1"
    assert not matches(SecondaryAddress("".join(other), KAM.manufacturer), pattern)


@pytest.mark.parametrize(
    "pattern",
    [
        SecondaryAddress.of("76348799", "ABB"),
        SecondaryAddress.of("76348799", version=0x1C),
        SecondaryAddress.of("76348799", medium=0x07),
        SecondaryAddress.of("7634879F", "KAM", 0x1B, 0x07),
    ],
)
def test_fixed_parts_must_be_equal(pattern: SecondaryAddress) -> None:
    assert not matches(KAM, pattern)


@pytest.mark.parametrize(
    "pattern",
    [
        SecondaryAddress.of("FFFF8799", "KAM"),
        SecondaryAddress.of("76348799", version=0x1B),
        SecondaryAddress.of("F6F4F7F9", medium=0x16),
    ],
)
def test_wildcard_parts_match(pattern: SecondaryAddress) -> None:
    assert matches(KAM, pattern)


def test_short_input_is_truncated_error() -> None:
    with pytest.raises(TruncatedError):
        parse_secondary(bytes(7))


@pytest.mark.parametrize("meter_id", ["1234567", "1234567G", "123456789"])
def test_bad_id_is_format_error(meter_id: str) -> None:
    with pytest.raises(FormatError):
        SecondaryAddress(meter_id)


@given(st.binary(max_size=12))
def test_fuzz_parse_raises_only_decode_error(raw: bytes) -> None:
    with contextlib.suppress(DecodeError):
        parse_secondary(raw)
