"""The audit trail's table in the store: who did what, from which computer, and the outcome.

Entries are JSON objects (docs/access.md, "Audit"), kept as alarms are: as long as the
store's longest retention horizon (``retention_daily_years``), and never more than a share
of the store's quota (``access.audit_max_share``): beyond it the oldest entries go first.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiosqlite

# One entry as stored is at most this many bytes of JSON (arguments are cut beyond it).
MAX_ENTRY_BYTES = 4096

DDL = """
CREATE TABLE IF NOT EXISTS audit (
    seq   INTEGER PRIMARY KEY,           -- insertion order
    time  REAL NOT NULL,                 -- UTC epoch seconds
    entry TEXT NOT NULL                  -- the JSON object
);
"""

Transaction = Callable[..., AbstractAsyncContextManager[None]]


def encoded(entry: dict[str, Any]) -> str:
    """The stored form of ``entry``: JSON, its arguments cut when over MAX_ENTRY_BYTES."""
    text = json.dumps(entry, default=str, separators=(",", ":"))
    if len(text.encode()) > MAX_ENTRY_BYTES:
        entry = {**entry, "args": {"truncated": True}}
        text = json.dumps(entry, default=str, separators=(",", ":"))
    return text


class AuditRecords:
    """Append and read audit entries; bounded in bytes and age."""

    def __init__(
        self,
        db: aiosqlite.Connection,
        lock: asyncio.Lock,
        transaction: Transaction,
        *,
        max_bytes: int,
    ) -> None:
        self._db = db
        self._lock = lock
        self._transaction = transaction
        self.max_bytes = max_bytes
        self._bytes: int | None = None  # the entries' total, read at first use

    async def append(self, entry: dict[str, Any]) -> None:
        """Store one entry durably, dropping the oldest while over ``max_bytes``."""
        text = encoded(entry)
        async with self._lock:
            if self._bytes is None:
                self._bytes = await self._total()
            async with self._transaction(durable=True):
                await self._db.execute(
                    "INSERT INTO audit (time, entry) VALUES (?, ?)", (float(entry["time"]), text)
                )
                self._bytes += len(text)
                if self._bytes > self.max_bytes:
                    await self._drop_oldest(self._bytes - self.max_bytes)

    async def _drop_oldest(self, excess: int) -> None:
        assert self._bytes is not None
        freed, last = 0, None
        async with self._db.execute("SELECT seq, length(entry) FROM audit ORDER BY seq") as cur:
            async for seq, size in cur:
                freed += int(size)
                last = int(seq)
                if freed >= excess:
                    break
        if last is not None:
            await self._db.execute("DELETE FROM audit WHERE seq <= ?", (last,))
            self._bytes -= freed

    async def expire(self, before: float) -> int:
        """Remove entries older than ``before``; how many."""
        async with self._lock, self._transaction(durable=False):
            cursor = await self._db.execute("DELETE FROM audit WHERE time < ?", (before,))
            self._bytes = None  # read again at the next append
            return int(cursor.rowcount)

    async def between(self, since: float | None, until: float | None) -> list[dict[str, Any]]:
        """Entries with ``since <= time < until`` (None: unbounded), oldest first."""
        sql, params = (
            "SELECT entry FROM audit WHERE time >= ? AND time < ? ORDER BY seq",
            (
                since if since is not None else float("-inf"),
                until if until is not None else float("inf"),
            ),
        )
        async with self._lock:
            rows = list(await self._db.execute_fetchall(sql, params))
        return [json.loads(str(r[0])) for r in rows]

    async def _total(self) -> int:
        rows = list(
            await self._db.execute_fetchall("SELECT coalesce(sum(length(entry)), 0) FROM audit")
        )
        return int(rows[0][0])
