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


# After a read, the port is left unread this long so that the telegrams arriving meanwhile
# are read, framed and processed in one wake-up of the event loop. A wake-up costs far more
# than the bytes it reads: at 286 telegrams/s (30,000 meters) the daemon used 10.7 % of a
# core reading each telegram on its own, 6.1-6.5 % with 35 ms, for 23 ms (p50) / 42 ms (p99)
# from the last byte on the line to the alarm at the broker (bench/README.md). The bytes
# wait in the kernel's tty buffer: a radio module delivers at most about 12 KB/s, 420 bytes
# in a pause.
READ_BATCH_S = 0.035
# A read this large means the line is busy: read again at once instead of pausing. Half of
# the kernel's 4 KiB tty read buffer (a read returns at most 4,095 bytes): a pause at that
# fill would cap the line at about 120 KB/s.
BUSY_READ = 2048


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
        """Open the port, discarding stale input (raises OSError or serial.SerialException
        when it is not there)."""
        ser = serial.Serial(self.path, self.baudrate, timeout=0, write_timeout=2)
        # What waits in the input buffer arrived while nobody read the port: a USB serial
        # driver discards it, but a pty keeps it and would hand over old telegrams under
        # today's time stamp (after a driver's sleep, say). Nothing stale gets through.
        with contextlib.suppress(OSError, serial.SerialException):
            ser.reset_input_buffer()
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
        current = self._serial  # on_data may have closed the port
        if len(data) < BUSY_READ and current is not None:
            loop = asyncio.get_running_loop()
            loop.remove_reader(current.fileno())
            loop.call_later(READ_BATCH_S, self._resume, current)

    def _resume(self, paused: serial.Serial) -> None:
        """Read again (unless the port was closed or replaced meanwhile)."""
        current = self._serial
        if current is not None and current is paused:
            asyncio.get_running_loop().add_reader(current.fileno(), self._readable)

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
