"""The iU891A: its SLIP framer and message layer on their own (with a fuzz), and the
driver against its emulator over a real pseudo-terminal."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterator
from functools import partial

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.backoff import Backoff
from protocols.crc import crc16_x25
from radio.driver import PORT_CLOSED, ModuleError, ReplyEvent, TelegramEvent
from radio.frame import LinkMode
from radio.modules import iu891a
from radio.modules.iu891a import (
    MAX_ENCODED,
    Iu891aDriver,
    Iu891aFramer,
    ResponseKey,
    SlipFramer,
    encode_message,
    slip_decode,
    slip_encode,
)
from radio.sim.iu891a import Iu891aEmulator
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

run = partial(run_driver, driver=Iu891aDriver)

SET_CONFIG = bytes([iu891a.EP_WMBUS, iu891a.SET_ACTIVE_CONFIGURATION_REQ])


@pytest.fixture
def emulator() -> Iterator[Iu891aEmulator]:
    with running(Iu891aEmulator()) as emu:
        yield emu


def with_escapes(n: int) -> bytes:
    """Meter ``n``'s telegram with C0 and DB bytes in its data (and L still right)."""
    frame = bytearray(telegram(n))
    frame[-4:] = b"\xc0\xdb\xc0\xdb"
    return bytes(frame)


def indication(frame: bytes, rssi: int = -70) -> bytes:
    """An RX_MESSAGE_IND for ``frame`` on the line, as the emulator writes it."""
    header = iu891a.RX_HEADER.pack(b"\x01\x00\x00\x00", b"\x00\x00", b"\x00", rssi)
    return encode_message(iu891a.EP_WMBUS, iu891a.RX_MESSAGE_IND, header + frame)


def set_configs(emulator: Iu891aEmulator) -> int:
    return sum(1 for c in emulator.commands if c.startswith(SET_CONFIG))


# -- SLIP -------------------------------------------------------------------------------------


def test_the_message_crc_is_crc16_x25() -> None:
    # The iU891A's CRC is the iM871A's: reflected 0x1021, init and xorout 0xFFFF, check
    # value 0x906E; a ping request as the driver sends it.
    assert crc16_x25(b"123456789") == 0x906E
    assert iu891a.crc_of(b"\x01\x01") == crc16_x25(b"\x01\x01").to_bytes(2, "little")


def test_slip_escapes_end_and_esc_and_round_trips() -> None:
    message = bytes([0x01, 0xC0, 0x02, 0xDB, 0xDB, 0xC0])
    encoded = slip_encode(message)
    assert encoded == bytes.fromhex("C0 01 DBDC 02 DBDD DBDD DBDC C0")
    assert 0xC0 not in encoded[1:-1]
    assert slip_decode(encoded[1:-1]) == message
    assert slip_encode(message, leading_end=False) == encoded[1:]


def test_every_byte_value_round_trips_through_the_slip_framer() -> None:
    message = bytes(range(256)) * 2
    framer = SlipFramer()
    events = framer.feed(slip_encode(message[:400]))
    assert [e.payload for e in events if isinstance(e, ReplyEvent)] == [message[:400]]
    assert framer.bad_frames == 0


def test_an_esc_before_anything_but_dc_or_dd_is_a_bad_frame() -> None:
    framer = SlipFramer()
    assert framer.feed(b"\xc0\x01\xdb\x02\xc0\xc0\x05\xdb\xc0") == []
    assert framer.bad_frames == 2 and framer.rejected["escape"] == 2


def test_empty_messages_and_wake_up_bytes_are_nothing() -> None:
    framer = Iu891aFramer()
    assert framer.feed(iu891a.WAKE_UP + b"\xc0\xc0") == []
    assert (framer.bad_frames, framer.resyncs, framer.pending) == (0, 0, 0)


def test_an_over_long_message_is_counted_once_and_the_buffer_stays_bounded() -> None:
    framer = Iu891aFramer()
    for _ in range(10):
        assert framer.feed(b"\x55" * 500) == []
        assert framer.pending <= MAX_ENCODED
    frame = telegram(1)
    events = framer.feed(b"\xc0" + indication(frame))
    assert [e.raw for e in events if isinstance(e, TelegramEvent)] == [frame]
    assert framer.rejected == {"too long": 1}


def test_a_complete_message_longer_than_the_limit_is_over_long() -> None:
    framer = SlipFramer()
    assert framer.feed(slip_encode(b"\x01" * (iu891a.MAX_MESSAGE + 1))) == []
    assert framer.rejected == {"too long": 1}


