"""The rawtty driver (bare telegrams framed by L) and its hex-text variant, against the
emulator over a real pseudo-terminal."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterator, Sequence

import pytest

from protocols.telegram import MeterAddress
from protocols.wmbus.build import TelegramSpec, Tpl, build_telegram
from radio.driver import TelegramEvent
from radio.frame import LinkMode
from radio.modules.rawtty import HexFramer, HexTtyDriver, RawFramer, RawTtyDriver
from radio.modules.registry import driver_class
from radio.sim.rawtty import RawTtyEmulator
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


def raws(events: Sequence[object]) -> list[bytes]:
    return [e.raw for e in events if isinstance(e, TelegramEvent)]


@pytest.fixture
def emulator() -> Iterator[RawTtyEmulator]:
    with running(RawTtyEmulator()) as emu:
        yield emu


@pytest.fixture
def hex_emulator() -> Iterator[RawTtyEmulator]:
    with running(RawTtyEmulator(hex_stream=True, prefix="0x")) as emu:
        yield emu


def run(
    emulator: RawTtyEmulator,
    body: Callable[[RawTtyDriver], Awaitable[None]],
    mode: LinkMode = LinkMode.C1,
) -> None:
    driver = HexTtyDriver if emulator.hex_stream else RawTtyDriver
    run_driver(emulator, body, mode, driver=driver)


def test_the_registry_name_rawtty_is_the_binary_driver() -> None:
    assert driver_class("rawtty") is RawTtyDriver


@pytest.mark.parametrize("mode", ALL_MODES)
def test_start_records_the_mode_and_sends_nothing(emulator: RawTtyEmulator, mode: LinkMode) -> None:
    async def body(driver: RawTtyDriver) -> None:
        assert driver.configured_mode is mode
        assert driver.module_info().module == "rawtty"
        await asyncio.sleep(0.1)
        assert emulator.commands == []

    run(emulator, body, mode)


def test_every_telegram_arrives_without_rssi_in_the_configured_mode(
    emulator: RawTtyEmulator,
) -> None:
    frames = [telegram(n) for n in range(200)]

    async def body(driver: RawTtyDriver) -> None:
        for frame in frames:
            emulator.deliver(frame)
        got = [await driver.next_frame(5) for _ in frames]
        assert [f.raw for f in got] == frames
        assert all(f.rssi_dbm is None and f.link_mode is LinkMode.T1 for f in got)
        assert not any(f.crc_present for f in got)

    run(emulator, body, LinkMode.T1)


def test_a_lone_telegram_is_accepted_after_the_idle_gap(emulator: RawTtyEmulator) -> None:
    async def body(driver: RawTtyDriver) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        emulator.deliver(telegram(1))
        assert (await driver.next_frame(5)).raw == telegram(1)
        assert loop.time() - started < driver.idle_gap + 0.5

    run(emulator, body)


def test_a_complete_telegram_with_nothing_start_like_inside_is_taken_at_once() -> None:
    assert raws(RawFramer().feed(telegram(1))) == [telegram(1)]


def test_a_telegram_ending_in_start_like_bytes_waits_for_what_follows() -> None:
    meter = MeterAddress("KAM", "12345678", 0x1B, 0x16)
    ambiguous = build_telegram(TelegramSpec(meter, bytes.fromhex("04130020442D"), tpl=Tpl.NONE))
    framer = RawFramer()
    assert framer.feed(ambiguous) == []  # "20 44 2D" could start a telegram overlapping it
    assert raws(framer.feed(telegram(2))) == [ambiguous, telegram(2)]


def test_a_false_start_whose_length_does_not_fit_is_skipped() -> None:
    framer = RawFramer()
    stream = bytes([0x0C, 0x44, 0x01]) + telegram(1) + telegram(2)
    assert raws(framer.feed(stream) + framer.expire()) == [telegram(1), telegram(2)]
    assert framer.resyncs > 0


def test_garbage_between_and_inside_frames_loses_no_whole_frame_after_it(
    emulator: RawTtyEmulator,
) -> None:
    rng = random.Random(2024)
    frames = [telegram(n) for n in range(100)]

    def noise(rng: random.Random, garbage: bytes) -> bytes:
        if rng.random() < 0.3:
            garbage = bytes([rng.randint(10, 60), 0x44]) + garbage  # a false start
        return garbage

    def truncated(rng: random.Random, frame: bytes) -> bytes:
        return frame[: rng.randint(2, len(frame) - 1)]

    async def body(driver: RawTtyDriver) -> None:
        send_amid_garbage(emulator, frames, rng, noise, truncated)
        assert await take(driver, len(frames)) == frames
        assert driver.counters.resyncs > 0

    run(emulator, body)


def test_telegrams_arriving_during_configuration_are_kept(emulator: RawTtyEmulator) -> None:
    run(emulator, lambda driver: check_kept_during_configuration(driver, emulator, telegram(1)))


def test_unplug_and_replug_resumes_within_five_seconds(emulator: RawTtyEmulator) -> None:
    run(emulator, lambda driver: check_unplug_and_replug(driver, emulator, reconfigures=False))


def test_hex_lines_arrive_without_waiting_for_the_idle_gap(hex_emulator: RawTtyEmulator) -> None:
    frames = [telegram(n) for n in range(100)]

    async def body(driver: RawTtyDriver) -> None:
        assert driver.module_info().extra["stream"] == "hex"
        loop = asyncio.get_running_loop()
        started = loop.time()
        for frame in frames:
            hex_emulator.deliver(frame)
        assert await take(driver, len(frames)) == frames
        assert loop.time() - started < driver.idle_gap

    run(hex_emulator, body)


def test_hex_separators_and_prefixes_are_ignored() -> None:
    text = " ".join(f"{b:02x}" for b in telegram(1)) + "\n" + "0x" + telegram(2).hex() + "|\n"
    assert raws(HexFramer().feed(text.encode())) == [telegram(1), telegram(2)]


def test_hex_0x_prefix_split_across_reads_is_still_dropped() -> None:
    framer = HexFramer()
    events = framer.feed(b"0") + framer.feed(b"x" + telegram(1).hex().encode() + b"\n")
    assert raws(events) == [telegram(1)]


def test_a_hex_telegram_may_span_lines_as_in_a_dump() -> None:
    digits = telegram(1).hex()
    dump = "\n".join(digits[i : i + 32] for i in range(0, len(digits), 32)) + "\n"
    framer = HexFramer()
    assert raws(framer.feed(dump.encode()) + framer.expire()) == [telegram(1)]


def test_hex_noise_with_a_stray_digit_does_not_shift_the_telegram_after_it() -> None:
    line = b"noise: 5 " + telegram(1).hex().upper().encode() + b"\r\n"
    assert raws(HexFramer().feed(line)) == [telegram(1)]


def test_hex_garbage_lines_lose_no_telegram_after_them(hex_emulator: RawTtyEmulator) -> None:
    rng = random.Random(16)
    frames = [telegram(n) for n in range(100)]

    async def body(driver: RawTtyDriver) -> None:
        for frame in frames:
            noise = bytes(rng.choice(b"0123456789ABCDEFxyz ;:-") for _ in range(rng.randint(1, 40)))
            hex_emulator.send(noise + (b"\n" if rng.random() < 0.5 else b""))
            if rng.random() < 0.2:
                line = hex_emulator.encode_telegram(frame, -70, LinkMode.C1)
                hex_emulator.send(line[: rng.randint(3, len(line) - 3)] + b"\n")  # truncated
            hex_emulator.deliver(frame)
        assert await take(driver, len(frames)) == frames

    run(hex_emulator, body)
