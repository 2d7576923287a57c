"""A gateway shared by utilities, against the running daemon: each tenant's head-end gets
its own meters and nothing of the other's, on a real Mosquitto that enforces it too.

Simulated field -> emulated iM871A on a pty -> ``concentratord run`` -> one Mosquitto with a
password file and an ACL file: broker user ``utility-a`` may read and write ``a/#`` only,
``utility-b`` ``b/#``, ``utility-c`` ``c/#``. The daemon's tenants ``a`` (meters ``1000*``)
and ``b`` (``2000*``) log in with their own users; a meter ``40000001`` belongs to neither
(a neighbour's), and ``3000*`` are the meters of ``c``, a utility that joins at run time
with a share ID. Each head-end in the test logs in as its utility's user and subscribes to
``#``: what it receives is all the broker lets it read.

Seven Kamstrup water meters in fixed-network mode (C1 every 96 s), at 720x: an hour of
gateway time every 5 s, so hourly batches arrive in seconds. One module-scoped run serves
every test; the tenant added at run time comes after the isolation tests, and the restart
is last.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from concentratord.ctl import ControlError
from radio.sim.field import DEFAULT_EPOCH, Field, FieldConfig
from radio.sim.imst import Im871aEmulator
from radio.sim.kinds import EllTemplate
from radio.sim.runner import FieldRunner
from tests.daemon_harness import (
    DAEMON,
    UPLINK_DEFAULTS,
    ClockOrigin,
    DaemonProcess,
    GatewayFiles,
    epoch_of,
    gateway_files,
    shared_clock_origin,
    wait_configured,
    wait_until,
)
from tests.mqtt_broker import HOST, MosquittoBroker, Subscriber

GATEWAY = "gw-tenancy"
SCALE = 720.0  # an hour of gateway time every 5 s
EPOCH = DEFAULT_EPOCH - 40 * 60  # field time 0 is 2025-12-31T23:20:00Z
A_METERS = ["10000001", "10000002"]
B_METERS = ["20000001", "20000002"]
C_METERS = ["30000001", "30000002"]
NEIGHBOUR = "40000001"
UNHEARD = "99999999"
PASSWORDS = {
    "utility-a": "secret-of-utility-a",
    "utility-b": "secret-of-utility-b",
    "utility-c": "secret-of-utility-c",
}
ACL = {
    "utility-a": [("readwrite", "a/#")],
    "utility-b": [("readwrite", "b/#")],
    "utility-c": [("readwrite", "c/#")],
}
WAITING = "waiting for its share ID"


# -- the field -----------------------------------------------------------------------------


def _field(ids: list[str]) -> Field:
    """Kamstrup water meters with these ids (the field draws random ones: renumbered, each
    frame template rebuilt by the field's own builder for its new address)."""
    field = Field(
        FieldConfig(
            meters=len(ids),
            mode="fixed",
            mix={"water": 1.0},
            seed=7,
            epoch=EPOCH,
            collisions=False,
            sensitivity_dbm=-130.0,
            truth_depth=0,
        )
    )
    for meter, meter_id in zip(field.meters, ids, strict=True):
        meter.meter_id = meter_id
        if meter.template is not None:
            meter.template = EllTemplate(meter.kind, meter.kind.address(meter_id), meter.key)
    field.by_id = {m.meter_id: m for m in field.meters}
    return field


# -- a utility's head-end ------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One message a head-end received; ``doc`` is the JSON payload (None if not JSON)."""

    topic: str
    doc: dict[str, Any] | None
    correlation: bytes | None


class HeadEnd:
    """A utility's head-end: logged in as its broker user, subscribed to ``#`` (the ACL
    decides what arrives), sending commands with an MQTT 5 response topic under
    ``{prefix}/headend/`` (the tenant's default reply prefix)."""

    def __init__(self, broker: MosquittoBroker, prefix: str, user: str) -> None:
        self.prefix = prefix
        self.client_id = f"{prefix}-headend"
        self._seen: list[Seen] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self._count = 0
        self.client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self.client.username_pw_set(user, PASSWORDS[user])
        self.client.on_connect = lambda c, *_: c.subscribe("#", qos=1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(HOST, broker.port, keepalive=30)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError(f"head-end {prefix}: no SUBACK")

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        try:
            value = json.loads(bytes(msg.payload))
        except ValueError:
            value = None
        correlation = getattr(getattr(msg, "properties", None), "CorrelationData", None)
        seen = Seen(msg.topic, value if isinstance(value, dict) else None, correlation)
        with self._cond:
            self._seen.append(seen)
            self._cond.notify_all()

    @property
    def seen(self) -> list[Seen]:
        """Every message so far (a copy)."""
        with self._cond:
            return list(self._seen)

    def docs(self, kind: str) -> list[dict[str, Any]]:
        """The documents on ``{prefix}/gateway/{GATEWAY}/{kind}``, in arrival order."""
        topic = f"{self.prefix}/gateway/{GATEWAY}/{kind}"
        return [m.doc for m in self.seen if m.topic == topic and m.doc is not None]

    def command(
        self,
        name: str,
        args: dict[str, Any] | None = None,
        *,
        share_id: str | None = None,
        daemon: DaemonProcess | None = None,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """Send a command to the gateway and return its reply document."""
        self._count += 1
        reply_topic = f"{self.prefix}/headend/replies/{self._count}"
        correlation = f"{self.prefix}-{self._count}".encode()
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ResponseTopic = reply_topic
        props.CorrelationData = correlation
        payload: dict[str, Any] = {"gateway": GATEWAY, "args": args or {}}
        payload["client_id"] = self.client_id
        if share_id is not None:
            payload["share_id"] = share_id
        topic = f"{self.prefix}/gateway/{GATEWAY}/command/{name}"
        info = self.client.publish(topic, json.dumps(payload).encode(), qos=1, properties=props)
        info.wait_for_publish(10)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for m in self._seen:
                    if m.topic == reply_topic:
                        assert m.doc is not None, f"reply to {name} is not JSON"
                        assert m.correlation == correlation, "reply without correlation data"
                        return m.doc
                if daemon is not None:
                    daemon.check_alive()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"head-end {self.prefix}: no reply to {name}")
                self._cond.wait(min(left, 0.1))

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()


# -- the run -------------------------------------------------------------------------------


@dataclass
class Run:
    """The running shared gateway and the utilities' head-ends."""

    root: Path
    broker: MosquittoBroker
    runner: FieldRunner
    daemon: DaemonProcess
    files: GatewayFiles
    a: HeadEnd
    b: HeadEnd
    snoop_a: Subscriber  # utility-a's user, subscribed to "#"
    snoop_b: Subscriber
    keys: dict[str, str]  # meter id -> AES key, 32 hex digits (c's head-end brings c's)

    def sim_now(self) -> float:
        """The shared simulated time, UTC."""
        return EPOCH + self.runner.sim_now()


def _config(
    files: GatewayFiles,
    keys: dict[str, bytes],
    broker: str,
    radio_port: str,
    origin: ClockOrigin,
) -> str:
    """Tenants a and b, each with its keys file and its own broker user; the test's user
    is administrator (tenants at run time, the audit trail)."""

    def keys_file(name: str, ids: list[str]) -> str:
        path = files.root / f"{name}.keys"
        path.write_text("".join(f"{i} {keys[i].hex().upper()}\n" for i in ids))
        os.chmod(path, 0o600)
        return str(path)

    tenants = ""
    for name, ids in (("a", A_METERS), ("b", B_METERS)):
        user = f"utility-{name}"
        uplink = {"broker": broker, "prefix": name, "username": user, **UPLINK_DEFAULTS}
        uplink["password"] = PASSWORDS[user]
        tenants += (
            f'\n[[tenant]]\nname = "{name}"\nmeters = ["{ids[0][:4]}*"]\n'
            f'keys_file = "{keys_file(name, ids)}"\n[tenant.uplink]\n'
            + "".join(f"{k} = {json.dumps(v)}\n" for k, v in uplink.items())
        )
    uid = os.getuid()
    return (
        f'[gateway]\nid = "{GATEWAY}"\nstate_dir = "{files.state_dir}"\n'
        f'[radio]\nmodule = "im871a"\nport = "{radio_port}"\nmode = "c1"\n'
        f"[schedule]\ntime_scale = {SCALE}\n"
        f"time_origin_real = {origin['time_origin_real']}\n"
        f"time_origin_sim = {origin['time_origin_sim']}\n"
        f'[clock]\nsource = "trusted"\n'
        f'[storage]\npath = "{files.store}"\n'
        f'[control]\nsocket = "{files.socket}"\n'
        f"[access]\nuser = {{ users = [{uid}] }}\nadministrator = {{ users = [{uid}] }}\n"
        f'[visibility]\nstats_interval = "15m"\n' + tenants
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    root = tmp_path_factory.mktemp("tenancy")
    field = _field([*A_METERS, *B_METERS, *C_METERS, NEIGHBOUR])
    broker = MosquittoBroker(root / "broker", users=PASSWORDS, acl=ACL)
    broker.start()
    emulator = Im871aEmulator(str(root / "ttyEMU0"))
    emulator.start()
    runner = FieldRunner(field, emulator, time.time, speed=SCALE)
    runner.start()
    files = gateway_files(
        root / "gw", broker_url=broker.url, radio_port=emulator.path, keys_text=""
    )
    origin = shared_clock_origin(runner.clock_at(0.0), EPOCH)
    files.config.write_text(_config(files, field.keys(), broker.url, emulator.path, origin))
    head_a = HeadEnd(broker, "a", "utility-a")
    head_b = HeadEnd(broker, "b", "utility-b")
    snoop_a = Subscriber(
        broker, ["#"], client_id="a-snoop", username="utility-a", password=PASSWORDS["utility-a"]
    )
    snoop_b = Subscriber(
        broker, ["#"], client_id="b-snoop", username="utility-b", password=PASSWORDS["utility-b"]
    )
    daemon = DaemonProcess(files)
    daemon.start()
    try:
        wait_configured(emulator, daemon)
        for head in (head_a, head_b):
            _wait_online(head, daemon)
        _wait_control(daemon)
        keys = {m: k.hex().upper() for m, k in field.keys().items()}
        yield Run(root, broker, runner, daemon, files, head_a, head_b, snoop_a, snoop_b, keys)
    finally:
        runner.request_stop()
        emulator.close()
        runner.stop()
        if daemon.running:
            daemon.stop()
        for client in (head_a, head_b, snoop_a, snoop_b):
            client.close()
        broker.stop()
        shutil.rmtree(root, ignore_errors=True)


# -- helpers -------------------------------------------------------------------------------


def _wait_control(daemon: DaemonProcess) -> None:
    """Until the daemon answers on its control socket."""

    def answers() -> bool:
        try:
            daemon.control("status")
        except ControlError:
            return False
        return True

    wait_until(answers, 30.0, "the daemon's control socket", daemon)


def _wait_online(head: HeadEnd, daemon: DaemonProcess) -> None:
    """Until ``head`` has seen its tenant's ``online`` state."""

    def online() -> bool:
        return any(d.get("state") == "online" for d in head.docs("state"))

    wait_until(online, 20.0, f"tenant {head.prefix} online", daemon)


def _ids(docs: list[dict[str, Any]]) -> set[str]:
    return {str(r["id"]) for d in docs for r in d["readings"]}


def _wait_batch_with(run: Run, head: HeadEnd, meters: list[str], after: float = 0.0) -> None:
    """Until ``head`` has a readings batch naming every one of ``meters``, for an interval
    ending after simulated time ``after``."""

    def arrived() -> bool:
        return any(
            set(meters) <= _ids([d]) and epoch_of(d["interval_end"]) > after
            for d in head.docs("event/readings")
        )

    wait_until(arrived, 30.0, f"a batch of {meters} on {head.prefix}/", run.daemon)


def _strings_and_keys(value: Any) -> Iterator[tuple[str | None, Any]]:
    """Every (key, value) pair of a document, nested objects and lists included."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield k, v
            yield from _strings_and_keys(v)
    elif isinstance(value, list):
        for v in value:
            yield None, v
            yield from _strings_and_keys(v)


def _names_tenant(doc: Any, tenant: str) -> list[str]:
    """Where a document names ``tenant``: as a key, or as a value (a word of a text)."""
    word = re.compile(rf"(?<![\w-]){re.escape(tenant)}(?![\w-])")
    found = []
    for key, value in _strings_and_keys(doc):
        if key == tenant:
            found.append(f"key {key!r}")
        if isinstance(value, str) and (value == tenant or word.search(value)):
            found.append(f"{key}: {value!r}")
    return found


def _audit(run: Run) -> list[dict[str, Any]]:
    """``concentratorctl audit --json`` as the test's user (administrator)."""
    ctl = str(DAEMON.parent / "concentratorctl")
    out = subprocess.run(
        [ctl, "--socket", str(run.files.socket), "--json", "audit"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    entries: list[dict[str, Any]] = json.loads(out.stdout)
    return entries


# -- 1, 2: each tenant gets its own meters, and the broker gives it nothing else --------------


def test_each_tenant_receives_the_readings_of_exactly_its_own_meters(run: Run) -> None:
    _wait_batch_with(run, run.a, A_METERS)
    _wait_batch_with(run, run.b, B_METERS)
    a_docs, b_docs = run.a.docs("event/readings"), run.b.docs("event/readings")
    for doc in a_docs:
        assert _ids([doc]) <= set(A_METERS), doc
    for doc in b_docs:
        assert _ids([doc]) <= set(B_METERS), doc
    assert _ids(a_docs) == set(A_METERS)
    assert _ids(b_docs) == set(B_METERS)
    assert all("total_m3" in r for d in a_docs + b_docs for r in d["readings"])  # decoded
    heard = {r["id"]: r for r in run.daemon.control("visible")["meters"]}
    assert heard[NEIGHBOUR]["telegrams"] > 0  # the neighbour is heard, and sent to no one
    assert NEIGHBOUR not in _ids(a_docs) | _ids(b_docs)


def test_a_utility_subscribed_to_everything_receives_nothing_of_the_other(run: Run) -> None:
    _wait_batch_with(run, run.a, A_METERS)
    _wait_batch_with(run, run.b, B_METERS)

    def readings(snoop: Subscriber, prefix: str) -> bool:
        topic = f"{prefix}/gateway/{GATEWAY}/event/readings"
        return any(m.topic == topic for m in snoop.messages)

    wait_until(lambda: readings(run.snoop_a, "a"), 30.0, "utility-a's readings", run.daemon)
    wait_until(lambda: readings(run.snoop_b, "b"), 30.0, "utility-b's readings", run.daemon)
    assert run.snoop_a.granted and not run.snoop_a.denied
    assert {m.topic.split("/")[0] for m in run.snoop_a.messages} == {"a"}
    assert {m.topic.split("/")[0] for m in run.snoop_b.messages} == {"b"}
    assert {m.topic.split("/")[0] for m in run.a.seen} == {"a"}
    assert {m.topic.split("/")[0] for m in run.b.seen} == {"b"}


def test_the_gateway_publishes_nothing_that_a_tenants_acl_refuses(run: Run) -> None:
    _wait_batch_with(run, run.a, A_METERS)
    _wait_batch_with(run, run.b, B_METERS)
    log = run.broker.log()
    for tenant in ("a", "b"):  # the daemon's clients, each logged in as its utility
        assert f"as concentratord-{GATEWAY}-{tenant} (" in log
    denied = [line for line in log.splitlines() if "Denied" in line]
    assert denied == []  # no document went to another tenant's topics and was dropped


# -- 3: nothing of b in any document of a --------------------------------------------------


def test_no_document_of_tenant_a_names_tenant_b_or_its_meters(run: Run) -> None:
    _wait_batch_with(run, run.a, A_METERS)
    wait_until(lambda: bool(run.a.docs("event/stats")), 20.0, "a's stats", run.daemon)
    asked = [
        run.a.command("get_status", daemon=run.daemon),
        run.a.command("visibility", daemon=run.daemon),
    ]
    tree, commands = f"a/gateway/{GATEWAY}/", f"a/gateway/{GATEWAY}/command/"
    docs = [
        m.doc
        for m in run.a.seen
        if m.doc is not None and m.topic.startswith(tree) and not m.topic.startswith(commands)
    ]
    docs += asked  # the replies, from a/headend/
    kinds = {d["type"] for d in docs}
    assert {"state", "readings", "stats", "reply"} <= kinds, kinds
    foreign = [*B_METERS, NEIGHBOUR]
    for doc in docs:
        text = json.dumps(doc)
        assert not [m for m in foreign if m in text], doc
        assert _names_tenant(doc, "b") == [], doc


def test_the_state_document_of_tenant_a_counts_only_its_own_meters(run: Run) -> None:
    """The ``online`` state is made at every connect: a client taking over the gateway's
    client id (as utility-a) drops a's connection, and a's uplink reconnects while
    telegrams of every tenant have been counted."""
    _wait_batch_with(run, run.a, A_METERS)
    _wait_batch_with(run, run.b, B_METERS)
    seen = len(run.a.docs("state"))
    intruder = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=f"concentratord-{GATEWAY}-a",
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    intruder.username_pw_set("utility-a", PASSWORDS["utility-a"])
    connected = threading.Event()
    intruder.on_connect = lambda *_: connected.set()
    intruder.connect(HOST, run.broker.port, keepalive=10)
    intruder.loop_start()
    try:
        assert connected.wait(10), "the take-over got no CONNACK"
    finally:
        intruder.disconnect()
        intruder.loop_stop()

    def online() -> list[dict[str, Any]]:
        return [d for d in run.a.docs("state")[seen:] if d.get("state") == "online"]

    wait_until(lambda: bool(online()), 20.0, "a's online state after a reconnect", run.daemon)
    counters = online()[0]["counters"]
    rows = {r["id"]: r for r in run.daemon.control("visible")["meters"]}
    assert counters["meters"] == len(A_METERS)
    assert 0 < counters["frames"] <= sum(rows[m]["telegrams"] for m in A_METERS) + len(A_METERS)
    assert counters["frames"] < sum(r["telegrams"] for r in rows.values())


def test_get_status_shows_tenant_a_only_its_own_queue_counters_and_uplink(run: Run) -> None:
    _wait_batch_with(run, run.a, A_METERS)
    _wait_batch_with(run, run.b, B_METERS)
    reply = run.a.command("get_status", daemon=run.daemon)
    assert reply["ok"] is True, reply
    status = reply["result"]
    assert set(status["uplink"]) == {"a"}
    pending = status["queue"]["pending"]
    assert set(pending) <= {"alarm", "readings", "stats"}, pending  # kinds, no tenant keys
    assert status["queue"]["pending_total"] == sum(pending.values())
    assert status["counters"]["meters"] == len(A_METERS)
    rows = {r["id"]: r for r in run.daemon.control("visible")["meters"]}
    heard_by_a = sum(rows[m]["telegrams"] for m in A_METERS)
    heard_by_all = sum(r["telegrams"] for r in rows.values())
    assert status["counters"]["frames"] <= heard_by_a + len(A_METERS)  # +1 in flight each
    assert status["counters"]["frames"] < heard_by_all
    whole = run.daemon.control("status")
    assert set(whole["uplink"]) >= {"a", "b"}  # the operator sees both; a does not


def test_visibility_shows_tenant_a_its_own_meters_and_only_a_count_of_the_others(
    run: Run,
) -> None:
    _wait_batch_with(run, run.a, A_METERS)
    reply = run.a.command("visibility", daemon=run.daemon)
    assert reply["ok"] is True, reply
    assert {r["id"] for r in reply["result"]["meters"]} == set(A_METERS)
    assert {r["tenant"] for r in reply["result"]["meters"]} == {"a"}
    heard = run.daemon.control("visible")["meters"]
    assert reply["result"]["others"] == len(heard) - len(A_METERS)


def test_stats_of_tenant_a_count_only_its_own_meters(run: Run) -> None:
    def with_reception() -> list[dict[str, Any]]:
        return [d for d in run.a.docs("event/stats") if d.get("reception")]

    _wait_batch_with(run, run.a, A_METERS)
    wait_until(lambda: bool(with_reception()), 20.0, "a's stats with reception", run.daemon)
    doc = with_reception()[-1]
    assert doc["reception"]["meters"] == len(A_METERS)
    assert doc["counters"]["meters"] == len(A_METERS)


# -- 4: a's head-end naming b's meters ----------------------------------------------------


def _same_but_for(reply: dict[str, Any], meter: str, other: dict[str, Any], instead: str) -> None:
    """``reply`` (about ``meter``) says what ``other`` (about ``instead``) says (message
    ids aside)."""
    keys = ("command", "ok", "error", "result")
    mine = json.dumps({k: reply.get(k) for k in keys}).replace(meter, "METER")
    theirs = json.dumps({k: other.get(k) for k in keys}).replace(instead, "METER")
    assert mine == theirs


def test_set_priority_meters_with_a_meter_of_b_is_refused_as_for_a_meter_of_no_tenant(
    run: Run,
) -> None:
    reply = run.a.command("set_priority_meters", {"meters": [B_METERS[0]]}, daemon=run.daemon)
    assert reply["ok"] is False, reply
    assert _names_tenant(reply, "b") == [] and B_METERS[1] not in json.dumps(reply)
    neighbour = run.a.command("set_priority_meters", {"meters": [NEIGHBOUR]}, daemon=run.daemon)
    _same_but_for(reply, B_METERS[0], neighbour, NEIGHBOUR)


def test_keys_import_for_a_meter_of_b_is_refused_and_b_keeps_its_key(run: Run) -> None:
    wrong = "00112233445566778899AABBCCDDEEFF"
    args = {"keys": [{"id": B_METERS[0], "key": wrong}]}
    reply = run.a.command("keys_import", args, daemon=run.daemon)
    assert reply["ok"] is False, reply
    assert _names_tenant(reply, "b") == [] and wrong not in json.dumps(reply)
    neighbour = run.a.command(
        "keys_import", {"keys": [{"id": NEIGHBOUR, "key": wrong}]}, daemon=run.daemon
    )
    _same_but_for(reply, B_METERS[0], neighbour, NEIGHBOUR)
    keys = run.daemon.control("keys", {"action": "list"})
    holders = {(k["tenant"], k["id"]) for k in keys}
    assert ("b", B_METERS[0]) in holders and ("a", B_METERS[0]) not in holders
    listed = run.a.command("keys_list", daemon=run.daemon)["result"]["keys"]
    assert {k["id"] for k in listed} == set(A_METERS)


def test_visibility_of_a_meter_of_b_is_answered_as_for_an_unheard_meter(run: Run) -> None:
    _wait_batch_with(run, run.b, B_METERS)  # b's meter has been heard
    reply = run.a.command("visibility", {"meters": [B_METERS[0]]}, daemon=run.daemon)
    unheard = run.a.command("visibility", {"meters": [UNHEARD]}, daemon=run.daemon)
    assert reply["result"]["meters"] == []
    _same_but_for(reply, B_METERS[0], unheard, UNHEARD)


def test_a_refused_command_naming_a_meter_of_b_is_audited_as_tenant_a(run: Run) -> None:
    since = run.sim_now() - 60.0  # the audit trail's times are the gateway clock's
    wrong = "FFEEDDCCBBAA99887766554433221100"
    run.a.command("set_priority_meters", {"meters": [B_METERS[1]]}, daemon=run.daemon)
    run.a.command("keys_import", {"keys": [{"id": B_METERS[1], "key": wrong}]}, daemon=run.daemon)
    run.a.command("visibility", {"meters": [B_METERS[1]]}, daemon=run.daemon)
    entries = _audit(run)
    assert wrong not in json.dumps(entries)  # keys never in the audit trail
    refusals = {  # the latest of each action
        e["action"]: e
        for e in entries
        if e["user"] == "tenant:a" and e["event"] == "refusal" and e["time"] >= since
    }
    priority = refusals["set_priority_meters"]
    assert priority["args"] == {"meters": [B_METERS[1]]}
    assert priority["outcome"].startswith("refused: ")
    assert priority["tenant"] == "a"
    assert priority["computer"].endswith("/mqtt:a-headend")
    assert refusals["keys_import"]["args"] == {"keys": "<redacted>"}
    assert refusals["keys_import"]["outcome"].startswith("refused: ")
    # visibility is answered (as if unheard, above), not refused: audited all the same
    looked = [
        e
        for e in entries
        if e["user"] == "tenant:a" and e["action"] == "visibility" and e["time"] >= since
    ]
    assert {"meters": [B_METERS[1]]} in [e["args"] for e in looked]


# -- 5: a tenant added at run time --------------------------------------------------------


@dataclass
class Joined:
    """Tenant c, added at run time, and what was seen while it waited for its share ID."""

    head: HeadEnd
    added: dict[str, Any]
    listed_pending: dict[str, Any]
    refused: dict[str, dict[str, Any]]  # command -> reply, without the share ID
    wrong_share: dict[str, Any]
    added_at: float  # simulated time, UTC
    pending_until: float  # simulated time at the share ID's presentation
    pending_seen: list[Seen]  # what c's head-end received while c was pending
    heard_while_pending: dict[str, dict[str, Any]]  # the operator's rows of c's meters
    presented: dict[str, Any]  # the reply to get_status with the share ID


def _tenant(run: Run, name: str) -> dict[str, Any]:
    rows: dict[str, dict[str, Any]] = {
        t["name"]: t for t in run.daemon.control("tenant", {"action": "list"})
    }
    return rows[name]


@pytest.fixture(scope="module")
def joined(run: Run) -> Iterator[Joined]:
    head = HeadEnd(run.broker, "c", "utility-c")
    try:
        added_at = run.sim_now()
        added = run.daemon.control(
            "tenant",
            {
                "action": "add",
                "name": "c",
                "broker": run.broker.url,
                "prefix": "c",
                "username": "utility-c",
                "password": PASSWORDS["utility-c"],
                "meters": ["3000*"],
            },
        )
        listed = _tenant(run, "c")
        _wait_online(head, run.daemon)
        keys = [{"id": m, "key": run.keys[m]} for m in C_METERS]
        refused = {
            "get_status": head.command("get_status", daemon=run.daemon),
            "visibility": head.command("visibility", daemon=run.daemon),
            "keys_import": head.command("keys_import", {"keys": keys}, daemon=run.daemon),
        }
        wrong = head.command("get_status", share_id="share-not-the-one", daemon=run.daemon)
        # An hourly boundary passes while c waits: a's batch for it arrives, c's must not.
        _wait_batch_with(run, run.a, A_METERS, after=added_at)
        _wait_batch_with(run, run.b, B_METERS, after=added_at)
        pending_seen = head.seen
        rows = {r["id"]: r for r in run.daemon.control("visible")["meters"]}
        heard = {m: rows[m] for m in C_METERS if m in rows}
        pending_until = run.sim_now()
        presented = head.command("get_status", share_id=added["share_id"], daemon=run.daemon)
        yield Joined(
            head,
            added,
            listed,
            refused,
            wrong,
            added_at,
            pending_until,
            pending_seen,
            heard,
            presented,
        )
    finally:
        head.close()


def test_tenant_add_returns_a_share_id_and_the_tenant_waits_for_it(joined: Joined) -> None:
    assert joined.added["tenant"] == "c"
    assert joined.added["state"] == WAITING
    assert re.fullmatch(r"share-[A-Za-z0-9_-]{16,}", joined.added["share_id"])
    assert joined.listed_pending["state"] == WAITING
    assert joined.listed_pending["source"] == "runtime"
    assert joined.listed_pending["meters"] == ["3000????"]  # normalised
    listed = json.dumps(joined.listed_pending)
    assert "password" not in listed and PASSWORDS["utility-c"] not in listed


def test_a_pending_tenants_commands_are_refused_until_its_share_id(joined: Joined) -> None:
    for name, reply in joined.refused.items():
        assert reply["ok"] is False, (name, reply)
        assert WAITING in reply["error"], (name, reply)
    assert joined.wrong_share["ok"] is False
    assert joined.wrong_share["error"] == "the share ID is not valid"
    assert joined.added["share_id"] not in json.dumps(joined.refused)


def test_no_readings_of_a_pending_tenants_meters_are_published(joined: Joined) -> None:
    heard = joined.heard_while_pending
    assert set(heard) == set(C_METERS)  # c's meters were on the air all along
    assert {r["tenant"] for r in heard.values()} == {None}  # and belonged to no one yet
    topics = {m.topic for m in joined.pending_seen}
    assert f"c/gateway/{GATEWAY}/event/readings" not in topics, topics
    assert f"c/gateway/{GATEWAY}/event/stats" not in topics, topics
    assert {t.split("/")[0] for t in topics} == {"c"}


def test_presenting_the_share_id_starts_its_readings_without_a_restart(
    run: Run, joined: Joined
) -> None:
    assert joined.presented["ok"] is True, joined.presented
    assert set(joined.presented["result"]["uplink"]) == {"c"}
    pid = run.daemon.pid
    keys = [{"id": m, "key": run.keys[m]} for m in C_METERS]
    imported = joined.head.command("keys_import", {"keys": keys}, daemon=run.daemon)
    assert imported["ok"] is True, imported
    assert sorted(imported["result"]["meters"]) == C_METERS
    _wait_batch_with(run, joined.head, C_METERS, after=joined.pending_until)
    docs = joined.head.docs("event/readings")
    assert _ids(docs) == set(C_METERS)
    assert all("total_m3" in r for d in docs for r in d["readings"])  # decoded
    assert run.daemon.pid == pid and run.daemon.running
    assert not (_ids(run.a.docs("event/readings")) | _ids(run.b.docs("event/readings"))) & set(
        C_METERS
    )


def test_tenant_list_shows_the_presented_tenant_active(run: Run, joined: Joined) -> None:
    assert joined.presented["ok"] is True, joined.presented
    row = _tenant(run, "c")
    assert row["state"] == "active"
    assert row["source"] == "runtime"
    assert row["prefix"] == "c"


def test_the_share_ids_presentation_is_audited_without_the_share_id_or_password(
    run: Run, joined: Joined
) -> None:
    assert joined.presented["ok"] is True, joined.presented
    entries = _audit(run)
    text = json.dumps(entries)
    assert joined.added["share_id"] not in text
    assert PASSWORDS["utility-c"] not in text
    by_c = [e for e in entries if e["user"] == "tenant:c"]
    waiting = [e for e in by_c if e["event"] == "refusal" and WAITING in e["outcome"]]
    assert {e["action"] for e in waiting} == set(joined.refused)
    assert [e["action"] for e in by_c if e["action"] == "tenant activate"] == ["tenant activate"]
    added = [e for e in entries if e["action"] == "tenant add"]
    assert len(added) == 1 and added[0]["args"]["password"] == "<redacted>"
    assert added[0]["user"] != "tenant:c" and added[0]["computer"].endswith("/local")


# -- last: a restart ------------------------------------------------------------------------


def test_a_tenant_added_at_run_time_is_still_there_and_served_after_a_restart(
    run: Run, joined: Joined
) -> None:
    assert joined.presented["ok"] is True, joined.presented
    assert run.daemon.stop() == 0  # SIGTERM: a clean stop
    stopped_at = run.sim_now()
    run.daemon.start()  # the same files
    _wait_control(run.daemon)
    row = _tenant(run, "c")
    assert (row["state"], row["source"], row["meters"]) == ("active", "runtime", ["3000????"])
    reply = joined.head.command("get_status", daemon=run.daemon)  # no share ID this time
    assert reply["ok"] is True, reply
    assert set(reply["result"]["uplink"]) == {"c"}
    _wait_batch_with(run, joined.head, C_METERS, after=stopped_at)  # its keys kept too