# -- the message layer -----------------------------------------------------------------------


def test_a_telegram_indication_gives_the_frame_and_a_signed_rssi() -> None:
    frame = telegram(3)
    [event] = Iu891aFramer().feed(indication(frame, rssi=-97))
    assert event == TelegramEvent(raw=frame, rssi_dbm=-97.0, crc_present=False)


def test_a_response_gives_its_status_and_payload() -> None:
    data = encode_message(iu891a.EP_DEVMGMT, iu891a.PING_RSP, b"\xaa", status=0x05)
    [event] = Iu891aFramer().feed(data)
    assert event == ReplyEvent(key=ResponseKey(0x01, 0x02, 0x05), payload=b"\xaa")


def test_escaped_bytes_inside_a_telegram_are_unescaped() -> None:
    frame = with_escapes(4)
    line = indication(frame)
    assert b"\xdb\xdc" in line and b"\xdb\xdd" in line
    [event] = Iu891aFramer().feed(line)
    assert isinstance(event, TelegramEvent) and event.raw == frame


def test_a_crc_mismatch_is_counted_and_the_next_message_still_read() -> None:
    good = indication(telegram(5))
    bad = bytearray(indication(telegram(6)))
    bad[12] ^= 0x01
    framer = Iu891aFramer()
    events = framer.feed(bytes(bad) + good)
    assert [e.raw for e in events if isinstance(e, TelegramEvent)] == [telegram(5)]
    assert framer.rejected == {"crc": 1} and framer.bad_frames == 1


def test_garbage_before_a_message_is_skipped_at_its_end() -> None:
    framer = Iu891aFramer()
    events = framer.feed(b"\x13\x37\xa5\xff" + indication(telegram(7)) + b"\x99\x98")
    assert [e.raw for e in events if isinstance(e, TelegramEvent)] == [telegram(7)]
    assert framer.resyncs == 1 and framer.pending == 2
    assert framer.expire() == [] and framer.pending == 0 and framer.resyncs == 2


def test_a_message_split_over_many_reads_arrives_once() -> None:
    frame = with_escapes(8)
    data = indication(frame) * 3
    framer = Iu891aFramer()
    events = []
    for i in range(len(data)):  # byte by byte: every split, an ESC's too
        events += framer.feed(data[i : i + 1])
    assert [e.raw for e in events if isinstance(e, TelegramEvent)] == [frame] * 3
    assert framer.bad_frames == 0


def test_a_too_short_indication_is_a_bad_frame() -> None:
    framer = Iu891aFramer()
    short = encode_message(iu891a.EP_WMBUS, iu891a.RX_MESSAGE_IND, bytes(8) + b"\x05\x44")
    assert framer.feed(short) == []
    assert framer.rejected == {"short": 1}


def test_requests_have_no_status_byte_for_the_emulator() -> None:
    [event] = Iu891aFramer(requests=True).feed(encode_message(0x09, 0x03, b"\x05"))
    assert event == ReplyEvent(key=iu891a.RequestKey(0x09, 0x03), payload=b"\x05")


# -- fuzz: only events or counted bad frames, never an exception ----------------------------


def accounted(framer: Iu891aFramer, stream: bytes, splits: list[int]) -> None:
    """Feed ``stream`` in the pieces ``splits`` cut, then an END: every non-empty message
    in it is an event or a counted bad frame, and nothing raises."""
    events = []
    start = 0
    for cut in [*sorted(splits), len(stream)]:
        events += framer.feed(stream[start:cut])
        start = max(start, cut)
    events += framer.feed(b"\xc0")
    assert framer.pending == 0
    messages = [chunk for chunk in (stream + b"\xc0").split(b"\xc0")[:-1] if chunk]
    assert len(events) + framer.bad_frames == len(messages)
    for event in events:
        assert isinstance(event, TelegramEvent | ReplyEvent)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000), st.lists(st.integers(0, 3000), max_size=20))
def test_fuzz_random_bytes(stream: bytes, splits: list[int]) -> None:
    accounted(Iu891aFramer(), stream, splits)


