"""What the radio driver tests share: test telegrams, emulators started and closed around
a test, a driver run against an emulator (or any port), and the scenarios every driver
goes through (garbage on the line, telegrams during configuration, unplug and replug).

Plain functions, no conftest: a test file wraps them in its own fixtures.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from protocols.backoff import Backoff
from protocols.telegram import MeterAddress
from protocols.wmbus.build import TelegramSpec, Tpl, build_telegram
from radio.driver import ModuleDriver
from radio.frame import LinkMode, RadioFrame
from radio.sim.emulator import ModuleEmulator

D = TypeVar("D", bound=ModuleDriver)
E = TypeVar("E", bound=ModuleEmulator)

ALL_MODES = [LinkMode.C1, LinkMode.T1, LinkMode.S1, LinkMode.C1T1]


def _meter(n: int) -> MeterAddress:
    return MeterAddress("KAM", f"{10000000 + n:08d}", 0x1B, 0x16)


def telegram(n: int, records: int = 1) -> bytes:
    """Meter ``n``'s telegram without link-layer CRCs: ``records`` volume records."""
    data = b"".join(
        bytes.fromhex("0413") + (1000 + n + i).to_bytes(4, "little") for i in range(records)
    )
    return build_telegram(TelegramSpec(_meter(n), data, tpl=Tpl.NONE))


def seeded_telegram(n: int, payload: int = 6) -> bytes:
    """A telegram without link-layer CRCs; ``payload`` bytes of (seeded) record data."""
    records = random.Random(n).randbytes(payload)
    return build_telegram(TelegramSpec(_meter(n), records, tpl=Tpl.NONE))


def varied_telegrams(count: int, seed: int) -> list[bytes]:
    """Telegrams of many lengths, their data random-looking like encrypted payloads."""
    rng = random.Random(seed)
    return [seeded_telegram(n, rng.randint(0, 150)) for n in range(count)]


@contextmanager
def running(emulator: E) -> Iterator[E]:
    """The emulator started, and closed afterwards."""
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.close()


def run_driver(
    emulator: ModuleEmulator | str,
    body: Callable[[D], Awaitable[None]],
    mode: LinkMode = LinkMode.C1,
    *,
    driver: type[D],
    backoff: Backoff | None = None,
) -> None:
    """Start ``driver`` on the emulator's port (or the port given), run ``body`` with it,
    stop it; all within 30 s."""
    port = emulator if isinstance(emulator, str) else emulator.path

    async def main() -> None:
        started = driver(port, mode, backoff=backoff or Backoff(0.05, 0.5))
        await started.start(start_timeout=5)
        try:
            await body(started)
        finally:
            await started.stop()

    asyncio.run(asyncio.wait_for(main(), 30))


async def take(driver: ModuleDriver, count: int) -> list[bytes]:
    """The raw bytes of the next ``count`` frames."""
    return [(await driver.next_frame(5)).raw for _ in range(count)]


def raw(frame: RadioFrame) -> bytes:
    return frame.raw


def send_amid_garbage(
    emulator: ModuleEmulator,
    frames: list[bytes],
    rng: random.Random,
    noise: Callable[[random.Random, bytes], bytes],
    truncated: Callable[[random.Random, bytes], bytes],
    rssi: float = -70.0,
) -> None:
    """Each frame after 1-30 random bytes (made worse by ``noise``, e.g. a false start)
    and, one time in five, after the ``truncated`` start of a frame."""
    for frame in frames:
        emulator.send(noise(rng, rng.randbytes(rng.randint(1, 30))))
        if rng.random() < 0.2:
            emulator.send(truncated(rng, frame))
        emulator.deliver(frame, rssi)


async def check_every_telegram_arrives(
    driver: ModuleDriver, emulator: ModuleEmulator, sent: list[tuple[bytes, float]]
) -> None:
    """Every (telegram, RSSI) sent arrives as sent, in order, heard in C1."""
    # From a thread: a full pty would otherwise block the loop that drains it.
    await asyncio.to_thread(lambda: [emulator.deliver(frame, rssi) for frame, rssi in sent])
    got = [await driver.next_frame(5) for _ in sent]
    assert [(f.raw, f.rssi_dbm) for f in got] == sent
    assert all(f.link_mode is LinkMode.C1 for f in got)


async def check_kept_during_configuration(
    driver: ModuleDriver,
    emulator: ModuleEmulator,
    frame: bytes,
    received: Callable[[RadioFrame], bytes] = raw,
) -> None:
    """A telegram written before the host configures sits in the pty and comes through."""
    emulator.deliver(frame, -70)
    await driver.configure()
    assert received(await driver.next_frame(5)) == frame


async def check_unplug_and_replug(
    driver: ModuleDriver,
    emulator: ModuleEmulator,
    make: Callable[[int], bytes] = telegram,
    received: Callable[[RadioFrame], bytes] = raw,
    *,
    reconfigures: bool = True,
) -> None:
    """Pulled and put back, the driver resumes within 5 s: it configures the fresh module
    again (``reconfigures``), or, with nothing to configure, reopens the port."""
    emulator.deliver(make(1), -70)
    assert received(await driver.next_frame(5)) == make(1)
    emulator.unplug()
    await asyncio.sleep(0.3)
    emulator.replug()
    loop = asyncio.get_running_loop()
    started = loop.time()

    def back() -> bool:
        if reconfigures:
            return emulator.mode is not None
        return driver.counters.reconnects > 0

    what = "reconfigure" if reconfigures else "reopen"
    while not back():
        assert loop.time() - started < 5, f"driver did not {what} within 5 s"
        await asyncio.sleep(0.05)
    await driver.wait_configured(5)
    emulator.deliver(make(2), -70)
    assert received(await driver.next_frame(5)) == make(2)
    assert loop.time() - started < 5
    assert driver.counters.reconnects == 1
