"""One decode path (issue 8): the address parsed once, records parsed once, the fixed
headers unpacked by structs derived from their Construct declarations, and the fast CRC,
cipher and record paths giving exactly what the plain ones give."""

from __future__ import annotations

import os

import pytest
from construct import Container, ListContainer
from Crypto.Cipher import AES
from hypothesis import given
from hypothesis import strategies as st

from protocols.crc import crc16_en13757, crc16_x25
from protocols.errors import TruncatedError
from protocols.readout import telegram_fields
from protocols.records import parse_records, record_headers, split_headers
from protocols.records.model import Record
from protocols.telegram import MeterAddress
from protocols.textformats import telegram_from_hex
from protocols.wmbus import layers, security
from protocols.wmbus.build import EllSpec, TelegramSpec, Tpl, build_telegram
from protocols.wmbus.decoder import TelegramDecoder
from protocols.wmbus.link import FrameFormat, peek_address, strip_crcs
from radio.sim.kinds import WATER, EllTemplate, reference_spec

KEY = bytes(range(16))
METER = MeterAddress("KAM", "76348799", 0x1B, 0x16)
WATER_RECORDS = bytes.fromhex("02FF2000000413E8030000441364000000615B0C616709")

# -- CRCs: the compiled implementation against the polynomial definitions (crc.py) ----------


def _crc16_msb_first(data: bytes, poly: int, init: int, xorout: int) -> int:
    crc = init
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ poly) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc ^ xorout


def _crc16_lsb_first(data: bytes, poly_reflected: int, init: int, xorout: int) -> int:
    crc = init
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly_reflected if crc & 1 else crc >> 1
    return crc ^ xorout


@given(st.binary(max_size=300))
def test_crc16_en13757_is_the_polynomial_0x3d65_bit_by_bit(data: bytes) -> None:
    assert crc16_en13757(data) == _crc16_msb_first(data, 0x3D65, 0x0000, 0xFFFF)


@given(st.binary(max_size=300))
def test_crc16_x25_is_the_reflected_polynomial_0x1021_bit_by_bit(data: bytes) -> None:
    assert crc16_x25(data) == _crc16_lsb_first(data, 0x8408, 0xFFFF, 0xFFFF)


def test_crcs_take_bytes_bytearray_and_memoryview_alike() -> None:
    data = b"123456789"
    for form in (data, bytearray(data), memoryview(data)):
        assert (crc16_en13757(form), crc16_x25(form)) == (0xC2B7, 0x906E)


# -- fixed headers: struct forms derived from the Construct declarations --------------------


def _flatten(value: object) -> list[object]:
    if isinstance(value, Container):
        return [v for k, v in value.items() if not k.startswith("_") for v in _flatten(v)]
    if isinstance(value, ListContainer):
        return [v for item in value for v in _flatten(item)]
    return [value]


FLAT = [
    (layers.LinkHeader, layers.LINK_HEADER),
    (layers.EllShort, layers.ELL_SHORT),
    (layers.EllSession, layers.ELL_SESSION),
    (layers.EllDestination, layers.ELL_DESTINATION),
    (layers.EllDestinationSession, layers.ELL_DESTINATION_SESSION),
    (layers.TplShort, layers.TPL_SHORT),
    (layers.TplLong, layers.TPL_LONG),
    (layers.CompactHeader, layers.COMPACT_HEADER),
]


@pytest.mark.parametrize(("declared", "flat"), FLAT)
@given(data=st.binary(min_size=16, max_size=16))
def test_each_flat_header_unpacks_what_its_construct_declaration_parses(
    declared: object, flat: object, data: bytes
) -> None:
    assert list(flat.unpack_from(data)) == _flatten(declared.parse(data))  # type: ignore[attr-defined]
    assert flat.size == declared.sizeof()  # type: ignore[attr-defined]


def test_a_layout_with_conditional_fields_has_no_flat_form() -> None:
    with pytest.raises(TypeError):
        layers.flat_struct(layers.AflHeader)


# -- the address: parsed once --------------------------------------------------------------


def _full_frame(key: bytes | None = KEY, access_number: int = 1) -> bytes:
    spec = TelegramSpec(
        METER, WATER_RECORDS, tpl=Tpl.NONE, ell=EllSpec(access_number=access_number)
    )
    return build_telegram(spec, key)


def test_the_decoder_takes_the_address_the_caller_peeked() -> None:
    frame = _full_frame()
    address = peek_address(frame)
    telegram = TelegramDecoder({METER.id: KEY}).decode_canonical(frame, address)
    assert telegram.link is address and telegram.meter is address


def test_the_decoder_peeks_the_address_itself_when_not_given_one() -> None:
    telegram = TelegramDecoder({METER.id: KEY}).decode_canonical(_full_frame())
    assert telegram.link == METER


def test_a_frame_ending_before_its_ci_field_is_truncated() -> None:
    with pytest.raises(TruncatedError):
        TelegramDecoder().decode_canonical(_full_frame()[:10])


