"""The iM871A driver against its emulator over a real pseudo-terminal."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from functools import partial

import pytest

from protocols.backoff import Backoff
from radio.frame import LinkMode
from radio.modules.imst import Im871aDriver, rssi_dbm, rssi_raw
from radio.sim.imst import Im871aEmulator
from tests.radio.helpers import (
    ALL_MODES,
    check_kept_during_configuration,
    check_unplug_and_replug,
    run_driver,
    running,
    send_amid_garbage,
    take,
    telegram,
)

run = partial(run_driver, driver=Im871aDriver)


@pytest.fixture
def emulator() -> Iterator[Im871aEmulator]:
    with running(Im871aEmulator()) as emu:
        yield emu


def test_rssi_byte_converts_to_dbm() -> None:
    assert rssi_dbm(45) == -100.0
    assert rssi_dbm(125) == -60.0
    assert rssi_dbm(230) == 0.0


def test_rssi_round_trips_through_the_module_encoding() -> None:
    assert rssi_dbm(rssi_raw(-72.5)) == -72.5


@pytest.mark.parametrize("mode", ALL_MODES)
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
    with running(Im871aEmulator(firmware=0x13)) as emu:

        async def main() -> None:
            driver = Im871aDriver(emu.path, LinkMode.C1T1, backoff=Backoff(0.05, 0.2))
            with pytest.raises(Exception, match=r"C1 and T1|answered"):
                await driver.start(start_timeout=1.5)

        asyncio.run(main())


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

    def noise(rng: random.Random, garbage: bytes) -> bytes:
        return b"\xa5" + garbage if rng.random() < 0.3 else garbage  # a false start byte

    def truncated(rng: random.Random, frame: bytes) -> bytes:
        # A truncated message: its start, then nothing of the rest.
        return emulator.encode_telegram(frame, -70, LinkMode.C1)[:7]

    async def body(driver: Im871aDriver) -> None:
        send_amid_garbage(emulator, frames, rng, noise, truncated)
        got = await take(driver, len(frames))
        assert got == frames
        assert driver.counters.resyncs > 0

    run(emulator, body)


def test_telegrams_arriving_during_configuration_are_kept(emulator: Im871aEmulator) -> None:
    run(emulator, lambda driver: check_kept_during_configuration(driver, emulator, telegram(1)))


def test_unplug_and_replug_resumes_within_five_seconds(emulator: Im871aEmulator) -> None:
    run(emulator, lambda driver: check_unplug_and_replug(driver, emulator))
