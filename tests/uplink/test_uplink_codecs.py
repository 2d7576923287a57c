"""Payload codecs: exact round trips, malformed input, and the compact size figure."""

from __future__ import annotations

import contextlib
import itertools
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.uplink_bytes import kamstrup_water_day
from uplink import columns
from uplink.codecs import (
    CodecError,
    CompactCodec,
    JsonCodec,
    MissingReferenceError,
    Reference,
    codec_named,
    decode_command_payload,
    reference_of,
)
from uplink.columns import (
    PACK_DIGITS,
    PACK_INT,
    PACK_SCALED,
    STORE,
    WIRE,
    decode_rows,
    decode_rows_delta,
    encode_rows,
    encode_rows_delta,
    pack_numeric,
    same,
)
from uplink.commands import MAX_COMMAND_BYTES
from uplink.messages import alarm_event, offline_state
from uplink.wire import qos1_exchange_bytes

TOPIC = "concentratord/gateway/gw-0001/event/readings"
START = datetime(2026, 3, 1, tzinfo=UTC)


def bytes_per_meter_day(codec_name: str, meters: int = 500) -> float:
    codec = codec_named(codec_name)
    total = 0
    for batch in kamstrup_water_day(meters):
        payload = codec.encode(batch)
        assert codec.decode(payload) == batch
        total += qos1_exchange_bytes(
            TOPIC, len(payload), mqtt5=True, content_type=codec.content_type
        )
    return total / meters


def test_compact_hourly_bytes_per_meter_day_is_a_fraction_of_json() -> None:
    compact, json_ = bytes_per_meter_day("compact"), bytes_per_meter_day("json")
    # The figure itself is the bench's to report (docs/design.md, "Performance goals");
    # printed with -s.
    print(f"\nhourly Kamstrup water, 500 meters/batch: compact {compact:.0f} B, json {json_:.0f} B")
    assert compact < json_ / 20


@pytest.mark.parametrize("codec", [JsonCodec(), CompactCodec()], ids=lambda c: c.name)
def test_readings_batch_round_trips(codec: Any) -> None:
    batch = kamstrup_water_day(20)[0]
    assert codec.decode(codec.encode(batch)) == batch


@pytest.mark.parametrize("codec", [JsonCodec(), CompactCodec()], ids=lambda c: c.name)
def test_small_documents_round_trip(codec: Any) -> None:
    for doc in (
        offline_state(gateway="gw", message_id=1, reason="stopped"),
        alarm_event(
            gateway="gw",
            message_id=2,
            meter_id="12345678",
            timestamp=START,
            status="BURST LEAK",
            previous_status="OK",
            raised=["BURST", "LEAK"],
        ),
    ):
        assert codec.decode(codec.encode(doc)) == doc


def test_columns_keep_types_and_awkward_values() -> None:
    rows: list[dict[str, Any]] = [
        {"id": "00000001", "v": 1, "f": -0.0, "x": 0.1 + 0.2, "t": "2026-03-01T10:00:00.250Z"},
        {"id": "00000002", "v": 1.0, "f": 0.0, "x": 1e-300, "t": "2026-03-01T10:00:01.000Z"},
        {"id": "x", "v": True, "f": None, "nested": {"a": [1]}},
    ]
    decoded = decode_rows(encode_rows(rows, None))
    assert decoded == rows
    assert [type(r["v"]) for r in decoded] == [int, float, bool]
    assert str(decoded[0]["f"]) == "-0.0"


def test_columns_restore_row_order_across_groups() -> None:
    rows = [{"id": "2", "a": 1}, {"id": "1"}, {"id": "3", "a": 2}]
    assert decode_rows(encode_rows(rows, None)) == rows


def test_columns_of_impossible_dates_and_huge_floats_are_sent_raw() -> None:
    # A date that matches the time pattern but does not exist, and a float that overflows
    # when scaled, used to raise out of the encoder instead of falling back to "r".
    rows: list[dict[str, Any]] = [
        {"id": "1", "t": "2026-02-30T00:00:00Z", "x": 1.7e302},
        {"id": "2", "t": "2026-03-01T00:00:00Z", "x": 1.0},
    ]
    layout = encode_rows(rows, None)
    assert [c[0] for c in layout[0][0][2]] == ["n", "r", "r"]
    assert same(decode_rows(layout), rows)


def test_nested_values_keep_their_types_in_columns() -> None:
    # == takes [1] for [1.0] and {"a": True} for {"a": 1}; "c" and "=" must not.
    rows: list[dict[str, Any]] = [
        {"id": "1", "l": [1.0], "m": {"a": True}},
        {"id": "2", "l": [1], "m": {"a": 1}},
    ]
    assert same(decode_rows(encode_rows(rows, None)), rows)
    reference = [{"id": "1", "l": [1], "m": {"a": 1}}, {"id": "2", "l": [1.0], "m": {"a": True}}]
    decoded = decode_rows_delta(encode_rows_delta(rows, reference, None), reference)
    assert same(decoded, rows)
    assert [type(r["l"][0]) for r in decoded] == [float, int]


