"""EN 13757-2 frames: builders and parsers agree, faults raise the right DecodeError."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.errors import CrcError, DecodeError, FormatError, TruncatedError
from protocols.mbus import (
    LongFrame,
    ShortFrame,
    SingleCharacter,
    address_kind,
    application_reset,
    baud_rate_of_ci,
    build_control,
    build_long,
    build_short,
    build_single,
    checksum,
    data_send,
    parse_control,
    parse_frame,
    parse_long,
    parse_short,
    parse_single,
    req_ud1,
    req_ud2,
    select_secondary,
    set_baud_rate,
    snd_nke,
)

byte = st.integers(0, 255)


def test_single_character_round_trip() -> None:
    assert parse_single(build_single()) == SingleCharacter()


@given(byte, byte)
def test_short_frame_round_trip(c: int, a: int) -> None:
    assert parse_short(build_short(c, a)) == ShortFrame(c, a)


@given(byte, byte, byte)
def test_control_frame_round_trip(c: int, a: int, ci: int) -> None:
    frame = parse_control(build_control(c, a, ci))
    assert (frame.C, frame.A, frame.CI, frame.kind, frame.L) == (c, a, ci, "control", 3)


@given(byte, byte, byte, st.binary(min_size=1, max_size=252))
def test_long_frame_round_trip(c: int, a: int, ci: int, data: bytes) -> None:
    raw = build_long(c, a, ci, data)
    assert raw[1] == raw[2] == 3 + len(data) and len(raw) == 4 + raw[1] + 2
    assert parse_long(raw) == LongFrame(c, a, ci, data)


def test_long_frame_checksum_is_sum_of_c_to_data() -> None:
    raw = build_long(0x08, 0x01, 0x72, b"\xff\xff")
    assert raw[-2] == (0x08 + 0x01 + 0x72 + 0xFF + 0xFF) % 256 == checksum(raw[4:-2])


def test_master_requests_bytes() -> None:
    assert snd_nke(5) == bytes.fromhex("1040054516")
    assert req_ud2(5, fcb=False) == bytes.fromhex("105B056016")
    assert req_ud2(5, fcb=True) == bytes.fromhex("107B058016")
    assert req_ud1(5, fcb=True)[1] == 0x7A and req_ud1(5, fcb=False)[1] == 0x5A
    assert parse_long(data_send(5, b"\x01", fcb=True)) == LongFrame(0x73, 5, 0x51, b"\x01")
    assert parse_control(application_reset(5, fcb=False)) == LongFrame(0x53, 5, 0x50)
    assert parse_long(application_reset(5, False, 0x10)).data == b"\x10"


def test_secondary_selection_goes_to_address_253() -> None:
    frame = parse_long(select_secondary(bytes(range(8))))
    assert (frame.C, frame.A, frame.CI, frame.data) == (0x53, 253, 0x52, bytes(range(8)))


@pytest.mark.parametrize(
    ("baud", "ci"),
    [
        (300, 0xB8),
        (600, 0xB9),
        (1200, 0xBA),
        (2400, 0xBB),
        (4800, 0xBC),
        (9600, 0xBD),
        (19200, 0xBE),
        (38400, 0xBF),
    ],
)
def test_baud_rate_switch_ci(baud: int, ci: int) -> None:
    frame = parse_control(set_baud_rate(1, baud))
    assert (frame.CI, baud_rate_of_ci(ci)) == (ci, baud)


def test_unknown_baud_rate_refused() -> None:
    with pytest.raises(FormatError):
        set_baud_rate(1, 115200)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        (0, "primary"),
        (250, "primary"),
        (251, "reserved"),
        (252, "reserved"),
        (253, "network"),
        (254, "broadcast_reply"),
        (255, "broadcast"),
    ],
)
def test_address_kinds(address: int, kind: str) -> None:
    assert address_kind(address) == kind


def test_long_checksum_fault_is_crc_error() -> None:
    raw = bytearray(build_long(8, 1, 0x72, b"\x00\x01"))
    raw[-2] ^= 0x01
    with pytest.raises(CrcError):
        parse_long(bytes(raw))


def test_short_checksum_fault_is_crc_error() -> None:
    with pytest.raises(CrcError):
        parse_short(bytes.fromhex("105B056116"))


def test_l_fields_differ_is_format_error() -> None:
    raw = bytearray(build_long(8, 1, 0x72, b"\x00\x01"))
    raw[2] += 1
    with pytest.raises(FormatError, match="L fields differ"):
        parse_long(bytes(raw))


@pytest.mark.parametrize("parse", [parse_long, parse_short])
def test_missing_stop_byte_is_format_error(parse: object) -> None:
    raw = bytearray(build_long(8, 1, 0x72, b"\x00") if parse is parse_long else build_short(1, 2))
    raw[-1] = 0x17
    with pytest.raises(FormatError, match="stop byte"):
        parse(bytes(raw))  # type: ignore[operator]


@given(st.binary(min_size=1, max_size=252), st.data())
def test_cut_long_frame_is_truncated_error(data: bytes, draw: st.DataObject) -> None:
    raw = build_long(8, 1, 0x72, data)
    cut = draw.draw(st.integers(1, len(raw) - 1))
    with pytest.raises(TruncatedError):
        parse_long(raw[:cut])


def test_trailing_bytes_are_format_error() -> None:
    with pytest.raises(FormatError):
        parse_long(build_long(8, 1, 0x72, b"\x01") + b"\x16")


def test_control_frame_with_data_refused() -> None:
    with pytest.raises(FormatError):
        parse_control(build_long(8, 1, 0x72, b"\x01"))


@given(st.binary(max_size=300))
def test_parsers_fuzz_raise_only_decode_error(raw: bytes) -> None:
    for parse in (parse_frame, parse_long, parse_short, parse_single, parse_control):
        with contextlib.suppress(DecodeError):
            parse(raw)


def test_too_much_data_for_a_long_frame_refused() -> None:
    with pytest.raises(FormatError):
        build_long(8, 1, 0x72, bytes(253))


@pytest.mark.parametrize("value", [-1, 256])
def test_builder_fields_must_be_bytes(value: int) -> None:
    with pytest.raises(FormatError):
        build_short(0x5B, value)
