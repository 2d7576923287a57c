"""``concentratord simulate`` as a user runs it: the console script, a real pty, signals."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocols.backoff import Backoff
from protocols.readout import telegram_fields
from protocols.textformats import parse_keys
from protocols.wmbus.decoder import TelegramDecoder
from radio.frame import LinkMode
from radio.modules.imst import Im871aDriver

BIN = Path(sys.executable).parent / "concentratord"


class Simulator:
    def __init__(self, proc: subprocess.Popen[str], pty_line: str) -> None:
        self.proc = proc
        self.pty_line = pty_line

    @property
    def path(self) -> str:
        return self.pty_line.removeprefix("pty: ").strip()

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.proc.send_signal(signum)
        return self.proc.wait(timeout=10)


def start(*args: str) -> Simulator:
    proc = subprocess.Popen(
        [str(BIN), "simulate", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return Simulator(proc, proc.stdout.readline())


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[Simulator]:
    sim = start(
        "--meters", "20", "--module", "im871a", "--mode", "driveby", "--speed", "20",
        "--seed", "5", "--keys-out", str(tmp_path / "keys.txt"), "--link", str(tmp_path / "tty0"),
        "--mix", "water=0.7,heat=0.3", "--no-collisions",
    )  # fmt: skip
    yield sim
    if sim.proc.poll() is None:
        sim.stop()


def test_prints_the_pty_path_as_one_machine_readable_line(simulator: Simulator) -> None:
    assert simulator.pty_line.startswith("pty: ") and simulator.pty_line.endswith("\n")
    assert os.path.realpath(simulator.path).startswith("/dev/pts/")


def test_link_option_chooses_the_pty_path(simulator: Simulator, tmp_path: Path) -> None:
    assert simulator.path == str(tmp_path / "tty0")
    assert (tmp_path / "tty0").is_symlink()


def test_writes_one_key_per_meter(simulator: Simulator, tmp_path: Path) -> None:
    keys = parse_keys((tmp_path / "keys.txt").read_text(), str(tmp_path / "keys.txt"))
    assert len(keys) == 20 and all(len(k) == 16 for k in keys.values())


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_exits_0_on_signal_and_removes_the_pty_link(
    simulator: Simulator, tmp_path: Path, signum: int
) -> None:
    assert simulator.stop(signum) == 0
    assert not (tmp_path / "tty0").exists()


def test_a_driver_on_the_pty_hears_telegrams_that_decode_with_the_keys(
    simulator: Simulator, tmp_path: Path
) -> None:
    keys = parse_keys((tmp_path / "keys.txt").read_text(), str(tmp_path / "keys.txt"))
    decoder = TelegramDecoder(keys)

    async def main() -> list[dict[str, object]]:
        driver = Im871aDriver(simulator.path, LinkMode.C1, backoff=Backoff(0.05, 0.5))
        await driver.start(start_timeout=5)
        try:
            return [
                telegram_fields(decoder.decode((await driver.next_frame(10)).raw))
                for _ in range(10)
            ]
        finally:
            await driver.stop()

    fields = asyncio.run(asyncio.wait_for(main(), 30))
    assert {f["manufacturer"] for f in fields} == {"KAM"}
    assert all(f["id"] in keys for f in fields)
    assert simulator.stop() == 0


def test_an_unknown_module_is_refused_with_a_reason() -> None:
    result = subprocess.run(
        [str(BIN), "simulate", "--meters", "5", "--module", "nosuch"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == "" and "nosuch" in result.stderr
