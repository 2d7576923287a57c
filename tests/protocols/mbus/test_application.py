"""EN 13757-3 application layer of wired answers: variable and fixed data, application
errors; the libmbus vectors through the layer."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.errors import DecodeError, FormatError, TruncatedError, UnsupportedError
from protocols.mbus import (
    ApplicationError,
    FixedCounter,
    FixedData,
    VariableData,
    VariableDataHeader,
    build_fixed,
    build_long,
    build_variable_header,
    parse_application,
    parse_long,
    parse_user_data,
    parse_variable_header,
)
from protocols.records import (
    build_header,
    encode_manufacturer_data,
    encode_records,
    parse_records,
)
from protocols.wmbus.address import manufacturer_field
from tests.protocols.vectors import load_jsonl

RSP_UD = 0x08
VOLUME = build_header(b"\x13", 0x4)  # int32, litres
ENERGY = build_header(b"\x06", 0xC)  # BCD8, kWh


def header(access: int = 1, **kw: int | str) -> VariableDataHeader:
    fields: dict[str, int | str] = {
        "id": "12345678",
        "manufacturer": manufacturer_field("ABC"),
        "version": 3,
        "medium": 7,
        "access_number": access,
        "status": 0,
        "signature": 0,
    }
    fields.update(kw)
    return VariableDataHeader(**fields)  # type: ignore[arg-type]


def answer(ci: int, hdr: VariableDataHeader, block: bytes, msb: bool = False) -> bytes:
    return build_long(RSP_UD, 1, ci, build_variable_header(hdr, msb_first=msb) + block)


def decoded(raw: bytes) -> VariableData:
    result = parse_application(parse_long(raw))
    assert isinstance(result, VariableData)
    return result


# -- variable data ---------------------------------------------------------------------------


def test_variable_data_0x72_gives_header_and_records() -> None:
    block = encode_records([(VOLUME, 3871), (ENERGY, 1234)])
    result = decoded(answer(0x72, header(), block))
    assert result.header == header()
    assert result.header.manufacturer_code == "ABC"
    assert [r.value for r in result.records] == [3.871, 1234]
    assert result.records == tuple(parse_records(block))


def test_variable_data_0x76_reads_header_and_values_msb_first() -> None:
    lsb_block = encode_records([(VOLUME, 3871), (ENERGY, 1234)])
    msb_block = VOLUME + (3871).to_bytes(4, "big") + ENERGY + bytes.fromhex("00001234")
    result = decoded(answer(0x76, header(), msb_block, msb=True))
    assert result.header == header()
    assert [r.value for r in result.records] == [3.871, 1234]
    assert result.payload == lsb_block


def test_variable_header_cut_short_is_truncated() -> None:
    with pytest.raises(TruncatedError):
        parse_user_data(0x72, build_variable_header(header())[:11])


def test_record_error_offset_counts_from_the_user_data_and_names_the_meter() -> None:
    with pytest.raises(TruncatedError) as err:
        parse_user_data(0x72, build_variable_header(header()) + VOLUME + b"\x01")
    assert err.value.offset is not None and err.value.offset >= 12
    assert err.value.meter_id == "12345678"


@given(
    st.builds(
        VariableDataHeader,
        id=st.text("0123456789ABCDEF", min_size=8, max_size=8),
        manufacturer=st.integers(0, 0xFFFF),
        version=st.integers(0, 255),
        medium=st.integers(0, 255),
        access_number=st.integers(0, 255),
        status=st.integers(0, 255),
        signature=st.integers(0, 0xFFFF),
    ),
    st.booleans(),
)
def test_variable_header_round_trips(hdr: VariableDataHeader, msb: bool) -> None:
    wire = build_variable_header(hdr, msb_first=msb)
    assert len(wire) == 12
    assert parse_variable_header(wire, msb_first=msb) == hdr


# -- fixed data ------------------------------------------------------------------------------


def test_fixed_data_0x73_bcd_counters_medium_and_units() -> None:
    fixed = FixedData(0x73, "90919293", 16, 0x00, 4, (FixedCounter(6531, 5), FixedCounter(69, 41)))
    result = parse_application(parse_long(build_long(RSP_UD, 1, 0x73, build_fixed(fixed))))
    assert result == fixed
    assert isinstance(result, FixedData)
    assert (result.medium, result.counters[0].unit, result.counters[1].unit) == ("heat", "kWh", "l")


def test_fixed_data_binary_counters_when_status_bit_7() -> None:
    fixed = FixedData(
        0x73, "00000001", 1, 0x80, 7, (FixedCounter(0x1234567, 0x29), FixedCounter(0, 0x3F))
    )
    data = build_fixed(fixed)
    assert data[8:12] == (0x1234567).to_bytes(4, "little")
    assert parse_user_data(0x73, data) == fixed


@given(
    st.sampled_from([0x73, 0x77]),
    st.integers(0, 99_999_999),
    st.integers(0, 255),
    st.integers(0, 15),
    st.integers(0, 63),
    st.integers(0, 63),
    st.integers(0, 99_999_999),
    st.integers(0, 99_999_999),
)
def test_fixed_data_round_trips(
    ci: int, ident: int, acc: int, medium: int, u1: int, u2: int, c1: int, c2: int
) -> None:
    fixed = FixedData(
        ci, f"{ident:08d}", acc, 0, medium, (FixedCounter(c1, u1), FixedCounter(c2, u2))
    )
    assert parse_user_data(ci, build_fixed(fixed)) == fixed


def test_fixed_data_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(TruncatedError):
        parse_user_data(0x73, bytes(15))
    with pytest.raises(FormatError):
        parse_user_data(0x73, bytes(17))


def test_fixed_data_non_bcd_counter_is_refused() -> None:
    data = bytes(8) + b"\x0a\x00\x00\x00" + bytes(4)
    with pytest.raises(FormatError):
        parse_user_data(0x73, data)


# -- application errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "word"),
    [
        (0, "unspecified"),
        (1, "CI"),
        (2, "buffer"),
        (5, "DIFE"),
        (6, "VIFE"),
        (8, "busy"),
        (9, "readouts"),
    ],
)
def test_application_error_names_the_error(code: int, word: str) -> None:
    with pytest.raises(ApplicationError) as err:
        parse_application(parse_long(build_long(RSP_UD, 1, 0x70, bytes([code]))))
    assert err.value.code == code
    assert word in err.value.meaning


def test_application_error_without_a_byte_is_unspecified() -> None:
    with pytest.raises(ApplicationError) as err:
        parse_application(parse_long(build_long(RSP_UD, 1, 0x70)))
    assert err.value.code is None


def test_application_error_is_a_decode_error() -> None:
    assert issubclass(ApplicationError, DecodeError)


def test_a_ci_that_is_no_data_answer_is_unsupported() -> None:
    with pytest.raises(UnsupportedError):
        parse_user_data(0x51, b"")


# -- multi-telegram answers ------------------------------------------------------------------


def _more(block: bytes) -> bytes:
    return block + encode_manufacturer_data(b"", more_follows=True)


# -- the libmbus vectors ---------------------------------------------------------------------


def test_every_variable_test_frame_gives_the_records_of_parse_records() -> None:
    rows = [r for r in load_jsonl("mbus_frames.jsonl") if r["set"] == "test-frames"]
    variable = [r for r in rows if r["frame"]["CI"] == 0x72]
    assert variable
    for row in variable:
        raw = bytes.fromhex(row["hex"])
        assert decoded(raw).records == tuple(parse_records(raw[19:-2])), row["name"]


def test_the_fixed_test_frames_give_libmbus_ids_media_and_counters() -> None:
    rows = [r for r in load_jsonl("mbus_frames.jsonl") if r["set"] == "test-frames"]
    fixed = [r for r in rows if r["frame"]["CI"] == 0x73]
    assert fixed
    for row in fixed:
        result = parse_application(parse_long(bytes.fromhex(row["hex"])))
        assert isinstance(result, FixedData)
        slave = row["expected"]["raw"]["slave"]
        assert result.id == slave["id"]
        assert result.medium == slave["medium"].lower()
        assert result.access_number == int(slave["access_number"])
        values = [str(c.value) for c in result.counters]
        assert values == [rec["value"] for rec in row["expected"]["raw"]["records"]]


def test_every_error_frame_is_refused() -> None:
    rows = [r for r in load_jsonl("mbus_frames.jsonl") if r["set"] == "error-frames"]
    assert rows
    for row in rows:
        raw = bytes.fromhex(row["hex"])
        with pytest.raises(DecodeError):
            parse_application(parse_long(raw))
        if raw[6] == 0x70:
            with pytest.raises(ApplicationError):
                parse_application(parse_long(raw))


# -- fuzz ------------------------------------------------------------------------------------


@given(st.sampled_from([0x70, 0x72, 0x73, 0x76, 0x77, 0x51]), st.binary(max_size=252))
def test_random_user_data_raises_only_decode_error(ci: int, data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        parse_user_data(ci, data)


@given(st.binary(min_size=12, max_size=60))
def test_random_records_after_a_header_raise_only_decode_error(data: bytes) -> None:
    for ci in (0x72, 0x76):
        with contextlib.suppress(DecodeError):
            parse_user_data(ci, build_variable_header(header()) + data)
