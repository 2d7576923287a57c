"""Driver sleep/wake (decision 0009) against the emulators over real pseudo-terminals: the
iM871A in low-power mode, the AMB8465 (and the others) with the port closed, and the
emulators' record of the time the host kept the radio awake."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest
import serial

from protocols.backoff import Backoff
from protocols.wmbus.link import strip_crcs
from radio.driver import LOW_POWER_MODE, PORT_CLOSED, ModuleError
from radio.frame import LinkMode, RadioFrame
from radio.modules import amber, imst
from radio.modules.amber import Amb8465Driver
from radio.modules.cul import CulDriver
from radio.modules.imst import Im871aDriver, hci_message
from radio.modules.rtlwmbus import RtlWmbusDriver
from radio.sim.amber import Amb8465Emulator
from radio.sim.cul import CulEmulator
from radio.sim.imst import Im871aEmulator
from radio.sim.rtlwmbus import rtl_line
from tests.radio.helpers import check_unplug_and_replug, run_driver, running, telegram

run_im871a = partial(run_driver, driver=Im871aDriver)
run_amber = partial(run_driver, driver=Amb8465Driver)

LPM_REQUEST = bytes([imst.EP_DEVMGMT, imst.ENTER_LPM_REQ])
SET_CONFIG = bytes([imst.EP_DEVMGMT, imst.SET_CONFIG_REQ])


@pytest.fixture
def im871a() -> Iterator[Im871aEmulator]:
    with running(Im871aEmulator()) as emu:
        yield emu


@pytest.fixture
def amb8465() -> Iterator[Amb8465Emulator]:
    with running(Amb8465Emulator()) as emu:
        yield emu


async def until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    """Wait until ``condition()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


def amber_set_modes(emulator: Amb8465Emulator) -> int:
    return sum(1 for c in emulator.commands if c[0] == amber.CMD_SET_MODE_REQ)


# -- iM871A: low-power mode ----------------------------------------------------------------


def test_im871a_sleep_sends_the_low_power_request(im871a: Im871aEmulator) -> None:
    async def body(driver: Im871aDriver) -> None:
        await driver.sleep()
        assert LPM_REQUEST in im871a.commands
        assert im871a.lpm_entries == 1
        assert (driver.asleep, driver.last_sleep) == (True, LOW_POWER_MODE)

    run_im871a(im871a, body)


def test_im871a_asleep_emulator_is_not_awake(im871a: Im871aEmulator) -> None:
    async def body(driver: Im871aDriver) -> None:
        await driver.sleep()
        await until(lambda: not im871a.awake)
        assert im871a.low_power

    run_im871a(im871a, body)


def test_im871a_telegram_delivered_while_asleep_is_missed_not_received(
    im871a: Im871aEmulator,
) -> None:
    async def body(driver: Im871aDriver) -> None:
        await driver.sleep()
        assert not im871a.deliver(telegram(1))
        assert im871a.missed_asleep == 1
        await driver.wake()
        assert im871a.deliver(telegram(2))
        assert (await driver.next_frame(5)).raw == telegram(2)

    run_im871a(im871a, body)


def test_im871a_wake_configures_the_module_again(im871a: Im871aEmulator) -> None:
    async def body(driver: Im871aDriver) -> None:
        await driver.sleep()
        await driver.wake()
        # The emulator forgot its mode on waking: it is set because the driver set it.
        assert im871a.mode is LinkMode.T1
        assert sum(1 for c in im871a.commands if c[:2] == SET_CONFIG) == 2
        assert not driver.asleep

    run_im871a(im871a, body, LinkMode.T1)


def test_im871a_telegrams_flow_again_after_wake(im871a: Im871aEmulator) -> None:
    async def body(driver: Im871aDriver) -> None:
        await driver.sleep()
        await driver.wake()
        frames = [telegram(n) for n in range(5)]
        for frame in frames:
            im871a.deliver(frame)
        assert [(await driver.next_frame(5)).raw for _ in frames] == frames

    run_im871a(im871a, body)


def test_im871a_emulator_loses_the_bytes_that_wake_it(im871a: Im871aEmulator) -> None:
    ping = hci_message(imst.EP_DEVMGMT, imst.PING_REQ)
    with serial.Serial(im871a.path, 57600, timeout=0.3) as host:
        host.write(hci_message(imst.EP_DEVMGMT, imst.ENTER_LPM_REQ))
        assert host.read(7)[2] == imst.ENTER_LPM_RSP
        host.write(ping)  # wakes the module, and is lost
        assert host.read(7) == b""
        assert (im871a.low_power, im871a.mode) == (False, None)
        host.write(ping)
        assert host.read(7)[2] == imst.PING_RSP


class RefusingIm871aEmulator(Im871aEmulator):
    """An iM871A whose firmware rejects the low-power request."""

    def _devmgmt(self, msg_id: int, payload: bytes) -> None:
        if msg_id == imst.ENTER_LPM_REQ:
            self._answer(imst.ENTER_LPM_RSP, rejected=True)
            return
        super()._devmgmt(msg_id, payload)


