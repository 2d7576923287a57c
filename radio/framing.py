"""A framer skeleton for host protocols that frame by start byte and length.

Subclasses say where a frame may start and how to read one from the front of the buffer;
the skeleton keeps the buffer, resynchronises past garbage and counts what it skipped.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
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