# -- records: parsed once, headers from that parse ------------------------------------------


def test_record_headers_are_the_headers_split_headers_gives() -> None:
    assert record_headers(parse_records(WATER_RECORDS)) == split_headers(WATER_RECORDS)[0]


def test_a_full_frame_teaches_the_layout_of_its_compact_frames_from_one_parse() -> None:
    decoder = TelegramDecoder({METER.id: KEY})
    decoder.decode(_full_frame(access_number=1))
    compact = TelegramSpec(METER, WATER_RECORDS, tpl=Tpl.COMPACT, ell=EllSpec(access_number=2))
    telegram = decoder.decode(build_telegram(compact, KEY))
    assert [r.value for r in telegram.records] == [r.value for r in parse_records(WATER_RECORDS)]


def test_parsed_records_are_ordinary_records() -> None:
    for record in parse_records(WATER_RECORDS):
        rebuilt = Record(**{name: getattr(record, name) for name in Record._fields})
        assert record == rebuilt and hash(record) == hash(rebuilt) and repr(record) == repr(rebuilt)
        with pytest.raises(AttributeError):  # immutable, as a named tuple is
            record.value = 0  # type: ignore[misc]


# -- frames whose CRC layout cannot be told from the bytes ---------------------------------


def test_an_ambiguous_frame_that_fails_as_format_b_is_decoded_as_crc_free() -> None:
    # The last record's value ends in the two bytes that make the frame look like format B:
    # as format B it is cut short, so only the CRC-free reading decodes.
    records = bytearray(bytes.fromhex("0413") + (0x1234).to_bytes(4, "little"))
    frame = bytearray(build_telegram(TelegramSpec(METER, bytes(records), tpl=Tpl.NONE)))
    frame[-2:] = crc16_en13757(frame[:-2]).to_bytes(2, "big")
    assert strip_crcs(bytes(frame))[1] is FrameFormat.B
    telegram = TelegramDecoder().decode(bytes(frame))
    assert telegram.records[0].data == bytes(frame[-4:])


def test_a_real_format_b_frame_still_decodes_as_format_b() -> None:
    raw = build_telegram(TelegramSpec(METER, WATER_RECORDS, tpl=Tpl.NONE), None, FrameFormat.B)
    telegram = TelegramDecoder().decode(raw)
    assert telegram.payload == WATER_RECORDS


# -- ciphers: one block cipher per meter key -----------------------------------------------


@given(st.binary(max_size=255), st.binary(min_size=16, max_size=16))
def test_ell_ctr_from_the_cached_block_cipher_equals_aes_ctr(data: bytes, iv: bytes) -> None:
    iv = iv[:13] + b"\x00\x00\x00"  # FN and BC are zero (EN 13757-4 clause 13.2.5)
    expected = AES.new(KEY, AES.MODE_CTR, nonce=b"", initial_value=iv).encrypt(data)
    assert security.ell_crypt(KEY, iv, data) == expected


def test_ell_ctr_counter_carries_across_bytes_like_aes_ctr() -> None:
    iv = bytes(13) + b"\x00\x00\xff"
    data = os.urandom(64)
    expected = AES.new(KEY, AES.MODE_CTR, nonce=b"", initial_value=iv).encrypt(data)
    assert security.ell_crypt(KEY, iv, data) == expected


@given(st.integers(0, 15), st.binary(min_size=16, max_size=16))
def test_mode5_from_the_cached_block_cipher_equals_aes_cbc(blocks: int, iv: bytes) -> None:
    data = os.urandom(16 * blocks)
    expected = AES.new(KEY, AES.MODE_CBC, iv=iv).decrypt(data)
    assert security.mode5_decrypt(KEY, iv, data) == expected


def test_the_meter_cipher_cache_is_bounded() -> None:
    assert security.meter_cipher.cache_info().maxsize == security.METER_CIPHERS
    assert security.meter_cipher(KEY) is security.meter_cipher(bytes(bytearray(KEY)))


# -- drivers: the fields of a layout worked out once ---------------------------------------


def test_telegrams_of_one_layout_each_get_their_own_values() -> None:
    decoder = TelegramDecoder({METER.id: KEY})
    totals = []
    for count in range(3):
        raw = (count, 1000 * count, 500, 12, 9)
        frame = EllTemplate(WATER, METER, KEY).frame(raw, True, count)
        assert frame == build_telegram(reference_spec(WATER, METER, raw, True, count), KEY)
        fields = telegram_fields(decoder.decode(frame))
        totals.append((fields["total_m3"], fields["status"]))
    assert totals == [(0, "OK"), (1, "DRY"), (2, "REVERSE")]


# -- text input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line", ["2A442D2C\n", "2a 44 2d 2c", "0x2A442D2C", "2A_44|2D#2C", "  2A442D2C  \r\n"]
)
def test_hex_lines_read_the_same_with_or_without_separators(line: str) -> None:
    assert telegram_from_hex(line) == bytes.fromhex("2A442D2C")
