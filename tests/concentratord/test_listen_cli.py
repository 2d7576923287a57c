"""``concentratord listen`` against an emulated module on a real pty."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from protocols.telegram import MeterAddress
from protocols.wmbus.build import EllSpec, TelegramSpec, Tpl, build_telegram
from radio.frame import LinkMode
from radio.sim.imst import Im871aEmulator

BIN = Path(sys.executable).parent
KEY = bytes(range(16))
METER = MeterAddress("KAM", "76348799", 0x1B, 0x16)


def telegram(volume_litres: int) -> bytes:
    records = bytes.fromhex("0413") + volume_litres.to_bytes(4, "little")
    spec = TelegramSpec(
        METER, records, tpl=Tpl.NONE, ell=EllSpec(access_number=volume_litres & 0xFF)
    )
    return build_telegram(spec, KEY)


def start_listen(emu: Im871aEmulator, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            str(BIN / "concentratord"),
            "listen",
            "--port",
            emu.path,
            "--module",
            "im871a",
            "--key",
            f"{METER.id}={KEY.hex()}",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_configured(emu: Im871aEmulator, mode: LinkMode = LinkMode.C1) -> None:
    deadline = time.monotonic() + 10
    while emu.mode is not mode:
        assert time.monotonic() < deadline, "listen did not configure the module"
        time.sleep(0.05)


def test_listen_prints_each_telegram_decoded_with_rssi_mode_and_time() -> None:
    emu = Im871aEmulator()
    emu.start()
    proc = start_listen(emu)
    try:
        wait_configured(emu)
        emu.deliver(telegram(1234), -71.5)
        assert proc.stdout is not None
        fields = json.loads(proc.stdout.readline())
        assert fields["id"] == METER.id
        assert fields["total_m3"] == 1.234
        assert fields["rssi_dbm"] == -71.5
        assert fields["link_mode"] == "c1"
        assert fields["timestamp"].endswith("Z")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        emu.close()
    assert proc.returncode == 0


def test_listen_exits_zero_on_sigint_having_printed_what_it_received() -> None:
    emu = Im871aEmulator()
    emu.start()
    proc = start_listen(emu, "--mode", "t1")
    try:
        wait_configured(emu, LinkMode.T1)
        for n in range(20):
            emu.deliver(telegram(n + 1), -80)
        time.sleep(1.0)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=10)
        emu.close()
    assert proc.returncode == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [f["total_m3"] for f in lines] == [(n + 1) / 1000 for n in range(20)]
    assert {f["link_mode"] for f in lines} == {"t1"}


def test_listen_table_prints_a_header_and_a_row_per_telegram() -> None:
    emu = Im871aEmulator()
    emu.start()
    proc = start_listen(emu, "--table")
    try:
        wait_configured(emu)
        emu.deliver(telegram(5), -60)
        assert proc.stdout is not None
        header = proc.stdout.readline()
        row = proc.stdout.readline()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        emu.close()
    assert header.split()[:3] == ["time", "id", "manuf"]
    assert METER.id in row and "kamwater" in row


def test_listen_with_no_module_on_the_port_fails_with_a_reason(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            str(BIN / "concentratord"),
            "listen",
            "--port",
            str(tmp_path / "nothing"),
            "--module",
            "im871a",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert "nothing" in result.stderr
