"""A framer skeleton for host protocols that frame by start byte and length.

Subclasses say where a frame may start and how to read one from the front of the buffer;
the skeleton keeps the buffer, resynchronises past garbage and counts what it skipped.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from enum import Enum

from radio.driver import Event


class Scan(Enum):
    """What ``parse`` found at the front of the buffer, when not a whole frame."""

    NEED_MORE = "need_more"  # could be a frame; wait for more bytes
    BAD = "bad"  # not a frame (or a corrupt one): skip to the next possible start


Parsed = tuple[int, Event | None] | Scan


class BufferFramer(ABC):
    """Keeps partial frames between ``feed`` calls; resynchronises on garbage."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.bad_frames = 0
        self.resyncs = 0

    @abstractmethod
    def parse(self, buf: bytearray) -> Parsed:
        """Read one frame from the front of ``buf``: (bytes consumed, event or None),
        or NEED_MORE, or BAD (count it in ``bad_frames`` if it looked like a frame)."""

    def next_start(self, buf: bytearray, after: int) -> int:
        """Where the next frame may start, at ``after`` or later (``len(buf)`` if nowhere)."""
        return after if after <= len(buf) else len(buf)

    def feed(self, data: bytes) -> list[Event]:
        """Consume ``data``; every event it completed."""
        self._buf += data
        return self._scan()

    def _scan(self) -> list[Event]:
        events: list[Event] = []
        buf = self._buf
        while buf:
            start = self.next_start(buf, 0)
            if start:
                del buf[:start]
                self.resyncs += 1
                continue
            result = self.parse(buf)
            if result is Scan.NEED_MORE:
                break
            if result is Scan.BAD:
                self._skip()
                continue
            consumed, event = result
            del buf[:consumed]
            if event is not None:
                events.append(event)
        return events

    def _skip(self) -> None:
        buf = self._buf
        del buf[: self.next_start(buf, 1)]
        self.resyncs += 1

    def expire(self) -> list[Event]:
        """The line went quiet mid-frame: skip that frame's start and rescan the rest."""
        if not self._buf:
            return []
        self._skip()
        return self._scan()

    def reset(self) -> None:
        """Forget any partial frame."""
        self._buf.clear()

    @property
    def pending(self) -> int:
        """Bytes held for a frame not yet complete."""
        return len(self._buf)


# -- L-framed telegrams -------------------------------------------------------------------
# Bare ``L C M A CI ...`` telegrams with no start byte or checksum around them (the
# RC1180 and the Amber transparent form; rawtty shares the plausibility checks).

# C fields of telegrams a meter sends (EN 13757-4 table 1): SND_NR, SND_IR, ACC_NR,
# ACC_DMD, RSP_UD and their variants.
TELEGRAM_C_FIELDS = frozenset({0x44, 0x46, 0x47, 0x48, 0x06, 0x08, 0x18, 0x28, 0x38})
MIN_L = 10  # C, M (2), A (6) and CI at least


def manufacturer_plausible(low: int, high: int) -> bool:
    """Whether an M field (two wire bytes) spells three letters A-Z."""
    m_field = low | high << 8
    if m_field & 0x8000:
        return False
    return all(1 <= (m_field >> shift) & 0x1F <= 26 for shift in (10, 5, 0))


def telegram_start_plausible(buf: bytearray, pos: int) -> bool:
    """Whether a telegram may start at ``pos``, judged on the bytes already there.

    Used only for what follows a frame: the M check is stricter than what we ask of the
    frame itself (a meter with an unregistered M still gets through on its own)."""
    end = len(buf)
    if buf[pos] < MIN_L:
        return False
    if pos + 1 < end and buf[pos + 1] not in TELEGRAM_C_FIELDS:
        return False
    return not (pos + 3 < end and not manufacturer_plausible(buf[pos + 2], buf[pos + 3]))


class Follow(Enum):
    """Whether what comes after a frame vouches for it."""

    YES = "yes"  # nothing yet, or frames that fit end to end
    NO = "no"  # noise
    WAIT = "wait"  # a start whose frame is not complete yet: decide when it is


FollowerCheck = Callable[[bytearray, int], "Follow | None"]


def follow_chain(
    buf: bytearray, pos: int, trailer: int, other: FollowerCheck | None = None
) -> Follow:
    """Whether the bytes from ``pos`` are nothing or a whole plausible next frame.

    ``other`` judges starts that are not telegrams (module replies); None leaves the
    position to the telegram check. A start whose frame is still incomplete says WAIT
    rather than yes: a false candidate's span often ends inside the real frame behind it,
    on a byte that merely looks like a start, and the real frame then completes first.
    Only the next frame is asked: one truncated frame further on must not cost the whole
    frames before it."""
    end = len(buf)
    if pos == end:
        return Follow.YES
    if other is not None:
        verdict = other(buf, pos)
        if verdict is not None:
            return verdict
    if not telegram_start_plausible(buf, pos):
        return Follow.NO
    if pos + 1 == end or pos + buf[pos] + 1 + trailer > end:
        return Follow.WAIT
    return Follow.YES


def scan_l_frame(buf: bytearray, trailer: int, other: FollowerCheck | None = None) -> int | Scan:
    """The length (L + 1 + ``trailer``) of an L-framed telegram at the front of ``buf``.

    NEED_MORE while it is incomplete or what follows cannot be judged yet (a false start
    is then dropped by the driver's idle gap); BAD when the front is no telegram start or
    noise follows the frame. A real frame followed directly by line noise is lost that way:
    without a CRC it cannot be told from a false start inside the noise."""
    if buf[0] < MIN_L:
        return Scan.BAD
    if len(buf) < 2:
        return Scan.NEED_MORE
    if buf[1] not in TELEGRAM_C_FIELDS:
        return Scan.BAD
    total = buf[0] + 1 + trailer
    if len(buf) < total:
        return Scan.NEED_MORE
    verdict = follow_chain(buf, total, trailer, other)
    if verdict is Follow.YES:
        return total
    return Scan.NEED_MORE if verdict is Follow.WAIT else Scan.BAD


def next_telegram_start(buf: bytearray, after: int) -> int:
    """The first index at or after ``after`` where an (L, C) pair may start."""
    end = len(buf)
    for pos in range(after, end):
        if buf[pos] >= MIN_L and (pos + 1 == end or buf[pos + 1] in TELEGRAM_C_FIELDS):
            return pos
    return end