def test_im871a_refusing_low_power_mode_has_its_port_closed_only() -> None:
    with running(RefusingIm871aEmulator()) as emu:

        async def body(driver: Im871aDriver) -> None:
            await driver.sleep()
            assert driver.last_sleep == PORT_CLOSED
            await until(lambda: not emu.host_present)
            assert not emu.low_power

        run_im871a(emu, body)


def test_im871a_refusal_is_warned_about_once(caplog: pytest.LogCaptureFixture) -> None:
    with running(RefusingIm871aEmulator()) as emu:

        async def body(driver: Im871aDriver) -> None:
            for _ in range(3):
                await driver.sleep()
                await driver.wake()

        with caplog.at_level(logging.WARNING, logger="radio.modules.imst"):
            run_im871a(emu, body)
    refusals = [r for r in caplog.records if "refused low-power mode" in r.getMessage()]
    assert len(refusals) == 1


# -- awake accounting ------------------------------------------------------------------------


def test_awake_seconds_match_the_time_the_host_kept_the_module_awake(
    im871a: Im871aEmulator,
) -> None:
    async def body(driver: Im871aDriver) -> None:
        began = time.monotonic()
        low = high = 0.0  # the awake time is between these, by the host's clock
        awake_from = awake_from_latest = began
        for _ in range(3):
            await asyncio.sleep(0.2)
            asleep_from = time.monotonic()
            await driver.sleep()
            asleep_from_latest = time.monotonic()
            low += asleep_from - awake_from_latest
            high += asleep_from_latest - awake_from
            await asyncio.sleep(0.2)
            awake_from = time.monotonic()
            await driver.wake()
            awake_from_latest = time.monotonic()
        ended = time.monotonic()
        low += ended - awake_from_latest
        high += ended - awake_from
        measured = im871a.awake_seconds(began, ended)
        assert low - 0.03 <= measured <= high + 0.03, (low, measured, high)
        assert im871a.awake_share(began, ended) == pytest.approx(measured / (ended - began))

    run_im871a(im871a, body)


def test_awake_spans_record_one_span_per_listening_window(im871a: Im871aEmulator) -> None:
    async def body(driver: Im871aDriver) -> None:
        before = len(im871a.awake_spans)
        for _ in range(3):
            await driver.sleep()
            await driver.wake()
        await driver.sleep()
        await until(lambda: not im871a.awake)
        assert len(im871a.awake_spans) == before + 4

    run_im871a(im871a, body)


def test_emulator_counts_awake_from_start_before_the_host_writes(
    im871a: Im871aEmulator,
) -> None:
    time.sleep(0.05)
    assert im871a.awake
    assert im871a.awake_seconds() >= 0.05


# -- AMB8465 (and the others): the port closed -----------------------------------------------


def test_amb8465_sleep_method_is_closing_the_port(amb8465: Amb8465Emulator) -> None:
    async def body(driver: Amb8465Driver) -> None:
        assert driver.sleep_method == PORT_CLOSED
        await driver.sleep()
        assert driver.last_sleep == PORT_CLOSED

    run_amber(amb8465, body)


def test_amb8465_sleep_leaves_the_emulator_without_a_host(amb8465: Amb8465Emulator) -> None:
    async def body(driver: Amb8465Driver) -> None:
        await driver.sleep()
        await until(lambda: not amb8465.host_present, 0.05)  # seen at once (POLLHUP)
        assert not amb8465.awake
        assert not amb8465.deliver(telegram(1))
        assert amb8465.missed_asleep == 1

    run_amber(amb8465, body)


def test_amb8465_wake_reopens_and_configures_again(amb8465: Amb8465Emulator) -> None:
    async def body(driver: Amb8465Driver) -> None:
        await driver.sleep()
        await driver.wake()
        assert amb8465.host_present
        assert amber_set_modes(amb8465) == 2
        amb8465.deliver(telegram(2))
        assert (await driver.next_frame(5)).raw == telegram(2)

    run_amber(amb8465, body)


def test_stale_bytes_written_while_the_port_was_closed_are_not_handed_over(
    amb8465: Amb8465Emulator,
) -> None:
    async def body(driver: Amb8465Driver) -> None:
        await driver.sleep()
        await until(lambda: not amb8465.host_present)
        # Written raw into the closed port: the pty keeps them for the next opener.
        assert amb8465.send(amb8465.encode_telegram(telegram(1), -70, LinkMode.C1))
        await asyncio.sleep(0.05)
        await driver.wake()
        amb8465.deliver(telegram(2))
        assert (await driver.next_frame(5)).raw == telegram(2)
        await asyncio.sleep(0.1)
        assert driver.pending() == 0

    run_amber(amb8465, body)