def test_both_profiles_pack_numeric_columns_the_same_way_within_their_parameters() -> None:
    assert pack_numeric([3, -1], WIRE) == pack_numeric([3, -1], STORE) == (PACK_INT, 0, [3, -1])
    assert pack_numeric(["0012", "0007"], WIRE) == (PACK_DIGITS, 4, [12, 7])
    assert pack_numeric(["0012", "0007"], STORE) == (PACK_DIGITS, 4, [12, 7])
    assert pack_numeric([1.25, 2.5], WIRE) == pack_numeric([1.25, 2.5], STORE)
    # The profiles' own rules: the fewest places on the wire, the repr's places in the store
    # (format 1 as written), bignums on the wire only, exponents on the wire only.
    assert pack_numeric([1.0, 2.0], WIRE) == (PACK_SCALED, 0, [1, 2])
    assert pack_numeric([1.0, 2.0], STORE) == (PACK_SCALED, 1, [10, 20])
    assert pack_numeric([2**70, 1], WIRE) == (PACK_INT, 0, [2**70, 1])
    assert pack_numeric([2**70, 1], STORE) is None
    assert pack_numeric([1e-05, 0.5], WIRE) == (PACK_SCALED, 5, [1, 50000])
    assert pack_numeric([1e-05, 0.5], STORE) is None
    # Never packed, in either: what would not come back exactly.
    for values in ([True, 1], [1, 1.0], [-0.0, 1.5], [0.1 + 0.2], ["12", "123"], ["1\n"]):
        assert pack_numeric(list(values), WIRE) is None, values
        assert pack_numeric(list(values), STORE) is None, values


def test_unknown_codec_name_is_refused() -> None:
    with pytest.raises(CodecError, match="compact"):
        codec_named("protobuf")


def test_json_codec_refuses_a_non_object() -> None:
    with pytest.raises(CodecError, match="not an object"):
        JsonCodec().decode(b"[1]")


def test_compact_codec_refuses_nan() -> None:
    with pytest.raises(CodecError):
        CompactCodec().encode({"x": float("nan")})


def test_compact_codec_refuses_a_zstd_bomb() -> None:
    import zstandard

    bomb = zstandard.ZstdCompressor().compress(b"\0" * (17 * 1024 * 1024))
    with pytest.raises(CodecError, match="over"):
        CompactCodec().decode(bomb)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_compact_decode_of_any_bytes_is_a_dict_or_codec_error(data: bytes) -> None:
    with contextlib.suppress(CodecError):
        assert isinstance(CompactCodec().decode(data), dict)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.dictionaries(st.sampled_from(["id", "a", "b", "timestamp"]), json_values), max_size=6
    )
)
def test_any_readings_list_round_trips_through_compact(rows: list[dict[str, Any]]) -> None:
    doc = {"gateway": "g", "interval_end": "2026-03-01T10:00:00Z", "readings": rows}
    assert CompactCodec().decode(CompactCodec().encode(doc)) == doc


# -- delta frames (compact format 2) ------------------------------------------------------


def _delta_day(meters: int) -> tuple[list[dict[str, Any]], list[bytes]]:
    """A day's batches as the publisher sends them: the first self-contained, each later one
    against the batch before it."""
    codec = CompactCodec()
    batches = kamstrup_water_day(meters)
    payloads = [codec.encode(batches[0])]
    for previous, batch in itertools.pairwise(batches):
        payloads.append(codec.encode(batch, Reference(previous["message_id"], previous)))
    return batches, payloads


def test_delta_frames_round_trip_with_their_references_and_are_small() -> None:
    batches, payloads = _delta_day(500)
    codec = CompactCodec()
    held: dict[int, dict[str, Any]] = {}
    total = 0
    for batch, payload in zip(batches, payloads, strict=True):
        decoded = codec.decode(payload, held)
        assert decoded == batch
        held[batch["message_id"]] = decoded
        total += qos1_exchange_bytes(
            TOPIC, len(payload), mqtt5=True, content_type=codec.content_type
        )
    # The figure is the bench's (bench/uplink_bytes.py); here only that deltas pay off.
    assert total / 500 < bytes_per_meter_day("compact") / 2


