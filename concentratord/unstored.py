"""Items the store refused (a full disk, a read-only or failing one), kept in memory until
it takes them again (decision 0006, "Nothing lost without a count and an alarm").

An alarm is kept with the status flags it reports, so that the change is stored, and
published, once the store can be written: the pipeline has already moved on to the new
flags and would never raise it again. Memory is bounded: past its bound, the oldest entry
of a kind is dropped, and counted. Each kind has its own bound, so that a flood of batches
cannot push out an alarm.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from concentratord.store import OutboxItem

# Bounds of what waits in memory for the store: 1,000 alarms (each a few hundred bytes) and
# 100 readings batches (up to 500 meters each): a few tens of MiB at the most.
MAX_ALARMS = 1_000
MAX_BATCHES = 100


@dataclass(frozen=True)
class Unstored:
    """One enqueue the store refused: items stored together, with their meters' flags."""

    items: tuple[OutboxItem, ...]
    meter_status: Mapping[str, frozenset[str]] | None = None

    @property
    def is_alarm(self) -> bool:
        """Whether it holds an alarm (kept longest, retried first)."""
        return any(i.kind == "alarm" for i in self.items)

    def kinds(self) -> list[str]:
        """The counter kind of each item: ``alarm``, or ``readings`` for everything else."""
        return ["alarm" if i.kind == "alarm" else "readings" for i in self.items]


@dataclass
class UnstoredCounters:
    """Per kind (``alarm``, ``readings``): items refused by the store, and items dropped
    from memory before the store took them."""

    store_failures: dict[str, int] = field(default_factory=lambda: {"alarm": 0, "readings": 0})
    dropped: dict[str, int] = field(default_factory=lambda: {"alarm": 0, "readings": 0})


class UnstoredItems:
    """The bounded waiting room, alarms and bulk in two queues, oldest first."""

    def __init__(self, max_alarms: int = MAX_ALARMS, max_batches: int = MAX_BATCHES) -> None:
        self.max_alarms = max_alarms
        self.max_batches = max_batches
        self.counters = UnstoredCounters()
        self._alarms: deque[Unstored] = deque()
        self._bulk: deque[Unstored] = deque()

    def __len__(self) -> int:
        return len(self._alarms) + len(self._bulk)

    def waiting(self) -> dict[str, int]:
        """Items waiting in memory, by kind."""
        return {
            "alarm": sum(len(e.items) for e in self._alarms),
            "readings": sum(len(e.items) for e in self._bulk),
        }

    def refused(self, entry: Unstored) -> None:
        """The store refused ``entry`` (the first time): count it and keep it."""
        for kind in entry.kinds():
            self.counters.store_failures[kind] += 1
        self.keep(entry)

    def keep(self, entry: Unstored) -> None:
        """Keep ``entry`` waiting (after the newest), dropping by the eviction rules."""
        (self._alarms if entry.is_alarm else self._bulk).append(entry)
        while len(self._bulk) > self.max_batches:
            self._drop(self._bulk.popleft())
        while len(self._alarms) > self.max_alarms:
            self._drop(self._alarms.popleft())

    def _drop(self, entry: Unstored) -> None:
        for kind in entry.kinds():
            self.counters.dropped[kind] += 1

    def first(self) -> Unstored | None:
        """The entry to retry next: the oldest alarm, else the oldest batch."""
        if self._alarms:
            return self._alarms[0]
        return self._bulk[0] if self._bulk else None

    def stored(self, entry: Unstored) -> None:
        """``entry`` (as returned by :meth:`first`) is in the store now."""
        queue = self._alarms if self._alarms and self._alarms[0] is entry else self._bulk
        if queue and queue[0] is entry:
            queue.popleft()
