"""``concentratord run`` killed with SIGKILL (docs/design.md, "Nothing accepted is lost" and
the fault tests of "Testing: real parts only"): a real Mosquitto, the daemon as a
subprocess, a simulated field behind an emulated iM871A on a pty, the same store file across
every restart.

The kill loop: start the daemon, let it run for a seeded random time (sometimes not even
through start-up), inject or clear an alarm in the field now and then, SIGKILL it, and read
what the store file holds before the next start. Time runs 1800x, so 5-minute values of
the priority meters (every 0.17 s), hourly values (every 2 s) and alarms are produced
between kills. At the end a run with the field stopped and no schedules drains the outbox,
and every row the store ever held must have reached the broker, each message (a readings
batch, an alarm) under one message id only, its copies identical.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
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
    wait_configured,
    wait_until,
)
from tests.mqtt_broker import MosquittoBroker

SEED = 20260404
KILLS = 50
SCALE = 1800.0  # an hour every 2 s, a 5-minute interval every 0.17 s
MIX = {"water": 0.6, "heat": 0.2, "pressure": 0.1, "electricity": 0.1}
STORED_KINDS = ("alarm", "readings")


@dataclass
class Gateway:
    """The parts of one end-to-end run."""

    broker: MosquittoBroker
    collector: UplinkCollector
    field: Field
    emulator: Im871aEmulator
    runner: FieldRunner
    files: GatewayFiles
    daemon: DaemonProcess

    def meters_with_alarms(self) -> list[str]:
        """Ids of the meters that can raise an alarm (sorted, for seeded choices)."""
        return sorted(m.meter_id for m in self.field.meters if m.kind.alarms)


def start_gateway(
    tmp_path: Path,
    broker: MosquittoBroker,
    *,
    meters: int,
    scale: float,
    alarm_rate: float,
    priority: int,
) -> Iterator[Gateway]:
    """Head-end, field and daemon files on a running broker; the daemon is not started."""
    collector = UplinkCollector(broker)
    field = Field(
        FieldConfig(meters=meters, seed=SEED, mix=MIX, alarm_rate=alarm_rate, truth_depth=0)
    )
    emulator = Im871aEmulator(str(tmp_path / "ttyEMU0"))
    emulator.start()
    runner = FieldRunner(field, emulator, time.time, speed=scale)
    runner.start()
    files = gateway_files(
        tmp_path / "gw",
        broker_url=broker.url,
        radio_port=emulator.path,
        keys_text=field.keys_text(),
        time_scale=scale,
        priority_meters=[m.meter_id for m in field.meters[:priority]],
        uplink={"batch_meters": 1},  # one row per meter and interval: more rows to lose
        time_origin_real=runner.clock_at(0.0),  # the daemon's clock is the field's
        time_origin_sim=field.config.epoch,
    )
    daemon = DaemonProcess(files)
    try:
        yield Gateway(broker, collector, field, emulator, runner, files, daemon)
    finally:
        if daemon.running:
            daemon.kill()
        runner.request_stop()
        emulator.close()
        runner.stop()
        collector.close()


@pytest.fixture
def gateway(tmp_path: Path, broker: MosquittoBroker) -> Iterator[Gateway]:
    yield from start_gateway(tmp_path, broker, meters=12, scale=SCALE, alarm_rate=4.0, priority=4)


@pytest.fixture
def quiet_gateway(tmp_path: Path, broker: MosquittoBroker) -> Iterator[Gateway]:
    """Few meters, no random alarms, time at 360x (a meter sends every 0.27 s)."""
    yield from start_gateway(tmp_path, broker, meters=4, scale=360.0, alarm_rate=0.0, priority=0)


# -- reading the store and the broker ---------------------------------------------------


@dataclass(frozen=True)
class StoredRow:
    """One outbox row as the file holds it."""

    kind: str
    document: dict[str, Any]
    pending: bool


def read_store(path: Path) -> dict[int, StoredRow]:
    """Every outbox row of the store file (the daemon must not be running)."""
    if not path.exists():
        return {}
    db = sqlite3.connect(path)
    try:
        rows = db.execute(
            "SELECT o.message_id, o.kind, d.body, p.message_id IS NOT NULL FROM outbox o"
            " JOIN document d ON d.message_id = o.message_id"
            " LEFT JOIN pending p ON p.message_id = o.message_id"
        ).fetchall()
    finally:
        db.close()
    return {
        int(mid): StoredRow(str(kind), codec.decode(bytes(body)), bool(pending))
        for mid, kind, body, pending in rows
    }


def received(collector: UplinkCollector) -> dict[int, list[dict[str, Any]]]:
    """Alarm and readings documents the head-end got, by message id."""
    out: dict[int, list[dict[str, Any]]] = {}
    for kind in ("event/alarm", "event/readings"):
        for doc in collector.docs(kind):
            out.setdefault(int(doc["message_id"]), []).append(doc)
    return out


def identity(doc: dict[str, Any]) -> str:
    """What makes a message the same message, whatever its id: a readings batch by its
    batch id, an alarm by meter, time and change."""
    if doc["type"] == "readings":
        return f"readings {doc['batch_id']}"
    return f"alarm {doc['id']} {doc['timestamp']} {doc['raised']} {doc['cleared']}"


def status(files: GatewayFiles) -> dict[str, Any] | None:
    """The daemon's status over the control socket (None while it is not answering)."""
    try:
        result = request(str(files.socket), "status", {})
    except ControlError:
        return None
    assert isinstance(result, dict)
    return result


def wait_connected(gw: Gateway, timeout: float = 20.0) -> None:
    """The radio configured and the uplink connected."""

    def ready() -> bool:
        st = status(gw.files)
        return st is not None and all(u["connected"] for u in st["uplink"].values())

    wait_configured(gw.emulator, gw.daemon, timeout)
    wait_until(ready, timeout, "uplink connected", gw.daemon)


