"""The serial line to an M-Bus level converter: one request out, the answer back.

EN 13757-2 (clause 5, and the physical layer's timing): the line runs at 300, 2400 or
9600 baud (38400 is allowed but rare), 8 data bits, even parity, 1 stop bit (11 bit times
a character). A slave starts its answer no earlier than 11 bit times and no later than
330 bit times + 50 ms after the end of the request. USB level converters add their own
latency (buffering, the USB frame), hence a configurable ``margin_s`` on top of the window.

Converters that echo what the master sends (a common design with a simple comparator) are
handled by :class:`~protocols.mbus.framer.EchoSuppressor`, always on: an answer cannot be
mistaken for the echo since it gives the held bytes back at the first difference.

The exchange is blocking (the bus is half-duplex and one request is outstanding at a time);
from asyncio run it in a thread (``await asyncio.to_thread(master.read, 5)``), one thread at
a time per port (:class:`bus.master.AsyncMaster` does that).
"""

from __future__ import annotations

import contextlib
import os
import select
import termios
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final

import serial

from protocols.mbus.framer import EchoSuppressor, Framer
from protocols.mbus.frames import Frame

BAUD_RATES: Final = (300, 2400, 9600)
BITS_PER_CHARACTER: Final = 11  # start, 8 data, even parity, stop
# EN 13757-2: the slave answers within 330 bit times + 50 ms of the end of the request.
WINDOW_BITS: Final = 330
WINDOW_EXTRA_S: Final = 0.050
DEFAULT_MARGIN_S: Final = 0.100  # USB converters
# After a complete frame the line is watched this many character times for more bytes:
# a second answer (a collision) or a frame's tail.
SETTLE_CHARACTERS: Final = 3
# An answer is one frame of at most 4 + 255 + 2 bytes; a line that keeps sending (noise, a
# babbling slave) is cut off after two of those, or the time they take on the line.
MAX_FRAME_BYTES: Final = 261
MAX_REPLY_BYTES: Final = 2 * MAX_FRAME_BYTES


# What a port that went away raises: termios.error (tcflush on a pulled USB converter) is
# not an OSError.
PORT_ERRORS: Final = (OSError, serial.SerialException, termios.error)


class BusError(Exception):
    """The port failed (could not open, read or write)."""


@dataclass(slots=True)
class Reply:
    """What came back after one request."""

    frames: list[Frame] = field(default_factory=list)
    skipped: int = 0  # bytes that belonged to no accepted frame
    bad_frames: int = 0  # frame candidates refused (checksum, L fields, stop byte)
    received: int = 0  # bytes received after echo suppression
    echo: int = 0  # bytes dropped as the echo of the request

    @property
    def silent(self) -> bool:
        """Nothing came back within the answer window."""
        return self.received == 0

    @property
    def clean(self) -> bool:
        """Exactly one frame and no byte outside it."""
        return len(self.frames) == 1 and self.skipped == 0 and self.bad_frames == 0

    @property
    def garbled(self) -> bool:
        """Bytes came back, but not exactly one clean frame (noise or a collision)."""
        return not self.silent and not self.clean


def character_time(baudrate: int) -> float:
    """Seconds one 11-bit character takes on the line."""
    return BITS_PER_CHARACTER / baudrate


def answer_window(baudrate: int, margin_s: float = DEFAULT_MARGIN_S) -> float:
    """The latest start of an answer after the request, in seconds: 330 bit times + 50 ms
    (EN 13757-2) + ``margin_s``."""
    return WINDOW_BITS / baudrate + WINDOW_EXTRA_S + margin_s


def _check_baudrate(baudrate: int) -> None:
    if baudrate not in BAUD_RATES:
        raise ValueError(f"M-Bus baud rate must be one of {BAUD_RATES}, not {baudrate}")


