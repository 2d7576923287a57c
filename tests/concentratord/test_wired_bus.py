"""A ``[[mbus]]`` bus kept polled (concentratord/wired_bus.py), on the emulated bus."""

from __future__ import annotations

import asyncio
import functools
import itertools
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import pytest

from bus.answer import WiredAnswer
from bus.transport import BusTransport
from concentratord.clock import ScaledClock
from concentratord.config.mbus import MbusConfig
from concentratord.wired_bus import WiredBus
from protocols.mbus.secondary import build_secondary
from radio.sim.mbus_bus import EmulatedSlave, MbusBusEmulator

SCALE = 600.0  # a 60 s poll interval passes in 0.1 s
WINDOW_S = 0.03  # the emulator answers within milliseconds


def sync(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    """Run an async test body in its own event loop."""

    @functools.wraps(test)
    def run() -> None:
        asyncio.run(test())

    return run


def slaves() -> list[EmulatedSlave]:
    return [
        EmulatedSlave("11111111", primary=1),
        EmulatedSlave("22222222", manufacturer="KAM", primary=None),  # secondary only
    ]


def config(port: str, meters: list[dict[str, object]], interval: int = 60) -> MbusConfig:
    return MbusConfig.model_validate(
        {"port": port, "baud": 9600, "interval": interval, "retries": 0, "meter": meters}
    )


@asynccontextmanager
async def polled(
    emulator: MbusBusEmulator, meters: list[dict[str, object]], interval: int = 60
) -> AsyncIterator[tuple[WiredBus, list[WiredAnswer]]]:
    answers: list[WiredAnswer] = []

    async def take(answer: WiredAnswer) -> None:
        answers.append(answer)

    transport = BusTransport(emulator.path, 9600, margin_s=0.0, window_s=WINDOW_S)
    bus = WiredBus(
        config(emulator.path, meters, interval),
        clock=ScaledClock(SCALE),
        take=take,
        transport=transport,
    )
    task = asyncio.create_task(bus.run())
    try:
        yield bus, answers
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await bus.close()


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def secondary_of(slave: EmulatedSlave) -> str:
    return build_secondary(slave.secondary).hex().upper()


@sync
async def test_each_meter_is_read_at_start_by_primary_and_secondary_address() -> None:
    fleet = slaves()
    with MbusBusEmulator(fleet) as emulator:
        meters = [{"address": 1}, {"address": secondary_of(fleet[1])}]
        async with polled(emulator, meters) as (_bus, answers):
            await until(lambda: len(answers) >= 2)
    first, second = answers[:2]
    assert (first.sender().key, first.address) == ("ABB:11111111", "1")
    assert (second.sender().key, second.address) == ("KAM:22222222", secondary_of(fleet[1]))
    assert first.bus == emulator.path


@sync
async def test_meters_are_read_again_every_interval() -> None:
    with MbusBusEmulator(slaves()) as emulator:
        async with polled(emulator, [{"address": 1}]) as (bus, answers):
            await until(lambda: len(answers) >= 4)
            started = bus.meters[0].due
    gaps = [b.timestamp - a.timestamp for a, b in itertools.pairwise(answers)]
    # Gateway seconds: 60 apart, give or take the scheduling of a 600x clock.
    assert all(40 <= gap <= 90 for gap in gaps[:3]), gaps
    assert started > answers[0].timestamp


@sync
async def test_a_meter_that_does_not_answer_is_counted_and_tried_again() -> None:
    with MbusBusEmulator(slaves()) as emulator:
        async with polled(emulator, [{"address": 9}]) as (bus, answers):
            await until(lambda: bus.meters[0].no_answer >= 2)
    assert answers == []
    assert bus.counters.no_answer >= 2
    assert "address 9" in (bus.meters[0].last_error or "")


@sync
async def test_a_secondary_meter_whose_selection_is_not_acknowledged_is_no_answer() -> None:
    ghost = EmulatedSlave("99999999", primary=None)
    with MbusBusEmulator(slaves()) as emulator:
        async with polled(emulator, [{"address": secondary_of(ghost)}]) as (bus, answers):
            await until(lambda: bus.meters[0].no_answer >= 1)
    assert answers == []
    assert "no acknowledgement" in (bus.meters[0].last_error or "")


@sync
async def test_an_unplugged_converter_is_reopened_and_polling_resumes() -> None:
    with MbusBusEmulator(slaves()) as emulator:
        async with polled(emulator, [{"address": 1}]) as (bus, answers):
            await until(lambda: len(answers) >= 1)
            emulator.unplug()
            await until(lambda: not bus.transport.is_open)
            assert bus.problem is not None
            count = len(answers)
            await asyncio.sleep(0.3)  # polls fall due meanwhile: nothing can be read
            assert len(answers) == count
            emulator.replug()
            await until(lambda: len(answers) >= count + 2, timeout=15.0)
    assert bus.counters.reconnects == 1
    assert bus.counters.port_errors >= 1
    assert bus.problem is None


@sync
async def test_a_bus_that_cannot_be_opened_says_why_in_its_status() -> None:
    with MbusBusEmulator(slaves()) as emulator:
        path = emulator.path
    transport = BusTransport(path, 9600, margin_s=0.0, window_s=WINDOW_S)

    async def take(answer: WiredAnswer) -> None:
        raise AssertionError("no answer can come")

    bus = WiredBus(
        config(path, [{"address": 1}]), clock=ScaledClock(SCALE), take=take, transport=transport
    )
    task = asyncio.create_task(bus.run())
    await until(lambda: bus.problem is not None)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    status = bus.status()
    assert status["open"] is False and "cannot open" in status["problem"]
    assert status["meters"][0]["polls"] == 0


@sync
async def test_a_scan_runs_between_polls_and_finds_every_slave() -> None:
    fleet = slaves()
    with MbusBusEmulator(fleet) as emulator:
        async with polled(emulator, [{"address": 1}]) as (bus, answers):
            await until(lambda: len(answers) >= 1)
            found: list[str] = []
            summary = await bus.scan(
                True, lambda info: found.append(info.secondary or ""), [0x0442, 0x2C2D]
            )
            await until(lambda: len(answers) >= 2)  # polling goes on after the scan
    assert sorted(found) == sorted(secondary_of(s) for s in fleet)
    assert summary["found"] == 2 and summary["probes"] >= 2


@sync
async def test_a_read_on_demand_returns_the_slaves_frames() -> None:
    with MbusBusEmulator(slaves()) as emulator:
        async with polled(emulator, []) as (bus, _answers):
            await until(lambda: bus.transport.is_open)
            frames = await bus.read(1)
    assert frames and frames[0].CI == 0x72
