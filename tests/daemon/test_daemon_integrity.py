"""Field integrity at the edges a real gateway meets (issue 7, decision 0006): a clock that
steps back, a corrupt store, a store that cannot be written, a full disk, a burst of
commands, and inputs beyond their limits.

Each scenario runs ``concentratord run`` as a subprocess against a simulated field behind an
emulated iM871A on a pty and a real Mosquitto on a loopback port, at 720x (an hour every 5
real seconds). The head-end in the test keeps every message it receives.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from concentratord.control import MAX_REQUEST
from concentratord.ctl import ControlError
from radio.sim.field import DEFAULT_EPOCH, Field, FieldConfig
from radio.sim.imst import Im871aEmulator
from radio.sim.runner import FieldRunner
from tests.daemon_harness import (
    GATEWAY,
    PREFIX,
    DaemonProcess,
    GatewayFiles,
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
from tests.fs_faults import fill, immutable, small_tmpfs
from tests.mqtt_broker import HOST, MosquittoBroker

SCALE = 720.0
HOUR = 3600.0
EPOCH = DEFAULT_EPOCH - 2 * HOUR
SEED = 4242


@dataclass
class Rig:
    """Broker, head-end, field, emulated module and one gateway's files."""

    tmp: Path
    broker: MosquittoBroker
    collector: UplinkCollector
    field: Field
    runner: FieldRunner
    emulator: Im871aEmulator
    files: GatewayFiles
    water: list[str]

    def daemon(self) -> DaemonProcess:
        """A daemon on the rig's files (not started)."""
        return DaemonProcess(self.files)

    def sim_now(self) -> float:
        """The field's time, UTC seconds."""
        return EPOCH + self.runner.sim_now()

    def ready(self, daemon: DaemonProcess) -> None:
        """Wait until the module is configured and the control socket answers (it opens
        after the uplinks have started)."""
        wait_configured(self.emulator, daemon)

        def answers() -> bool:
            try:
                self.status(daemon)
            except (OSError, ControlError):
                return False
            return True

        wait_until(answers, 30, "the control socket", daemon)

    def status(self, daemon: DaemonProcess) -> dict[str, Any]:
        """``concentratorctl status`` as JSON."""
        result = daemon.control("status")
        assert isinstance(result, dict)
        return result

    def write_config(self, **changes: Any) -> None:
        """Rewrite the gateway's configuration with other ``gateway_files`` keywords."""
        self.files = gateway_files(self.files.root, **{**self._config, **changes})

    _config: dict[str, Any]


@contextlib.contextmanager
def rig(tmp: Path, *, store: Path | None = None, meters: int = 6) -> Iterator[Rig]:
    """A running field and broker; the caller starts the daemon (see :meth:`Rig.daemon`).
    ``store``: where the store file goes (else in the gateway's state directory)."""
    broker = persistent_broker(tmp / "broker")
    broker.start()
    collector = UplinkCollector(broker, persistent=True)
    field = Field(FieldConfig(meters=meters, seed=SEED, mix={"water": 1.0}, epoch=EPOCH))
    emulator = Im871aEmulator(str(tmp / "ttyEMU0"))
    emulator.start()
    runner = FieldRunner(field, emulator, time.time, speed=SCALE)
    runner.start()
    water = sorted(m.meter_id for m in field.meters)
    config: dict[str, Any] = {
        "broker_url": broker.url,
        "radio_port": emulator.path,
        "keys_text": field.keys_text(),
        "time_scale": SCALE,
        "priority_meters": water[:2],
        "storage": {"path": str(store)} if store is not None else None,
        **shared_clock_origin(runner.clock_at(0.0), EPOCH),
    }
    files = gateway_files(tmp / "gw", **config)
    the_rig = Rig(tmp, broker, collector, field, runner, emulator, files, water, config)
    try:
        yield the_rig
    finally:
        runner.request_stop()
        emulator.close()
        runner.stop()
        collector.close()
        broker.kill()


