"""The AMB8465 driver against its emulator over a real pseudo-terminal, with telegrams
in command form and in transparent form."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterator

import pytest

from protocols.telegram import MeterAddress
from protocols.wmbus.build import TelegramSpec, Tpl, build_telegram
from radio.driver import ModuleError, ReplyEvent, TelegramEvent
from radio.frame import LinkMode
from radio.modules import amber
from radio.modules.amber import Amb8465Driver, AmberFramer, command_frame, rssi_dbm, rssi_raw
from radio.sim.amber import Amb8465Emulator
from radio.transport import Backoff


def telegram(n: int, payload: int = 6) -> bytes:
    """A telegram without link-layer CRCs; ``payload`` bytes of (seeded) record data."""
    meter = MeterAddress("KAM", f"{10000000 + n:08d}", 0x1B, 0x16)
    records = random.Random(n).randbytes(payload)
    return build_telegram(TelegramSpec(meter, records, tpl=Tpl.NONE))


def varied_telegrams(count: int, seed: int) -> list[bytes]:
    """Telegrams of many lengths, their data random-looking like encrypted payloads."""
    rng = random.Random(seed)
    return [telegram(n, rng.randint(0, 150)) for n in range(count)]


def started(emu: Amb8465Emulator) -> Iterator[Amb8465Emulator]:
    emu.start()
    try:
        yield emu
    finally:
        emu.close()


@pytest.fixture
def emulator() -> Iterator[Amb8465Emulator]:
    yield from started(Amb8465Emulator())


@pytest.fixture
def transparent() -> Iterator[Amb8465Emulator]:
    yield from started(Amb8465Emulator(command_form=False))


@pytest.fixture(params=[True, False], ids=["command", "transparent"])
def either_form(request: pytest.FixtureRequest) -> Iterator[Amb8465Emulator]:
    yield from started(Amb8465Emulator(command_form=request.param))


def run(
    emulator: Amb8465Emulator,
    body: Callable[[Amb8465Driver], Awaitable[None]],
    mode: LinkMode = LinkMode.C1,
) -> None:
    async def main() -> None:
        driver = Amb8465Driver(emulator.path, mode, backoff=Backoff(0.05, 0.5))
        await driver.start(start_timeout=5)
        try:
            await body(driver)
        finally:
            await driver.stop()

    asyncio.run(asyncio.wait_for(main(), 30))


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


@pytest.mark.parametrize("mode", [LinkMode.C1, LinkMode.T1, LinkMode.S1, LinkMode.C1T1])
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
    emu = Amb8465Emulator(refuse_modes=True)
    emu.start()
    try:

        async def main() -> None:
            driver = Amb8465Driver(emu.path, LinkMode.C1, backoff=Backoff(0.05, 0.2))
            with pytest.raises(ModuleError):
                await driver.start(start_timeout=0.5)

        asyncio.run(main())
    finally:
        emu.close()


def test_ping_is_answered(emulator: Amb8465Emulator) -> None:
    async def body(driver: Amb8465Driver) -> None:
        assert await driver.ping()

    run(emulator, body)


def test_every_telegram_arrives_with_its_rssi(either_form: Amb8465Emulator) -> None:
    frames = varied_telegrams(200, 8465)
    sent = [(frame, -40.0 - n % 60) for n, frame in enumerate(frames)]

    async def body(driver: Amb8465Driver) -> None:
        # From a thread: a full pty would otherwise block the loop that drains it.
        await asyncio.to_thread(lambda: [either_form.deliver(frame, rssi) for frame, rssi in sent])
        got = [await driver.next_frame(5) for _ in sent]
        assert [(f.raw, f.rssi_dbm) for f in got] == sent
        assert all(f.link_mode is LinkMode.C1 for f in got)

    run(either_form, body)


def test_garbage_between_and_inside_command_frames_loses_no_whole_frame(
    emulator: Amb8465Emulator,
) -> None:
    # Command frames carry a checksum, so noise may sit right after a frame too.
    rng = random.Random(8465)
    frames = varied_telegrams(100, 8466)

    async def body(driver: Amb8465Driver) -> None:
        for frame in frames:
            garbage = rng.randbytes(rng.randint(1, 30))
            if rng.random() < 0.3:
                garbage = b"\xff" + garbage  # a false start byte
            if rng.random() < 0.2:
                garbage += b"\xff\x03" + bytes([rng.randint(11, 255)])  # a false data start
            emulator.send(garbage)
            if rng.random() < 0.2:
                emulator.send(emulator.encode_telegram(frame, -70, LinkMode.C1)[:7])
            emulator.deliver(frame, -70)
        got = [(await driver.next_frame(5)).raw for _ in frames]
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
    async def body(driver: Amb8465Driver) -> None:
        either_form.deliver(telegram(1), -70)
        await driver.configure()
        assert (await driver.next_frame(5)).raw == telegram(1)

    run(either_form, body)


def test_unplug_and_replug_resumes_within_five_seconds(emulator: Amb8465Emulator) -> None:
    async def body(driver: Amb8465Driver) -> None:
        emulator.deliver(telegram(1), -70)
        assert (await driver.next_frame(5)).raw == telegram(1)
        emulator.unplug()
        await asyncio.sleep(0.3)
        emulator.replug()
        loop = asyncio.get_running_loop()
        started_at = loop.time()
        while emulator.mode is None:  # the driver sets the mode again on the fresh module
            assert loop.time() - started_at < 5, "driver did not reconfigure within 5 s"
            await asyncio.sleep(0.05)
        await driver.wait_configured(5)
        emulator.deliver(telegram(2), -70)
        assert (await driver.next_frame(5)).raw == telegram(2)
        assert loop.time() - started_at < 5
        assert driver.counters.reconnects == 1

    run(emulator, body)
