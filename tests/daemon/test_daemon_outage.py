"""A broker outage of a simulated day, end to end: nothing missing, order kept, alarms first.

Simulated field -> emulated iM871A on a pty -> ``concentratord run`` (a real subprocess)
-> a real Mosquitto, stopped at 23:30 and started again at 23:30 the next (simulated) day.
The run goes at 2880x: the day without a broker passes in 30 s of real time. A leak
appears on a water meter at noon, while the broker is down.

The head-end in the test keeps a persistent MQTT session on a broker that saves it across
its restart, so whatever the daemon publishes once the broker is back is queued for it
even before it has reconnected: what it sees is exactly what the broker accepted.

What is checked here is completeness and order: every batch of every meter, each message
id once (or duplicates identical), ids ascending per kind, the alarm ahead of the backlog.
The values themselves are test_daemon_e2e.py's job: at 2880x a 40 ms stall of the daemon is
two simulated minutes, enough to carry a telegram across a boundary. The field still holds
back telegrams within 150 simulated seconds before a meter's boundary (5-minute for the
priority meters, hourly for the others), so that the set of meters in each batch is exact;
each row must still be a telegram the field delivered before the interval's end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from radio.sim.field import DEFAULT_EPOCH, Field, FieldConfig
from radio.sim.imst import Im871aEmulator
from radio.sim.runner import FieldRunner
from tests.daemon_harness import (
    DaemonProcess,
    FieldFeed,
    Uplink,
    UplinkCollector,
    epoch_of,
    gateway_files,
    iso,
    persistent_broker,
    readings_by_interval,
    shared_clock_origin,
    wait_configured,
    wait_until,
)

SCALE = 2880.0
GUARD_S = 150.0
HOUR = 3600.0
DAY = 86_400.0
EPOCH = DEFAULT_EPOCH - 2 * HOUR  # field time 0 is 2025-12-31T22:00:00Z
OUTAGE_START = DEFAULT_EPOCH - 30 * 60  # 23:30
LEAK_AT = DEFAULT_EPOCH + 12 * HOUR  # noon, broker down
OUTAGE_END = OUTAGE_START + DAY  # 23:30 the next day
LAST_HOUR = DEFAULT_EPOCH + 23 * HOUR  # the last hourly boundary before the broker is back
SEED = 77


@dataclass
class Outage:
    """What the run left for the tests."""

    field: Field
    messages: list[Uplink]  # every uplink message, in arrival order
    back: float  # time.monotonic() when the broker was started again
    priority: list[str]
    leak_meter: str
    started_at: float  # sim time (UTC) when the daemon was online

    def docs(self, kind: str) -> list[dict[str, Any]]:
        """Documents on ``.../gateway/{GATEWAY}/{kind}``, in arrival order."""
        return [m.doc for m in self.messages if m.kind() == kind and m.doc is not None]


def _batch(kind: str, end: float) -> Callable[[Uplink], bool]:
    def match(m: Uplink) -> bool:
        return (
            m.kind() == "event/readings"
            and m.doc is not None
            and m.doc["interval"] == kind
            and m.doc["interval_end"] == iso(end)
        )

    return match


def _leak_alarm(m: Uplink, meter: str) -> bool:
    return m.kind() == "event/alarm" and m.doc is not None and m.doc.get("id") == meter


@pytest.fixture(scope="module")
def outage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outage]:
    tmp = tmp_path_factory.mktemp("outage")
    mix = {"water": 0.7, "heat": 0.3}
    field = Field(FieldConfig(meters=12, seed=SEED, mix=mix, epoch=EPOCH, truth_depth=100_000))
    water = sorted(m.meter_id for m in field.meters if m.kind.name == "water")
    priority, leak_meter = water[:2], water[2]
    broker = persistent_broker(tmp / "broker")
    broker.start()
    collector = UplinkCollector(broker, persistent=True)
    emulator = Im871aEmulator(str(tmp / "ttyEMU0"))
    emulator.start()
    periods = {m.meter_id: HOUR for m in field.meters} | dict.fromkeys(priority, 300.0)
    feed = FieldFeed(field, guard_s=GUARD_S, guard_after_s=5.0, periods=periods)
    runner = FieldRunner(feed, emulator, time.time, speed=SCALE, truth=field.truth)
    runner.start()
    files = gateway_files(
        tmp / "gw",
        broker_url=broker.url,
        radio_port=emulator.path,
        keys_text=field.keys_text(),
        time_scale=SCALE,
        priority_meters=priority,
        **shared_clock_origin(runner.clock_at(0.0), EPOCH),
    )
    daemon = DaemonProcess(files)
    daemon.start()

    def wait_sim(when: float) -> None:
        wait_until(lambda: EPOCH + runner.sim_now() >= when, 120.0, f"sim time {iso(when)}", daemon)

    try:
        wait_configured(emulator, daemon)
        feed.arm()
        collector.wait_online(daemon=daemon)
        started_at = EPOCH + runner.sim_now()
        assert started_at < OUTAGE_START - 20 * 60, "the daemon took too long to start"
        wait_sim(OUTAGE_START)
        broker.stop()
        wait_sim(LEAK_AT)
        field.inject_alarm(leak_meter, "leak")
        wait_sim(OUTAGE_END)
        broker.start()
        back = time.monotonic()
        for kind, end in (("hourly", LAST_HOUR), ("5min", OUTAGE_END)):
            collector.wait_for(
                _batch(kind, end), timeout=60, daemon=daemon, what=f"{kind} batch {iso(end)}"
            )
        collector.wait_for(lambda m: _leak_alarm(m, leak_meter), daemon=daemon, what="alarm")
        runner.stop()
        yield Outage(field, collector.messages, back, priority, leak_meter, started_at)
    finally:
        runner.request_stop()
        emulator.close()
        runner.stop()
        try:
            assert daemon.stop() == 0, daemon.stderr_text()
        finally:
            collector.close()
            broker.kill()


def _due(outage: Outage, period: float, last: float) -> list[str]:
    first = ((outage.started_at + 300) // period + 1) * period
    return [iso(first + period * n) for n in range(int((last - first) // period) + 1)]


def _expected(outage: Outage, end: float, meters: list[str]) -> set[str]:
    return {m for m in meters if outage.field.truth.latest_before(m, end - EPOCH) is not None}


def _check_rows(outage: Outage, end_text: str, rows: dict[str, dict[str, Any]]) -> None:
    """Each row is one of the meter's telegrams the field delivered before the end."""
    end = epoch_of(end_text)
    for meter_id, row in rows.items():
        tx = outage.field.truth.latest_before(meter_id, epoch_of(row["timestamp"]) - EPOCH)
        assert tx is not None, (end_text, meter_id)
        assert {k: row.get(k) for k in tx.truth} == tx.truth, (end_text, meter_id)
        assert epoch_of(row["timestamp"]) < end, (end_text, meter_id)


