"""The Prometheus exposition: the names the issue and docs/operations.md promise, each
value taken from the status and the tenants' counters."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from concentratord.metrics import Snapshot, exposition

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = {
    "concentratord_frames_total",
    "concentratord_radio_bad_frames_total",
    "concentratord_decode_errors_total",
    "concentratord_readings_total",
    "concentratord_meters_heard",
    "concentratord_alarms_total",
    "concentratord_outbox_pending",
    "concentratord_published_total",
    "concentratord_uplink_connected",
    "concentratord_radio_reconnects_total",
    "concentratord_store_bytes",
}


def snapshot() -> Snapshot:
    counters = {
        "frames": 120,
        "readings": 100,
        "repeats": 3,
        "link_errors": 2,
        "no_key": 4,
        "wrong_key": 1,
        "decode_errors": 5,
        "alarms": 2,
        "over_meter_limit": 0,
        "meters": 30,
        "radio_bad_frames": 7,
        "radio_reconnects": 1,
    }
    status = {
        "counters": counters,
        "uplink": {"water": {"connected": True}, "heat": {"connected": False}},
        "queue": {"pending": {"water": {"readings": 4, "alarm": 1}}, "file_bytes": 65536},
        "uptime_s": 60,
        "mbus": [
            {
                "port": "/dev/ttyUSB1",
                "open": True,
                "polls": 50,
                "answers": 47,
                "no_answer": 3,
                "port_errors": 1,
                "reconnects": 1,
            }
        ],
    }
    tenant = {"readings": 60, "alarms": 2, "published": 10, "meters": 20}
    heat = {"readings": 40, "alarms": 0, "published": 5, "meters": 10}
    return Snapshot(status, {"water": tenant, "heat": heat})


def samples() -> dict[str, float]:
    out = {}
    for family in text_string_to_metric_families(exposition(snapshot()).decode()):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


def test_every_promised_metric_is_exposed() -> None:
    names = {key.partition("{")[0] for key in samples()}
    assert names >= REQUIRED


def test_values_come_from_the_status_and_the_tenants() -> None:
    got = samples()
    assert got["concentratord_frames_total"] == 120
    assert got["concentratord_meters_heard"] == 30
    assert got["concentratord_decode_errors_total{reason=no_key}"] == 4
    assert got["concentratord_readings_total{tenant=water}"] == 60
    assert got["concentratord_uplink_connected{tenant=heat}"] == 0
    assert got["concentratord_outbox_pending{kind=alarm,tenant=water}"] == 1
    assert got["concentratord_outbox_pending{kind=event,tenant=heat}"] == 0
    assert got["concentratord_store_bytes"] == 65536


def test_wired_buses_are_counted_by_port() -> None:
    got = samples()
    assert got["concentratord_mbus_polls_total{port=/dev/ttyUSB1}"] == 50
    assert got["concentratord_mbus_no_answer_total{port=/dev/ttyUSB1}"] == 3
    assert got["concentratord_mbus_reconnects_total{port=/dev/ttyUSB1}"] == 1
    assert got["concentratord_mbus_port_open{port=/dev/ttyUSB1}"] == 1


def test_every_metric_is_documented_in_operations_md() -> None:
    text = (ROOT / "docs" / "operations.md").read_text()
    names = {key.partition("{")[0] for key in samples()}
    documented = set(re.findall(r"`(concentratord_[a-z_]+)`", text))
    assert names <= documented, sorted(names - documented)
