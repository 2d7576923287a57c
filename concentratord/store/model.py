"""The values that go into and come out of the store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["alarm", "readings", "stats", "event"]
KINDS: frozenset[str] = frozenset({"alarm", "readings", "stats", "event"})
ALARM_PRIORITY = 0
BULK_PRIORITY = 1
DAILY = "daily"

_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One uplink message to store before it is published.

    ``document`` is the payload without ``message_id``: the store assigns the id and the
    publisher inserts it. ``priority`` defaults by kind (alarms 0, everything else 1); lower
    goes out first. ``interval`` names a readings batch's interval kind (``"daily"``,
    ``"hourly"``, ``"5min"``); when None, the document's own ``"interval"`` key is used.
    Retention keeps daily batches longer than the others.
    """

    tenant: str
    kind: Kind
    created_at: float
    document: dict[str, Any]
    interval_end: float | None = None
    priority: int | None = None
    interval: str | None = None

    def effective_priority(self) -> int:
        """The priority to queue at: the given one, else by kind."""
        if self.priority is not None:
            return self.priority
        return ALARM_PRIORITY if self.kind == "alarm" else BULK_PRIORITY

    def effective_interval(self) -> str | None:
        """The interval kind: the given one, else the document's ``interval`` string."""
        if self.interval is not None:
            return self.interval
        value = self.document.get("interval")
        return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A stored message as the publisher and the backfill command see it."""

    message_id: int
    tenant: str
    kind: str
    created_at: float
    interval_end: float | None
    document: dict[str, Any]
    attempts: int


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long delivered rows are kept, by age of the data (interval end, else creation).

    Readings batches other than daily ones, stats and events go after ``raw_keep_s``; daily
    batches and alarms after ``daily_keep_s``. Defaults follow the seed: every reading for
    at least 13 months, then one a day, nothing after 10 years. Undelivered rows are never
    removed by retention, only by the disk quota.
    """

    raw_keep_s: float = 13 * 31 * _DAY
    daily_keep_s: float = 10 * 366 * _DAY

    def __post_init__(self) -> None:
        if not 0 < self.raw_keep_s <= self.daily_keep_s:
            raise ValueError("retention needs 0 < raw_keep_s <= daily_keep_s")


class StoreWriteError(Exception):
    """Items could not be stored; the store is left as it is (nothing was moved or lost
    from it). The caller keeps the items and tries again later."""


class StoreFullError(StoreWriteError):
    """No room: nothing is left to drop within the quota, or the file system is full."""


class StoreUnwritableError(StoreWriteError):
    """The store cannot be written (read-only file system, an immutable file, an I/O
    error, a permission): not a corruption, so the file is never set aside for it."""
