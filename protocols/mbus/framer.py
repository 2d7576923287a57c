"""Incremental framer for the bytes a wired M-Bus level converter returns (pure: no I/O).

``feed`` takes whatever the serial port delivered and returns the frames completed by it.
Bytes that cannot start a frame are skipped up to the next plausible start (E5, 10 or 68)
and counted; a candidate that turns out wrong (checksum mismatch, L fields differ, stop
byte missing) is counted as a bad frame. The buffer never holds more than one frame.
"""

from __future__ import annotations

import re
from typing import Final

from protocols.errors import CrcError, DecodeError
from protocols.mbus.frames import (
    LONG_HEADER_LENGTH,
    MAX_FRAME_LENGTH,
    MIN_L,
    SHORT_FRAME_LENGTH,
    SINGLE_CHARACTER,
    START_LONG,
    START_SHORT,
    STOP,
    Frame,
    SingleCharacter,
    check_long_header,
    checksum,
    long_frame_length,
    parse_long,
    parse_short,
)

_START: Final = re.compile(b"[\x10\x68\xe5]")


class Framer:
    """Cuts a byte stream into EN 13757-2 frames.

    ``skipped`` counts every byte discarded outside an accepted frame (garbage and bad
    frames alike), ``bad_frames`` the candidates refused.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.skipped = 0
        self.bad_frames = 0

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete frame."""
        return len(self._buffer)

    @property
    def needed(self) -> int:
        """Bytes still needed, at least, to complete the frame in progress (1 when idle).

        For a long frame whose L is known this is exact: 4 + L + 2 - buffered.
        """
        buf = self._buffer
        if not buf:
            return 1
        if buf[0] == START_SHORT:
            return SHORT_FRAME_LENGTH - len(buf)
        if len(buf) < 2:  # L not seen yet: the shortest long frame is a control frame
            return LONG_HEADER_LENGTH + MIN_L + 2 - len(buf)
        return long_frame_length(bytes(buf[:2])) - len(buf)

    def reset(self) -> None:
        """Forget everything buffered (a new exchange starts); the bytes count as skipped."""
        self.skipped += len(self._buffer)
        self._buffer.clear()

    def timeout(self) -> list[Frame]:
        """The line went quiet with a frame in progress: it will not complete.

        A stray 10 or 68 in noise would otherwise hold back what follows it (an E5 right
        after a noise 10 waits for a five-byte short frame): the candidate's start byte is
        dropped, counted as a bad frame, and the rest is framed again.
        """
        if not self._buffer:
            return []
        rest = bytes(self._buffer[1:])
        self._buffer.clear()
        self.bad_frames += 1
        self.skipped += 1
        return self.feed(rest)

    def feed(self, data: bytes) -> list[Frame]:
        """Add received bytes; return the frames they complete, in order."""
        self._buffer += data
        frames: list[Frame] = []
        buf = self._buffer
        while buf:
            first = buf[0]
            if first == SINGLE_CHARACTER:
                del buf[:1]
                frames.append(SingleCharacter())
            elif first == START_SHORT:
                if len(buf) < SHORT_FRAME_LENGTH:
                    break
                candidate = bytes(buf[:SHORT_FRAME_LENGTH])
                try:
                    frames.append(parse_short(candidate))
                except DecodeError:
                    # Counted as a bad frame when it has a frame's shape (one of stop byte
                    # and checksum right); a 10 with both wrong is just a byte of garbage.
                    shaped = candidate[4] == STOP or checksum(candidate[1:3]) == candidate[3]
                    self._drop(1, bad=shaped)
                    continue
                del buf[:SHORT_FRAME_LENGTH]
            elif first == START_LONG:
                if len(buf) < LONG_HEADER_LENGTH:
                    break
                header = bytes(buf[:LONG_HEADER_LENGTH])
                try:
                    # Refuse a bad header at once rather than wait for L bytes of garbage.
                    check_long_header(header)
                except DecodeError:
                    # 68 L L' 68 is a frame with a bad L; without the second 68 it is the
                    # second start byte of a frame already refused, or garbage.
                    self._drop(1, bad=header[3] == START_LONG)
                    continue
                size = long_frame_length(bytes(buf[:2]))
                if len(buf) < size:
                    break
                try:
                    frames.append(parse_long(bytes(buf[:size])))
                except CrcError:
                    # The boundaries were right (L, L, stop): drop the whole frame so that
                    # an E5 or 10 inside its data is not taken for a frame.
                    self._drop(size, bad=True)
                    continue
                except DecodeError:
                    self._drop(1, bad=True)  # stop byte missing: the boundaries are unknown
                    continue
                del buf[:size]
            else:
                self._skip_garbage()
        assert len(buf) < MAX_FRAME_LENGTH  # bounded: at most one partial frame is held
        return frames

    def _drop(self, count: int, *, bad: bool) -> None:
        self.bad_frames += bad
        self.skipped += count
        del self._buffer[:count]
        self._skip_garbage()

    def _skip_garbage(self) -> None:
        """Drop bytes up to the next plausible start byte."""
        found = _START.search(self._buffer)
        end = found.start() if found else len(self._buffer)
        self.skipped += end
        del self._buffer[:end]


def strip_echo(sent: bytes, received: bytes) -> bytes:
    """``received`` without the echo of ``sent`` at its start (converters that echo).

    Only an exact, complete echo is dropped; anything else is returned unchanged.
    """
    if sent and received.startswith(sent):
        return received[len(sent) :]
    return received


class EchoSuppressor:
    """Drops the echo of what the master just sent from the bytes that come back, when the
    echo arrives split over several reads.

    A byte that differs from the expected echo means the converter does not echo (or the
    answer shares a prefix with the request): the bytes held so far are given back.
    """

    def __init__(self) -> None:
        self._expected = b""
        self._matched = 0

    def expect(self, sent: bytes) -> None:
        """The master has just sent ``sent``; its echo may come first."""
        self._expected = bytes(sent)
        self._matched = 0

    @property
    def pending(self) -> bool:
        """True while part of the echo is still awaited."""
        return self._matched < len(self._expected)

    def filter(self, data: bytes) -> bytes:
        """The bytes of ``data`` that are not echo."""
        if not self.pending:
            return data
        want = self._expected[self._matched :]
        common = 0
        limit = min(len(want), len(data))
        while common < limit and want[common] == data[common]:
            common += 1
        if common == limit:
            self._matched += common
            if not self.pending:
                self._expected = b""
                self._matched = 0
            return data[common:]
        # Mismatch: no echo after all; release the bytes held back as echo.
        held = self._expected[: self._matched]
        self._expected = b""
        self._matched = 0
        return held + data