# -- the tests --------------------------------------------------------------------------


def test_sigkill_at_random_moments_loses_no_stored_row(gateway: Gateway) -> None:
    gw = gateway
    rng = random.Random(SEED)
    alarm_meters = gw.meters_with_alarms()
    ever: dict[int, StoredRow] = {}
    injected = 0
    for n in range(KILLS):
        gw.daemon.start()
        time.sleep(rng.uniform(0.05, 1.8))
        if n % 3 == 0:
            meter = rng.choice(alarm_meters)
            if gw.field.active_alarms(meter):
                gw.field.clear_alarm(meter)
            else:
                gw.field.inject_alarm(meter, rng.choice(gw.field.alarm_names(meter)))
                injected += 1
        assert gw.daemon.running, f"daemon died before kill {n}:\n{gw.daemon.stderr_text()}"
        gw.daemon.kill()
        for mid, row in read_store(gw.files.store).items():
            first = ever.setdefault(mid, row)
            assert first.document == row.document, f"message id {mid} reused for another row"
    # The drain: no more telegrams and no schedules, so the run adds no rows of its own.
    gw.runner.stop()
    gateway_files(
        gw.files.root,
        broker_url=gw.broker.url,
        radio_port=gw.emulator.path,
        keys_text=gw.field.keys_text(),
        time_scale=SCALE,
        uplink={"batch_meters": 1},
        hourly=False,
        daily=False,
    )
    gw.daemon.start()
    wait_connected(gw)

    def drained() -> bool:
        st = status(gw.files)
        return st is not None and st["queue"]["pending_total"] == 0

    wait_until(drained, 30.0, "outbox drained", gw.daemon)
    assert gw.daemon.stop() == 0
    final = read_store(gw.files.store)
    for mid, row in final.items():
        first = ever.setdefault(mid, row)
        assert first.document == row.document, f"message id {mid} reused for another row"
    assert not [mid for mid, row in final.items() if row.pending]
    stored = {mid: row for mid, row in ever.items() if row.kind in STORED_KINDS}
    wait_until(lambda: set(stored) <= set(received(gw.collector)), 10.0, "stored rows received")

    got = received(gw.collector)
    kinds = {kind: sum(1 for r in stored.values() if r.kind == kind) for kind in STORED_KINDS}
    assert kinds["alarm"] >= 10 and kinds["readings"] >= 100, kinds
    assert injected >= 5
    for mid, docs in got.items():
        # Copies of one message (a re-send after a kill before the PUBACK was recorded).
        assert all(d == docs[0] for d in docs), f"message id {mid} with different payloads"
        if mid in stored:
            expected = dict(stored[mid].document, message_id=mid)
            assert json.loads(json.dumps(expected)) == docs[0]
    ids_of: dict[str, set[int]] = {}
    for mid, docs in got.items():
        ids_of.setdefault(identity(docs[0]), set()).add(mid)
    twice = {key: ids for key, ids in ids_of.items() if len(ids) > 1}
    assert not twice, f"one message under several ids: {twice}"


def alarm_docs(gw: Gateway, meter: str) -> dict[int, dict[str, Any]]:
    """The alarm events of ``meter`` the head-end got, by message id."""
    return {int(d["message_id"]): d for d in gw.collector.docs("event/alarm") if d["id"] == meter}


def raise_and_report(gw: Gateway) -> tuple[str, dict[str, Any]]:
    """Start the daemon, raise an alarm on a meter, wait for its event; the meter and event."""
    meter = gw.meters_with_alarms()[0]
    gw.daemon.start()
    wait_connected(gw)
    gw.field.inject_alarm(meter, gw.field.alarm_names(meter)[0])
    event = gw.collector.wait_for(
        lambda m: m.kind() == "event/alarm" and m.doc is not None and m.doc["id"] == meter,
        20.0,
        gw.daemon,
        f"alarm of meter {meter}",
    )
    assert event.doc is not None and event.doc["raised"], event.doc
    return meter, event.doc


def telegrams_of(gw: Gateway, meter: str) -> int:
    """How many telegrams of ``meter`` the running daemon has taken (0 if not heard)."""
    try:
        result = request(str(gw.files.socket), "visible", {"serial": meter})
    except ControlError:
        return 0
    return int(result["telegrams"])


def test_restart_after_sigkill_does_not_raise_a_reported_alarm_again(
    quiet_gateway: Gateway,
) -> None:
    gw = quiet_gateway
    meter, first = raise_and_report(gw)
    gw.daemon.kill()
    gw.daemon.start()
    wait_connected(gw)
    wait_until(lambda: telegrams_of(gw, meter) >= 4, 20.0, "telegrams after restart", gw.daemon)
    gw.daemon.stop()
    assert list(alarm_docs(gw, meter)) == [first["message_id"]]


def test_alarm_cleared_while_the_daemon_was_down_is_reported_after_restart(
    quiet_gateway: Gateway,
) -> None:
    gw = quiet_gateway
    meter, first = raise_and_report(gw)
    gw.daemon.kill()
    gw.field.clear_alarm(meter)
    gw.daemon.start()
    event = gw.collector.wait_for(
        lambda m: m.kind() == "event/alarm" and m.doc is not None and m.doc["cleared"],
        20.0,
        gw.daemon,
        f"cleared alarm of meter {meter}",
    )
    assert event.doc is not None
    assert (event.doc["id"], event.doc["cleared"]) == (meter, first["raised"])
    assert event.doc["previous_status"] == first["status"]
    assert event.doc["status"] == "OK"
