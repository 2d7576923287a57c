"""The store's disk quota reached in a running daemon (docs/design.md, "Nothing accepted is
lost": when the store is bounded and full, the oldest bulk data goes first, counted and
reported; alarms go last).

One scenario, run once for the module: ``storage.max_bytes`` at its minimum (1 MiB), the
broker down so nothing drains, 50 priority meters sent one per readings message every
5 simulated minutes at 7200x (600 rows a second), alarms raised in the field before the
store fills and while it is full. Then the broker comes up. The tests look at what the
daemon did and said.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from concentratord.ctl import ControlError, request
from concentratord.store import codec
from radio.sim.field import Field, FieldConfig
from radio.sim.imst import Im871aEmulator
from radio.sim.runner import FieldRunner
from tests.daemon_harness import (
    DaemonProcess,
    GatewayFiles,
    UplinkCollector,
    gateway_files,
    persistent_broker,
    wait_configured,
    wait_until,
)

SEED = 4711
MAX_BYTES = 1024 * 1024
SCALE = 7200.0  # the daemon's clock: a 5-minute interval every 42 ms
FIELD_SPEED = 200.0  # the field only has to be heard: 60 meters, 125 telegrams a second
CTL = Path(sys.executable).parent / "concentratorctl"
MIX = {"water": 1.0}


@dataclass
class Outcome:
    """What the scenario saw."""

    files: GatewayFiles
    stderr: str
    first_hit: dict[str, Any]  # queue stats when the quota was first reported
    full: dict[str, Any]  # queue stats (concentratorctl --json queue) with the store full
    status_full: dict[str, Any]  # daemon status with the store full
    frames_at_hit: int
    alive_full: bool
    rows: dict[int, tuple[str, dict[str, Any]]]  # the store file after the daemon stopped
    alarm_counter: int  # alarm events the daemon counted
    received_alarms: dict[int, dict[str, Any]]  # alarm events at the broker, by message id


def queue(files: GatewayFiles) -> dict[str, Any] | None:
    try:
        result = request(str(files.socket), "queue", {})
    except ControlError:
        return None
    assert isinstance(result, dict)
    return result


def daemon_status(files: GatewayFiles) -> dict[str, Any]:
    result = request(str(files.socket), "status", {})
    assert isinstance(result, dict)
    return result


def read_rows(path: Path) -> dict[int, tuple[str, dict[str, Any]]]:
    db = sqlite3.connect(path)
    try:
        rows = db.execute(
            "SELECT o.message_id, o.kind, d.body FROM outbox o"
            " JOIN document d ON d.message_id = o.message_id"
        ).fetchall()
    finally:
        db.close()
    return {int(m): (str(k), codec.decode(bytes(b))) for m, k, b in rows}


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    tmp = tmp_path_factory.mktemp("quota")
    # The head-end's session outlives the broker's stop (persistent_broker saves it), so
    # what the daemon publishes the moment the broker is back is queued for the head-end
    # even before it has reconnected: nothing is missed by a slow resubscription.
    broker = persistent_broker(tmp / "broker")
    broker.start()
    collector = UplinkCollector(broker, persistent=True)
    broker.stop()  # the head-end is unreachable
    field = Field(FieldConfig(meters=60, seed=SEED, mix=MIX, truth_depth=0))
    emulator = Im871aEmulator(str(tmp / "ttyEMU0"))
    emulator.start()
    runner = FieldRunner(field, emulator, time.time, speed=FIELD_SPEED)
    runner.start()
    files = gateway_files(
        tmp / "gw",
        broker_url=broker.url,
        radio_port=emulator.path,
        keys_text=field.keys_text(),
        time_scale=SCALE,
        priority_meters=[m.meter_id for m in field.meters[:50]],
        uplink={"batch_meters": 1, "reconnect_min_delay": 1.0, "reconnect_max_delay": 1.0},
        storage={"max_bytes": MAX_BYTES},
    )
    daemon = DaemonProcess(files)
    alarm_meters = [m.meter_id for m in field.meters[50:]]

    def raise_alarm(n: int) -> None:
        field.inject_alarm(alarm_meters[n], "leak")

    try:
        daemon.start()
        wait_configured(emulator, daemon)
        for n in range(3):  # the oldest rows in the store: alarms
            raise_alarm(n)
        wait_until(
            lambda: (q := queue(files)) is not None and q["quota_hits"] > 0,
            60.0,
            "quota reached",
            daemon,
        )
        first_hit = queue(files)
        assert first_hit is not None
        frames_at_hit = daemon_status(files)["counters"]["frames"]
        for n in range(3, 6):  # and more while the store is full
            raise_alarm(n)
            time.sleep(0.5)
        wait_until(lambda: daemon_status(files)["counters"]["alarms"] >= 6, 20.0, "alarms", daemon)
        time.sleep(1.0)  # more quota hits
        full_run = subprocess.run(
            [str(CTL), "--socket", str(files.socket), "--json", "queue"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        full = json.loads(full_run.stdout)
        status_full = daemon_status(files)
        alive_full = daemon.running
        # The head-end comes back: what is left drains, alarms first.
        broker.start()
        alarm_counter = int(status_full["counters"]["alarms"])

        def alarms_in() -> dict[int, dict[str, Any]]:
            return {int(d["message_id"]): d for d in collector.docs("event/alarm")}

        wait_until(lambda: len(alarms_in()) >= alarm_counter, 30.0, "alarms at broker", daemon)
        received_alarms = alarms_in()
        assert daemon.stop() == 0
        yield Outcome(
            files=files,
            stderr=files.stderr.read_text(errors="replace"),
            first_hit=first_hit,
            full=full,
            status_full=status_full,
            frames_at_hit=frames_at_hit,
            alive_full=alive_full,
            rows=read_rows(files.store),
            alarm_counter=alarm_counter,
            received_alarms=received_alarms,
        )
    finally:
        if daemon.running:
            daemon.kill()
        runner.request_stop()
        emulator.close()
        runner.stop()
        collector.close()
        broker.kill()


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_daemon_keeps_running_and_taking_telegrams_with_the_store_full(outcome: Outcome) -> None:
    assert outcome.alive_full
    assert outcome.status_full["counters"]["frames"] > outcome.frames_at_hit
    assert outcome.status_full["counters"]["batches"] > 0


def test_queue_stats_count_the_dropped_bulk_rows(outcome: Outcome) -> None:
    assert outcome.full["quota_hits"] > outcome.first_hit["quota_hits"] >= 1
    assert outcome.full["dropped_bulk"] > 0
    assert outcome.full["max_bytes"] == MAX_BYTES


def test_status_reports_the_drops(outcome: Outcome) -> None:
    assert outcome.status_full["queue"]["dropped_bulk"] > 0


def test_no_alarm_is_dropped(outcome: Outcome) -> None:
    assert outcome.full["dropped_alarms"] == 0
    assert outcome.full["pending"]["default"]["alarm"] == outcome.alarm_counter >= 6


def test_store_stays_within_its_quota(outcome: Outcome) -> None:
    assert outcome.full["used_bytes"] <= MAX_BYTES


def test_a_log_line_says_the_quota_dropped_data(outcome: Outcome) -> None:
    lines = [line for line in outcome.stderr.splitlines() if "reached its quota" in line]
    assert lines, outcome.stderr[-2000:]
    assert "WARNING" in lines[0] and "dropped" in lines[0] and str(MAX_BYTES) in lines[0]


def test_the_oldest_bulk_rows_go_first(outcome: Outcome) -> None:
    readings = [d for kind, d in outcome.rows.values() if kind == "readings"]
    ends = sorted({epoch(d["interval_end"]) for d in readings})
    assert ends, "no readings left at all"
    # What is left is the newest stretch, without holes; everything before it went, even
    # though the first alarms are older still.
    assert ends == [ends[0] + 300.0 * n for n in range(len(ends))]
    alarms = [epoch(d["timestamp"]) for kind, d in outcome.rows.values() if kind == "alarm"]
    assert ends[0] > min(alarms)


def test_every_alarm_reaches_the_broker_after_the_quota(outcome: Outcome) -> None:
    stored = {m: d for m, (kind, d) in outcome.rows.items() if kind == "alarm"}
    assert len(stored) == outcome.alarm_counter
    assert set(stored) <= set(outcome.received_alarms)