def test_fuzz_mutated_frames() -> None:
    rng = random.Random(891)
    bad = 0
    for _ in range(300):
        pieces = [
            indication(with_escapes(n) if n % 2 else telegram(n), rng.randint(-128, 127))
            for n in range(rng.randint(1, 8))
        ]
        pieces.append(encode_message(1, 2, rng.randbytes(5), status=0))
        stream = bytearray(b"".join(pieces))
        for _ in range(rng.randint(1, 6)):
            what = rng.random()
            pos = rng.randrange(len(stream))
            if what < 0.4:
                stream[pos] = rng.choice([0xC0, 0xDB, 0xDC, 0xDD, rng.randrange(256)])
            elif what < 0.7:
                del stream[pos : pos + rng.randint(1, 10)]
            else:
                stream[pos:pos] = rng.randbytes(rng.randint(1, 20))
        splits = [rng.randrange(len(stream) + 1) for _ in range(rng.randint(0, 10))]
        framer = Iu891aFramer()
        accounted(framer, bytes(stream), splits)
        bad += framer.bad_frames
    assert bad > 0  # the mutations did reach the framer's checks


# -- the driver against the emulator ---------------------------------------------------------


def test_the_driver_wakes_the_module_before_its_first_request(emulator: Iu891aEmulator) -> None:
    async def body(driver: Iu891aDriver) -> None:
        assert emulator.received.startswith(b"\xc0" * 30 + b"\xc0\x01\x03")

    run(emulator, body)


@pytest.mark.parametrize("mode", ALL_MODES)
def test_start_sets_the_link_mode_and_reads_it_back(
    emulator: Iu891aEmulator, mode: LinkMode
) -> None:
    async def body(driver: Iu891aDriver) -> None:
        assert driver.configured_mode is mode
        assert emulator.mode is mode
        config = iu891a.ActiveConfiguration.parse(emulator.configuration)
        assert config.link_mode == {"c1": 5, "t1": 2, "c1t1": 3, "s1": 1}[mode.value]
        assert config.options == 0x0006  # RX and TX indications, no receive filter

    run(emulator, body, mode)


def test_module_info_reports_type_and_unique_id() -> None:
    with running(Iu891aEmulator(uid=0xA1B2C3D4, product=b"\x12\x34")) as emu:

        async def body(driver: Iu891aDriver) -> None:
            info = driver.module_info()
            assert (info.module, info.firmware, info.module_id) == ("iU891A-XL", None, "A1B2C3D4")
            assert info.extra == {"product": "1234"}

        run(emu, body)


def test_an_unlisted_module_type_is_named_by_its_code() -> None:
    with running(Iu891aEmulator(module_type=0x42)) as emu:

        async def body(driver: Iu891aDriver) -> None:
            assert driver.module_info().module == "IMST 0x42"

        run(emu, body)


def test_ping_is_answered(emulator: Iu891aEmulator) -> None:
    async def body(driver: Iu891aDriver) -> None:
        assert await driver.ping()

    run(emulator, body)


def test_every_telegram_arrives_with_its_rssi(emulator: Iu891aEmulator) -> None:
    sent = [(with_escapes(n) if n % 3 == 0 else telegram(n), -60.0 - n % 40) for n in range(200)]

    async def body(driver: Iu891aDriver) -> None:
        for frame, rssi in sent:
            emulator.deliver(frame, rssi)
        got = [await driver.next_frame(5) for _ in sent]
        assert [(f.raw, f.rssi_dbm) for f in got] == sent
        assert all(f.link_mode is LinkMode.C1 and f.crc_present is False for f in got)
        assert driver.counters.bad_frames == 0

    run(emulator, body)


def test_the_emulator_escapes_end_and_esc_inside_a_telegram() -> None:
    emu = Iu891aEmulator()
    try:
        line = emu.encode_telegram(with_escapes(9), -70.0, LinkMode.C1)
    finally:
        emu.close()
    assert line[0] == line[-1] == 0xC0 and 0xC0 not in line[1:-1]
    assert line.count(b"\xdb\xdc") >= 2 and line.count(b"\xdb\xdd") >= 2


def test_a_module_sending_no_leading_end_is_read_too() -> None:
    with running(Iu891aEmulator(leading_end=False)) as emu:

        async def body(driver: Iu891aDriver) -> None:
            emu.deliver(with_escapes(10), -81)
            frame = await driver.next_frame(5)
            assert (frame.raw, frame.rssi_dbm) == (with_escapes(10), -81.0)

        run(emu, body)


def test_rssi_is_whole_dbm_in_a_signed_byte() -> None:
    assert [iu891a.rssi_byte(v) for v in (-70.4, -70.6, -200.0, 5.0)] == [-70, -71, -128, 5]


