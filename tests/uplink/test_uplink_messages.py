"""Uplink documents: builders, their JSON Schemas, and command argument checks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from uplink import messages
from uplink.commands import (
    MAX_CORRELATION_ID_BYTES,
    MAX_REPLY_TOPIC_BYTES,
    BackfillArgs,
    CommandRefusedError,
    check_backfill,
    check_get_status,
    check_set_priority_meters,
    correlation_id_of,
    parse_command,
)

SCHEMAS = Path(__file__).resolve().parents[2] / "uplink" / "schemas"
T = datetime(2026, 3, 1, 10, tzinfo=UTC)
GW = {"gateway": "gw-0001", "message_id": 7}


def validate(kind: str, doc: dict[str, Any]) -> None:
    schema = json.loads((SCHEMAS / f"{kind}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(doc, schema, cls=jsonschema.Draft202012Validator)


def reading(meter: str, **extra: Any) -> dict[str, Any]:
    return {"id": meter, "status": "OK", "timestamp": "2026-03-01T09:59:52Z", **extra}


def readings_doc() -> dict[str, Any]:
    rows = [reading("76348801", total_m3=123.456, rssi_dbm=-71), reading("11111111")]
    return messages.readings_batch(
        **GW, batch_id="b-1", interval="hourly", interval_end=T, readings=rows
    )


def test_online_state_matches_its_schema() -> None:
    doc = messages.online_state(
        **GW,
        time=T,
        version="0.1.0",
        profile="mini",
        radio={"module": "im871a"},
        uptime_s=5,
        counters={"telegrams": 9},
    )
    validate("state", doc)


def test_offline_state_matches_its_schema() -> None:
    validate("state", messages.offline_state(**GW, reason="connection lost"))


def test_alarm_event_matches_its_schema() -> None:
    doc = messages.alarm_event(
        **GW,
        meter_id="76348801",
        timestamp=T,
        status="LEAK",
        previous_status="OK",
        raised=["LEAK"],
        fields={"total_m3": 1.5},
    )
    validate("alarm", doc)


def test_readings_batch_matches_its_schema() -> None:
    validate("readings", readings_doc())


def test_readings_batch_sorts_by_id_and_sets_interval_end() -> None:
    doc = readings_doc()
    assert [r["id"] for r in doc["readings"]] == ["11111111", "76348801"]
    assert {r["interval_end"] for r in doc["readings"]} == {"2026-03-01T10:00:00Z"}


def test_readings_batch_refuses_a_meter_twice() -> None:
    with pytest.raises(messages.MessageError, match="twice"):
        messages.readings_batch(
            **GW,
            batch_id="b",
            interval="daily",
            interval_end=T,
            readings=[reading("11111111"), reading("11111111")],
        )


def test_readings_batch_refuses_reading_without_timestamp() -> None:
    with pytest.raises(messages.MessageError, match="timestamp"):
        messages.readings_batch(
            **GW,
            batch_id="b",
            interval="daily",
            interval_end=T,
            readings=[{"id": "11111111", "status": "OK"}],
        )


def test_stats_event_matches_its_schema() -> None:
    doc = messages.stats_event(**GW, time=T, uptime_s=60, counters={"frames": 3})
    validate("stats", doc)


def test_refused_reply_matches_its_schema() -> None:
    doc = messages.command_reply(**GW, command="backfill", ok=False, error="no", correlation_id="c")
    validate("reply", doc)


def test_refused_reply_needs_a_reason() -> None:
    with pytest.raises(messages.MessageError):
        messages.command_reply(**GW, command="backfill", ok=False)


def test_negative_message_id_is_refused() -> None:
    with pytest.raises(messages.MessageError):
        messages.offline_state(gateway="gw", message_id=-1, reason="x")


def test_iso_utc_refuses_naive_time() -> None:
    with pytest.raises(messages.MessageError):
        messages.iso_utc(datetime(2026, 1, 1))


def test_iso_utc_keeps_milliseconds() -> None:
    assert messages.iso_utc(T + timedelta(milliseconds=5)) == "2026-03-01T10:00:00.005Z"


def test_uptime_counts_from_injected_clock() -> None:
    now = [100.0]
    uptime = messages.Uptime(lambda: now[0])
    now[0] = 161.5
    assert uptime.seconds() == 61


def test_command_document_schema_accepts_a_backfill() -> None:
    doc = {"gateway": "gw-0001", "args": {"from": "2026-03-01T00:00:00Z"}, "correlation_id": "1"}
    validate("command", doc)


def schema_of(kind: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / f"{kind}.schema.json").read_text())
    return schema


def test_schema_length_limits_are_the_gateways_limits() -> None:
    command = schema_of("command")["properties"]
    assert command["reply_to"]["maxLength"] == MAX_REPLY_TOPIC_BYTES
    assert command["correlation_id"]["maxLength"] == MAX_CORRELATION_ID_BYTES
    reply = schema_of("reply")["properties"]
    assert reply["correlation_id"]["maxLength"] == MAX_CORRELATION_ID_BYTES


def test_command_schema_refuses_a_reply_to_over_256_characters() -> None:
    doc = {"gateway": "gw-0001", "reply_to": "concentratord/headend/" + "x" * 240}
    with pytest.raises(jsonschema.ValidationError, match="is too long"):
        validate("command", doc)


def test_command_schema_refuses_a_correlation_id_over_256_characters() -> None:
    with pytest.raises(jsonschema.ValidationError, match="is too long"):
        validate("command", {"gateway": "gw-0001", "correlation_id": "c" * 257})


def test_correlation_id_that_is_not_utf8_is_refused() -> None:
    # JSON's \ud800 escape gives a lone surrogate: no MQTT payload can echo it.
    with pytest.raises(CommandRefusedError, match="correlation_id: not valid UTF-8"):
        parse_command("get_status", {"gateway": "g", "correlation_id": "\ud800"}, gateway="g")


def test_correlation_id_that_is_not_utf8_is_not_echoed() -> None:
    assert correlation_id_of({"correlation_id": "\ud800"}) is None


def test_backfill_args_are_parsed() -> None:
    args = check_backfill({"from": "2026-03-01T00:00:00Z", "to": "2026-03-02T00:00:00+00:00"})
    assert args == BackfillArgs(start=T - timedelta(hours=10), end=T + timedelta(hours=14))


def test_backfill_needs_time_zone() -> None:
    with pytest.raises(CommandRefusedError, match="time zone"):
        check_backfill({"from": "2026-03-01T00:00:00", "to": "2026-03-02T00:00:00Z"})


def test_priority_meters_allow_at_most_50() -> None:
    ids = [f"{n:08d}" for n in range(51)]
    with pytest.raises(CommandRefusedError, match="at most 50"):
        check_set_priority_meters({"meters": ids})


def test_priority_meters_need_8_digit_ids() -> None:
    with pytest.raises(CommandRefusedError, match="8-digit"):
        check_set_priority_meters({"meters": ["1234"]})


def test_get_status_takes_no_arguments() -> None:
    with pytest.raises(CommandRefusedError, match="unknown argument"):
        check_get_status({"verbose": True})


def test_command_not_allowed_is_refused() -> None:
    with pytest.raises(CommandRefusedError, match="not allowed"):
        parse_command("backfill", {"gateway": "g"}, gateway="g", allowed=frozenset({"get_status"}))


def test_command_with_unknown_field_is_refused() -> None:
    with pytest.raises(CommandRefusedError, match="unknown field"):
        parse_command("get_status", {"gateway": "g", "argz": {}}, gateway="g")


def test_gateway_alarm_matches_the_alarm_schema() -> None:
    doc = messages.gateway_alarm(
        gateway="gw-0001",
        message_id=7,
        alarm="STORE_CORRUPT",
        detail="store was corrupt; moved aside",
        time=datetime(2026, 3, 1, tzinfo=UTC),
    )
    validate("alarm", doc)
