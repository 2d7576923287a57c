"""The AMB8465 driver against its emulator over a real pseudo-terminal, with telegrams
in command form and in transparent form."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from functools import partial

import pytest

from protocols.backoff import Backoff
from radio.driver import ModuleError, ReplyEvent, TelegramEvent
from radio.frame import LinkMode
from radio.modules import amber
from radio.modules.amber import Amb8465Driver, AmberFramer, command_frame, rssi_dbm, rssi_raw
from radio.sim.amber import Amb8465Emulator
from tests.radio.helpers import (
    ALL_MODES,
    check_every_telegram_arrives,
    check_kept_during_configuration,
    check_unplug_and_replug,
    run_driver,
    running,
    send_amid_garbage,
    take,
    varied_telegrams,
)
from tests.radio.helpers import seeded_telegram as telegram

run = partial(run_driver, driver=Amb8465Driver)


@pytest.fixture
def emulator() -> Iterator[Amb8465Emulator]:
    with running(Amb8465Emulator()) as emu:
        yield emu


@pytest.fixture
def transparent() -> Iterator[Amb8465Emulator]:
    with running(Amb8465Emulator(command_form=False)) as emu:
        yield emu


@pytest.fixture(params=[True, False], ids=["command", "transparent"])
def either_form(request: pytest.FixtureRequest) -> Iterator[Amb8465Emulator]:
    with running(Amb8465Emulator(command_form=request.param)) as emu:
        yield emu


def test_commands_carry_the_xor_checksum() -> None:
    assert command_frame(amber.CMD_SET_MODE_REQ, b"\x09") == bytes.fromhex("FF040109F3")
    assert command_frame(amber.CMD_GET_REQ, amber.PARAM_READ) == bytes.fromhex("FF0A02008077")
    assert command_frame(amber.CMD_SERIALNO_REQ) == bytes.fromhex("FF0B00F4")
    assert command_frame(amber.CMD_RESET_REQ) == bytes.fromhex("FF0500FA")


def test_rssi_byte_converts_to_dbm_as_signed_half_db() -> None:
    assert rssi_dbm(0x00) == -74.0
    assert rssi_dbm(0x14) == -64.0
    assert rssi_dbm(0xEC) == -84.0


def test_rssi_round_trips_through_the_module_encoding() -> None:
    assert rssi_dbm(rssi_raw(-95.5)) == -95.5


@pytest.mark.parametrize("mode", ALL_MODES)
def test_start_sets_the_link_mode_and_reads_it_back(
    emulator: Amb8465Emulator, mode: LinkMode
) -> None:
    async def body(driver: Amb8465Driver) -> None:
        assert driver.configured_mode is mode
        assert driver.read_back_mode is mode
        assert emulator.mode is mode
        assert bytes([amber.CMD_SET_MODE_REQ, amber.LINK_MODE_CODES[mode]]) in emulator.commands

    run(emulator, body, mode)


def test_module_info_reports_type_firmware_and_serial(emulator: Amb8465Emulator) -> None:
    async def body(driver: Amb8465Driver) -> None:
        info = driver.module_info()
        assert (info.module, info.firmware, info.module_id) == ("AMB8465", "4.3.0", "0A0B0C0D")
        assert info.extra == {"parameter_mode": "c1", "rssi_enable": "1"}

    run(emulator, body)


def test_a_refused_mode_fails_start() -> None:
    with running(Amb8465Emulator(refuse_modes=True)) as emu:

        async def main() -> None:
            driver = Amb8465Driver(emu.path, LinkMode.C1, backoff=Backoff(0.05, 0.2))
            with pytest.raises(ModuleError):
                await driver.start(start_timeout=0.5)

        asyncio.run(main())


def test_ping_is_answered(emulator: Amb8465Emulator) -> None:
    async def body(driver: Amb8465Driver) -> None:
        assert await driver.ping()

    run(emulator, body)


def test_every_telegram_arrives_with_its_rssi(either_form: Amb8465Emulator) -> None:
    frames = varied_telegrams(200, 8465)
    sent = [(frame, -40.0 - n % 60) for n, frame in enumerate(frames)]

    run(either_form, lambda driver: check_every_telegram_arrives(driver, either_form, sent))


def test_garbage_between_and_inside_command_frames_loses_no_whole_frame(
    emulator: Amb8465Emulator,
) -> None:
    # Command frames carry a checksum, so noise may sit right after a frame too.
    rng = random.Random(8465)
    frames = varied_telegrams(100, 8466)

    def noise(rng: random.Random, garbage: bytes) -> bytes:
        if rng.random() < 0.3:
            garbage = b"\xff" + garbage  # a false start byte
        if rng.random() < 0.2:
            garbage += b"\xff\x03" + bytes([rng.randint(11, 255)])  # a false data start
        return garbage

    def truncated(rng: random.Random, frame: bytes) -> bytes:
        return emulator.encode_telegram(frame, -70, LinkMode.C1)[:7]

    async def body(driver: Amb8465Driver) -> None:
        send_amid_garbage(emulator, frames, rng, noise, truncated)
        got = await take(driver, len(frames))
        assert got == frames
        assert driver.counters.resyncs > 0

    run(emulator, body)


def test_garbage_before_transparent_frames_loses_no_frame_that_followed(
    transparent: Amb8465Emulator,
) -> None:
    # Without a checksum a frame is trusted only when silence or another start follows it:
    # each burst is noise, perhaps a truncated frame, then the telegram, then silence.
    rng = random.Random(84650)
    frames = varied_telegrams(12, 84651)

    async def body(driver: Amb8465Driver) -> None:
        for frame in frames:
            garbage = rng.randbytes(rng.randint(1, 12))
            if rng.random() < 0.5:
                garbage += transparent.encode_telegram(frame, -70, LinkMode.C1)[:7]
            transparent.send(garbage + transparent.encode_telegram(frame, -70, LinkMode.C1))
            assert (await driver.next_frame(5)).raw == frame
        assert driver.counters.resyncs > 0
        assert driver.pending() == 0

    run(transparent, body)


def test_a_pause_of_one_second_inside_a_frame_keeps_it(transparent: Amb8465Emulator) -> None:
    async def body(driver: Amb8465Driver) -> None:
        data = transparent.encode_telegram(telegram(1), -70, LinkMode.C1)
        transparent.send(data[:9])
        await asyncio.sleep(1.0)
        transparent.send(data[9:])
        assert (await driver.next_frame(3)).raw == telegram(1)
        assert driver.counters.resyncs == 0

    run(transparent, body)


def test_a_partial_frame_is_stale_after_two_seconds(either_form: Amb8465Emulator) -> None:
    async def body(driver: Amb8465Driver) -> None:
        either_form.send(either_form.encode_telegram(telegram(1), -70, LinkMode.C1)[:9])
        await asyncio.sleep(1.0)
        assert driver.counters.resyncs == 0
        await asyncio.sleep(1.6)
        assert driver.counters.resyncs > 0
        either_form.deliver(telegram(2), -70)
        assert (await driver.next_frame(3)).raw == telegram(2)

    run(either_form, body)


def test_false_start_in_noise_does_not_swallow_the_transparent_frame_behind_it() -> None:
    framer = AmberFramer()
    frame = telegram(7, 40)
    events = framer.feed(bytes([0x33, 0xE0, 0x44, 0x01]) + frame + b"\x14")
    events += framer.expire()
    assert events == [TelegramEvent(raw=frame, rssi_dbm=-64.0)]


def test_reply_right_after_a_transparent_frame_confirms_it() -> None:
    framer = AmberFramer()
    frame = telegram(3)
    reply = command_frame(amber.CMD_SET_MODE_REQ | amber.REPLY_BIT, b"\x00")
    events = framer.feed(frame + b"\x14" + reply)
    assert events == [TelegramEvent(raw=frame, rssi_dbm=-64.0), ReplyEvent(0x84, b"\x00")]


def test_reply_of_an_impossible_length_is_refused_at_once() -> None:
    framer = AmberFramer()
    assert framer.feed(b"\xff\x84\x40\x00") == []
    assert framer.pending == 0


def test_telegrams_arriving_during_configuration_are_kept(either_form: Amb8465Emulator) -> None:
    run(
        either_form,
        lambda driver: check_kept_during_configuration(driver, either_form, telegram(1)),
    )


def test_unplug_and_replug_resumes_within_five_seconds(emulator: Amb8465Emulator) -> None:
    run(emulator, lambda driver: check_unplug_and_replug(driver, emulator, telegram))
