"""The driver scenarios of tests/radio/test_radio_*.py against a real module.

Reception needs meters in range: ``CONCENTRATORD_HIL_WAIT`` seconds (default 120) are
allowed for the first telegram. The replug test asks a person to pull and replug the
dongle (``CONCENTRATORD_HIL_REPLUG=1``), watching udev with pyudev.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from protocols.errors import DecodeError
from protocols.wmbus.decoder import TelegramDecoder
from radio.frame import LinkMode
from radio.modules.registry import driver_class
from radio.usb import Dongle, UsbWatcher

WAIT = float(os.environ.get("CONCENTRATORD_HIL_WAIT", "120"))


def run(coro: object) -> None:
    asyncio.run(asyncio.wait_for(coro, WAIT + 60))  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", [LinkMode.C1, LinkMode.T1])
def test_real_module_configures_and_reads_back(
    hil_port: str, hil_module: str, mode: LinkMode
) -> None:
    async def main() -> None:
        driver = driver_class(hil_module)(hil_port, mode)
        await driver.start()
        try:
            assert driver.configured_mode is mode
            assert await driver.ping()
        finally:
            await driver.stop()

    run(main())


def test_real_module_reports_its_identity(hil_port: str, hil_module: str) -> None:
    async def main() -> None:
        driver = driver_class(hil_module)(hil_port, LinkMode.C1)
        await driver.start()
        try:
            assert driver.module_info().module
        finally:
            await driver.stop()

    run(main())


def test_real_module_hears_a_telegram_that_parses(hil_port: str, hil_module: str) -> None:
    async def main() -> None:
        driver = driver_class(hil_module)(
            hil_port, LinkMode.C1T1 if hil_module != "cul" else LinkMode.C1
        )
        await driver.start()
        try:
            frame = await driver.next_frame(WAIT)
            assert frame.rssi_dbm is None or -130 < frame.rssi_dbm < 0
            try:
                TelegramDecoder({}).decode(frame.raw)
            except DecodeError as err:
                # Without keys most meters stop at NoKeyError: the link layer parsed.
                assert err.meter_id is not None
        finally:
            await driver.stop()

    run(main())


def test_replugged_dongle_is_picked_up_again(hil_port: str, hil_module: str) -> None:
    if not os.environ.get("CONCENTRATORD_HIL_REPLUG"):
        pytest.skip("set CONCENTRATORD_HIL_REPLUG=1 and pull/replug the dongle when asked")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        added: asyncio.Queue[Dongle] = asyncio.Queue()
        watcher = UsbWatcher(
            lambda action, d: (
                loop.call_soon_threadsafe(added.put_nowait, d) if action == "add" else None
            )
        )
        watcher.start()
        driver = driver_class(hil_module)(hil_port, LinkMode.C1)
        await driver.start()
        try:
            print("\n>>> pull the dongle out and plug it back in now")
            dongle = await asyncio.wait_for(added.get(), WAIT)
            driver.retarget(dongle.device)
            await driver.wait_configured(30)
            assert driver.counters.reconnects >= 1
        finally:
            watcher.stop()
            await driver.stop()

    run(main())
