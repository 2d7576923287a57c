"""The serial line under a driver: pyserial to open and configure the port, the asyncio
event loop to read it, and a supervisor that reopens it with exponential backoff when the
device goes away (a USB dongle unplugged, a pty closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable

import serial

from protocols.backoff import Backoff

log = logging.getLogger(__name__)


class PortLostError(Exception):
    """The port went away (read error, hang-up, or end of file)."""


class SerialPort:
    """One open serial port, read through the event loop.

    ``on_data`` is called from the loop with every chunk read; ``lost`` is set when the
    port fails. Writing is synchronous: the host protocols' commands are a few bytes.
    """

    def __init__(self, path: str, baudrate: int, on_data: Callable[[bytes], None]) -> None:
        self.path = path
        self.baudrate = baudrate
        self._on_data = on_data
        self._serial: serial.Serial | None = None
        self.lost = asyncio.Event()

    def open(self) -> None:
        """Open the port (raises OSError or serial.SerialException when it is not there)."""
        ser = serial.Serial(self.path, self.baudrate, timeout=0, write_timeout=2)
        self._serial = ser
        self.lost.clear()
        asyncio.get_running_loop().add_reader(ser.fileno(), self._readable)

    def _readable(self) -> None:
        ser = self._serial
        if ser is None:
            return
        try:
            data = os.read(ser.fileno(), 65536)
        except BlockingIOError:
            return
        except OSError as err:
            log.info("port %s lost: %s", self.path, err)
            self._drop()
            return
        if not data:
            log.info("port %s closed by the device", self.path)
            self._drop()
            return
        self._on_data(data)

    def write(self, data: bytes) -> None:
        """Write ``data``; a failure marks the port lost and raises PortLostError."""
        ser = self._serial
        if ser is None:
            raise PortLostError(f"{self.path} is not open")
        try:
            ser.write(data)
        except (OSError, serial.SerialException) as err:
            self._drop()
            raise PortLostError(f"write to {self.path} failed: {err}") from err

    def _drop(self) -> None:
        ser, self._serial = self._serial, None
        if ser is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(ser.fileno())
            with contextlib.suppress(Exception):
                ser.close()
        self.lost.set()

    def close(self) -> None:
        """Close the port (idempotent)."""
        self._drop()

    @property
    def is_open(self) -> bool:
        """True while the port is open and has not failed."""
        return self._serial is not None


async def supervise(
    port: SerialPort,
    on_open: Callable[[], Awaitable[None]],
    backoff: Backoff,
    on_reconnect: Callable[[], None],
    stopping: asyncio.Event,
) -> None:
    """Keep ``port`` open until ``stopping`` is set: open, run ``on_open``, wait for loss."""
    first = True
    while not stopping.is_set():
        try:
            port.open()
        except (OSError, serial.SerialException, ValueError) as err:
            log.debug("cannot open %s: %s", port.path, err)
            await _sleep_or_stop(backoff.next_delay(), stopping)
            continue
        if not first:
            on_reconnect()
        first = False
        try:
            await on_open()
        except PortLostError:
            pass
        except TimeoutError as err:
            log.warning("configuring the module on %s failed: %s", port.path, err)
            port.close()
            await _sleep_or_stop(backoff.next_delay(), stopping)
            continue
        backoff.reset()
        lost = asyncio.ensure_future(port.lost.wait())
        stop = asyncio.ensure_future(stopping.wait())
        await asyncio.wait({lost, stop}, return_when=asyncio.FIRST_COMPLETED)
        for task in (lost, stop):
            task.cancel()
        if not stopping.is_set():
            log.warning("radio port %s lost; reconnecting", port.path)
            await _sleep_or_stop(backoff.next_delay(), stopping)
    port.close()


async def _sleep_or_stop(delay: float, stopping: asyncio.Event) -> None:
    with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
        await asyncio.wait_for(stopping.wait(), delay)
