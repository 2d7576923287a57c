"""Uplink size: bytes on the wire per meter per day for hourly values, per payload codec.

A day of hourly readings batches for 500 Kamstrup water meters per batch (every field that
``concentratord decode`` prints for them; ids spread over the whole 8-digit range; volumes
growing by 0-35 litres an hour; RSSI, flow temperature and reception time varying), as the
daemon publishes them: 24 messages a day per 500 meters. Each payload is decoded again and
compared with the document (the codecs are lossless), and counted with its MQTT 5 QoS 1
PUBLISH and PUBACK packets (``uplink/wire.py``: fixed header, topic, packet id, content-type
property); TCP/IP and TLS framing are not counted.

Codecs: ``json``; ``compact`` as every batch self-contained (compact format 1, what a
backfill replay or the first batch of a day is); ``compact`` as the publisher sends it
(the day's first batch self-contained, each later one a delta frame against the previous
hour's batch of the same meters, compact format 2, docs/uplink.md). Goal: under 100 bytes
per meter-day with compact.

``python -m bench.uplink_bytes`` prints the figures.
"""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from uplink.codecs import CompactCodec, JsonCodec, Reference
from uplink.messages import iso_utc, readings_batch
from uplink.wire import qos1_exchange_bytes

TOPIC = "concentratord/gateway/gw-0001/event/readings"
METERS = 500  # uplink.batch_meters
START = datetime(2026, 3, 1, tzinfo=UTC)
GOAL_BYTES = 100


def kamstrup_water_day(meters: int = METERS, seed: int = 1) -> list[dict[str, Any]]:
    """24 hourly batches for a field of Kamstrup water meters, with every field that
    ``concentratord decode`` prints for them; ids spread over the whole 8-digit range (the
    uplink codec tests use the same day)."""
    rnd = random.Random(seed)
    field: list[list[Any]] = []
    for meter in sorted(rnd.sample(range(10_000_000, 100_000_000), meters)):
        litres = rnd.randrange(0, 2_000_000)
        target = max(0, litres - rnd.randrange(0, 15_000))
        field.append([str(meter), litres, target, rnd.randrange(6, 14), rnd.randrange(-100, -55)])
    batches = []
    for hour in range(24):
        end = START + timedelta(hours=hour + 1)
        rows = []
        for m in field:
            m[1] += rnd.choice([0, 0, 0, 1, 2, 5, 10, 20, 35])
            rows.append(
                {
                    "id": m[0],
                    "manufacturer": "KAM",
                    "media": "cold water",
                    "meter": "kamwater",
                    "current_status": "",
                    "time_dry": "",
                    "time_reversed": "",
                    "time_leaking": "",
                    "time_bursting": "",
                    "total_m3": m[1] / 1000,
                    "target_m3": m[2] / 1000,
                    "flow_temperature_c": m[3] + rnd.randrange(0, 2),
                    "min_external_temperature_last_month_c": 14,
                    "status": "OK",
                    "rssi_dbm": m[4] + rnd.randrange(-3, 4),
                    "link_mode": "c1",
                    "timestamp": iso_utc(end - timedelta(seconds=rnd.randrange(1, 17))),
                }
            )
        batches.append(
            readings_batch(
                gateway="gw-0001",
                message_id=100 + hour,
                batch_id=f"hourly-{int(end.timestamp())}-default-0",
                interval="hourly",
                interval_end=end,
                readings=rows,
            )
        )
    return batches


def measure(codec_name: str, batches: list[dict[str, Any]]) -> dict[str, Any]:
    """Wire bytes per meter-day and encode time of one codec mode over a day of batches."""
    codec: JsonCodec | CompactCodec = JsonCodec() if codec_name == "json" else CompactCodec()
    delta = codec_name == "compact-delta"
    held: dict[int, dict[str, Any]] = {}  # what the head-end decoded, by message id
    wire = payload_total = 0
    encode_s = 0.0
    previous: dict[str, Any] | None = None
    for batch in batches:
        start = time.perf_counter()
        if isinstance(codec, CompactCodec):
            ref = Reference(previous["message_id"], previous) if delta and previous else None
            payload = codec.encode(batch, ref)
            encode_s += time.perf_counter() - start
            decoded = codec.decode(payload, held)
        else:
            payload = codec.encode(batch)
            encode_s += time.perf_counter() - start
            decoded = codec.decode(payload)
        if decoded != batch:
            raise AssertionError(f"{codec_name}: batch {batch['batch_id']} did not round-trip")
        held[batch["message_id"]] = decoded
        previous = batch
        payload_total += len(payload)
        wire += qos1_exchange_bytes(
            TOPIC, len(payload), mqtt5=True, content_type=codec.content_type
        )
    meters = len(batches[0]["readings"])
    return {
        "bytes_per_meter_day": round(wire / meters, 1),
        "payload_bytes_per_batch": round(payload_total / len(batches)),
        "encode_ms_per_batch": round(1000 * encode_s / len(batches), 2),
    }


def main() -> dict[str, Any]:
    """Every codec mode; prints and returns the figures."""
    batches = kamstrup_water_day()
    runs = {name: measure(name, batches) for name in ("json", "compact-keyframes", "compact-delta")}
    for name, run in runs.items():
        print(
            f"uplink: {name:<18} {run['bytes_per_meter_day']:>8.1f} B/meter-day "
            f"({run['payload_bytes_per_batch']} B/batch of {METERS}, "
            f"encode {run['encode_ms_per_batch']} ms/batch)",
            flush=True,
        )
    print(f"uplink: goal < {GOAL_BYTES} B/meter-day with compact (as published: compact-delta)")
    return {"meters_per_batch": METERS, "batches_per_day": 24, "goal_bytes": GOAL_BYTES, **runs}


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