def test_a_delta_frame_without_its_reference_names_it() -> None:
    batches, payloads = _delta_day(20)
    assert reference_of(payloads[0]) is None
    assert reference_of(payloads[5]) == (batches[4]["message_id"], batches[4]["interval_end"])
    with pytest.raises(MissingReferenceError) as caught:
        CompactCodec().decode(payloads[5])
    assert caught.value.message_id == batches[4]["message_id"]
    assert caught.value.interval_end == batches[4]["interval_end"]
    # The reference replayed by backfill is self-contained; with it, the frame decodes.
    replayed = CompactCodec().decode(CompactCodec().encode(batches[4]))
    held = {batches[4]["message_id"]: replayed}
    assert CompactCodec().decode(payloads[5], held) == batches[5]


def test_a_delta_frame_against_a_reference_without_readings_is_refused() -> None:
    _batches, payloads = _delta_day(5)
    ref_id, _end = reference_of(payloads[1]) or (0, None)
    with pytest.raises(CodecError, match="no readings"):
        CompactCodec().decode(payloads[1], {ref_id: {"type": "alarm"}})


def test_delta_rows_survive_meters_coming_going_and_changing_type() -> None:
    reference = [
        {"id": "00000001", "v": 1, "f": 1.5, "s": "OK"},
        {"id": "00000002", "v": 2, "f": 2.25, "s": "OK"},
        {"id": "00000003", "v": 3, "f": 0.1, "s": "LEAK"},
    ]
    rows: list[dict[str, Any]] = [
        {"id": "00000003", "v": 3.0, "f": 0.30000000000000004, "s": "OK"},
        {"id": "00000009", "v": 9, "f": 9.0, "s": "OK"},
        {"id": "00000001", "v": 4, "f": 1.75, "s": "OK", "extra": None},
        {"id": "00000002", "v": True, "s": "OK"},
        {"v": 1},
    ]
    decoded = decode_rows_delta(encode_rows_delta(rows, reference, None), reference)
    assert decoded == rows
    assert [type(r["v"]) for r in decoded] == [float, int, int, bool, int]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.dictionaries(st.sampled_from(["id", "a", "b"]), json_values), max_size=5),
    st.lists(st.dictionaries(st.sampled_from(["id", "a", "b"]), json_values), max_size=5),
    st.lists(st.sampled_from(["1", "2", "3"]), max_size=5),
)
def test_any_rows_round_trip_against_any_reference(
    rows: list[dict[str, Any]], reference: list[dict[str, Any]], ids: list[str]
) -> None:
    # Give some rows ids that the reference also has, so that delta columns are exercised.
    for row, ident in zip(rows, ids, strict=False):
        row["id"] = ident
    for row, ident in zip(reference, reversed(ids), strict=False):
        row["id"] = ident
    doc = {"gateway": "g", "interval_end": "2026-03-01T10:00:00Z", "readings": rows}
    ref_doc = {"interval_end": "2026-03-01T09:00:00Z", "readings": reference}
    payload = CompactCodec().encode(doc, Reference(7, ref_doc))
    assert CompactCodec().decode(payload, {7: ref_doc}) == doc


def test_json_codec_writes_a_meters_nan_as_null() -> None:
    assert JsonCodec().decode(JsonCodec().encode({"x": float("nan"), "y": 1.5})) == {
        "x": None,
        "y": 1.5,
    }


def test_compact_command_within_the_limit_decodes() -> None:
    doc = {"gateway": "gw-0001", "args": {}}
    assert decode_command_payload(CompactCodec().encode(doc), CompactCodec()) == doc


def test_compact_command_that_decompresses_beyond_the_limit_is_refused() -> None:
    # A few hundred bytes on the wire that would expand to more than a command may be.
    frame = CompactCodec().encode({"gateway": "gw-0001", "args": {"pad": "x" * 100_000}})
    assert len(frame) < MAX_COMMAND_BYTES
    with pytest.raises(CodecError, match=f"over {MAX_COMMAND_BYTES}"):
        decode_command_payload(frame, CompactCodec())


def test_command_payload_over_the_limit_is_refused_before_decoding() -> None:
    payload = b"{" + b" " * MAX_COMMAND_BYTES + b"}"
    with pytest.raises(CodecError, match=f"payload: {len(payload)} bytes, at most"):
        decode_command_payload(payload, JsonCodec())


@pytest.mark.parametrize(
    "column",
    [["f", 1_000_000_000, [1]], ["F", 7, [1]], ["n", 1_000_000_000, [1]], ["N", 0, [1]]],
)
def test_a_crafted_column_with_absurd_places_or_width_is_refused_at_once(
    column: list[object],
) -> None:
    # Left unchecked, 10**places or zfill(width) of a frame from outside would hang.
    started = time.monotonic()
    with pytest.raises(columns.ColumnError):
        columns.decode_rows([[[["v"], 1, [column]]], None])
    assert time.monotonic() - started < 1.0
