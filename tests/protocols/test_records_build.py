"""Builder round trips (hypothesis): what build_header/encode_record make, parse gives back."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.records import (
    Function,
    build_header,
    encode_manufacturer_data,
    encode_record,
    encode_records,
    encode_scaled,
    more_records_follow,
    parse_records,
)

INT_FIELDS = {0x1: 1, 0x2: 2, 0x3: 3, 0x4: 4, 0x6: 6, 0x7: 8}
BCD_FIELDS = {0x9: 1, 0xA: 2, 0xB: 3, 0xC: 4, 0xE: 6}

functions = st.sampled_from(list(Function))
storages = st.integers(min_value=0, max_value=(1 << 41) - 1)  # DIF bit + 10 DIFEs x 4 bits
tariffs = st.integers(min_value=0, max_value=(1 << 20) - 1)
subunits = st.integers(min_value=0, max_value=(1 << 10) - 1)
# Primary VIFs with a plain number (energy, volume, mass, power, flow, temperatures, ...)
numeric_vifs = st.sampled_from([0x03, 0x06, 0x0E, 0x13, 0x16, 0x1B, 0x2B, 0x3B, 0x5A, 0x65, 0x6A])
# Combinable VIFEs that do not scale: forward/backward, per-time units, limits.
plain_vifes = st.lists(st.sampled_from([0x3B, 0x3C, 0x20, 0x22, 0x40, 0x48]), max_size=4)


def _vib(vif: int, vifes: list[int]) -> bytes:
    if not vifes:
        return bytes((vif,))
    chain = [v | 0x80 for v in vifes[:-1]] + [vifes[-1]]
    return bytes((vif | 0x80, *chain))


@given(
    field=st.sampled_from(sorted(INT_FIELDS)),
    data=st.data(),
    vif=numeric_vifs,
    vifes=plain_vifes,
    function=functions,
    storage=storages,
    tariff=tariffs,
    subunit=subunits,
)
def test_integer_round_trip(
    field: int,
    data: st.DataObject,
    vif: int,
    vifes: list[int],
    function: Function,
    storage: int,
    tariff: int,
    subunit: int,
) -> None:
    bits = INT_FIELDS[field] * 8
    value = data.draw(st.integers(min_value=-(1 << (bits - 1)), max_value=(1 << (bits - 1)) - 1))
    header = build_header(
        _vib(vif, vifes),
        field,
        function=function,
        storage=storage,
        tariff=tariff,
        subunit=subunit,
    )
    (rec,) = parse_records(encode_record(header, value))
    assert rec.header == header
    assert rec.raw == value
    assert (rec.function, rec.storage, rec.tariff, rec.subunit) == (
        function,
        storage,
        tariff,
        subunit,
    )
    assert rec.combinables == tuple(vifes)


@given(field=st.sampled_from(sorted(BCD_FIELDS)), data=st.data(), vif=numeric_vifs)
def test_bcd_round_trip_including_negative(field: int, data: st.DataObject, vif: int) -> None:
    digits = BCD_FIELDS[field] * 2
    value = data.draw(st.integers(min_value=-(10 ** (digits - 1) - 1), max_value=10**digits - 1))
    header = build_header(bytes((vif,)), field)
    (rec,) = parse_records(encode_record(header, value))
    assert rec.raw == value


@given(value=st.floats(width=32, allow_nan=False), vif=numeric_vifs)
def test_real32_round_trip(value: float, vif: int) -> None:
    header = build_header(bytes((vif,)), 0x5)
    (rec,) = parse_records(encode_record(header, value))
    assert isinstance(rec.raw, float)
    assert struct.pack("<f", rec.raw) == struct.pack("<f", value) or (value == 0 and rec.raw == 0)


@given(text=st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60))
def test_lvar_text_round_trip(text: str) -> None:
    header = build_header(b"\xfd\x11", 0xD)  # customer
    (rec,) = parse_records(encode_record(header, text))
    assert rec.value == text


@given(value=st.integers(min_value=-(10**18) + 1, max_value=10**18 - 1))
def test_lvar_bcd_round_trip(value: int) -> None:
    header = build_header(b"\x13", 0xD)
    (rec,) = parse_records(encode_record(header, value))
    assert rec.raw == value


@given(body=st.binary(min_size=0, max_size=15))
def test_lvar_binary_round_trip(body: bytes) -> None:
    header = build_header(b"\xfd\x0e", 0xD)
    (rec,) = parse_records(encode_record(header, body))
    assert rec.raw == body


@given(
    year=st.integers(min_value=2000, max_value=2080),
    month=st.integers(min_value=1, max_value=12),
    day=st.integers(min_value=1, max_value=28),
    hour=st.integers(min_value=0, max_value=23),
    minute=st.integers(min_value=0, max_value=59),
    second=st.integers(min_value=0, max_value=59),
    storage=st.integers(min_value=0, max_value=40),
)
def test_dates_g_f_i_round_trip(
    year: int, month: int, day: int, hour: int, minute: int, second: int, storage: int
) -> None:
    date = f"{year:04d}-{month:02d}-{day:02d}"
    g = f"{date}"
    f = f"{date} {hour:02d}:{minute:02d}"
    i = f"{f}:{second:02d}"
    block = encode_records(
        [
            (build_header(b"\x6c", 0x2, storage=storage), g),
            (build_header(b"\x6d", 0x4, storage=storage), f),
            (build_header(b"\x6d", 0x6, storage=storage), i),
        ]
    )
    assert [r.value for r in parse_records(block)] == [g, f, i]


@given(value=st.integers(min_value=0, max_value=99_999_999))
def test_encode_scaled_gives_canonical_value_back(value: int) -> None:
    litres = value / 1000  # m3 with 1 l resolution
    (rec,) = parse_records(encode_scaled(build_header(b"\x13", 0xC), litres))
    assert isinstance(rec.value, float | int)
    assert math.isclose(rec.value, litres, rel_tol=1e-12, abs_tol=1e-12)


def test_manufacturer_data_more_follows() -> None:
    block = encode_record(b"\x04\x13", 5) + encode_manufacturer_data(b"\x01", more_follows=True)
    recs = parse_records(block)
    assert more_records_follow(recs)
    assert recs[-1].data == b"\x01"


def test_encode_record_rejects_header_with_trailing_bytes() -> None:
    with pytest.raises(ValueError):
        encode_record(b"\x04\x13\x00", 1)


def test_kamwater_like_telegram_round_trip() -> None:
    block = encode_records(
        [
            (b"\x04\xff\x23", 0x800),
            (b"\x04\x13", 3871),
            (b"\x44\x13", 0),
            (b"\x42\x6c", "2022-11-01"),
            (b"\x61\x67", 10),
        ]
    )
    assert block.hex().upper().startswith("04FF23000800000413")
    values = [r.value for r in parse_records(block)]
    assert values == [0x800, 3.871, 0.0, "2022-11-01", 10]
