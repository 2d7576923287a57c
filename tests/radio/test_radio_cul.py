"""The CUL / nanoCUL (culfw) driver against its emulator over a real pseudo-terminal."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from functools import partial

import pytest

from protocols.wmbus.link import FrameFormat, add_crcs, strip_crcs
from radio.driver import ModuleError
from radio.frame import LinkMode, RadioFrame
from radio.modules.cul import CulDriver, CulFramer, rssi_dbm, rssi_raw
from radio.sim.cul import CulEmulator
from tests.radio.helpers import (
    check_kept_during_configuration,
    check_unplug_and_replug,
    run_driver,
    running,
    send_amid_garbage,
    telegram,
)

run = partial(run_driver, driver=CulDriver)


@pytest.fixture
def emulator() -> Iterator[CulEmulator]:
    with running(CulEmulator()) as emu:
        yield emu


def without_crcs(frame: RadioFrame) -> bytes:
    return strip_crcs(frame.raw)[0]


def test_rssi_byte_converts_to_dbm() -> None:
    assert rssi_dbm(0x00) == -74.0
    assert rssi_dbm(0x10) == -66.0
    assert rssi_dbm(0xF0) == -82.0


def test_rssi_round_trips_through_the_culfw_encoding() -> None:
    assert rssi_dbm(rssi_raw(-91.5)) == -91.5


@pytest.mark.parametrize("mode", [LinkMode.C1, LinkMode.T1, LinkMode.S1])
def test_start_sets_the_link_mode_and_turns_on_rssi(emulator: CulEmulator, mode: LinkMode) -> None:
    async def body(driver: CulDriver) -> None:
        assert driver.configured_mode is mode
        assert emulator.mode is mode
        assert emulator.report_rssi

    run(emulator, body, mode)


def test_c1_plus_t1_is_refused_with_a_clear_error(emulator: CulEmulator) -> None:
    async def main() -> None:
        driver = CulDriver(emulator.path, LinkMode.C1T1)
        with pytest.raises(ModuleError, match="no combined C1\\+T1"):
            await driver.start(start_timeout=5)

    asyncio.run(main())
    assert emulator.commands == []


def test_module_info_reports_the_cul_and_its_firmware(emulator: CulEmulator) -> None:
    async def body(driver: CulDriver) -> None:
        info = driver.module_info()
        assert (info.module, info.firmware) == ("nanoCUL868", "1.67")
        assert info.extra["version"] == "V 1.67 nanoCUL868"

    run(emulator, body)


def test_ping_is_answered(emulator: CulEmulator) -> None:
    async def body(driver: CulDriver) -> None:
        assert await driver.ping()

    run(emulator, body)


def test_every_c1_telegram_arrives_in_format_b_with_crcs_and_rssi(emulator: CulEmulator) -> None:
    sent = [(telegram(n), -60.0 - n % 40) for n in range(200)]

    async def body(driver: CulDriver) -> None:
        for frame, rssi in sent:
            emulator.deliver(frame, rssi)
        got = [await driver.next_frame(5) for _ in sent]
        assert [(strip_crcs(f.raw), f.rssi_dbm) for f in got] == [
            ((frame, FrameFormat.B), rssi) for frame, rssi in sent
        ]
        assert all(f.crc_present and f.frame_format is FrameFormat.B for f in got)
        assert all(f.link_mode is LinkMode.C1 for f in got)

    run(emulator, body)


def test_t1_telegrams_arrive_in_format_a_as_t1(emulator: CulEmulator) -> None:
    async def body(driver: CulDriver) -> None:
        emulator.deliver(telegram(7), -80.5)
        frame = await driver.next_frame(5)
        assert frame.raw == add_crcs(telegram(7), FrameFormat.A)
        assert (frame.frame_format, frame.link_mode, frame.rssi_dbm) == (
            FrameFormat.A,
            LinkMode.T1,
            -80.5,
        )

    run(emulator, body, LinkMode.T1)


def test_c1_in_format_a_is_recognised_by_its_prefix() -> None:
    with running(CulEmulator(c1_format=FrameFormat.A)) as emu:

        async def body(driver: CulDriver) -> None:
            emu.deliver(telegram(3), -70)
            frame = await driver.next_frame(5)
            assert frame.frame_format is FrameFormat.A
            assert strip_crcs(frame.raw) == (telegram(3), FrameFormat.A)

        run(emu, body)


def test_nanocul_does_not_deliver_telegrams_longer_than_148_bytes(emulator: CulEmulator) -> None:
    long_one = telegram(1, records=25)
    assert len(add_crcs(long_one, FrameFormat.B)) > 148

    async def body(driver: CulDriver) -> None:
        assert not emulator.deliver(long_one, -70)
        emulator.deliver(telegram(2), -70)
        assert strip_crcs((await driver.next_frame(5)).raw)[0] == telegram(2)
        assert emulator.too_long == 1
        assert driver.pending() == 0

    run(emulator, body)


def test_a_telegram_with_a_bad_crc_is_counted_and_dropped(emulator: CulEmulator) -> None:
    async def body(driver: CulDriver) -> None:
        line = bytearray(emulator.encode_telegram(telegram(1), -70, LinkMode.C1))
        line[12] = ord("0") if line[12] != ord("0") else ord("1")  # a flipped nibble
        emulator.send(bytes(line))
        emulator.deliver(telegram(2), -70)
        assert strip_crcs((await driver.next_frame(5)).raw)[0] == telegram(2)
        assert driver.counters.bad_frames == 1

    run(emulator, body)


def test_a_telegram_without_lqi_and_rssi_still_arrives() -> None:
    framer = CulFramer()
    line = b"bY" + add_crcs(telegram(4), FrameFormat.B).hex().upper().encode() + b"\r\n"
    (event,) = framer.feed(line)
    assert event.raw == add_crcs(telegram(4), FrameFormat.B)  # type: ignore[union-attr]
    assert event.rssi_dbm is None  # type: ignore[union-attr]


def test_garbage_between_and_inside_lines_loses_no_whole_telegram_after_it(
    emulator: CulEmulator,
) -> None:
    rng = random.Random(1101)
    frames = [telegram(n) for n in range(100)]

    def noise(rng: random.Random, garbage: bytes) -> bytes:
        return b"bY" + garbage if rng.random() < 0.3 else garbage  # a false start

    def truncated(rng: random.Random, frame: bytes) -> bytes:
        # A truncated line: its start, then nothing of the rest.
        return emulator.encode_telegram(frame, -70, LinkMode.C1)[:20]

    async def body(driver: CulDriver) -> None:
        send_amid_garbage(emulator, frames, rng, noise, truncated)
        got = [without_crcs(await driver.next_frame(5)) for _ in frames]
        assert got == frames
        assert driver.counters.resyncs + driver.counters.bad_frames > 0

    run(emulator, body)


def test_telegrams_arriving_during_configuration_are_kept(emulator: CulEmulator) -> None:
    run(
        emulator,
        lambda driver: check_kept_during_configuration(driver, emulator, telegram(1), without_crcs),
    )


def test_unplug_and_replug_resumes_within_five_seconds(emulator: CulEmulator) -> None:
    run(emulator, lambda driver: check_unplug_and_replug(driver, emulator, telegram, without_crcs))
