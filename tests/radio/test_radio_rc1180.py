"""The RC1180-MBUS driver against its emulator over a real pseudo-terminal."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator
from functools import partial

import pytest

from radio.driver import TelegramEvent
from radio.frame import LinkMode
from radio.framing import MIN_L
from radio.modules import radiocrafts as rc
from radio.modules.radiocrafts import Rc1180Driver, Rc1180Framer, rssi_dbm, rssi_raw
from radio.sim.radiocrafts import Rc1180Emulator
from tests.radio.helpers import (
    ALL_MODES,
    check_every_telegram_arrives,
    check_kept_during_configuration,
    check_unplug_and_replug,
    run_driver,
    running,
    varied_telegrams,
)
from tests.radio.helpers import seeded_telegram as telegram

run = partial(run_driver, driver=Rc1180Driver)


@pytest.fixture
def emulator() -> Iterator[Rc1180Emulator]:
    with running(Rc1180Emulator()) as emu:
        yield emu


async def until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    """Wait for the emulator thread to catch up (``X`` has no answer to wait for)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def test_rssi_byte_converts_to_dbm() -> None:
    assert rssi_dbm(0) == 0.0
    assert rssi_dbm(145) == -72.5


def test_rssi_round_trips_through_the_module_encoding() -> None:
    assert rssi_dbm(rssi_raw(-95.5)) == -95.5


@pytest.mark.parametrize("mode", ALL_MODES)
def test_start_sets_the_mode_register_and_reads_it_back(
    emulator: Rc1180Emulator, mode: LinkMode
) -> None:
    async def body(driver: Rc1180Driver) -> None:
        assert driver.configured_mode is mode
        await until(lambda: emulator.mode is mode)
        assert emulator.memory[rc.MODE_REGISTER] == rc.LINK_MODE_CODES[mode]

    run(emulator, body, mode)


def test_start_turns_on_the_rssi_byte(emulator: Rc1180Emulator) -> None:
    async def body(driver: Rc1180Driver) -> None:
        assert emulator.memory[rc.RSSI_REGISTER] == 1

    run(emulator, body)


def test_configuration_ends_by_leaving_config_mode(emulator: Rc1180Emulator) -> None:
    async def body(driver: Rc1180Driver) -> None:
        await until(lambda: not emulator.in_config_mode)
        assert emulator.commands[-1] == rc.LEAVE_CONFIG

    run(emulator, body)


def test_memory_already_right_is_not_rewritten() -> None:
    with running(Rc1180Emulator(mbus_mode=rc.LINK_MODE_CODES[LinkMode.C1], rssi_mode=1)) as emu:

        async def body(driver: Rc1180Driver) -> None:
            assert emu.memory_writes == 0
            assert rc.WRITE_MEMORY not in emu.commands

        run(emu, body)


def test_memory_is_written_once_across_reconfigurations(emulator: Rc1180Emulator) -> None:
    async def body(driver: Rc1180Driver) -> None:
        await driver.configure()
        assert emulator.memory_writes == 1
        assert driver.memory_writes == 1

    run(emulator, body)


def test_module_info_reports_the_registers(emulator: Rc1180Emulator) -> None:
    async def body(driver: Rc1180Driver) -> None:
        info = driver.module_info()
        assert info.module == "RC1180-MBUS"
        assert info.extra == {"mbus_mode": "0x09", "rssi_mode": "1"}

    run(emulator, body)


def test_every_telegram_arrives_with_its_rssi(emulator: Rc1180Emulator) -> None:
    frames = varied_telegrams(200, 1180)
    sent = [(frame, -40.0 - n % 60) for n, frame in enumerate(frames)]

    run(emulator, lambda driver: check_every_telegram_arrives(driver, emulator, sent))


def test_garbage_and_truncated_frames_lose_no_frame_that_followed(
    emulator: Rc1180Emulator,
) -> None:
    # Each burst is noise, perhaps a false (L, C) start or a truncated frame, then a
    # telegram, then silence, as on a line where meters send seconds apart.
    rng = random.Random(11800)
    frames = varied_telegrams(40, 1181)

    async def body(driver: Rc1180Driver) -> None:
        for frame in frames:
            garbage = rng.randbytes(rng.randint(1, 20))
            if rng.random() < 0.3:
                garbage = bytes([rng.randint(MIN_L, 255), 0x44]) + garbage
            if rng.random() < 0.3:
                garbage += emulator.encode_telegram(frame, -70, LinkMode.C1)[:7]
            emulator.send(garbage + emulator.encode_telegram(frame, -70, LinkMode.C1))
            assert (await driver.next_frame(5)).raw == frame
        assert driver.counters.resyncs > 0
        assert driver.pending() == 0

    run(emulator, body)


def test_a_stale_false_start_is_dropped_after_the_idle_gap(emulator: Rc1180Emulator) -> None:
    async def body(driver: Rc1180Driver) -> None:
        emulator.send(bytes([200, 0x44, 0x2D, 0x2C]))  # a start whose 200 bytes never come
        await asyncio.sleep(driver.idle_gap * 2)
        emulator.deliver(telegram(1), -70)
        assert (await driver.next_frame(5)).raw == telegram(1)
        assert driver.counters.resyncs > 0

    run(emulator, body)


def test_false_start_in_noise_does_not_swallow_the_frame_behind_it() -> None:
    framer = Rc1180Framer()
    frame = telegram(7, 40)
    events = framer.feed(bytes([0x33, 0xE0, 0x44, 0x01]) + frame + b"\x8c")
    events += framer.expire()
    assert events == [TelegramEvent(raw=frame, rssi_dbm=-70.0)]


def test_frames_back_to_back_confirm_each_other_without_waiting() -> None:
    framer = Rc1180Framer()
    frames = varied_telegrams(5, 3)
    events = framer.feed(b"".join(f + b"\x8c" for f in frames))
    assert [e.raw for e in events if isinstance(e, TelegramEvent)] == frames
    assert framer.pending == 0


def test_prompt_after_a_telegram_is_told_apart() -> None:
    framer = Rc1180Framer()
    framer.expect = rc.Expect.PROMPT
    frame = telegram(2)
    events = framer.feed(frame + b"\x8c" + bytes([rc.PROMPT]))
    assert [type(e).__name__ for e in events] == ["TelegramEvent", "ReplyEvent"]


def test_telegrams_arriving_during_configuration_are_kept(emulator: Rc1180Emulator) -> None:
    run(emulator, lambda driver: check_kept_during_configuration(driver, emulator, telegram(1)))


def test_unplug_and_replug_resumes_within_five_seconds(emulator: Rc1180Emulator) -> None:
    run(emulator, lambda driver: check_unplug_and_replug(driver, emulator, telegram))
