"""Frame formats A and B: CRC blocks laid out, checked and stripped (EN 13757-4 5.3/5.4)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.crc import crc16_en13757, crc16_x25
from protocols.errors import CrcError, FormatError, TruncatedError
from protocols.records import Function
from protocols.records.build import build_header, encode_records
from protocols.telegram import MeterAddress
from protocols.wmbus.address import (
    id_from_bytes,
    id_to_bytes,
    manufacturer_code,
    manufacturer_field,
)
from protocols.wmbus.build import EllSpec, TelegramSpec, Tpl, build_telegram
from protocols.wmbus.link import (
    FrameFormat,
    add_crcs,
    format_a_length,
    peek_address,
    strip_crcs,
    strip_declared,
)

KAMSTRUP_METER = MeterAddress("KAM", "76348799", 0x1B, 0x16)
# A CRC-free frame of 43 bytes (L = 0x2A): link header, ELL 0x8D, CI 0x78 and the records
# of a water meter (info codes, total and month volume, two minimum temperatures).
KAMSTRUP_FRAME = build_telegram(
    TelegramSpec(
        KAMSTRUP_METER,
        encode_records(
            [
                (build_header(b"\xff\x20", 0x2), 0x0071),
                (build_header(b"\x13", 0x4), 1234),
                (build_header(b"\x13", 0x4, storage=1), 1200),
                (build_header(b"\x5b", 0x1, function=Function.MINIMUM, storage=1), 12),
                (build_header(b"\x67", 0x1, function=Function.MINIMUM, storage=1), 8),
            ]
        ),
        tpl=Tpl.NONE,
        ell=EllSpec(access_number=0x91, encrypt=False),
    )
)

frames = st.binary(min_size=10, max_size=245).map(lambda b: bytes([len(b)]) + b)


def test_crc16_en13757_has_the_catalogued_check_value() -> None:
    assert crc16_en13757(b"123456789") == 0xC2B7


def test_crc16_x25_has_the_catalogued_check_value() -> None:
    assert crc16_x25(b"123456789") == 0x906E


def test_manufacturer_flag_decodes_kamstrup() -> None:
    assert manufacturer_code(0x2C2D) == "KAM"


def test_manufacturer_flag_round_trips() -> None:
    assert manufacturer_code(manufacturer_field("ZRI")) == "ZRI"


def test_id_is_bcd_least_significant_byte_first() -> None:
    assert id_from_bytes(bytes.fromhex("99873476")) == "76348799"


def test_frame_without_crcs_passes_unchanged() -> None:
    assert strip_crcs(KAMSTRUP_FRAME) == (KAMSTRUP_FRAME, FrameFormat.NONE)


def test_format_a_wire_length_counts_a_crc_per_block() -> None:
    # 10-byte first block, then 16-byte blocks: L = 0x2A -> 33 bytes after block 1 -> 3 more
    assert format_a_length(0x2A) == 1 + 0x2A + 2 + 3 * 2


@given(frames, st.sampled_from([FrameFormat.A, FrameFormat.B, FrameFormat.NONE]))
def test_crc_layout_round_trips(frame: bytes, fmt: FrameFormat) -> None:
    assert strip_crcs(add_crcs(frame, fmt)) == (frame, fmt)


def test_format_a_with_a_corrupted_byte_gives_crc_error() -> None:
    wire = bytearray(add_crcs(KAMSTRUP_FRAME, FrameFormat.A))
    wire[5] ^= 0x01
    with pytest.raises(CrcError):
        strip_crcs(bytes(wire))


def test_format_b_with_a_corrupted_byte_is_not_taken_for_format_b() -> None:
    # L + 1 bytes with failing format-B CRCs reads as a CRC-less frame; its last two bytes
    # then fail the upper layers' checks (see the decoder tests).
    wire = bytearray(add_crcs(KAMSTRUP_FRAME, FrameFormat.B))
    wire[5] ^= 0x01
    assert strip_crcs(bytes(wire))[1] is FrameFormat.NONE


def test_format_a_crc_error_names_the_offset() -> None:
    wire = bytearray(add_crcs(KAMSTRUP_FRAME, FrameFormat.A))
    wire[20] ^= 0xFF
    with pytest.raises(CrcError) as err:
        strip_crcs(bytes(wire))
    assert err.value.offset is not None and err.value.offset > 10


def test_short_frame_is_truncated() -> None:
    with pytest.raises(TruncatedError):
        strip_crcs(KAMSTRUP_FRAME[:-3])


def test_l_field_shorter_than_header_is_refused() -> None:
    with pytest.raises(FormatError):
        strip_crcs(bytes([5, 0x44, 0, 0, 0, 0]))


def test_empty_input_is_truncated() -> None:
    with pytest.raises(TruncatedError):
        strip_crcs(b"")


def crc_free_frame_with_a_format_b_tail() -> bytes:
    """A CRC-free frame whose last two bytes are the format-B CRC of the rest: the tail of
    its manufacturer data is chosen so (the L field does not change)."""
    body = bytes.fromhex("442D2C998734761B16780413E80300000F") + b"\x00\x00"
    frame = bytearray([len(body)]) + body
    frame[-2:] = crc16_en13757(frame[:-2]).to_bytes(2, "big")
    return bytes(frame)


def test_a_crc_free_frame_with_a_format_b_tail_is_guessed_to_be_format_b() -> None:
    # Why the declared layout matters: the bytes alone cannot tell (clause 5.4).
    assert strip_crcs(crc_free_frame_with_a_format_b_tail())[1] is FrameFormat.B


def test_a_frame_declared_crc_free_keeps_every_byte_even_with_a_format_b_tail() -> None:
    frame = crc_free_frame_with_a_format_b_tail()
    assert strip_declared(frame, FrameFormat.NONE, False) == frame


@given(frames, st.sampled_from([FrameFormat.A, FrameFormat.B]))
def test_a_frame_declared_with_its_crcs_is_checked_and_stripped(
    frame: bytes, fmt: FrameFormat
) -> None:
    assert strip_declared(add_crcs(frame, fmt), fmt, True) == frame


@given(frames, st.sampled_from([FrameFormat.A, FrameFormat.B]))
def test_crcs_present_in_an_unnamed_format_are_found_by_the_length(
    frame: bytes, fmt: FrameFormat
) -> None:
    assert strip_declared(add_crcs(frame, fmt), FrameFormat.NONE, True) == frame


@pytest.mark.parametrize("fmt", [FrameFormat.A, FrameFormat.B])
def test_a_corrupted_frame_declared_with_crcs_is_a_crc_error(fmt: FrameFormat) -> None:
    wire = bytearray(add_crcs(KAMSTRUP_FRAME, fmt))
    wire[5] ^= 0x01
    with pytest.raises(CrcError):
        strip_declared(bytes(wire), fmt, True)


def test_a_crc_free_frame_declared_as_format_a_is_refused() -> None:
    with pytest.raises(TruncatedError):
        strip_declared(KAMSTRUP_FRAME, FrameFormat.A, True)


def test_a_frame_declared_crc_free_must_be_l_plus_one_bytes() -> None:
    with pytest.raises(TruncatedError):
        strip_declared(KAMSTRUP_FRAME[:-1], FrameFormat.NONE, False)
    with pytest.raises(FormatError):
        strip_declared(add_crcs(KAMSTRUP_FRAME, FrameFormat.A), FrameFormat.NONE, False)
    with pytest.raises(FormatError):
        strip_declared(bytes([5, 0x44, 0, 0, 0, 0]), FrameFormat.NONE, False)
    with pytest.raises(TruncatedError):
        strip_declared(b"", FrameFormat.NONE, False)


@given(frames, st.sampled_from([FrameFormat.A, FrameFormat.B, FrameFormat.NONE]))
def test_a_module_that_cannot_say_gets_the_layout_detected(frame: bytes, fmt: FrameFormat) -> None:
    wire = add_crcs(frame, fmt)
    assert strip_declared(wire, FrameFormat.NONE, None) == strip_crcs(wire)[0]


def test_peek_address_gives_manufacturer_id_version_and_device_type() -> None:
    assert peek_address(KAMSTRUP_FRAME) == KAMSTRUP_METER


def test_peek_address_needs_the_link_header_up_to_the_ci_field() -> None:
    with pytest.raises(TruncatedError):
        peek_address(KAMSTRUP_FRAME[:10])


def test_a_diehl_prios_frame_gives_its_address_as_prios_lays_it_out() -> None:
    # PRIOS on CI 0xA0-0xA7: the A field is version, device type, then the id.
    m_field = manufacturer_field("DME").to_bytes(2, "little")
    a_field = bytes([0x78, 0x07]) + id_to_bytes("20481979")
    frame = bytes([0x44]) + m_field + a_field + bytes([0xA2]) + bytes(8)
    address = peek_address(bytes([len(frame)]) + frame)
    assert address == MeterAddress("DME", "20481979", 0x78, 0x07)


def test_the_same_layout_on_a_standard_ci_is_read_as_the_standard_says() -> None:
    m_field = manufacturer_field("DME").to_bytes(2, "little")
    a_field = id_to_bytes("20481979") + bytes([0x78, 0x07])
    frame = bytes([0x44]) + m_field + a_field + bytes([0x7A]) + bytes(8)
    assert peek_address(bytes([len(frame)]) + frame) == MeterAddress("DME", "20481979", 0x78, 0x07)