def _intervals(outage: Outage, kind: str) -> dict[str, dict[str, dict[str, Any]]]:
    merged = readings_by_interval(outage.docs("event/readings"))
    return {end: rows for (k, end), rows in merged.items() if k == kind}


def test_every_hourly_batch_of_every_meter_arrives_after_the_outage(outage: Outage) -> None:
    hourly = _intervals(outage, "hourly")
    due = _due(outage, HOUR, LAST_HOUR)
    assert len(due) >= 24
    assert [e for e in due if e not in hourly] == []
    every = [m.meter_id for m in outage.field.meters]
    for end in due:
        assert set(hourly[end]) == _expected(outage, epoch_of(end), every), end
        _check_rows(outage, end, hourly[end])


def test_the_daily_batch_taken_during_the_outage_arrives(outage: Outage) -> None:
    daily = _intervals(outage, "daily")
    every = [m.meter_id for m in outage.field.meters]
    assert set(daily[iso(DEFAULT_EPOCH)]) == _expected(outage, DEFAULT_EPOCH, every)
    _check_rows(outage, iso(DEFAULT_EPOCH), daily[iso(DEFAULT_EPOCH)])


def test_every_5min_batch_of_the_priority_meters_arrives(outage: Outage) -> None:
    five = _intervals(outage, "5min")
    due = _due(outage, 300.0, (OUTAGE_END // 300) * 300)
    assert len(due) >= 288
    assert [e for e in due if e not in five] == [], sorted(five)[-8:]
    for end in due:
        assert set(five[end]) == _expected(outage, epoch_of(end), outage.priority), end
        _check_rows(outage, end, five[end])


def test_a_message_id_arrives_once_or_its_duplicates_are_identical(outage: Outage) -> None:
    by_id: dict[int, list[dict[str, Any]]] = {}
    for kind in ("event/readings", "event/alarm"):
        for doc in outage.docs(kind):
            by_id.setdefault(int(doc["message_id"]), []).append(doc)
    for message_id, docs in by_id.items():
        assert all(d == docs[0] for d in docs), message_id
    # One message per batch id: a batch republished under a new id would be a duplicate
    # the head-end cannot recognise.
    batches: dict[str, int] = {}
    for doc in outage.docs("event/readings"):
        assert batches.setdefault(doc["batch_id"], doc["message_id"]) == doc["message_id"]


@pytest.mark.parametrize("kind", ["event/readings", "event/alarm"])
def test_message_ids_ascend_per_kind(outage: Outage, kind: str) -> None:
    seen: set[int] = set()
    firsts = []
    for doc in outage.docs(kind):
        if doc["message_id"] not in seen:
            seen.add(doc["message_id"])
            firsts.append(doc["message_id"])
    assert firsts, kind
    assert firsts == sorted(firsts)


def test_the_alarm_raised_during_the_outage_arrives_before_the_backlog(outage: Outage) -> None:
    alarm_at = next(i for i, m in enumerate(outage.messages) if _leak_alarm(m, outage.leak_meter))
    alarm = outage.messages[alarm_at].doc
    assert alarm is not None and alarm["raised"] == ["LEAK"]
    assert OUTAGE_START < epoch_of(alarm["timestamp"]) < OUTAGE_END
    backlog = [
        i
        for i, m in enumerate(outage.messages)
        if m.kind() == "event/readings"
        and m.doc is not None
        and epoch_of(m.doc["interval_end"]) > OUTAGE_START
    ]
    assert backlog, "no batch from the outage arrived"
    assert alarm_at < backlog[0]
    assert outage.messages[alarm_at].received >= outage.back
