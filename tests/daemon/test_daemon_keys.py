"""Keys against the running daemon (docs/access.md, "Keys"): imported from a file or
stdin (never argv), all or nothing, tenant-scoped over MQTT, wrapped at rest, and never a
key byte in any output: logs, audit, status, replies, the web API or the uplink.

Six Kamstrup water meters (encrypted, C1 drive-by) at 20x; tenants ``water`` (meters 1-3)
and ``heat`` (4-6). Configured keys: meter 1 (water) and meter 4 (heat). The others come at
run time: meters 2 and 3 by ``concentratorctl keys import -`` (CSV on stdin), meter 5 by
heat's head-end (``keys_import``).
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from radio.sim.field import DEFAULT_EPOCH, Field, FieldConfig
from radio.sim.imst import Im871aEmulator
from radio.sim.runner import FieldRunner
from tests.concentratord.web_helpers import get
from tests.daemon_harness import (
    DAEMON,
    GATEWAY,
    UPLINK_DEFAULTS,
    DaemonProcess,
    UplinkCollector,
    close_all,
    gateway_files,
    shared_clock_origin,
    wait_configured,
    wait_until,
)
from tests.mqtt_broker import HOST, MosquittoBroker

SCALE = 20.0
TOKEN = "keys-operator-token-0123456789"
CTL = str(DAEMON.parent / "concentratorctl")


@dataclass
class Run:
    daemon: DaemonProcess
    heat: UplinkCollector
    raw: list[tuple[str, bytes]]  # every MQTT message of the broker, payload as sent
    keys: dict[str, bytes]  # every meter's key
    meters: list[str]
    socket: Path
    state: Path
    web: str
    root: Path


def ctl(run: Run, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CTL, "--socket", str(run.socket), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
    )


def _config(tmp: Path, files: Any, keys: dict[str, bytes], meters: list[str], **kw: Any) -> str:
    device_key = tmp / "device.key"
    device_key.write_text(os.urandom(32).hex())
    os.chmod(device_key, 0o600)
    uplink = "".join(f"{k} = {json.dumps(v)}\n" for k, v in UPLINK_DEFAULTS.items())
    tenants = ""
    for name, ids, configured in (
        ("water", meters[:3], meters[0]),
        ("heat", meters[3:], meters[3]),
    ):
        path = tmp / f"{name}.keys"
        path.write_text(f"{configured} {keys[configured].hex().upper()}\n")
        os.chmod(path, 0o600)
        tenants += (
            f'\n[[tenant]]\nname = "{name}"\nmeters = {json.dumps(ids)}\nkeys_file = "{path}"\n'
            f'[tenant.uplink]\nbroker = "{kw["broker"]}"\nprefix = "{name}"\n'
            f'reply_prefix = "concentratord/headend/"\n{uplink}'
        )
    origin = kw["origin"]
    return (
        f'[gateway]\nid = "{GATEWAY}"\nstate_dir = "{files.root / "state"}"\n'
        f'[radio]\nmodule = "im871a"\nport = "{kw["port"]}"\nmode = "c1"\n'
        f'[keys]\nwrap_key_file = "{device_key}"\n'
        f"[schedule]\ntime_scale = {SCALE}\npriority_meters = {json.dumps(meters)}\n"
        f"time_origin_real = {origin['time_origin_real']}\n"
        f"time_origin_sim = {origin['time_origin_sim']}\n"
        f'[clock]\nsource = "trusted"\n[storage]\npath = "{files.store}"\n'
        f'[control]\nsocket = "{files.socket}"\n'
        f"[access]\nadministrator = {{ users = [{os.getuid()}] }}\n"
        f'[web]\nlisten = "127.0.0.1:{kw["web_port"]}"\n'
        f'[[web.token]]\nname = "operator"\nrole = "administrator"\ntoken = "{TOKEN}"\n' + tenants
    )


def _raw_subscriber(broker: MosquittoBroker, into: list[tuple[str, bytes]]) -> paho.Client:
    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="raw-all")
    lock = threading.Lock()

    def on_message(_c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        with lock:
            into.append((msg.topic, bytes(msg.payload)))

    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe("#", 1)
    client.connect(HOST, broker.port)
    client.loop_start()
    return client


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("keys")
    source = Field(
        FieldConfig(
            meters=6,
            mode="driveby",
            collisions=False,
            mix={"water": 1.0},
            seed=47,
            epoch=DEFAULT_EPOCH,
            sensitivity_dbm=-130.0,
            truth_depth=0,
        )
    )
    meters = sorted(m.meter_id for m in source.meters)
    broker = MosquittoBroker(tmp / "broker")
    broker.start()
    raw: list[tuple[str, bytes]] = []
    everything = _raw_subscriber(broker, raw)
    heat = UplinkCollector(broker, prefix="heat", client_id="heat-headend")
    emulator = Im871aEmulator(str(tmp / "ttyEMU0"))
    emulator.start()
    runner = FieldRunner(source, emulator, time.time, speed=SCALE)
    runner.start()
    files = gateway_files(tmp / "gw", broker_url=broker.url, radio_port=emulator.path, keys_text="")
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        web_port = s.getsockname()[1]
    files.config.write_text(
        _config(
            tmp,
            files,
            source.keys(),
            meters,
            broker=broker.url,
            port=emulator.path,
            origin=dict(shared_clock_origin(runner.clock_at(0.0), DEFAULT_EPOCH)),
            web_port=web_port,
        )
    )
    daemon = DaemonProcess(files)
    daemon.start()
    try:
        wait_configured(emulator, daemon)
        heat.wait_online(GATEWAY, daemon=daemon)
        wait_until(files.socket.exists, 20.0, "the control socket", daemon)
        web = f"http://127.0.0.1:{web_port}"
        yield Run(
            daemon, heat, raw, source.keys(), meters, files.socket, files.root / "state", web, tmp
        )
    finally:
        close_all(
            runner.request_stop,
            emulator.close,
            runner.stop,
            daemon.stop,
            heat.close,
            everything.disconnect,
            everything.loop_stop,
            broker.stop,
        )


def _decoded(run: Run, meter: str) -> bool:
    rows = run.daemon.control("visible", {})["meters"]
    return any(r["id"] == meter and r["decode"] == "ok" for r in rows)


def _listing(run: Run) -> list[dict[str, str]]:
    listed: list[dict[str, str]] = run.daemon.control("keys", {"action": "list"})
    return listed


# -- imports --------------------------------------------------------------------------------


def test_an_import_from_stdin_makes_the_meters_decode(run: Run) -> None:
    m2, m3 = run.meters[1], run.meters[2]
    csv = f"meter,key\n{m2},{run.keys[m2].hex()}\n{m3},{run.keys[m3].hex().upper()}\n"
    result = ctl(run, "--json", "keys", "import", "-", stdin=csv)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["imported"] == 2
    wait_until(lambda: _decoded(run, m2) and _decoded(run, m3), 30.0, "decoded", run.daemon)


def test_keys_list_names_ids_and_sources(run: Run) -> None:
    by_id = {r["id"]: r for r in _listing(run)}
    assert by_id[run.meters[0]]["source"].endswith("water.keys")
    assert by_id[run.meters[1]]["source"] == "runtime"
    assert set(by_id[run.meters[0]]) == {"tenant", "id", "source"}


def test_a_malformed_import_changes_nothing_and_names_the_file_and_line(run: Run) -> None:
    before_list = _listing(run)
    local = run.state / "keys.local"
    before_file = local.read_bytes()
    bad = run.root / "bad.csv"
    m6 = run.meters[5]
    bad.write_text(f"{m6} {run.keys[m6].hex()}\n# fine so far\n{m6[:7]} 00112233\n")
    result = ctl(run, "keys", "import", str(bad))
    assert result.returncode == 1
    assert f"{bad}:3" in result.stderr
    assert _listing(run) == before_list
    assert local.read_bytes() == before_file


def test_a_key_given_on_the_command_line_is_refused(run: Run) -> None:
    m6 = run.meters[5]
    result = ctl(run, "keys", "import", m6, run.keys[m6].hex())
    assert result.returncode == 1 and "never on argv" in result.stderr


def test_the_runtime_keys_file_is_private_and_wrapped(run: Run) -> None:
    local = run.state / "keys.local"
    assert oct(local.stat().st_mode & 0o777) == "0o600"
    blob = local.read_bytes()
    assert blob.startswith(b"CDKW1")
    for key in run.keys.values():
        assert key not in blob and key.hex().encode() not in blob.lower()


# -- the head-end's keys: its own meters only -------------------------------------------------


def _heat(run: Run, name: str, args: dict[str, Any]) -> dict[str, Any]:
    payload = {"gateway": GATEWAY, "args": args, "client_id": "heat-headend"}
    return run.heat.command(name, payload, daemon=run.daemon)


def test_a_head_end_imports_keys_of_its_own_meters(run: Run) -> None:
    m5 = run.meters[4]
    reply = _heat(run, "keys_import", {"keys": [{"id": m5, "key": run.keys[m5].hex()}]})
    assert reply["ok"] is True, reply
    wait_until(lambda: _decoded(run, m5), 30.0, "meter 5 decoded", run.daemon)


def test_a_head_end_cannot_import_another_tenants_meters_key(run: Run) -> None:
    m2 = run.meters[1]
    reply = _heat(run, "keys_import", {"keys": [{"id": m2, "key": "00" * 16}]})
    assert reply["ok"] is False
    assert "not a meter of this tenant" in reply["error"] and "water" not in reply["error"]
    assert {r["tenant"] for r in _listing(run) if r["id"] == m2} == {"water"}


def test_a_head_end_lists_only_its_tenants_keys(run: Run) -> None:
    reply = _heat(run, "keys_list", {})
    listed = {r["id"] for r in reply["result"]["keys"]}
    assert listed <= set(run.meters[3:]) and run.meters[3] in listed


def test_a_head_end_cannot_remove_another_tenants_key(run: Run) -> None:
    reply = _heat(run, "keys_remove", {"meters": [run.meters[0]]})
    assert reply["ok"] is False and "has no key here" in reply["error"]
    assert any(r["id"] == run.meters[0] for r in _listing(run))


def test_the_refusals_are_in_the_audit_as_the_tenant(run: Run) -> None:
    entries = run.daemon.control("audit", {})
    refused = [e for e in entries if e["user"] == "tenant:heat" and e["event"] == "refusal"]
    assert {e["action"] for e in refused} >= {"keys_import", "keys_remove"}
    assert all(e["computer"].endswith("/mqtt:heat-headend") for e in refused)


# -- no key byte anywhere ---------------------------------------------------------------------


def test_no_key_appears_in_any_output(run: Run) -> None:
    outputs: dict[str, bytes] = {}
    for command in ("status", "meters", "visible", "alarms", "queue"):
        outputs[command] = ctl(run, "--json", command).stdout.encode()
    for args in (("keys", "list"), ("config", "show"), ("audit",), ("tenant", "list")):
        outputs[" ".join(args)] = ctl(run, "--json", *args).stdout.encode()
    outputs["audit csv"] = ctl(run, "audit", "--csv").stdout.encode()
    for name in ("get_status", "visibility", "keys_list"):
        outputs[f"mqtt {name}"] = json.dumps(_heat(run, name, {})).encode()
    outputs["web"] = json.dumps(get(f"{run.web}/api/v1/meters", TOKEN)[2]).encode()

    def batch_with_imported_meter() -> bool:
        wanted = f'"{run.meters[1]}"'.encode()
        return any(b"event/readings" in t.encode() and wanted in p for t, p in list(run.raw))

    # A 5-minute batch (every 15 s here) with a meter whose key was imported: values sent.
    wait_until(batch_with_imported_meter, 60.0, "a batch with meter 2", run.daemon)
    # What the gateway published: every topic but the head-end's own commands (a
    # keys_import command carries keys, down to the gateway).
    sent = [(t, p) for t, p in list(run.raw) if "/command/" not in t]
    outputs["uplink"] = b"\n".join(t.encode() + b" " + p for t, p in sent)
    run.daemon.stop()  # the journal's last lines (the stop) included
    outputs["logs"] = Path(run.daemon.files.stderr).read_bytes()
    assert len(outputs["uplink"]) > 1000 and b"event/readings" in outputs["uplink"]
    assert outputs["audit csv"].startswith(b"time,event,user,computer")
    for key in run.keys.values():
        forms = [key, key.hex().encode(), key.hex().upper().encode()]
        for where, text in outputs.items():
            assert not any(form in text for form in forms), f"a key in {where}"
