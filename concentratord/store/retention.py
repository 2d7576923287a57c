"""Which rows retention and the disk quota remove, and removing them.

Both only ever touch rows as a whole (outbox + document + pending). Freed pages go to
SQLite's freelist and are reused by later inserts, so the file stops growing at the quota
and no VACUUM is needed (a VACUUM would need free disk for a full copy of the file, which is
exactly what a full disk does not have).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import aiosqlite

from concentratord.store.model import ALARM_PRIORITY, DAILY, RetentionPolicy

# A row is delivered when it has no pending row; (priority, message_id) is pending's key.
_DELIVERED = (
    "NOT EXISTS (SELECT 1 FROM pending p"
    " WHERE p.priority = o.priority AND p.message_id = o.message_id)"
)
_AGE = "coalesce(o.interval_end, o.created_at)"


@dataclass(frozen=True, slots=True)
class Victim:
    """A row chosen for removal and what kind of loss removing it is."""

    message_id: int
    priority: int
    size: int  # stored document bytes (length() reads no overflow pages)
    delivered: bool


async def expired(
    db: aiosqlite.Connection, now: float, backfill_s: float, policy: RetentionPolicy
) -> tuple[list[Victim], list[Victim]]:
    """(thinned, expired): delivered rows past their horizon.

    Thinned: readings batches other than daily, stats and events older than the raw horizon.
    Expired: daily batches and alarms older than the daily horizon. Both horizons are at
    least the backfill window, so nothing the backfill command may be asked for goes early.
    """
    raw_cutoff = now - max(backfill_s, policy.raw_keep_s)
    daily_cutoff = now - max(backfill_s, policy.daily_keep_s)
    long_lived = f"(o.kind = 'alarm' OR (o.kind = 'readings' AND o.interval = '{DAILY}'))"
    base = (
        "SELECT o.message_id, o.priority, length(d.body), 1 FROM outbox o"
        f" JOIN document d ON d.message_id = o.message_id WHERE {_DELIVERED} AND {_AGE} < ?"
    )
    thinned = await db.execute_fetchall(f"{base} AND NOT {long_lived}", (raw_cutoff,))
    gone = await db.execute_fetchall(f"{base} AND {long_lived}", (daily_cutoff,))
    return [_victim(r) for r in thinned], [_victim(r) for r in gone]


async def oldest_first(db: aiosqlite.Connection, chunk: int = 256) -> AsyncIterator[Victim]:
    """Rows in the order the quota drops them: bulk before alarms, delivered before
    undelivered within each, oldest (lowest message id) first within those.

    Yields in chunks so that a caller that has freed enough stops reading early.
    """
    classes = (
        (f"o.priority != {ALARM_PRIORITY}", True),
        (f"o.priority != {ALARM_PRIORITY}", False),
        (f"o.priority = {ALARM_PRIORITY}", True),
        (f"o.priority = {ALARM_PRIORITY}", False),
    )
    for condition, delivered in classes:
        state = _DELIVERED if delivered else f"NOT {_DELIVERED}"
        after = 0
        while True:
            rows = list(
                await db.execute_fetchall(
                    "SELECT o.message_id, o.priority, length(d.body), ? FROM outbox o"
                    " JOIN document d ON d.message_id = o.message_id"
                    f" WHERE o.message_id > ? AND {condition} AND {state}"
                    " ORDER BY o.message_id LIMIT ?",
                    (int(delivered), after, chunk),
                )
            )
            if not rows:
                break
            for row in rows:
                yield _victim(row)
            after = int(rows[-1][0])


async def remove(db: aiosqlite.Connection, victims: Sequence[Victim]) -> None:
    """Delete ``victims`` entirely, inside the caller's transaction."""
    await db.executemany(
        "DELETE FROM pending WHERE priority = ? AND message_id = ?",
        [(v.priority, v.message_id) for v in victims if not v.delivered],
    )
    ids = [(v.message_id,) for v in victims]
    await db.executemany("DELETE FROM document WHERE message_id = ?", ids)
    await db.executemany("DELETE FROM outbox WHERE message_id = ?", ids)


def _victim(row: sqlite3.Row) -> Victim:
    return Victim(int(row[0]), int(row[1]), int(row[2]), bool(row[3]))
