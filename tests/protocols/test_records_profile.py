"""Compact profiles (protocols/records/profile.py): builder round trips, dates, refusals."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.errors import DecodeError, FormatError
from protocols.records import (
    Direction,
    IncrementMode,
    SpacingUnit,
    build_header,
    encode_profile,
    encode_records,
    expand,
    is_profile,
    parse_profile,
    parse_records,
)
from protocols.records.profile import add_months, base_date
from protocols.wmbus.decoder import TelegramDecoder
from tests.protocols.test_vectors_wmbus import meter_ids
from tests.protocols.vectors import load_jsonl, vectors_available

INT_FIELDS = {0x1: 1, 0x2: 2, 0x3: 3, 0x4: 4, 0x6: 6, 0x7: 8}
BCD_FIELDS = {0x9: 1, 0xA: 2, 0xB: 3, 0xC: 4, 0xE: 6}
KINDS = (0x13, 0x1E, 0x1F)
VIF_HCA, VIF_VOLUME_L, VIF_DATE = b"\x6e", b"\x13", b"\x6c"
BASE = "2026-01-31"


def _record(profile: bytes, base: str | None = BASE, storage: int = 8) -> Any:
    dates = [(build_header(VIF_DATE, 0x2, storage=storage), base)] if base else []
    return parse_records(encode_records(dates) + profile)[-1]


@st.composite
def profiles(draw: st.DrawFn) -> tuple[int, int, int, list[int | None]]:
    """(element field, mode, kind, raw element values) the builder can make."""
    field = draw(st.sampled_from(sorted(INT_FIELDS | BCD_FIELDS)))
    mode = draw(st.integers(0, 3))
    size = (INT_FIELDS | BCD_FIELDS)[field]
    if field in BCD_FIELDS:
        element = st.integers(-(10 ** (2 * size - 1) - 1), 10 ** (2 * size) - 1) | st.none()
    elif mode in (0, 3):
        half = 1 << (8 * size - 1)
        element = st.integers(-half + 1, half - 1) | st.none()
    else:
        element = st.integers(0, (1 << (8 * size)) - 1)
    values = draw(st.lists(element, max_size=(0xBF - 2) // size))
    return field, mode, draw(st.sampled_from(KINDS)), values


@settings(max_examples=300)
@given(profiles(), st.sampled_from(list(Direction)), st.integers(1, 8))
def test_build_parse_expand_gives_the_values_back(
    made: tuple[int, int, int, list[int | None]], direction: Direction, storage: int
) -> None:
    field, mode, kind, values = made
    data = encode_profile(
        VIF_HCA, values, element_field=field, kind=kind, mode=mode, storage=storage
    )
    record = _record(data, storage=storage)
    assert is_profile(record)
    profile = parse_profile(record)
    assert profile.kind == kind
    assert profile.element_field == field
    assert profile.element_size == (INT_FIELDS | BCD_FIELDS)[field]
    assert profile.mode is IncrementMode(mode)
    assert profile.unit is SpacingUnit.MONTHS
    assert profile.months == 1
    assert profile.warnings == ()
    expanded = expand(profile, base_date(parse_records(data), record) or BASE, direction)
    assert [value for _, value in expanded] == values
    dates = [date for date, _ in expanded]
    assert all(date is not None for date in dates)
    order = sorted(dates, key=str)  # ISO dates sort by time
    if direction is Direction.FORWARD:
        assert dates == order
    else:
        assert dates == order[::-1]
    if dates:
        first = {Direction.BACKWARD: -1, Direction.FORWARD: 1}.get(direction, len(dates))
        assert dates[0] == add_months(BASE, first)


@settings(max_examples=100)
@given(st.lists(st.integers(-(2**40), 2**40) | st.none(), max_size=(0xBF - 2) // 8))
def test_volume_elements_are_scaled_like_the_record(values: list[int | None]) -> None:
    m3 = [None if v is None else v / 1000 for v in values]
    profile = parse_profile(_record(encode_profile(VIF_VOLUME_L, m3, element_field=0x7)))
    assert profile.header.unit == "m3"
    assert [value for _, value in expand(profile, BASE)] == pytest.approx(m3)


@settings(max_examples=500)
@given(st.binary(max_size=0xBF), st.sampled_from([VIF_HCA, VIF_VOLUME_L, VIF_DATE, b"\xfd\x17"]))
def test_random_profile_data_raises_only_decode_errors(body: bytes, vib: bytes) -> None:
    header = build_header(vib[:-1] + bytes((vib[-1] | 0x80, 0x13)), 0xD, storage=8)
    try:
        record = parse_records(header + bytes((len(body),)) + body)[0]
        expand(parse_profile(record), BASE)
        expand(parse_profile(record), None, Direction.FORWARD)
    except DecodeError:
        pass


def test_inverse_profile_runs_back_from_the_base() -> None:
    profile = parse_profile(_record(encode_profile(VIF_HCA, [12, None, 7], element_field=0xB)))
    assert expand(profile, "2026-02-01") == [
        ("2026-01-01", 12),
        ("2025-12-01", None),
        ("2025-11-01", 7),
    ]


def test_compact_profile_runs_newest_first_to_one_month_after_the_base() -> None:
    data = encode_profile(VIF_HCA, [5, 0, 9, 11], element_field=0x2, kind=0x1F, mode=1)
    assert expand(parse_profile(_record(data)), "2023-01-31") == [
        ("2023-05-31", 5),
        ("2023-04-30", 0),
        ("2023-03-31", 9),
        ("2023-02-28", 11),
    ]


@pytest.mark.parametrize(
    ("date", "months", "expected"),
    [
        ("2019-10-31", 1, "2019-11-30"),  # a month end stays a month end
        ("2020-01-31", 1, "2020-02-29"),
        ("2020-02-29", -1, "2020-01-31"),
        ("2021-04-30", -1, "2021-03-31"),
        ("2021-03-15", -13, "2020-02-15"),
        ("2021-03-30", -1, "2021-02-28"),  # no 30 February: that month's last day
        ("2026-02-01 08:34", -2, "2025-12-01"),
        ("2026-13-01", 1, None),
        ("garbage", 1, None),
    ],
)
def test_month_arithmetic(date: str, months: int, expected: str | None) -> None:
    assert add_months(date, months) == expected


def test_without_keeping_month_ends_the_day_is_only_clamped() -> None:
    # History dates counted back from a meter's own date (mfct.months_before).
    assert add_months("2020-02-29", -1, keep_month_end=False) == "2020-01-29"
    assert add_months("2020-03-31", -1, keep_month_end=False) == "2020-02-29"
    assert add_months("2020-02-29", -1) == "2020-01-31"


def test_a_dangling_byte_is_a_warning() -> None:
    data = encode_profile(VIF_HCA, [1, 2], element_field=0x2, dangling=b"\x07")
    profile = parse_profile(_record(data))
    assert profile.values == (1, 2)
    assert len(profile.warnings) == 1
    assert "1 byte after the last of its 2 2-byte elements" in profile.warnings[0]


def test_spacing_other_than_months_has_no_dates() -> None:
    for unit, spacing in [(0, 15), (2, 1), (3, 0xFD), (3, 0xFF)]:
        data = encode_profile(VIF_HCA, [1], element_field=0x1, unit=unit, spacing=spacing)
        profile = parse_profile(_record(data))
        assert profile.months is None
        assert expand(profile, BASE) == [(None, 1)]
    data = encode_profile(VIF_HCA, [1], element_field=0x1, spacing=3)  # every 3 months
    assert expand(parse_profile(_record(data)), BASE) == [("2025-10-31", 1)]


def test_no_value_markers() -> None:
    profile = parse_profile(_record(encode_profile(VIF_HCA, [None, 3], element_field=0x4)))
    assert profile.elements[0] == bytes.fromhex("00000080")
    assert profile.values == (None, 3)
    bcd = parse_profile(_record(encode_profile(VIF_HCA, [None], element_field=0xB)))
    assert bcd.elements == (b"\xff\xff\xff",)
    assert bcd.values == (None,)
    with pytest.raises(ValueError, match="no-value"):
        encode_profile(VIF_HCA, [None], element_field=0x4, mode=1)


def test_increments_are_unsigned_and_absolute_values_signed() -> None:
    increments = encode_profile(VIF_HCA, [0xFFFF], element_field=0x2, mode=1)
    assert parse_profile(_record(increments)).values == (0xFFFF,)
    absolute = encode_profile(VIF_HCA, [-1], element_field=0x2)
    assert absolute.endswith(b"\xff\xff")
    assert parse_profile(_record(absolute)).values == (-1,)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (bytes([0x35, 0xFE, 1, 2, 3, 4]), "unknown element size"),  # real32 elements
        (bytes([0x38, 0xFE]), "unknown element size"),
        (bytes([0x3D, 0xFE]), "unknown element size"),
        (bytes([0x32, 0x00, 1, 0]), "spacing value 0"),
        (bytes([0x32]), "without its spacing bytes"),
    ],
)
def test_what_cannot_be_read_is_a_format_error(body: bytes, reason: str) -> None:
    header = build_header(b"\xee\x13", 0xD, storage=8)
    record = parse_records(header + bytes((len(body),)) + body)[0]
    with pytest.raises(FormatError, match=reason):
        parse_profile(record)


def test_records_that_are_no_profile_are_refused() -> None:
    record = parse_records(encode_records([(build_header(VIF_HCA, 0x2), 5)]))[0]
    assert not is_profile(record)
    with pytest.raises(FormatError):
        parse_profile(record)
    dates = build_header(b"\xec\x13", 0xD)  # a profile of dates: not read
    record = parse_records(dates + bytes([4, 0x32, 0xFE, 0x41, 0x32]))[0]
    with pytest.raises(FormatError, match="date"):
        parse_profile(record)


def test_base_date_is_the_date_of_the_same_storage_number() -> None:
    other = build_header(VIF_DATE, 0x2, storage=1)
    payload = encode_records([(other, "2020-12-31")]) + encode_profile(VIF_HCA, [1], storage=8)
    records = parse_records(payload)
    assert base_date(records, records[-1]) is None
    records = parse_records(
        encode_records([(build_header(b"\x6d", 0x4, storage=8), "2021-06-30 00:00")]) + payload
    )
    assert base_date(records, records[-1]) == "2021-06-30"


def _vector_profiles() -> list[Any]:
    """Every compact-profile record of the wireless vectors (read at run time)."""
    found: list[Any] = []
    for vector in load_jsonl("wmbus.jsonl") if vectors_available() else []:
        frames = [bytes.fromhex(f) for f in vector["frames"]]
        key = vector.get("key")
        keys = {}
        if key and len(key) in (16, 32):
            keys = {mid: bytes.fromhex(key) for raw in frames for mid in meter_ids(raw)}
        decoder = TelegramDecoder(keys)
        for raw in frames:
            try:
                records = decoder.decode(raw).records
            except DecodeError:
                continue
            found += [(vector["driver"], records, r) for r in records if is_profile(r)]
    return found


def test_vector_profiles_parse_and_date() -> None:
    if not vectors_available():
        load_jsonl("wmbus.jsonl")  # fails in CI, skips elsewhere, with the reason
        return
    profiles = _vector_profiles()
    drivers = {driver for driver, _, _ in profiles}
    assert {"caltose", "uiws", "fhkvdataiv"} <= drivers
    for _, records, record in profiles:
        profile = parse_profile(record)
        assert profile.months == 1
        base = base_date(records, record)
        assert base is not None
        assert all(date is not None for date, _ in expand(profile, base))
