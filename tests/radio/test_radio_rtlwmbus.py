"""The rtl_wmbus driver: from an emulator on a real pseudo-terminal, from a FIFO, a file,
and from a shell command run as a subprocess."""

from __future__ import annotations

import asyncio
import os
import random
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from protocols.backoff import Backoff
from radio.frame import LinkMode
from radio.modules.rtlwmbus import RtlWmbusDriver
from radio.process_transport import StableBackoff
from radio.sim.rtlwmbus import RtlWmbusEmulator, rtl_line
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

run_on = partial(run_driver, driver=RtlWmbusDriver)


@pytest.fixture
def emulator() -> Iterator[RtlWmbusEmulator]:
    with running(RtlWmbusEmulator()) as emu:
        yield emu


@pytest.mark.parametrize("mode", ALL_MODES)
def test_start_records_the_requested_mode(emulator: RtlWmbusEmulator, mode: LinkMode) -> None:
    async def body(driver: RtlWmbusDriver) -> None:
        assert driver.configured_mode is mode
        assert emulator.commands == []  # rtl_wmbus takes no commands

    run_on(emulator.path, body, mode)


def test_module_info_says_rtl_wmbus(emulator: RtlWmbusEmulator) -> None:
    async def body(driver: RtlWmbusDriver) -> None:
        assert driver.module_info().module == "rtl_wmbus"
        assert await driver.ping()

    run_on(emulator.path, body)


def test_every_telegram_arrives_with_its_rssi_and_mode_column(emulator: RtlWmbusEmulator) -> None:
    modes = [LinkMode.C1, LinkMode.T1, LinkMode.S1]
    sent = [(telegram(n), -40.0 - n % 50, modes[n % 3]) for n in range(200)]

    async def body(driver: RtlWmbusDriver) -> None:
        for frame, rssi, mode in sent:
            emulator.deliver(frame, rssi, mode)
        got = [await driver.next_frame(5) for _ in sent]
        assert [(f.raw, f.rssi_dbm, f.link_mode) for f in got] == sent
        assert not any(f.crc_present for f in got)

    run_on(emulator.path, body, LinkMode.C1T1)


def test_bare_hex_lines_take_the_configured_mode_and_no_rssi() -> None:
    with running(RtlWmbusEmulator(bare=True)) as emu:

        async def body(driver: RtlWmbusDriver) -> None:
            emu.deliver(telegram(1))
            frame = await driver.next_frame(5)
            assert (frame.raw, frame.rssi_dbm, frame.link_mode) == (telegram(1), None, LinkMode.T1)

        run_on(emu.path, body, LinkMode.T1)


def test_several_telegrams_on_one_line_all_arrive(emulator: RtlWmbusEmulator) -> None:
    frames = [telegram(n) for n in range(3)]

    async def body(driver: RtlWmbusDriver) -> None:
        emulator.deliver_line(frames, -55.0, LinkMode.T1)
        got = [await driver.next_frame(5) for _ in frames]
        assert [(f.raw, f.rssi_dbm, f.link_mode) for f in got] == [
            (frame, -55.0, LinkMode.T1) for frame in frames
        ]

    run_on(emulator.path, body)


def test_a_line_with_crc_ok_0_is_counted_as_bad_and_dropped(emulator: RtlWmbusEmulator) -> None:
    async def body(driver: RtlWmbusDriver) -> None:
        emulator.deliver_line([telegram(1)], crc_ok=False)
        emulator.deliver(telegram(2))
        assert (await driver.next_frame(5)).raw == telegram(2)
        assert driver.counters.bad_frames == 1

    run_on(emulator.path, body)


def test_garbage_between_and_inside_lines_loses_no_whole_telegram_after_it(
    emulator: RtlWmbusEmulator,
) -> None:
    rng = random.Random(433)
    frames = [telegram(n) for n in range(100)]

    def noise(rng: random.Random, garbage: bytes) -> bytes:
        return garbage + b"C1;1;" if rng.random() < 0.3 else garbage  # a false header

    def truncated(rng: random.Random, frame: bytes) -> bytes:
        # A truncated line: its start, then nothing of the rest.
        return emulator.encode_telegram(frame, -70, LinkMode.C1)[:50]

    async def body(driver: RtlWmbusDriver) -> None:
        send_amid_garbage(emulator, frames, rng, noise, truncated)
        assert await take(driver, len(frames)) == frames
        assert driver.counters.resyncs + driver.counters.bad_frames > 0

    run_on(emulator.path, body)