class BusTransport:
    """One serial port to a level converter (8E1), with the EN 13757-2 answer window."""

    def __init__(
        self,
        path: str,
        baudrate: int = 2400,
        *,
        margin_s: float = DEFAULT_MARGIN_S,
        suppress_echo: bool = True,
        window_s: float | None = None,
    ) -> None:
        """``window_s`` replaces the standard's answer window (330 bit times + 50 ms +
        ``margin_s``): only for an emulated bus, whose slaves answer within milliseconds,
        so that tests and benchmarks of thousands of probes do not wait 84 ms for each
        silent one. A real bus keeps the default (None)."""
        _check_baudrate(baudrate)
        if margin_s < 0:
            raise ValueError(f"margin must not be negative, not {margin_s}")
        if window_s is not None and not 0 < window_s <= 10:
            raise ValueError(f"answer window must be 0-10 s, not {window_s}")
        self.path = path
        self._baudrate = baudrate
        self.margin_s = margin_s
        self._window_s = window_s
        self.suppress_echo = suppress_echo
        self._serial: serial.Serial | None = None
        self.exchanges = 0  # requests sent

    # -- port ---------------------------------------------------------------------------

    def open(self) -> None:
        """Open and configure the port (raises BusError when it cannot)."""
        if self._serial is not None:
            return
        try:
            ser = serial.Serial(
                self.path,
                self._baudrate,
                bytesize=serial.EIGHTBITS,
                parity=serial.PARITY_EVEN,
                stopbits=serial.STOPBITS_ONE,
                timeout=0,
                write_timeout=2,
            )
        except (OSError, serial.SerialException, ValueError) as err:
            raise BusError(f"cannot open {self.path}: {err}") from err
        with contextlib.suppress(*PORT_ERRORS):
            ser.reset_input_buffer()
        self._serial = ser

    def close(self) -> None:
        """Close the port (idempotent)."""
        ser, self._serial = self._serial, None
        if ser is not None:
            with contextlib.suppress(Exception):
                ser.close()

    @property
    def is_open(self) -> bool:
        """True while the port is open."""
        return self._serial is not None

    def __enter__(self) -> BusTransport:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def baudrate(self) -> int:
        """The line rate requests go out at."""
        return self._baudrate

    def set_baudrate(self, baudrate: int) -> None:
        """Change the line rate (a bus may hold slaves at different rates: the master
        talks to each at its own). An open port is reconfigured at once (BusError)."""
        _check_baudrate(baudrate)
        if baudrate == self._baudrate:
            return
        self._baudrate = baudrate
        if self._serial is not None:
            try:
                self._serial.baudrate = baudrate
            except (*PORT_ERRORS, ValueError) as err:
                self.close()
                raise BusError(f"cannot set {self.path} to {baudrate} baud: {err}") from err

    # -- timing -------------------------------------------------------------------------

    @property
    def window_s(self) -> float:
        """How long the master waits for the first byte of an answer."""
        if self._window_s is not None:
            return self._window_s
        return answer_window(self.baudrate, self.margin_s)

    @property
    def settle_s(self) -> float:
        """How long the line must stay quiet after a frame for the answer to be over."""
        return SETTLE_CHARACTERS * character_time(self.baudrate) + self.margin_s

    def transmit_time(self, size: int) -> float:
        """Seconds ``size`` bytes take on the line."""
        return size * character_time(self.baudrate)

    # -- exchange -----------------------------------------------------------------------

    def _fd(self) -> int:
        if self._serial is None:
            raise BusError(f"{self.path} is not open")
        return int(self._serial.fileno())

    def _read(self, fd: int, timeout: float) -> bytes:
        readable, _, _ = select.select([fd], [], [], max(0.0, timeout))
        if not readable:
            return b""
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return b""
        except OSError as err:
            self.close()
            raise BusError(f"read from {self.path} failed: {err}") from err
        if not data:
            self.close()
            raise BusError(f"{self.path} closed by the device")
        return data

    def send(self, request: bytes) -> None:
        """Write ``request`` and wait until it has left (no answer expected: broadcasts)."""
        ser = self._serial
        if ser is None:
            raise BusError(f"{self.path} is not open")
        try:
            ser.reset_input_buffer()  # a late answer to an earlier request is stale now
            ser.write(request)
            ser.flush()
        except PORT_ERRORS as err:
            self.close()
            raise BusError(f"write to {self.path} failed: {err}") from err
        self.exchanges += 1

    def exchange(self, request: bytes) -> Reply:
        """Send ``request``; collect the answer until the line is quiet.

        The first byte must come within :attr:`window_s` (else the reply is ``silent``).
        While a frame is in progress the master waits for the bytes the framer still needs
        (at line rate) plus :attr:`settle_s`; after a complete frame, :attr:`settle_s` for
        more (a second answer means a collision). A line that keeps sending is cut off
        after :data:`MAX_REPLY_BYTES`, or the time they would take (then the reply is
        garbled).
        """
        fd = self._fd()
        self.send(request)
        echo = EchoSuppressor()
        if self.suppress_echo:
            echo.expect(request)
        framer = Framer()
        reply = Reply()
        started = time.monotonic()
        deadline = started + self.window_s
        # However the bytes keep coming, one exchange ends within this.
        cutoff = started + self.window_s + self.settle_s
        cutoff += self.transmit_time(len(request) + MAX_REPLY_BYTES)  # its echo, and two frames
        while reply.received < MAX_REPLY_BYTES and time.monotonic() < cutoff:
            data = self._read(fd, deadline - time.monotonic())
            if not data:
                if time.monotonic() < deadline:
                    continue
                break
            kept = echo.filter(data)
            reply.echo += len(data) - len(kept)
            if not kept:
                if not echo.pending:
                    # The echo is over: the answer window starts now (a converter's echo
                    # comes back with its own latency).
                    deadline = time.monotonic() + self.window_s
                continue
            reply.received += len(kept)
            reply.frames += framer.feed(kept)
            wait = self.settle_s
            if framer.buffered:
                wait += self.transmit_time(framer.needed)
            deadline = min(time.monotonic() + wait, cutoff)
        if framer.buffered:
            reply.frames += framer.timeout()
            framer.reset()
        reply.skipped = framer.skipped
        reply.bad_frames = framer.bad_frames
        return reply