def test_garbage_between_and_inside_frames_loses_no_whole_frame_after_it(
    emulator: Iu891aEmulator,
) -> None:
    rng = random.Random(891)
    frames = [with_escapes(n) if n % 4 == 0 else telegram(n) for n in range(100)]

    def noise(rng: random.Random, garbage: bytes) -> bytes:
        return garbage + b"\xdb" if rng.random() < 0.3 else garbage  # a dangling ESC

    def truncated(rng: random.Random, frame: bytes) -> bytes:
        return emulator.encode_telegram(frame, -70, LinkMode.C1)[:9]

    async def body(driver: Iu891aDriver) -> None:
        # The emulator starts every message with END: garbage before it ends there.
        send_amid_garbage(emulator, frames, rng, noise, truncated)
        assert await take(driver, len(frames)) == frames
        assert driver.counters.resyncs > 0 and driver.counters.bad_frames > 0

    run(emulator, body)


def test_a_refused_configuration_is_a_module_error_naming_the_status(
    emulator: Iu891aEmulator,
) -> None:
    async def body(driver: Iu891aDriver) -> None:
        unknown = iu891a.configuration_payload(4)  # no such link mode
        with pytest.raises(ModuleError, match=r"SET_ACTIVE_CONFIGURATION: status 0x01"):
            await driver.command(iu891a.EP_WMBUS, iu891a.SET_ACTIVE_CONFIGURATION_REQ, unknown)
        assert emulator.mode is LinkMode.C1  # the module kept its configuration

    run(emulator, body)


def test_a_module_refusing_the_link_mode_fails_the_start() -> None:
    with running(Iu891aEmulator(refused_codes=frozenset({5}))) as emu:

        async def main() -> None:
            driver = Iu891aDriver(emu.path, LinkMode.C1, backoff=Backoff(0.05, 0.2))
            with pytest.raises(ModuleError, match=r"status 0x01"):
                await driver.start(start_timeout=1.5)

        asyncio.run(main())


class MisreportingEmulator(Iu891aEmulator):
    """Acknowledges the configuration and reads back T1 whatever was set."""

    def _set_configuration(self, payload: bytes) -> None:
        super()._set_configuration(payload)
        self.configuration = iu891a.configuration_payload(2)


def test_a_link_mode_read_back_wrong_is_a_module_error_naming_it() -> None:
    with running(MisreportingEmulator()) as emu:

        async def main() -> None:
            driver = Iu891aDriver(emu.path, LinkMode.C1, backoff=Backoff(0.05, 0.2))
            with pytest.raises(ModuleError, match=r"reads back link mode t1, not c1"):
                await driver.start(start_timeout=1.5)

        asyncio.run(main())


def test_no_module_on_the_port_is_a_module_error() -> None:
    with running(Iu891aEmulator()) as emu:
        # Answer nothing: every request goes unanswered.
        emu._request = lambda *args: None  # type: ignore[method-assign]

        async def main() -> None:
            driver = Iu891aDriver(emu.path, LinkMode.C1, backoff=Backoff(0.05, 0.2))
            with pytest.raises(ModuleError, match=r"no iu891a module answered"):
                await driver.start(start_timeout=1.5)

        asyncio.run(main())


def test_telegrams_arriving_during_configuration_are_kept(emulator: Iu891aEmulator) -> None:
    run(emulator, lambda driver: check_kept_during_configuration(driver, emulator, telegram(1)))


def test_unplug_and_replug_resumes_within_five_seconds(emulator: Iu891aEmulator) -> None:
    run(emulator, lambda driver: check_unplug_and_replug(driver, emulator))


# -- sleep and wake: the port closed -----------------------------------------------------------


async def until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


def test_sleep_closes_the_port_and_wake_configures_again(emulator: Iu891aEmulator) -> None:
    async def body(driver: Iu891aDriver) -> None:
        assert driver.sleep_method == PORT_CLOSED
        await driver.sleep()
        assert (driver.asleep, driver.last_sleep) == (True, PORT_CLOSED)
        await until(lambda: not emulator.host_present)
        assert not emulator.deliver(telegram(1))
        assert emulator.missed_asleep == 1
        await driver.wake()
        assert not driver.asleep and emulator.host_present
        assert set_configs(emulator) == 2
        assert emulator.received.count(iu891a.WAKE_UP) >= 2  # woken again after the sleep
        emulator.deliver(telegram(2))
        assert (await driver.next_frame(5)).raw == telegram(2)
        assert driver.counters.reconnects == 0

    run(emulator, body)
