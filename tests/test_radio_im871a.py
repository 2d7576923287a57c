"""The iM871A driver against its emulator over a real pseudo-terminal."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterator

import pytest

from protocols.telegram import MeterAddress
from protocols.wmbus.build import TelegramSpec, Tpl, build_telegram
from radio.frame import LinkMode
from radio.modules.imst import Im871aDriver, rssi_dbm, rssi_raw
from radio.sim.imst import Im871aEmulator
from radio.transport import Backoff


def telegram(n: int) -> bytes:
    meter = MeterAddress("KAM", f"{10000000 + n:08d}", 0x1B, 0x16)
    records = bytes.fromhex("0413") + (1000 + n).to_bytes(4, "little")
    return build_telegram(TelegramSpec(meter, records, tpl=Tpl.NONE))


@pytest.fixture
def emulator() -> Iterator[Im871aEmulator]:
    emu = Im871aEmulator()
    emu.start()
    yield emu
    emu.close()


def run(
    emulator: Im871aEmulator,
    body: Callable[[Im871aDriver], Awaitable[None]],
    mode: LinkMode = LinkMode.C1,
) -> None:
    async def main() -> None:
        driver = Im871aDriver(emulator.path, mode, backoff=Backoff(0.05, 0.5))
        await driver.start(start_timeout=5)
        try:
            await body(driver)
        finally:
            await driver.stop()

    asyncio.run(asyncio.wait_for(main(), 30))


def test_rssi_byte_converts_to_dbm() -> None:
    assert rssi_dbm(45) == -100.0
    assert rssi_dbm(125) == -60.0
    assert rssi_dbm(230) == 0.0


def test_rssi_round_trips_through_the_module_encoding() -> None:
    assert rssi_dbm(rssi_raw(-72.5)) == -72.5


@pytest.mark.parametrize("mode", [LinkMode.C1, LinkMode.T1, LinkMode.S1, LinkMode.C1T1])
def test_start_sets_the_link_mode_and_reads_it_back(
    emulator: Im871aEmulator, mode: LinkMode
) -> None:
    async def body(driver: Im871aDriver) -> None:
        assert driver.configured_mode is mode
        assert emulator.mode is mode

    run(emulator, body, mode)


def test_module_info_reports_type_firmware_and_id(emulator: Im871aEmulator) -> None:
    async def body(driver: Im871aDriver) -> None:
        info = driver.module_info()
        assert (info.module, info.firmware, info.module_id) == ("iM871A", "15", "12345678")

    run(emulator, body)


def test_old_firmware_refuses_c1_plus_t1() -> None:
    emu = Im871aEmulator(firmware=0x13)
    emu.start()
    try:

        async def main() -> None:
            driver = Im871aDriver(emu.path, LinkMode.C1T1, backoff=Backoff(0.05, 0.2))
            with pytest.raises(Exception, match=r"C1 and T1|answered"):
                await driver.start(start_timeout=1.5)

        asyncio.run(main())
    finally:
        emu.close()


def test_ping_is_answered(emulator: Im871aEmulator) -> None:
    async def body(driver: Im871aDriver) -> None:
        assert await driver.ping()

    run(emulator, body)


def test_every_telegram_arrives_with_its_rssi(emulator: Im871aEmulator) -> None:
    sent = [(telegram(n), -60.0 - n % 40) for n in range(200)]

    async def body(driver: Im871aDriver) -> None:
        for frame, rssi in sent:
            emulator.deliver(frame, rssi)
        got = [await driver.next_frame(5) for _ in sent]
        assert [(f.raw, f.rssi_dbm) for f in got] == sent
        assert all(f.link_mode is LinkMode.C1 for f in got)

    run(emulator, body)


def test_garbage_between_and_inside_frames_loses_no_whole_frame_after_it(
    emulator: Im871aEmulator,
) -> None:
    rng = random.Random(871)
    frames = [telegram(n) for n in range(100)]

    async def body(driver: Im871aDriver) -> None:
        for frame in frames:
            garbage = rng.randbytes(rng.randint(1, 30))
            if rng.random() < 0.3:
                garbage = b"\xa5" + garbage  # a false start byte
            emulator.send(garbage)
            if rng.random() < 0.2:
                # A truncated message: its start, then nothing of the rest.
                emulator.send(emulator.encode_telegram(frame, -70, LinkMode.C1)[:7])
            emulator.deliver(frame, -70)
        got = []
        while len(got) < len(frames):
            got.append((await driver.next_frame(5)).raw)
        assert got == frames
        assert driver.counters.resyncs > 0

    run(emulator, body)


def test_telegrams_arriving_during_configuration_are_kept(emulator: Im871aEmulator) -> None:
    # Frames written before the host configures sit in the pty; they must come through.
    async def body(driver: Im871aDriver) -> None:
        emulator.deliver(telegram(1), -70)
        await driver.configure()
        assert (await driver.next_frame(5)).raw == telegram(1)

    run(emulator, body)


def test_unplug_and_replug_resumes_within_five_seconds(emulator: Im871aEmulator) -> None:
    async def body(driver: Im871aDriver) -> None:
        emulator.deliver(telegram(1), -70)
        assert (await driver.next_frame(5)).raw == telegram(1)
        emulator.unplug()
        await asyncio.sleep(0.3)
        emulator.replug()
        loop = asyncio.get_running_loop()
        started = loop.time()
        while emulator.mode is None:  # the driver reconfigures the fresh module
            assert loop.time() - started < 5, "driver did not reconfigure within 5 s"
            await asyncio.sleep(0.05)
        await driver.wait_configured(5)
        emulator.deliver(telegram(2), -70)
        assert (await driver.next_frame(5)).raw == telegram(2)
        assert loop.time() - started < 5
        assert driver.counters.reconnects == 1

    run(emulator, body)
