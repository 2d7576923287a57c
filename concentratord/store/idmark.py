"""Message ids that survive the store: a high-water mark in a small file beside it.

A head-end drops duplicates by (gateway, message_id) (docs/uplink.md), so an id once
published must never be handed out again: not after a restart, not after a corrupt store
was set aside, not after a fresh store was started. The store cannot vouch for that alone:
a recovered store has lost its rows, and ids of documents that are never stored (state,
replies) leave no row. So the ids come from :class:`MessageIds`, which hands out ids only
below a *ceiling* written durably to ``<store>.ids`` first (decision 0006).

The file is two fixed-size slots, written alternately in place with a sequence number and a
CRC: a torn write (power cut during the write) spoils only the slot being written, whose
ceiling no id has been handed out under yet, and overwriting existing blocks needs no free
space, so the mark can still be raised on a full file system.
"""

from __future__ import annotations

import logging
import os
import zlib
from pathlib import Path

log = logging.getLogger(__name__)

# Ids the ceiling is raised by at a time: one fsync of a small file per this many ids.
ID_BLOCK = 1_000
# A store that was set aside (or a mark that was unreadable) starts this far above the
# highest id known, against a mark that a restored backup or a lost write made stale.
ID_SAFETY_GAP = 100_000

_SLOT = 64
_MAGIC = b"cdids1"


class IdMarkError(OSError):
    """The mark file cannot be read or written: no id can be handed out safely."""


def _slot_bytes(sequence: int, ceiling: int) -> bytes:
    body = b"%s %020d %020d" % (_MAGIC, sequence, ceiling)
    line = body + b" %08x\n" % zlib.crc32(body)
    return line.ljust(_SLOT, b" ")


def _parse_slot(raw: bytes) -> tuple[int, int] | None:
    """(sequence, ceiling) of a valid slot, None for a torn, empty or foreign one."""
    parts = raw.split()
    if len(parts) != 4 or parts[0] != _MAGIC:
        return None
    body = b" ".join(parts[:3])
    try:
        if int(parts[3], 16) != zlib.crc32(body):
            return None
        return int(parts[1]), int(parts[2])
    except ValueError:
        return None


class IdMark:
    """The durable ceiling: no id above :attr:`ceiling` has ever been handed out."""

    def __init__(self, path: Path, ceiling: int, sequence: int, trusted: bool) -> None:
        self.path = path
        self.ceiling = ceiling
        self._sequence = sequence
        #: False when the file existed but no slot could be read (a gap is then added).
        self.trusted = trusted

    @classmethod
    def read(cls, path: Path) -> IdMark:
        """The mark at ``path``; ceiling 0 when there is no file yet."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return cls(path, 0, 0, trusted=True)
        except OSError as exc:
            raise IdMarkError(f"message id mark {path} cannot be read: {exc}") from exc
        slots = [_parse_slot(raw[i : i + _SLOT]) for i in (0, _SLOT)]
        valid = [s for s in slots if s is not None]
        if not valid:
            log.error("message id mark %s is unreadable: ids restart above the store's", path)
            return cls(path, 0, 0, trusted=False)
        sequence, ceiling = max(valid)
        return cls(path, ceiling, sequence, trusted=True)

    def raise_to(self, ceiling: int) -> None:
        """Write ``ceiling`` durably (fsync) before returning; never lowers the mark."""
        if ceiling <= self.ceiling:
            return
        sequence = self._sequence + 1
        try:
            if not self.path.exists():
                self._create(sequence, ceiling)
            else:
                fd = os.open(self.path, os.O_WRONLY)
                try:
                    os.pwrite(fd, _slot_bytes(sequence, ceiling), (sequence % 2) * _SLOT)
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except OSError as exc:
            raise IdMarkError(f"message id mark {self.path} cannot be written: {exc}") from exc
        self._sequence, self.ceiling = sequence, ceiling

    def _create(self, sequence: int, ceiling: int) -> None:
        # Both slots at once, through a temporary file and a rename, so that the name never
        # points at a half-written file; then the directory entry is made durable.
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            slots = [_slot_bytes(sequence - 1, ceiling)] * 2
            slots[sequence % 2] = _slot_bytes(sequence, ceiling)
            os.write(fd, b"".join(slots))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class MessageIds:
    """Monotonic message ids of one gateway, each under the durable mark before it is given.

    :meth:`take` is synchronous: the ids of one enqueue or one reply come at once, in the
    order asked, and nothing can run out (a burst only raises the mark more often).
    """

    def __init__(self, mark: IdMark, first: int, block: int = ID_BLOCK) -> None:
        if first < 1:
            raise ValueError("message ids start at 1")
        self.mark = mark
        self._next = max(first, mark.ceiling + 1)
        self._block = block

    @property
    def next_id(self) -> int:
        """The id the next :meth:`take` starts with."""
        return self._next

    def take(self, count: int = 1) -> range:
        """``count`` consecutive fresh ids; raises :class:`IdMarkError` when the mark cannot
        be raised (then no id is handed out)."""
        if count < 1:
            raise ValueError("take at least one id")
        last = self._next + count - 1
        if last > self.mark.ceiling:
            self.mark.raise_to(last + self._block)
        ids = range(self._next, last + 1)
        self._next = last + 1
        return ids


def first_free_id(mark: IdMark, known_highest: int, recovered: bool) -> int:
    """Where ids start at open: above the mark and every id the stores know of, plus
    :data:`ID_SAFETY_GAP` when a store was set aside or the mark was unreadable."""
    highest = max(mark.ceiling, known_highest)
    gap = ID_SAFETY_GAP if recovered or not mark.trusted else 0
    return highest + gap + 1