def test_emulator_sees_the_host_back_within_ten_ms_of_a_reopen(
    amb8465: Amb8465Emulator,
) -> None:
    async def body(driver: Amb8465Driver) -> None:
        await driver.sleep()
        await until(lambda: not amb8465.host_present)
        with serial.Serial(amb8465.path, 9600):
            await until(lambda: amb8465.host_present, 0.05)

    run_amber(amb8465, body)


# -- both kinds: what sleep/wake keeps -------------------------------------------------------


def test_reconnects_stay_zero_across_sleep_and_wake(im871a: Im871aEmulator) -> None:
    async def body(driver: Im871aDriver) -> None:
        for _ in range(3):
            await driver.sleep()
            await driver.wake()
        assert driver.counters.reconnects == 0

    run_im871a(im871a, body)


def test_a_lost_port_after_wake_is_reopened_and_counted_as_a_reconnect(
    im871a: Im871aEmulator,
) -> None:
    async def body(driver: Im871aDriver) -> None:
        await driver.sleep()
        await driver.wake()
        await check_unplug_and_replug(driver, im871a)  # asserts reconnects == 1

    run_im871a(im871a, body)


def test_counters_survive_sleep_and_wake(amb8465: Amb8465Emulator) -> None:
    async def body(driver: Amb8465Driver) -> None:
        amb8465.deliver(telegram(1))
        await driver.next_frame(5)
        await driver.sleep()
        await driver.wake()
        assert driver.counters.frames == 1

    run_amber(amb8465, body)


def test_frames_queued_before_sleep_stay_queued(im871a: Im871aEmulator) -> None:
    async def body(driver: Im871aDriver) -> None:
        im871a.deliver(telegram(1))
        await until(lambda: driver.pending() == 1)
        await driver.sleep()
        assert driver.pending() == 1
        assert (await driver.next_frame(5)).raw == telegram(1)

    run_im871a(im871a, body)


def test_a_frames_consumer_keeps_iterating_across_sleep_and_wake(
    im871a: Im871aEmulator,
) -> None:
    async def body(driver: Im871aDriver) -> None:
        got: list[RadioFrame] = []

        async def consume() -> None:
            async for frame in driver.frames():
                got.append(frame)
                if len(got) == 2:
                    return

        consumer = asyncio.create_task(consume())
        im871a.deliver(telegram(1))
        await until(lambda: len(got) == 1)
        await driver.sleep()
        await driver.wake()
        im871a.deliver(telegram(2))
        await asyncio.wait_for(consumer, 5)
        assert [f.raw for f in got] == [telegram(1), telegram(2)]

    run_im871a(im871a, body)


def test_sleep_when_asleep_does_nothing(im871a: Im871aEmulator) -> None:
    async def body(driver: Im871aDriver) -> None:
        await driver.sleep()
        await driver.sleep()
        assert im871a.lpm_entries == 1
        assert driver.asleep

    run_im871a(im871a, body)


def test_wake_when_awake_does_nothing(im871a: Im871aEmulator) -> None:
    async def body(driver: Im871aDriver) -> None:
        commands = len(im871a.commands)
        await driver.wake()
        assert len(im871a.commands) == commands
        assert not driver.asleep

    run_im871a(im871a, body)


def test_a_failed_wake_raises_and_a_later_wake_succeeds(im871a: Im871aEmulator) -> None:
    async def body(driver: Im871aDriver) -> None:
        await driver.sleep()
        im871a.unplug()
        with pytest.raises(ModuleError):
            await driver.wake(start_timeout=0.5)
        assert driver.asleep
        im871a.replug()
        await driver.wake(start_timeout=5)
        assert im871a.mode is LinkMode.C1
        im871a.deliver(telegram(1))
        assert (await driver.next_frame(5)).raw == telegram(1)

    run_im871a(im871a, body)


# -- the other families ---------------------------------------------------------------------


def test_cul_wake_configures_the_stick_again() -> None:
    with running(CulEmulator()) as emu:

        async def body(driver: CulDriver) -> None:
            await driver.sleep()
            await driver.wake()
            assert emu.commands.count(b"brc") == 2
            emu.deliver(telegram(1))
            assert strip_crcs((await driver.next_frame(5)).raw)[0] == telegram(1)

        run_driver(emu, body, driver=CulDriver)


def test_rtlwmbus_command_is_stopped_by_sleep_and_run_again_by_wake(tmp_path: Path) -> None:
    (tmp_path / "lines").write_bytes(rtl_line([telegram(1)], -61.0, LinkMode.T1))

    async def body(driver: RtlWmbusDriver) -> None:
        assert (await driver.next_frame(5)).raw == telegram(1)
        await driver.sleep()
        assert driver.last_sleep == PORT_CLOSED
        await driver.wake()
        assert (await driver.next_frame(5)).raw == telegram(1)  # the command's new run
        assert driver.counters.reconnects == 0

    command = f"cmd:cat {tmp_path / 'lines'}; exec sleep 30"
    run_driver(command, body, driver=RtlWmbusDriver, backoff=Backoff(0.05, 0.5))
