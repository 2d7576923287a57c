"""rawtty: a serial line carrying bare telegrams framed only by their L field, link-layer
CRCs removed, no RSSI; and its hex variant, where the line carries the same telegrams as
hex text (every non-hex character ignored, ``0x`` prefixes dropped).

There is no start byte and no checksum, so a false ``L`` in noise could swallow the real
telegrams behind it. A candidate must look like a meter's telegram (L >= 10, a meter's C
field, a three-letter manufacturer, a known CI) and is refused when a plausible telegram
inside it is nested in it or overlaps its end and fits better (see :class:`RawFramer`).

Latency versus robustness: a telegram with nothing start-like inside is taken the moment
its last byte is in. Only when the bytes needed to rule out an overlapping candidate have
not arrived does it wait for them, or for ``idle_gap`` (0.25 s) of quiet, after which it
is judged on what is there (the hex variant: a line end counts as such a pause). So most
telegrams cost no delay and the last of an ambiguous burst at most the idle gap; meters
send every few seconds at most, and a swallowed telegram costs far more than 0.25 s.
Residual risk, measured with noise between every telegram: about 1 in 4000 telegrams lost
(binary), and noise that happens to look like a telegram is delivered (and fails decoding
downstream).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import ClassVar

from protocols.backoff import Backoff
from radio.driver import Event, Framer, ModuleDriver, ModuleInfo, TelegramEvent
from radio.frame import LinkMode
from radio.framing import (
    MIN_L,
    TELEGRAM_C_FIELDS,
    BufferFramer,
    Parsed,
    Scan,
    manufacturer_plausible,
)

log = logging.getLogger(__name__)

HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
MAX_LINE_DIGITS = 8192  # longer than any telegram line
CI_OFFSET = 10  # L C M(2) A(6) CI
# CI fields the decoder knows (TPL none/short/long, compact, errors and alarms, ELL, AFL,
# manufacturer specific).
KNOWN_CI = frozenset(
    {0x70, 0x71, 0x72, 0x78, 0x79, 0x7A, 0x8C, 0x8D, 0x8E, 0x8F, 0x90, *range(0xA0, 0xB8)}
)


def plausible_start(buf: bytearray | bytes, at: int) -> bool:
    """Whether a telegram may start at ``at`` as far as its bytes are in: L >= 10, a
    meter's C field, a manufacturer of three letters A-Z, a CI field we know.

    Without a start byte or checksum these are the only evidence there is; the price is
    that telegrams of meters with a flag outside A-Z or an unknown CI are not recognised.
    Stricter than :func:`radio.framing.scan_l_frame` (RC1180, Amber), which has an RSSI
    byte and a module behind it and judges a candidate by what follows it instead.
    """
    have = len(buf) - at
    if have <= 0:
        return True
    if buf[at] < MIN_L:
        return False
    if have >= 2 and buf[at + 1] not in TELEGRAM_C_FIELDS:
        return False
    if have >= 4 and not manufacturer_plausible(buf[at + 2], buf[at + 3]):
        return False
    return have <= CI_OFFSET or buf[at + CI_OFFSET] in KNOWN_CI


class RawFramer(BufferFramer):
    """Bare ``L C M A CI ...`` telegrams, resynchronised by plausibility and L.

    A complete candidate is taken unless a plausible telegram starts inside it that is
    either nested in it (a false L in noise swallowing a real telegram) or overlaps its
    end and is the better fit (what follows it is a plausible start and what follows the
    candidate is not, or neither: a truncated telegram then loses to the whole one that
    starts inside it). Where the bytes to tell are not in yet, it waits for them or for
    the idle gap.
    """

    def __init__(self) -> None:
        super().__init__()
        self._quiet = False  # nothing more is coming: judge with what is here

    def next_start(self, buf: bytearray, after: int) -> int:
        for index in range(after, len(buf)):
            if plausible_start(buf, index):
                return index
        return len(buf)

    def _candidate(self, buf: bytearray, at: int) -> bool | None:
        """A plausible telegram header at ``at``: yes, no, or not known yet (None)."""
        if not plausible_start(buf, at):
            return False
        if len(buf) - at > CI_OFFSET:
            return True
        return False if self._quiet else None

    def _follows(self, buf: bytearray, end: int) -> bool | None:
        """Whether what comes after a telegram ending at ``end`` fits."""
        if end >= len(buf):
            return True if self._quiet else None
        return self._candidate(buf, end)

    def _judge(self, buf: bytearray, total: int) -> bool | None:
        for at in range(1, total):
            inner = self._candidate(buf, at)
            if inner is False:
                continue
            if inner is None:
                return None
            inner_end = at + buf[at] + 1
            if inner_end <= total:
                return False
            if inner_end > len(buf):
                if self._quiet:
                    continue  # never completed: not a telegram
                return None
            mine, theirs = self._follows(buf, total), self._follows(buf, inner_end)
            if mine is None or theirs is None:
                return None
            if not (mine and not theirs):
                return False
        return True

    def parse(self, buf: bytearray) -> Parsed:
        if len(buf) <= CI_OFFSET:
            return Scan.NEED_MORE
        if not plausible_start(buf, 0):
            return Scan.BAD
        total = buf[0] + 1
        if len(buf) < total:
            return Scan.NEED_MORE
        verdict = self._judge(buf, total)
        if verdict is None:
            return Scan.NEED_MORE
        if not verdict:
            return Scan.BAD
        return total, TelegramEvent(raw=bytes(buf[:total]))

    def boundary(self) -> list[Event]:
        """The stream paused (idle gap, end of a hex line): a telegram ends here. Take
        the first plausible one that ends exactly at the end of the buffer with none
        nested in it, dropping what is before it; with none, keep the buffer (a telegram
        may span hex lines)."""
        buf = self._buf
        end = len(buf)
        for at in range(end - MIN_L):
            if at + buf[at] + 1 != end or not plausible_start(buf, at):
                continue
            if any(
                inner + buf[inner] + 1 <= end and plausible_start(buf, inner)
                for inner in range(at + 1, end - CI_OFFSET)
            ):
                continue
            if at:
                self.resyncs += 1
            event = TelegramEvent(raw=bytes(buf[at:]))
            buf.clear()
            return [event]
        return []

    def expire(self) -> list[Event]:
        """Quiet: take a telegram ending here, judge the rest with what is in, and skip
        the front when it is still unresolved."""
        events = self.boundary()
        self._quiet = True
        try:
            events += self._scan()
            if self._buf:
                self._skip()
                events += self._scan()
        finally:
            self._quiet = False
        return events


class HexFramer(RawFramer):
    """Hex text in, the same telegrams out: non-hex characters are ignored and ``0x``
    prefixes dropped.

    Digits are collected per text line and paired from the line's end: a telegram ends
    its line, so a stray digit in noise before it must not shift every byte of it. A line
    end counts as a pause (see :meth:`RawFramer.boundary`); a telegram may still span
    lines, as in a hex dump.
    """

    def __init__(self) -> None:
        super().__init__()
        self._digits = bytearray()  # hex digits of the current line
        self._last = 0  # the character before, to recognise "0x"

    def feed(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        digits = self._digits
        for char in data:
            if char in HEX_DIGITS:
                digits.append(char)
            elif char in b"xX" and self._last == ord("0") and digits:
                digits.pop()  # the "0" of "0x" is no digit
            elif char in b"\r\n":
                events += self._end_line()
            self._last = char
        if len(digits) > MAX_LINE_DIGITS:
            events += self._end_line()  # no line ends at all: bound the memory
        return events

    def _end_line(self) -> list[Event]:
        digits = self._digits
        if len(digits) % 2:
            del digits[:1]  # noise before the telegram: pair from the end
            self.resyncs += 1
        events = super().feed(bytes.fromhex(digits.decode())) if digits else []
        digits.clear()
        return events + self.boundary()

    def expire(self) -> list[Event]:
        """Quiet: an unterminated line ends here; then as the binary framer."""
        if self._digits:
            return self._end_line()
        return super().expire()

    def reset(self) -> None:
        super().reset()
        self._digits.clear()

    @property
    def pending(self) -> int:
        return super().pending + len(self._digits)


class RawTtyDriver(ModuleDriver):
    """A serial line of bare telegrams (``hex_stream=True``: of hex text lines); nothing to
    configure, the mode is only recorded."""

    name: ClassVar[str] = "rawtty"
    baudrate: ClassVar[int] = 9600

    def __init__(
        self,
        port: str,
        mode: LinkMode = LinkMode.C1,
        *,
        clock: Callable[[], float] = time.time,
        queue_size: int = 10_000,
        backoff: Backoff | None = None,
        hex_stream: bool = False,
        baudrate: int | None = None,
    ) -> None:
        self.hex_stream = hex_stream
        super().__init__(port, mode, clock=clock, queue_size=queue_size, backoff=backoff)
        if baudrate is not None:
            self._port.baudrate = baudrate

    def make_framer(self) -> Framer:
        return HexFramer() if self.hex_stream else RawFramer()

    async def configure(self) -> None:
        """Nothing to send: the line only carries telegrams."""
        variant = "hex" if self.hex_stream else "binary"
        self.info = ModuleInfo("rawtty", extra={"stream": variant})
        log.info("rawtty (%s) on %s, %s", variant, self.port_path, self.mode.value)


class HexTtyDriver(RawTtyDriver):
    """A serial line of hex text telegrams."""

    def __init__(
        self,
        port: str,
        mode: LinkMode = LinkMode.C1,
        *,
        clock: Callable[[], float] = time.time,
        queue_size: int = 10_000,
        backoff: Backoff | None = None,
        baudrate: int | None = None,
    ) -> None:
        super().__init__(
            port,
            mode,
            clock=clock,
            queue_size=queue_size,
            backoff=backoff,
            hex_stream=True,
            baudrate=baudrate,
        )