def test_telegrams_arriving_during_configuration_are_kept(emulator: RtlWmbusEmulator) -> None:
    run_on(
        emulator.path, lambda driver: check_kept_during_configuration(driver, emulator, telegram(1))
    )


def test_unplug_and_replug_resumes_within_five_seconds(emulator: RtlWmbusEmulator) -> None:
    run_on(
        emulator.path, lambda driver: check_unplug_and_replug(driver, emulator, reconfigures=False)
    )


def write_lines(path: Path, frames: list[bytes]) -> None:
    path.write_bytes(b"".join(rtl_line([f], -61.0, LinkMode.T1) for f in frames))


def test_a_command_is_run_and_its_output_read(tmp_path: Path) -> None:
    frames = [telegram(n) for n in range(20)]
    write_lines(tmp_path / "lines", frames)

    async def body(driver: RtlWmbusDriver) -> None:
        got = [await driver.next_frame(5) for _ in frames]
        assert [(f.raw, f.rssi_dbm, f.link_mode) for f in got] == [
            (f, -61.0, LinkMode.T1) for f in frames
        ]
        assert driver.module_info().extra["source"] == "command"

    run_on(f"cmd:cat {tmp_path / 'lines'}; exec sleep 30", body)


def test_a_command_that_exits_is_restarted_and_counted(tmp_path: Path) -> None:
    write_lines(tmp_path / "lines", [telegram(1)])

    async def body(driver: RtlWmbusDriver) -> None:
        assert await take(driver, 3) == [telegram(1)] * 3  # one copy per run
        assert driver.counters.reconnects >= 2

    run_on(f"cmd:cat {tmp_path / 'lines'}", body, backoff=Backoff(0.02, 0.1))


def test_stopping_ends_the_whole_command_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"

    async def main() -> None:
        driver = RtlWmbusDriver(f"cmd:echo $$ > {pid_file}; sleep 30 | cat", LinkMode.C1)
        await driver.start(start_timeout=5)
        while not pid_file.exists() or not pid_file.read_text().strip():
            await asyncio.sleep(0.02)
        await driver.stop()
        group = int(pid_file.read_text())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while loop.time() < deadline:
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                return
            await asyncio.sleep(0.05)
        pytest.fail("the command's processes outlived the driver")

    asyncio.run(asyncio.wait_for(main(), 15))


def test_a_fifo_path_is_read(tmp_path: Path) -> None:
    fifo = tmp_path / "rtl.fifo"
    os.mkfifo(fifo)
    frames = [telegram(n) for n in range(5)]

    def writer() -> None:
        with open(fifo, "wb") as out:
            out.write(b"".join(rtl_line([f], -50.0, LinkMode.C1) for f in frames))

    async def body(driver: RtlWmbusDriver) -> None:
        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        assert await take(driver, len(frames)) == frames
        thread.join(5)

    run_on(str(fifo), body)


def test_a_regular_file_is_read_once(tmp_path: Path) -> None:
    frames = [telegram(n) for n in range(5)]
    write_lines(tmp_path / "lines", frames)

    async def body(driver: RtlWmbusDriver) -> None:
        assert await take(driver, len(frames)) == frames
        await asyncio.sleep(0.3)
        assert driver.pending() == 0
        assert driver.counters.reconnects == 0

    run_on(str(tmp_path / "lines"), body)


def test_short_runs_keep_the_restart_delay_growing() -> None:
    now = [0.0]
    backoff = StableBackoff(0.1, 5.0, 2.0, stable_after=10.0, monotonic=lambda: now[0])
    delays = []
    for _ in range(4):
        backoff.reset()  # the supervisor: the source opened
        now[0] += 1.0  # ... and ended a second later
        delays.append(backoff.next_delay())
    assert delays == [0.1, 0.2, 0.4, 0.8]


def test_a_long_run_starts_the_restart_delay_afresh() -> None:
    now = [0.0]
    backoff = StableBackoff(0.1, 5.0, 2.0, stable_after=10.0, monotonic=lambda: now[0])
    for _ in range(3):
        backoff.next_delay()
    backoff.reset()
    now[0] += 60.0
    assert backoff.next_delay() == 0.1
