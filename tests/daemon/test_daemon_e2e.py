"""The daemon's main job end to end (issue 4): simulated field -> emulated iM871A on a pty
-> ``concentratord run`` (a real subprocess) -> a real Mosquitto -> a head-end in the test.

One run (a module-scoped fixture) is shared by the tests below; each asserts one
behaviour. The field, the module emulator and the runner live in the test process; the
daemon shares their simulated time through ``schedule.time_origin_real`` /
``time_origin_sim``.

Time scale and guard band, honestly: the run goes at 720x (an hour in 5 s, 5 minutes in
0.42 s) from 22:40 to 02:00 UTC: about 17 s of real time for several 5-minute, three hourly
and one daily boundary. (A whole simulated day at 2880x, 30 s real, is
tests/daemon/test_daemon_outage.py.) A telegram's value is taken for an interval when the
daemon received it before the interval's end, and the daemon snapshots GRACE_S = 10 simulated
seconds (14 ms real here) after the boundary; reception latency (pty, driver, event loop,
an SQLite commit in between) times the scale can carry a telegram sent just before a
boundary across it: 50 ms is 36 simulated seconds. Runs at 1440x with a 90 s guard
(62 ms real) failed about one time in five on a loaded box. So that the comparison can be
exact, the field holds back (as if lost on the air) every telegram that starts within 150
simulated seconds (208 ms real) before, or 5 s after, one of its meter's boundaries:
5-minute boundaries for priority meters (old and new), hourly for the others; a meter
sending every 96 s still has a telegram in every 5-minute interval. Nothing else is
relaxed: each published interval value must be exactly (every decoded field) the ground
truth's latest telegram delivered before the interval's end, every meter heard must be in
each batch, and the reception timestamps must order like the telegrams.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from radio.sim.field import DEFAULT_EPOCH, Field, FieldConfig
from radio.sim.imst import Im871aEmulator
from radio.sim.runner import FieldRunner
from tests.daemon_harness import (
    GATEWAY,
    DaemonProcess,
    FieldFeed,
    Uplink,
    UplinkCollector,
    epoch_of,
    gateway_files,
    iso,
    readings_by_interval,
    shared_clock_origin,
    wait_configured,
    wait_until,
)
from tests.mqtt_broker import MosquittoBroker

SCALE = 720.0
GUARD_S = 150.0  # simulated seconds before a boundary: 208 ms real at 720x
GUARD_AFTER_S = 5.0
HOUR = 3600.0
EPOCH = DEFAULT_EPOCH - 80 * 60  # field time 0 is 2025-12-31T22:40:00Z
MIDNIGHT = DEFAULT_EPOCH
LEAK_AT = MIDNIGHT + 5 * 60  # 00:05: a leak appears on one water meter
LEAK_CLEARED_AT = MIDNIGHT + 40 * 60  # 00:40: and goes away
PRIORITY_CHANGE_AT = MIDNIGHT + 90 * 60  # 01:30: the head-end picks other priority meters
LAST_HOUR = MIDNIGHT + 2 * HOUR  # the run ends once the 02:00 hourly batch is in
SEED = 4242


@dataclass
class Run:
    """What the shared run left for the tests to look at."""

    field: Field
    broker: MosquittoBroker
    feed: FieldFeed
    runner: FieldRunner
    daemon: DaemonProcess
    collector: UplinkCollector
    messages: list[Uplink]  # everything up to the end of the field run
    priority: list[str]
    new_priority: list[str]
    priority_reply: dict[str, Any]
    priority_changed_at: float  # sim time (UTC) when the command's reply came back
    priority_sent_at: float  # sim time (UTC) just before the command was sent
    leak_meter: str
    wrong_key_meter: str
    started_at: float  # sim time (UTC) when the daemon was online

    def docs(self, kind: str) -> list[dict[str, Any]]:
        """Documents on ``.../gateway/{GATEWAY}/{kind}`` during the field run."""
        return [m.doc for m in self.messages if m.kind() == kind and m.doc is not None]

    def sim_now(self) -> float:
        """The shared simulated time, UTC."""
        return EPOCH + self.runner.sim_now()

    def wait_sim(self, when: float) -> None:
        """Sleep until the shared simulated time reaches ``when`` (UTC)."""
        wait_until(lambda: self.sim_now() >= when, 120.0, f"sim time {iso(when)}", self.daemon)


def _pick(field: Field, kind: str, count: int, skip: set[str]) -> list[str]:
    ids = sorted(m.meter_id for m in field.meters if m.kind.name == kind)
    return [i for i in ids if i not in skip][:count]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("e2e")
    mix = {"water": 0.6, "heat": 0.15, "electricity": 0.15, "oms_water": 0.1}
    field = Field(FieldConfig(meters=30, seed=SEED, mix=mix, epoch=EPOCH, truth_depth=100_000))
    priority = _pick(field, "water", 3, set())
    leak_meter, *_ = _pick(field, "water", 1, set(priority))
    wrong_key_meter, *_ = _pick(field, "electricity", 1, set())
    new_priority = _pick(field, "heat", 2, set())
    keys = field.keys()
    keys[wrong_key_meter] = bytes(16)
    keys_text = "".join(f"{i} {k.hex().upper()}\n" for i, k in keys.items())

    broker = MosquittoBroker(tmp / "broker")
    broker.start()
    collector = UplinkCollector(broker)
    emulator = Im871aEmulator(str(tmp / "ttyEMU0"))
    emulator.start()
    periods = {m.meter_id: HOUR for m in field.meters}
    periods |= dict.fromkeys(priority + new_priority, 300.0)
    feed = FieldFeed(field, guard_s=GUARD_S, guard_after_s=GUARD_AFTER_S, periods=periods)
    runner = FieldRunner(feed, emulator, time.time, speed=SCALE, truth=field.truth)
    runner.start()
    files = gateway_files(
        tmp / "gw",
        broker_url=broker.url,
        radio_port=emulator.path,
        keys_text=keys_text,
        mode="c1t1",
        time_scale=SCALE,
        priority_meters=priority,
        **shared_clock_origin(runner.clock_at(0.0), EPOCH),
    )
    daemon = DaemonProcess(files)
    daemon.start()
    try:
        wait_configured(emulator, daemon)
        feed.arm()
        collector.wait_online(daemon=daemon)
        started_at = EPOCH + runner.sim_now()
        assert started_at < MIDNIGHT - 10 * 60, "the daemon took too long to start"
        shared = Run(
            field,
            broker,
            feed,
            runner,
            daemon,
            collector,
            [],
            priority,
            new_priority,
            {},
            0.0,
            0.0,
            leak_meter,
            wrong_key_meter,
            started_at,
        )
        shared.wait_sim(LEAK_AT)
        field.inject_alarm(leak_meter, "leak")
        shared.wait_sim(LEAK_CLEARED_AT)
        field.clear_alarm(leak_meter, "leak")
        shared.wait_sim(PRIORITY_CHANGE_AT)
        shared.priority_sent_at = shared.sim_now()
        shared.priority_reply = collector.command(
            "set_priority_meters",
            {"gateway": GATEWAY, "args": {"meters": new_priority}},
            daemon=daemon,
        )
        shared.priority_changed_at = shared.sim_now()
        collector.wait_for(
            lambda m: (
                m.kind() == "event/readings"
                and m.doc is not None
                and m.doc["interval"] == "hourly"
                and m.doc["interval_end"] == iso(LAST_HOUR)
            ),
            timeout=30,
            daemon=daemon,
            what="the last hourly batch",
        )
        # An interval may take several batches (one per telegram layout): all of them.
        wait_until(
            lambda: daemon.control("queue")["pending_total"] == 0,
            30.0,
            "the outbox drained",
            daemon,
        )
        runner.stop()
        shared.messages = collector.messages
        yield shared
    finally:
        runner.request_stop()
        emulator.close()
        runner.stop()
        try:
            assert daemon.stop() == 0, daemon.stderr_text()
        finally:
            collector.close()
            broker.kill()


# -- interval values ---------------------------------------------------------------------


def _check_interval(run: Run, kind: str, end_text: str, rows: dict[str, dict[str, Any]]) -> None:
    end = epoch_of(end_text)
    for meter_id, row in rows.items():
        tx = run.field.truth.latest_before(meter_id, end - EPOCH)
        assert tx is not None, f"{kind} {end_text}: {meter_id} published but never delivered"
        expected = tx.truth
        got = {k: row.get(k) for k in expected}
        assert got == expected, f"{kind} {end_text} meter {meter_id}"
        received = epoch_of(row["timestamp"])
        assert EPOCH + tx.t <= received < end, (
            f"{kind} {end_text} meter {meter_id}: received {row['timestamp']}, "
            f"sent {iso(EPOCH + tx.t)}"
        )


def _expected_meters(run: Run, end: float, meters: list[str]) -> set[str]:
    return {
        m
        for m in meters
        if m != run.wrong_key_meter and run.field.truth.latest_before(m, end - EPOCH) is not None
    }


def _intervals(run: Run, kind: str) -> dict[str, dict[str, dict[str, Any]]]:
    merged = readings_by_interval(run.docs("event/readings"))
    return {end: rows for (k, end), rows in merged.items() if k == kind}


def _due(run: Run, period: float, last: float) -> list[str]:
    """Boundaries the daemon must have taken: from the first one a full 5 simulated minutes
    after it was online (its schedules start a moment after the online state) to ``last``."""
    first = ((run.started_at + 300) // period + 1) * period
    return [iso(first + period * n) for n in range(int((last - first) // period) + 1)]


def test_every_hourly_value_is_the_latest_telegram_before_the_hour(run: Run) -> None:
    hourly = _intervals(run, "hourly")
    assert [e for e in _due(run, HOUR, LAST_HOUR) if e not in hourly] == []
    every = [m.meter_id for m in run.field.meters]
    for end, rows in hourly.items():
        assert epoch_of(end) > run.started_at, end
        assert set(rows) == _expected_meters(run, epoch_of(end), every), end
        _check_interval(run, "hourly", end, rows)


def test_the_daily_value_is_the_latest_telegram_before_midnight(run: Run) -> None:
    daily = _intervals(run, "daily")
    assert list(daily) == [iso(MIDNIGHT)]
    rows = daily[iso(MIDNIGHT)]
    every = [m.meter_id for m in run.field.meters]
    assert set(rows) == _expected_meters(run, MIDNIGHT, every)
    _check_interval(run, "daily", iso(MIDNIGHT), rows)


def test_every_5min_value_of_the_priority_meters_is_exact(run: Run) -> None:
    five = _intervals(run, "5min")
    # Taken (at end + GRACE_S) surely before the set changed: ends a minute before.
    changed = ((run.priority_sent_at - 60) // 300) * 300
    assert [e for e in _due(run, 300.0, changed) if e not in five] == []
    for end, rows in five.items():
        assert epoch_of(end) > run.started_at, end
        if epoch_of(end) <= changed:
            assert set(rows) == _expected_meters(run, epoch_of(end), run.priority), end
            _check_interval(run, "5min", end, rows)


def test_interval_timestamps_keep_the_order_of_the_telegrams(run: Run) -> None:
    merged = readings_by_interval(run.docs("event/readings"))
    per_meter: dict[str, dict[str, float]] = {}  # meter -> published timestamp -> truth t
    for (_kind, end_text), rows in merged.items():
        for meter_id, row in rows.items():
            tx = run.field.truth.latest_before(meter_id, epoch_of(end_text) - EPOCH)
            assert tx is not None
            seen = per_meter.setdefault(meter_id, {})
            assert seen.setdefault(row["timestamp"], tx.t) == tx.t, (meter_id, row["timestamp"])
    for meter_id, seen in per_meter.items():
        by_published = [t for _, t in sorted(seen.items(), key=lambda kv: epoch_of(kv[0]))]
        assert by_published == sorted(by_published), meter_id
        assert len(set(by_published)) == len(by_published), meter_id


def test_readings_batches_carry_ascending_message_ids(run: Run) -> None:
    ids = [d["message_id"] for d in run.docs("event/readings")]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


# -- alarms ------------------------------------------------------------------------------


def _leak_alarms(run: Run) -> list[dict[str, Any]]:
    return [d for d in run.docs("event/alarm") if d["id"] == run.leak_meter]


def test_injected_leak_is_published_with_raised_flag(run: Run) -> None:
    raised = [d for d in _leak_alarms(run) if d["raised"]]
    assert len(raised) == 1, _leak_alarms(run)
    alarm = raised[0]
    assert alarm["raised"] == ["LEAK"]
    assert alarm["status"] == "LEAK"
    assert alarm["previous_status"] == "OK"
    assert alarm["gateway"] == GATEWAY
    # The telegram that showed it: the meter's first one after the injection.
    received = epoch_of(alarm["timestamp"])
    before = run.field.truth.latest_before(run.leak_meter, received - EPOCH)
    assert before is not None and before.t >= LEAK_AT - EPOCH
    assert "LEAK" in str(before.truth["status"])


def test_alarm_is_published_at_once_not_with_the_next_batch(run: Run) -> None:
    alarm = next(m for m in run.messages if m.kind() == "event/alarm" and m.doc and m.doc["raised"])
    assert alarm.doc is not None
    received = epoch_of(alarm.doc["timestamp"])
    # Published before the daemon took the next hourly boundary's values (55 simulated
    # minutes, 2.3 s real, after the telegram): not held for a schedule.
    next_hour = (received // HOUR + 1) * HOUR
    batch = next(
        m
        for m in run.messages
        if m.kind() == "event/readings"
        and m.doc is not None
        and m.doc["interval"] == "hourly"
        and m.doc["interval_end"] == iso(next_hour)
    )
    assert alarm.received < batch.received
    assert alarm.doc["message_id"] < batch.doc["message_id"]  # type: ignore[index]


def test_a_meter_that_keeps_sending_leak_raises_one_alarm(run: Run) -> None:
    leaking = [
        tx for tx in _meter_truth(run, run.leak_meter) if "LEAK" in str(tx.truth.get("status"))
    ]
    assert len(leaking) >= 10  # ~20 telegrams over 35 simulated minutes
    assert [d["raised"] for d in _leak_alarms(run) if d["raised"]] == [["LEAK"]]


def test_the_cleared_leak_is_published_once(run: Run) -> None:
    cleared = [d for d in _leak_alarms(run) if d["cleared"]]
    assert len(cleared) == 1
    assert cleared[0]["cleared"] == ["LEAK"]
    assert cleared[0]["status"] == "OK"
    assert epoch_of(cleared[0]["timestamp"]) >= LEAK_CLEARED_AT


def _status_alarms(run: Run) -> list[dict[str, Any]]:
    """Alarms the meters reported (not the gateway's METER_SILENT about a weak meter)."""
    silent = "METER_SILENT"
    return [d for d in run.docs("event/alarm") if silent not in d["raised"] + d["cleared"]]


def test_no_alarm_for_meters_without_one(run: Run) -> None:
    assert {d["id"] for d in _status_alarms(run)} == {run.leak_meter}


def _meter_truth(run: Run, meter_id: str) -> list[Any]:
    out = []
    t = run.runner.sim_now()
    while (tx := run.field.truth.latest_before(meter_id, t)) is not None:
        out.append(tx)
        t = tx.t - 1e-6
    return out[::-1]


# -- the wrong key -----------------------------------------------------------------------


def test_a_meter_with_a_wrong_key_is_counted_and_never_published(run: Run) -> None:
    reply = run.collector.command("get_status", {"gateway": GATEWAY}, daemon=run.daemon)
    counters = reply["result"]["counters"]
    assert counters["wrong_key"] > 0, counters
    assert len(_meter_truth(run, run.wrong_key_meter)) > 0
    for doc in run.docs("event/readings"):
        assert run.wrong_key_meter not in {r["id"] for r in doc["readings"]}


def test_a_wrong_key_is_reported_for_that_meter(run: Run) -> None:
    meter = run.daemon.control("visible", {"serial": run.wrong_key_meter})
    assert meter["decode_errors"] > 0, meter
    assert "key" in str(meter["last_error"]).lower(), meter
    rows = run.daemon.control("visible")["meters"]
    assert {m["id"] for m in rows if m["decode"] == "wrong_key"} == {run.wrong_key_meter}


# -- head-end commands -------------------------------------------------------------------


def test_get_status_replies_ok_with_the_gateway_status(run: Run) -> None:
    reply = run.collector.command("get_status", {"gateway": GATEWAY}, daemon=run.daemon)
    assert reply["ok"] is True, reply
    assert reply["command"] == "get_status"
    status = reply["result"]
    assert status["gateway"] == GATEWAY
    assert status["radio"]["configured"] is True
    assert status["counters"]["readings"] > 0
    assert status["uplink"]["default"]["connected"] is True


def test_set_priority_meters_replies_ok_and_changes_the_5min_batches(run: Run) -> None:
    assert run.priority_reply["ok"] is True, run.priority_reply
    assert run.priority_reply["result"]["priority_meters"] == sorted(run.new_priority)
    five = _intervals(run, "5min")
    after = [e for e in five if epoch_of(e) > run.priority_changed_at + 300]
    assert after, "no 5-minute batch after the change"
    for end in after:
        assert set(five[end]) == set(run.new_priority), end
        _check_interval(run, "5min", end, five[end])


def test_backfill_republishes_stored_rows_with_their_message_ids(run: Run) -> None:
    originals = {
        d["message_id"]: d
        for d in run.docs("event/readings")
        if d["interval"] == "hourly" and MIDNIGHT <= epoch_of(d["interval_end"]) <= LAST_HOUR
    }
    # Three hours (00:00, 01:00, 02:00), each in one batch per telegram layout.
    hours = {d["interval_end"] for d in originals.values()}
    assert len(hours) == 3
    before = len(run.collector.messages)
    args = {"from": iso(MIDNIGHT), "to": iso(LAST_HOUR + 1), "interval": "hourly"}
    reply = run.collector.command("backfill", {"gateway": GATEWAY, "args": args}, daemon=run.daemon)
    assert reply["ok"] is True, reply
    assert reply["result"]["messages"] == len(originals)
    wait_until(
        lambda: len(_replayed(run, before, set(originals))) >= len(originals),
        10.0,
        "backfilled batches",
        run.daemon,
    )
    replayed = _replayed(run, before, set(originals))
    assert {d["message_id"] for d in replayed} == set(originals)
    for doc in replayed:
        assert doc == originals[doc["message_id"]]


def _replayed(run: Run, since: int, ids: set[int]) -> list[dict[str, Any]]:
    return [
        m.doc
        for m in run.collector.messages[since:]
        if m.kind() == "event/readings" and m.doc is not None and m.doc["message_id"] in ids
    ]


def test_a_malformed_command_is_refused_with_a_reason(run: Run) -> None:
    reply = run.collector.command("get_status", b"{not json", daemon=run.daemon)
    assert reply["ok"] is False
    assert isinstance(reply["error"], str) and reply["error"]


def test_a_command_with_unknown_arguments_is_refused_with_a_reason(run: Run) -> None:
    reply = run.collector.command(
        "set_priority_meters",
        {"gateway": GATEWAY, "args": {"meters": "12345678"}},
        daemon=run.daemon,
    )
    assert reply["ok"] is False
    assert "meters" in reply["error"]


def test_a_command_for_another_gateway_is_refused_with_a_reason(run: Run) -> None:
    reply = run.collector.command("get_status", {"gateway": "gw-other"}, daemon=run.daemon)
    assert reply["ok"] is False
    assert "gw-other" in reply["error"] or "gateway" in reply["error"]


def test_the_online_state_is_retained_for_late_subscribers(run: Run) -> None:
    late = UplinkCollector(run.broker, client_id="late-headend")
    try:
        state = late.wait_for(lambda m: m.kind() == "state", daemon=run.daemon, what="state")
    finally:
        late.close()
    assert state.retain is True
    assert state.doc is not None and state.doc["state"] == "online"
