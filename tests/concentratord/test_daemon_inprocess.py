"""The daemon in this process, through its seams: an injected (scaled) clock and driver
factory, a real iM871A driver on a pty to the emulator, a real Mosquitto, a real store.

What the subprocess tests see from outside, seen here from inside: a frame goes through the
pipeline, an alarm reaches the broker at once, interval values are taken at the boundary of
the injected clock, and the head-end's commands act on the narrow objects they were given.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from concentratord.clock import ScaledClock
from concentratord.config import load_config
from concentratord.daemon import Daemon
from protocols.telegram import MeterAddress
from protocols.wmbus.build import EllSpec, TelegramSpec, Tpl, build_telegram
from protocols.wmbus.link import FrameFormat
from radio.driver import ModuleDriver
from radio.frame import LinkMode, RadioFrame
from radio.modules.registry import driver_class
from radio.sim.field import DEFAULT_EPOCH, Field, FieldConfig
from radio.sim.imst import Im871aEmulator
from radio.sim.runner import FieldRunner
from tests.daemon_harness import GATEWAY, UplinkCollector, gateway_files
from tests.mqtt_broker import MosquittoBroker

SCALE = 720.0
EPOCH = DEFAULT_EPOCH - 2 * 3600.0


def test_an_in_process_daemon_takes_frames_alarms_intervals_and_commands(
    tmp_path: Path, broker: MosquittoBroker
) -> None:
    collector = UplinkCollector(broker)
    field = Field(FieldConfig(meters=4, seed=99, mix={"water": 1.0}, epoch=EPOCH))
    emulator = Im871aEmulator(str(tmp_path / "ttyEMU0"))
    emulator.start()
    runner = FieldRunner(field, emulator, time.time, speed=SCALE)
    runner.start()
    water = sorted(m.meter_id for m in field.meters)
    files = gateway_files(
        tmp_path / "gw",
        broker_url=broker.url,
        radio_port=emulator.path,
        keys_text=field.keys_text(),
        time_scale=SCALE,
    )
    clock = ScaledClock(SCALE, start=EPOCH, real_start=runner.clock_at(0.0))
    made: list[ModuleDriver] = []

    def driver() -> ModuleDriver:
        made.append(driver_class("im871a")(emulator.path, LinkMode.C1, clock=clock))
        return made[-1]

    async def main() -> dict[str, Any]:
        daemon = Daemon(load_config(files.config), str(files.config), clock=clock,
                        driver_factory=driver)  # fmt: skip
        await daemon.start()
        try:
            await _until(lambda: daemon.pipeline.counters.readings >= 8, "readings")
            field.inject_alarm(water[0], "leak")
            await _until(lambda: bool(collector.docs("event/alarm")), "the alarm at the broker")
            await _until(lambda: bool(collector.docs("event/readings")), "an hourly batch")
            reply = await asyncio.to_thread(
                collector.command,
                "set_priority_meters",
                {"gateway": GATEWAY, "args": {"meters": water[1:3]}},
            )
            return {"reply": reply, "priority": daemon.priority.meters}
        finally:
            await daemon.stop()

    try:
        seen = asyncio.run(main())
    finally:
        runner.request_stop()
        emulator.close()
        runner.stop()
        collector.close()
    assert len(made) == 1  # the injected factory made the driver
    assert collector.docs("event/alarm")[0]["id"] == water[0]
    batch = collector.docs("event/readings")[0]
    assert batch["interval"] in ("hourly", "daily") and batch["readings"]
    assert seen["reply"]["ok"] is True
    assert seen["priority"] == frozenset(water[1:3])


async def _until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.05)


def test_two_meters_with_one_id_go_through_the_daemon_as_two_meters(
    tmp_path: Path, broker: MosquittoBroker
) -> None:
    collector = UplinkCollector(broker)
    emulator = Im871aEmulator(str(tmp_path / "ttyEMU0"))
    emulator.start()
    kam = MeterAddress("KAM", "12345678", 0x1B, 0x16)
    abc = MeterAddress("ABC", "12345678", 0x1B, 0x16)
    k1, k2 = bytes(range(16)), bytes(range(16, 32))
    files = gateway_files(
        tmp_path / "gw",
        broker_url=broker.url,
        radio_port=emulator.path,
        keys_text=f"KAM:12345678 {k1.hex()}\nABC:12345678 {k2.hex()}\n",
        time_scale=SCALE,
    )
    clock = ScaledClock(SCALE, start=EPOCH)

    def telegram(meter: MeterAddress, key: bytes, litres: int) -> RadioFrame:
        records = bytes.fromhex("02FF200000") + bytes.fromhex("0413") + litres.to_bytes(4, "little")
        spec = TelegramSpec(meter, records, tpl=Tpl.NONE, ell=EllSpec(access_number=litres % 256))
        raw = build_telegram(spec, key, FrameFormat.NONE)
        return RadioFrame(raw, -70.0, clock(), LinkMode.C1, FrameFormat.NONE, False)

    async def main() -> None:
        def driver() -> ModuleDriver:
            return driver_class("im871a")(emulator.path, LinkMode.C1, clock=clock)

        config = load_config(files.config)
        daemon = Daemon(config, str(files.config), clock=clock, driver_factory=driver)
        await daemon.start()
        try:
            await daemon.take_frame(telegram(kam, k1, 1000))
            await daemon.take_frame(telegram(abc, k2, 2000))
            await _until(lambda: bool(collector.docs("event/readings")), "a readings batch")
        finally:
            await daemon.stop()

    try:
        asyncio.run(main())
    finally:
        emulator.close()
        collector.close()
    rows = [r for d in collector.docs("event/readings") for r in d["readings"]]
    first = {(r["id"], r["manufacturer"]): r["total_m3"] for r in rows}
    assert first == {("12345678", "ABC"): 2.0, ("12345678", "KAM"): 1.0}
