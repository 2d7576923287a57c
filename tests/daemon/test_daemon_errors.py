"""Bad input to a real daemon gets a clear error, not a crash (docs/design.md, "Rules that
hold everywhere"):

- an invalid configuration stops ``concentratord run`` with exit status 2 and one line on
  stderr naming the file, the key and the reason, before anything is started;
- a meter whose key is wrong or missing is reported per meter (``concentratorctl visible
  SERIAL --json``) while the other meters' values still arrive;
- a malformed command over MQTT is refused with a reason, and the daemon still answers.

A real Mosquitto on a free loopback port, the daemon as a subprocess, a simulated field
behind an emulated iM871A on a pty.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from concentratord.ctl import ControlError, request
from radio.sim.field import Field, FieldConfig
from radio.sim.imst import Im871aEmulator
from radio.sim.runner import FieldRunner
from tests.daemon_harness import (
    DAEMON,
    GATEWAY,
    DaemonProcess,
    GatewayFiles,
    UplinkCollector,
    gateway_files,
    wait_configured,
    wait_until,
)
from tests.mqtt_broker import MosquittoBroker

SEED = 1312
SCALE = 720.0  # a 5-minute interval every 0.42 s
CTL = Path(sys.executable).parent / "concentratorctl"


# -- invalid configuration ----------------------------------------------------------------


@dataclass
class Bench:
    """A broker and an emulated module that a daemon started by mistake would touch."""

    broker: MosquittoBroker
    emulator: Im871aEmulator
    files: GatewayFiles


@pytest.fixture
def bench(tmp_path: Path, broker: MosquittoBroker) -> Iterator[Bench]:
    emulator = Im871aEmulator(str(tmp_path / "ttyEMU0"))
    emulator.start()
    files = gateway_files(
        tmp_path / "gw",
        broker_url=broker.url,
        radio_port=emulator.path,
        keys_text="12345678 000102030405060708090A0B0C0D0E0F\n",
    )
    try:
        yield Bench(broker, emulator, files)
    finally:
        emulator.close()


def edit_config(files: GatewayFiles, old: str, new: str) -> None:
    text = files.config.read_text()
    assert old in text, f"{old!r} not in the configuration"
    files.config.write_text(text.replace(old, new, 1))


def refused(bench: Bench) -> str:
    """Run the daemon on the bench's configuration; its one stderr line (exit status 2)."""
    proc = subprocess.run(
        [str(DAEMON), "run", "--config", str(bench.files.config)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"concentratord: {bench.files.config}: "), lines[0]
    # Nothing was started: no store, no control socket, no radio command, no broker client.
    assert not bench.files.store.exists()
    assert not bench.files.socket.exists()
    assert bench.emulator.commands == []
    assert "New client connected" not in bench.broker.log()
    return lines[0].removeprefix(f"concentratord: {bench.files.config}: ")


def test_unknown_key_is_refused_naming_it(bench: Bench) -> None:
    edit_config(bench.files, "[radio]\n", "[radio]\nbaud = 57600\n")
    assert refused(bench) == "radio.baud: unknown key"


def test_bad_broker_url_is_refused_naming_the_key(bench: Bench) -> None:
    edit_config(bench.files, bench.broker.url, "http://127.0.0.1:1883")
    reason = refused(bench)
    assert reason.startswith("uplink.broker: ") and "mqtt://" in reason, reason


def test_broker_url_with_credentials_is_refused(bench: Bench) -> None:
    edit_config(bench.files, "mqtt://127.0.0.1", "mqtt://user:secret@127.0.0.1")
    reason = refused(bench)
    assert reason.startswith("uplink.broker: ") and "secret" not in reason, reason


def test_toml_syntax_error_is_refused_naming_the_line(bench: Bench) -> None:
    edit_config(bench.files, "[radio]\n", "[radio\n")
    line = bench.files.config.read_text().splitlines().index("[radio") + 1
    reason = refused(bench)
    assert reason.startswith(f"line {line}, column ") and "invalid TOML" in reason, reason


def test_missing_keys_file_is_refused_naming_it(bench: Bench) -> None:
    bench.files.keys.unlink()
    reason = refused(bench)
    assert reason.startswith(f"keys.file: cannot read {bench.files.keys}"), reason


def test_keys_file_with_a_bad_line_is_refused_naming_the_line(bench: Bench) -> None:
    bench.files.keys.write_text("# keys\n12345678 000102030405060708090A0B0C0D0E0F\nnonsense\n")
    reason = refused(bench)
    assert reason.startswith(f"keys.file: {bench.files.keys}:3: "), reason


def test_keys_file_with_a_short_key_is_refused_naming_the_meter(bench: Bench) -> None:
    bench.files.keys.write_text("12345678 00010203\n")
    reason = refused(bench)
    assert reason.startswith(f"keys.file: {bench.files.keys}:1: ") and "12345678" in reason


# -- a running gateway: wrong and missing keys, malformed commands -----------------------


@dataclass
class Running:
    """A daemon running against a field whose keys file has one wrong and one missing key."""

    files: GatewayFiles
    daemon: DaemonProcess
    collector: UplinkCollector
    good: list[str]
    wrong_key: str
    no_key: str


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    tmp = tmp_path_factory.mktemp("errors")
    broker = MosquittoBroker(tmp / "broker")
    broker.start()
    collector = UplinkCollector(broker)
    field = Field(FieldConfig(meters=5, seed=SEED, mix={"water": 1.0}, truth_depth=0))
    emulator = Im871aEmulator(str(tmp / "ttyEMU0"))
    emulator.start()
    runner = FieldRunner(field, emulator, time.time, speed=SCALE)
    runner.start()
    ids = [m.meter_id for m in field.meters]
    wrong_key, no_key, good = ids[0], ids[1], ids[2:]
    keys = [
        f"{m.meter_id} {bytes(b ^ 0x5A for b in m.key).hex().upper()}"
        if m.meter_id == wrong_key
        else f"{m.meter_id} {m.key.hex().upper()}"
        for m in field.meters
        if m.meter_id != no_key
    ]
    files = gateway_files(
        tmp / "gw",
        broker_url=broker.url,
        radio_port=emulator.path,
        keys_text="\n".join(keys) + "\n",
        time_scale=SCALE,
        priority_meters=ids,
    )
    daemon = DaemonProcess(files)
    try:
        daemon.start()
        wait_configured(emulator, daemon)
        collector.wait_online(daemon=daemon)
        yield Running(files, daemon, collector, good, wrong_key, no_key)
        assert daemon.stop() == 0
    finally:
        if daemon.running:
            daemon.kill()
        runner.request_stop()
        emulator.close()
        runner.stop()
        collector.close()
        broker.kill()


def ctl_json(files: GatewayFiles, *args: str) -> Any:
    proc = subprocess.run(
        [str(CTL), "--socket", str(files.socket), "--json", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def visibility_after_errors(gw: Running, meter: str) -> dict[str, Any]:
    """``concentratorctl visible METER --json`` once the meter has failed a few times."""

    def failed() -> bool:
        try:
            seen = request(str(gw.files.socket), "visible", {"serial": meter})
        except ControlError:  # not heard yet
            return False
        return int(seen["decode_errors"]) >= 3

    wait_until(failed, 20.0, f"decode errors of {meter}", gw.daemon, interval=0.2)
    result = ctl_json(gw.files, "visible", meter)
    assert isinstance(result, dict)
    return result


def test_wrong_key_is_reported_for_that_meter(running: Running) -> None:
    seen = visibility_after_errors(running, running.wrong_key)
    assert seen["id"] == running.wrong_key
    assert "wrong key" in (seen["last_error"] or ""), seen


def test_missing_key_is_reported_for_that_meter(running: Running) -> None:
    seen = visibility_after_errors(running, running.no_key)
    assert "key" in (seen["last_error"] or ""), seen


def test_meters_with_good_keys_decode_without_errors(running: Running) -> None:
    visibility_after_errors(running, running.wrong_key)
    for meter in running.good:
        seen = ctl_json(running.files, "visible", meter)
        assert (seen["decode_errors"], seen["last_error"]) == (0, None), seen


def test_key_errors_are_counted_in_the_status(running: Running) -> None:
    visibility_after_errors(running, running.no_key)
    visibility_after_errors(running, running.wrong_key)
    counters = ctl_json(running.files, "status")["counters"]
    assert counters["wrong_key"] >= 3 and counters["no_key"] >= 3, counters


def test_other_meters_values_still_arrive(running: Running) -> None:
    gw = running

    def rows() -> dict[str, dict[str, Any]]:
        return {r["id"]: r for d in gw.collector.docs("event/readings") for r in d["readings"]}

    wait_until(lambda: set(gw.good) <= set(rows()), 20.0, "values of the good meters", gw.daemon)
    got = rows()
    assert all(isinstance(got[m].get("total_m3"), int | float) for m in gw.good)
    assert gw.wrong_key not in got and gw.no_key not in got


def command(gw: Running, name: str, payload: dict[str, Any] | bytes) -> dict[str, Any]:
    return gw.collector.command(name, payload, daemon=gw.daemon)


def still_answers(gw: Running) -> None:
    reply = command(gw, "get_status", {"gateway": GATEWAY})
    assert reply["ok"] is True and reply["result"]["gateway"] == GATEWAY, reply
    assert gw.daemon.running


def refusal(gw: Running, name: str, payload: dict[str, Any] | bytes) -> str:
    reply = command(gw, name, payload)
    assert reply["ok"] is False and reply["command"] == name, reply
    assert isinstance(reply["error"], str) and reply["error"], reply
    still_answers(gw)
    return str(reply["error"])


def test_command_that_is_not_json_is_refused(running: Running) -> None:
    assert refusal(running, "get_status", b"{not json")


def test_command_that_is_not_an_object_is_refused(running: Running) -> None:
    assert refusal(running, "get_status", b"[1, 2, 3]")


def test_binary_garbage_command_is_refused(running: Running) -> None:
    assert refusal(running, "backfill", bytes(range(256)))


def test_unknown_command_is_refused_naming_it(running: Running) -> None:
    assert "reboot" in refusal(running, "reboot", {"gateway": GATEWAY})


def test_command_for_another_gateway_is_refused(running: Running) -> None:
    assert "gw-other" in refusal(running, "get_status", {"gateway": "gw-other"})


def test_command_without_gateway_is_refused(running: Running) -> None:
    assert "gateway" in refusal(running, "get_status", {"args": {}})


def test_command_with_unknown_argument_is_refused_naming_it(running: Running) -> None:
    error = refusal(running, "get_status", {"gateway": GATEWAY, "args": {"verbose": True}})
    assert "verbose" in error


def test_backfill_with_bad_timestamps_is_refused(running: Running) -> None:
    args = {"from": "yesterday", "to": "2026-01-02T00:00:00Z"}
    assert "from" in refusal(running, "backfill", {"gateway": GATEWAY, "args": args})


def test_backfill_with_reversed_range_is_refused(running: Running) -> None:
    args = {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}
    assert "before" in refusal(running, "backfill", {"gateway": GATEWAY, "args": args})


def test_priority_meters_that_are_not_meter_ids_are_refused(running: Running) -> None:
    args = {"meters": ["12345678", "x"]}
    error = refusal(running, "set_priority_meters", {"gateway": GATEWAY, "args": args})
    assert "'x'" in error


def test_too_many_priority_meters_are_refused(running: Running) -> None:
    args = {"meters": [str(10_000_000 + n) for n in range(51)]}
    error = refusal(running, "set_priority_meters", {"gateway": GATEWAY, "args": args})
    assert "50" in error


def test_corrupt_store_is_moved_aside_and_a_gateway_alarm_raised(bench: Bench) -> None:
    bench.files.store.parent.mkdir(parents=True, exist_ok=True)
    bench.files.store.write_bytes(b"this is not an SQLite database" * 100)
    collector = UplinkCollector(bench.broker)
    daemon = DaemonProcess(bench.files)
    try:
        daemon.start()
        wait_configured(bench.emulator, daemon)
        alarm = collector.wait_for(
            lambda m: m.doc is not None and m.doc.get("type") == "gateway_alarm",
            timeout=30,
            daemon=daemon,
            what="the gateway alarm",
        )
        assert alarm.doc is not None and alarm.doc["alarm"] == "STORE_CORRUPT"
        moved = list(bench.files.store.parent.glob(bench.files.store.name + ".corrupt-*"))
        assert moved and moved[0].read_bytes().startswith(b"this is not")
        assert daemon.stop() == 0
    finally:
        if daemon.running:
            daemon.kill()
        collector.close()