def observed(**figures: object) -> None:
    """What a scenario saw, for the record (shown with ``pytest -s``)."""
    print("observed:", ", ".join(f"{k}={v}" for k, v in figures.items()))


def readings(messages: list[Uplink]) -> list[dict[str, Any]]:
    return [m.doc for m in messages if m.kind() == "event/readings" and m.doc is not None]


def gateway_alarms(messages: list[Uplink], name: str) -> list[dict[str, Any]]:
    return [
        m.doc
        for m in messages
        if m.doc is not None and m.doc.get("type") == "gateway_alarm" and m.doc["alarm"] == name
    ]


def meter_alarms(messages: list[Uplink]) -> list[dict[str, Any]]:
    return [m.doc for m in messages if m.doc is not None and m.doc.get("type") == "alarm"]


def ids(messages: list[Uplink]) -> list[int]:
    return [int(m.doc["message_id"]) for m in messages if m.doc and "message_id" in m.doc]


def stop(daemon: DaemonProcess) -> None:
    if daemon.running:
        assert daemon.stop() == 0, daemon.stderr_text()


# -- (1) the clock steps back ------------------------------------------------------------


def test_a_clock_behind_the_store_relabels_nothing_and_resumes_at_the_next_boundary(
    tmp_path: Path,
) -> None:
    with rig(tmp_path) as r:
        daemon = r.daemon()
        daemon.start()
        try:
            r.ready(daemon)
            r.collector.wait_online(daemon=daemon)
            wait_until(
                lambda: len({d["interval_end"] for d in readings(r.collector.messages)
                             if d["interval"] == "hourly"}) >= 2,
                60, "two hourly batches", daemon,
            )  # fmt: skip
        finally:
            stop(daemon)
        before = r.collector.messages
        newest = max(epoch_of(d["interval_end"]) for d in readings(before))

        # Restarted 5 hours behind the newest interval it delivered (fake-hwclock, no NTP).
        behind = r.runner.clock_at(0.0)
        r.write_config(time_origin_real=behind, time_origin_sim=EPOCH - 5 * HOUR)
        daemon = r.daemon()
        daemon.start()
        try:
            r.ready(daemon)
            stepped = r.collector.wait_for(
                lambda m: m.doc is not None and m.doc.get("alarm") == "CLOCK_STEPPED_BACK",
                30, daemon, "CLOCK_STEPPED_BACK",
            )  # fmt: skip
            assert stepped.doc is not None and stepped.doc["clock_synchronised"] is False
            r.field.inject_alarm(r.water[3], "leak")
            leak = r.collector.wait_for(
                lambda m: m.doc is not None and m.doc.get("id") == r.water[3]
                and m.kind() == "event/alarm", 30, daemon, "the leak alarm",
            )  # fmt: skip
            assert leak.doc is not None and leak.doc["clock_synchronised"] is False
            status = r.status(daemon)
            assert status["clock"]["behind_store"] is True and status["clock"]["trusted"] is False
            received = status["counters"]["readings"]
            wait_until(
                lambda: r.status(daemon)["counters"]["readings"] > received + 5,
                30, "readings while the clock is behind", daemon,
            )  # fmt: skip
            # The clock passes the stored point (5 h at 720x: 25 s) and the next boundary.
            resumed_at = (newest // HOUR + 1) * HOUR
            r.collector.wait_for(
                lambda m: m.kind() == "event/readings" and m.doc is not None
                and epoch_of(m.doc["interval_end"]) > newest,
                60, daemon, "a batch after the stored point",
            )  # fmt: skip
            cleared = r.collector.wait_for(
                lambda m: m.doc is not None and m.doc.get("alarm") == "CLOCK_STEPPED_BACK"
                and m.doc.get("state") == "cleared", 30, daemon, "CLOCK_STEPPED_BACK cleared",
            )  # fmt: skip
            assert cleared.doc is not None
            r.collector.wait_for(
                lambda m: m.kind() == "event/readings" and m.doc is not None
                and m.doc["interval"] == "hourly"
                and epoch_of(m.doc["interval_end"]) == resumed_at,
                30, daemon, f"the hourly batch at {iso(resumed_at)}",
            )  # fmt: skip
        finally:
            stop(daemon)
        after = r.collector.messages[len(before) :]
        # Nothing labelled at or before the newest interval delivered before the restart...
        batches = readings(after)
        assert [d["batch_id"] for d in batches if epoch_of(d["interval_end"]) <= newest] == []
        # ... the hourly batches resume at the next boundary after it, none skipped...
        hourly = {epoch_of(d["interval_end"]) for d in batches if d["interval"] == "hourly"}
        assert min(hourly) == resumed_at
        # ... and no interval is published twice under different ids (raises if so).
        readings_by_interval(readings(r.collector.messages))
        observed(
            newest_delivered=iso(newest),
            first_hourly_after=iso(min(hourly)),
            batches_after=len(batches),
            alarm_flagged=leak.doc["clock_synchronised"],
        )


# -- (2) a corrupt store -----------------------------------------------------------------


def test_ids_after_a_store_recovery_are_above_every_id_before_it(tmp_path: Path) -> None:
    with rig(tmp_path) as r:
        daemon = r.daemon()
        daemon.start()
        try:
            r.ready(daemon)
            r.collector.wait_online(daemon=daemon)
            r.collector.command("get_status", {"gateway": GATEWAY}, daemon=daemon)
            wait_until(lambda: len(readings(r.collector.messages)) >= 10, 60, "batches", daemon)
        finally:
            stop(daemon)
        before = r.collector.messages
        store = r.files.store
        with store.open("r+b") as f:
            f.truncate(store.stat().st_size // 2)

        daemon = r.daemon()
        daemon.start()
        try:
            r.ready(daemon)
            r.collector.wait_for(
                lambda m: m.doc is not None and m.doc.get("alarm") == "STORE_CORRUPT",
                30, daemon, "STORE_CORRUPT",
            )  # fmt: skip
            r.collector.command("get_status", {"gateway": GATEWAY}, daemon=daemon)
            count = len(r.collector.messages)
            wait_until(
                lambda: len(readings(r.collector.messages[count:])) >= 3, 60, "batches", daemon
            )
        finally:
            stop(daemon)
        after = r.collector.messages[len(before) :]
        assert gateway_alarms(after, "STORE_CORRUPT")
        assert min(ids(after)) > max(ids(before)), (max(ids(before)), sorted(ids(after))[:5])
        assert list(store.parent.glob("store.sqlite.corrupt-1"))
        observed(max_id_before=max(ids(before)), min_id_after=min(ids(after)))


# -- (3) a store that cannot be written ----------------------------------------------------


def test_an_immutable_wal_stops_the_start_and_its_rows_go_out_later_under_their_ids(
    tmp_path: Path,
) -> None:
    with rig(tmp_path) as r:
        r.broker.stop()  # the rows stay pending
        daemon = r.daemon()
        daemon.start()
        try:
            r.ready(daemon)
            wait_until(
                lambda: r.status(daemon)["queue"]["pending_total"] >= 5, 60, "pending rows", daemon
            )
        finally:
            daemon.kill()  # a power cut: the rows are in the WAL
        wal = Path(f"{r.files.store}-wal")
        assert wal.exists() and wal.stat().st_size > 0
        pending = _pending_ids(r.files.store)
        assert len(pending) >= 5

        with immutable(wal):
            daemon = r.daemon()
            daemon.start()
            wait_until(lambda: not daemon.running, 30, "the daemon to give up")
            assert daemon.returncode == 1
            assert "cannot be written" in daemon.stderr_text()
            assert not list(r.files.store.parent.glob("*corrupt*"))
            refused = daemon.stderr_text().strip().splitlines()[-1]

        r.broker.start()
        daemon = r.daemon()
        daemon.start()
        try:
            r.ready(daemon)
            delivered = set(pending)
            wait_until(
                lambda: delivered <= set(ids(r.collector.messages)), 60, "the old rows", daemon
            )
        finally:
            stop(daemon)
        assert not list(r.files.store.parent.glob("*corrupt*"))
        observed(pending_ids=f"{min(pending)}..{max(pending)} ({len(pending)})", refused=refused)


def _pending_ids(store: Path) -> list[int]:
    """The pending message ids of a store left by a killed daemon, read from a copy (the
    original stays exactly as it is)."""
    copy = Path(tempfile.mkdtemp(prefix="concentratord-copy-"))
    try:
        for suffix in ("", "-wal"):
            shutil.copy(f"{store}{suffix}", copy / f"s.sqlite{suffix}")
        db = sqlite3.connect(copy / "s.sqlite")
        try:
            return [int(r[0]) for r in db.execute("SELECT message_id FROM pending")]
        finally:
            db.close()
    finally:
        shutil.rmtree(copy)


# -- (4) a full disk ---------------------------------------------------------------------


def test_every_alarm_raised_on_a_full_disk_is_delivered_or_counted(tmp_path: Path) -> None:
    with small_tmpfs(4 << 20) as mount, rig(tmp_path, store=mount / "store.sqlite") as r:
        r.broker.stop()
        daemon = r.daemon()
        daemon.start()
        try:
            r.ready(daemon)
            # Filled as soon as the store has rows: before its WAL has room to spare.
            wait_until(lambda: r.status(daemon)["queue"]["pending_total"] >= 1, 60, "rows", daemon)
            ballast = fill(mount)
            for meter in r.water[2:6]:  # each a LEAK raised, a telegram later
                r.field.inject_alarm(meter, "leak")
            wait_until(
                lambda: r.status(daemon)["counters"]["store_failures.alarm"] >= 4,
                60, "the four alarms refused by the store", daemon,
            )  # fmt: skip
            ballast.unlink()  # space returns
            r.broker.start()
            wait_until(
                lambda: r.status(daemon)["store"]["writable"], 60, "the store writable", daemon
            )

            def settled() -> bool:
                status = r.status(daemon)
                waiting = status["store"]["waiting_in_memory"]["alarm"]
                return (
                    waiting == 0
                    and status["queue"]["pending"].get("default", {}).get("alarm", 0) == 0
                )

            wait_until(settled, 60, "every alarm out", daemon)
            status = r.status(daemon)
            lost = status["queue"]["dropped_alarms"] + status["counters"]["unstored_dropped.alarm"]

            def received() -> bool:
                # The broker acknowledged them; the head-end (reconnecting to the restarted
                # broker, 1-2 s of back-off) gets them from its kept session.
                alarms = {d["message_id"] for d in meter_alarms(r.collector.messages)}
                return len(alarms) + lost >= status["counters"]["alarms"]

            wait_until(received, 20, "the alarms at the head-end", daemon)
        finally:
            stop(daemon)
        messages = r.collector.messages
        delivered = {d["message_id"] for d in meter_alarms(messages)}
        counted = status["queue"]["dropped_alarms"] + status["counters"]["unstored_dropped.alarm"]
        raised = status["counters"]["alarms"]
        assert raised == len(delivered) + counted, (raised, len(delivered), counted)
        assert status["counters"]["store_failures.alarm"] >= 1
        full = gateway_alarms(messages, "STORE_FULL")
        assert [d.get("state", "raised") for d in full][:1] == ["raised"]
        assert "cleared" in [d.get("state") for d in full]
        observed(
            raised=raised,
            delivered=len(delivered),
            counted=counted,
            store_failures=status["counters"]["store_failures.alarm"],
            readings_refused=status["counters"]["store_failures.readings"],
            readings_dropped_from_memory=status["counters"]["unstored_dropped.readings"],
        )


# -- (5) a burst of commands ---------------------------------------------------------------


def test_every_command_of_a_burst_gets_a_reply(tmp_path: Path) -> None:
    burst = 10_000
    with rig(tmp_path) as r:
        daemon = r.daemon()
        daemon.start()
        try:
            r.ready(daemon)
            r.collector.wait_online(daemon=daemon)
            client, replies = _burst(r.broker, "get_status", burst)
            try:
                wait_until(lambda: len(replies) >= burst, 120, f"{burst} replies", daemon, 0.2)
            finally:
                client.disconnect()
                client.loop_stop()
            batches = len(readings(r.collector.messages))
            wait_until(
                lambda: len(readings(r.collector.messages)) > batches + 3,
                30, "readings after the burst", daemon,
            )  # fmt: skip
        finally:
            stop(daemon)
        outcomes = {"ok" if doc["ok"] else doc["error"].split(":")[0] for doc in replies.values()}
        assert len(replies) == burst
        assert outcomes <= {"ok", "busy"}, outcomes
        assert "Traceback" not in daemon.stderr_text()
        observed(
            replies=len(replies),
            ok=sum(1 for d in replies.values() if d["ok"]),
            busy=sum(1 for d in replies.values() if not d["ok"]),
        )


def _burst(
    broker: MosquittoBroker, name: str, count: int
) -> tuple[paho.Client, dict[bytes, dict[str, Any]]]:
    """Publish ``count`` commands as fast as the client can; the client (to close) and the
    replies by correlation data (filled in as they arrive)."""
    replies: dict[bytes, dict[str, Any]] = {}
    reply_topic = f"{PREFIX}/headend/burst"
    client = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id="burst",
        protocol=MQTTProtocolVersion.MQTTv5,
    )

    def on_message(_c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        correlation = getattr(msg.properties, "CorrelationData", None)
        if correlation is not None:
            replies[bytes(correlation)] = json.loads(msg.payload)

    client.on_message = on_message
    client.connect(HOST, broker.port)
    client.loop_start()
    client.subscribe(reply_topic, qos=1)
    time.sleep(0.2)
    payload = json.dumps({"gateway": GATEWAY}).encode()
    topic = f"{PREFIX}/gateway/{GATEWAY}/command/{name}"
    for n in range(count):
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ResponseTopic = reply_topic
        props.CorrelationData = b"%d" % n
        client.publish(topic, payload, qos=1, properties=props)
    return client, replies


# -- (6) inputs beyond their limits --------------------------------------------------------


def test_inputs_beyond_their_limits_are_refused_with_the_reason(tmp_path: Path) -> None:
    with rig(tmp_path, meters=2) as r:
        daemon = r.daemon()
        daemon.start()
        try:
            r.ready(daemon)
            r.collector.wait_online(daemon=daemon)
            assert _control_line(r.files.socket, b"x" * (MAX_REQUEST + 100 * 1024)) == {
                "ok": False,
                "error": "request too long",
            }
            assert r.status(daemon)["gateway"] == GATEWAY  # still up

            foreign = f"{PREFIX}/gateway/{GATEWAY}/event/alarm"
            reply = r.collector.command(
                "get_status", {"gateway": GATEWAY, "reply_to": foreign}, daemon=daemon
            )
            assert reply["ok"] is False and "reply prefix" in reply["error"], reply
            for size in (10_000, 10_000_000):  # past its own limit; past the payload's too
                huge = "c" * size
                reply = r.collector.command(
                    "get_status", {"gateway": GATEWAY, "correlation_id": huge}, daemon=daemon
                )
                assert reply["ok"] is False, reply
                assert "correlation_id" not in reply and huge not in reply["error"]
                assert "256" in reply["error"] or "65536" in reply["error"], reply
        finally:
            stop(daemon)
        on_foreign = [m for m in r.collector.messages if m.topic == foreign]
        assert [m.doc.get("type") for m in on_foreign if m.doc] == []
        assert "Traceback" not in daemon.stderr_text()


def _control_line(path: Path, line: bytes) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(path))
        s.sendall(line + b"\n")
        s.shutdown(socket.SHUT_WR)
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    result = json.loads(data)
    assert isinstance(result, dict)
    return result
