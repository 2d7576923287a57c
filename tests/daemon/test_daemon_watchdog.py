"""systemd's watchdog against the running daemon (issue 11): ``WATCHDOG=1`` reaches the
``NOTIFY_SOCKET`` datagram socket (made by the test, as systemd makes it) while telegrams
flow; once the emulated radio stalls, the pings stop within the radio's deadline and the
log names the stalled loop before.

Twenty Kamstrup water meters (fixed network: each every 96 s) at 60x, an emulated iM871A,
a real Mosquitto. ``watchdog.radio_silence`` is 120 gateway seconds: 2 s of real time.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from radio.sim.field import DEFAULT_EPOCH, Field, FieldConfig
from radio.sim.runner import FieldRunner
from tests.daemon_harness import (
    DaemonProcess,
    simulated_gateway,
    wait_until,
)

SCALE = 60.0
SILENCE_S = 120  # gateway seconds
SILENCE_REAL_S = SILENCE_S / SCALE
WATCHDOG_USEC = 1_000_000  # the daemon pings every 0.5 s


@dataclass
class NotifySocket:
    """systemd's side of NOTIFY_SOCKET: every datagram, with its arrival time."""

    path: Path
    received: list[tuple[float, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            with self.lock:
                self.received.append((time.monotonic(), data.decode()))

    def pings(self, since: float = 0.0) -> list[float]:
        with self.lock:
            return [t for t, text in self.received if "WATCHDOG=1" in text and t >= since]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@dataclass
class Run:
    daemon: DaemonProcess
    notify: NotifySocket
    runner: FieldRunner


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("watchdog")
    source = Field(FieldConfig(meters=20, seed=8, mix={"water": 1.0}, epoch=DEFAULT_EPOCH))
    notify = NotifySocket(tmp / "notify.sock")
    try:
        with simulated_gateway(
            tmp,
            source,
            scale=SCALE,
            keys_text=source.keys_text(),
            epoch=DEFAULT_EPOCH,
            extra=f'[watchdog]\nradio_silence = {SILENCE_S}\nuplink_stall = "1m"\n',
            env={"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": str(WATCHDOG_USEC)},
        ) as gw:
            yield Run(gw.daemon, notify, gw.runner)
    finally:
        notify.close()


def test_ready_and_pings_while_telegrams_flow(run: Run) -> None:
    wait_until(lambda: len(run.notify.pings()) >= 1, 10.0, "a first WATCHDOG=1", run.daemon)
    start = time.monotonic()
    time.sleep(3.0)
    pings = run.notify.pings(start)
    assert len(pings) >= 4, pings  # every 0.5 s
    with run.notify.lock:
        assert any("READY=1" in text for _, text in run.notify.received)


def test_a_stalled_radio_stops_the_pings_within_its_deadline_and_is_logged(run: Run) -> None:
    run.runner.request_stop()  # the radio delivers nothing any more
    stalled_at = time.monotonic()
    deadline = SILENCE_REAL_S + 2 * WATCHDOG_USEC / 2e6 + 1.0  # the silence, a tick, slack
    time.sleep(deadline)
    quiet_from = time.monotonic()
    time.sleep(2.0)
    assert run.notify.pings(quiet_from) == [], "pings went on after the radio stalled"
    last = run.notify.pings(stalled_at)
    print(f"observed: last ping {last[-1] - stalled_at if last else 0:.2f} s after the stall")
    assert run.daemon.running  # systemd would now kill it; nothing else does
    log = run.daemon.stderr_text()
    assert "watchdog: the radio loop stalled: no telegram for" in log
    assert "watchdog.radio_silence = 120 s" in log
