"""The store-and-forward outbox: alarms and interval values, durable before they are taken.

One connection, one writer: every operation holds ``_lock`` for its whole transaction, so
that one task's read never sees another task's uncommitted rows (aiosqlite shares the
connection). Durability per class is in docs/decisions/0006-outbox-durability.md: commits
that store alarms, readings or events are FULL (fsync of the WAL before COMMIT returns);
everything else (delivery marks, attempts, stats documents, retention) is NORMAL, which a
kill -9 cannot undo and a power cut can at worst roll back to a re-send with the same id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from concentratord.store import codec, retention
from concentratord.store.audit import AuditRecords
from concentratord.store.idmark import IdMark, MessageIds, first_free_id
from concentratord.store.model import (
    KINDS,
    OutboxItem,
    OutboxRow,
    RetentionPolicy,
    StoreFullError,
    StoreUnwritableError,
    StoreWriteError,
)
from concentratord.store.schema import (
    CorruptStoreError,
    connect,
    highest_known_id,
    move_aside,
    unwritable,
)

log = logging.getLogger(__name__)

# Quota: how many times enqueue frees space and retries, doubling what it frees each time.
_FREE_ROUNDS = 8
# Beyond the documents themselves an insert needs b-tree cells and, now and then, a split.
_ROW_OVERHEAD = 256
_SPLIT_PAGES = 4
_DURABLE_KINDS = frozenset({"alarm", "readings", "event"})

_ROW_SQL = (
    "SELECT o.message_id, o.tenant, o.kind, o.created_at, o.interval_end, {attempts}, d.body"
    " FROM {source} JOIN document d ON d.message_id = o.message_id"
)


class Store:
    """The outbox on one SQLite file. Create with :meth:`open`."""

    def __init__(
        self,
        db: aiosqlite.Connection,
        path: Path,
        *,
        max_bytes: int,
        backfill_s: float,
        retention: RetentionPolicy,
        recovered_from: Path | None,
        ids: MessageIds,
        newest_interval_end: float,
        audit_max_bytes: int,
    ) -> None:
        self._db = db
        self.path = path
        self.max_bytes = max_bytes
        self.backfill_s = backfill_s
        self.retention = retention
        #: Where a corrupt file was moved at open, for the daemon to raise an alarm; else None.
        self.recovered_from = recovered_from
        #: The gateway's message ids (stored rows and documents that are never stored).
        self.ids = ids
        #: The newest interval end ever stored (0: none): no interval may end at or before it.
        self.newest_interval_end = newest_interval_end
        #: When the broker last acknowledged a stored row (this process's lifetime).
        self.last_delivered_at: float | None = None
        self._lock = asyncio.Lock()
        #: The audit trail (concentratord/access), bounded to a share of the quota.
        self.audit = AuditRecords(db, self._lock, self._transaction, max_bytes=audit_max_bytes)

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        max_bytes: int,
        backfill_s: float,
        retention: RetentionPolicy | None = None,
        page_size: int = 1024,
        audit_share: float = 0.05,
    ) -> Store:
        """Open or create the store; a file failing ``quick_check`` is moved aside first.

        Raises :class:`StoreUnwritableError` (touching nothing) when the file is sound but
        cannot be written, or the message id mark beside it cannot be read.
        """
        file = Path(path)
        file.parent.mkdir(parents=True, exist_ok=True)
        mark = IdMark.read(id_mark_path(file))
        recovered: Path | None = None
        aside_highest = 0
        try:
            db = await connect(file, max_bytes=max_bytes, page_size=page_size)
        except CorruptStoreError as exc:
            log.error("store %s is unusable: %s", file, exc)
            recovered = move_aside(file)
            aside_highest = await asyncio.to_thread(highest_known_id, recovered)
            db = await connect(file, max_bytes=max_bytes, page_size=page_size)
        try:
            rows = list(
                await db.execute_fetchall(
                    "SELECT max(coalesce((SELECT max(message_id) FROM outbox), 0),"
                    " (SELECT value FROM meta WHERE key = 'last_id')),"
                    " max(coalesce((SELECT max(interval_end) FROM outbox), 0),"
                    " (SELECT value FROM meta WHERE key = 'newest_interval_end'))"
                )
            )
        except sqlite3.Error as exc:
            await db.close()
            raise unwritable(file, exc) from exc
        known = max(int(rows[0][0]), aside_highest)
        ids = MessageIds(mark, first_free_id(mark, known, recovered is not None))
        log.info("store %s: message ids continue at %d", file, ids.next_id)
        return cls(
            db,
            file,
            max_bytes=max_bytes,
            backfill_s=backfill_s,
            retention=retention or RetentionPolicy(),
            recovered_from=recovered,
            ids=ids,
            newest_interval_end=float(rows[0][1]),
            audit_max_bytes=int(max_bytes * audit_share),
        )

    async def close(self) -> None:
        """Close the connection (SQLite checkpoints the WAL into the file)."""
        async with self._lock:
            await self._db.close()

    # ------------------------------------------------------------------ writing

    async def enqueue(
        self,
        items: Sequence[OutboxItem],
        *,
        meter_status: Mapping[str, frozenset[str]] | None = None,
    ) -> list[int]:
        """Store ``items`` in one transaction; their message ids, in order.

        Durable when this returns. When the quota is reached, the oldest bulk rows are
        dropped (counted) until the items fit; alarms only once no bulk row is left.
        Raises :class:`StoreFullError` when nothing is left to drop or the file system is
        full, :class:`StoreUnwritableError` when the store cannot be written; either way
        nothing was stored and the caller still holds the items.

        ``meter_status`` (meter id -> status flags set) is written in the same transaction:
        an alarm event and the flags it reports are stored together or not at all.
        """
        if not items:
            return []
        for item in items:
            if item.kind not in KINDS:
                raise ValueError(f"unknown outbox kind {item.kind!r}")
        blobs = await asyncio.to_thread(lambda: [codec.encode(i.document) for i in items])
        durable = any(i.kind in _DURABLE_KINDS for i in items)
        need = sum(len(b) + _ROW_OVERHEAD for b in blobs)
        async with self._lock:
            try:
                return await self._enqueue_locked(items, blobs, durable, need, meter_status)
            except StoreWriteError:
                raise
            except sqlite3.Error as exc:
                raise self._write_error(exc) from exc
            except OSError as exc:  # the id mark beside the store
                raise StoreUnwritableError(str(exc)) from exc

    async def _enqueue_locked(
        self,
        items: Sequence[OutboxItem],
        blobs: list[bytes],
        durable: bool,
        need: int,
        meter_status: Mapping[str, frozenset[str]] | None,
    ) -> list[int]:
        for attempt in range(_FREE_ROUNDS + 1):
            try:
                return await self._insert(items, blobs, durable=durable, meter_status=meter_status)
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_FULL or attempt == _FREE_ROUNDS:
                    raise
                if not await self._free(need << attempt):
                    raise StoreFullError(
                        f"{self.path}: {len(items)} item(s) do not fit and nothing is left to drop"
                    ) from exc
        raise AssertionError("unreachable")

    async def _insert(
        self,
        items: Sequence[OutboxItem],
        blobs: list[bytes],
        *,
        durable: bool,
        meter_status: Mapping[str, frozenset[str]] | None = None,
    ) -> list[int]:
        async with self._transaction(durable=durable):
            if meter_status:
                await self._write_meter_status(meter_status)
            # Ids are taken under the durable mark (idmark.py); a transaction that fails
            # leaves a gap, never a reuse.
            ids = list(self.ids.take(len(items)))
            await self._db.executemany(
                "INSERT INTO outbox (message_id, tenant, kind, interval, priority, created_at,"
                " interval_end) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        mid,
                        i.tenant,
                        i.kind,
                        i.effective_interval(),
                        i.effective_priority(),
                        i.created_at,
                        i.interval_end,
                    )
                    for mid, i in zip(ids, items, strict=True)
                ],
            )
            await self._db.executemany(
                "INSERT INTO document (message_id, body) VALUES (?, ?)",
                list(zip(ids, blobs, strict=True)),
            )
            await self._db.executemany(
                "INSERT INTO pending (priority, message_id, tenant) VALUES (?, ?, ?)",
                [
                    (i.effective_priority(), mid, i.tenant)
                    for mid, i in zip(ids, items, strict=True)
                ],
            )
        ends = [i.interval_end for i in items if i.interval_end is not None]
        if ends:
            self.newest_interval_end = max(self.newest_interval_end, *ends)
        return ids

    async def _write_meter_status(self, status: Mapping[str, frozenset[str]]) -> None:
        await self._db.executemany(
            "INSERT OR REPLACE INTO meter_status (meter_id, flags) VALUES (?, ?)",
            [(meter_id, " ".join(sorted(flags))) for meter_id, flags in status.items()],
        )

    async def _free(self, need: int) -> bool:
        """Remove the rows the quota drops first until ``need`` bytes are free; any removed?"""
        page_size = await self._pragma("page_size")
        target = need + _SPLIT_PAGES * page_size
        victims: list[retention.Victim] = []
        freed = 0
        async with self._transaction(durable=False):
            async for victim in retention.oldest_first(self._db):
                victims.append(victim)
                freed += victim.size + _ROW_OVERHEAD
                if freed >= target:
                    break
            if not victims:
                return False
            await self._remember_last_id()
            await retention.remove(self._db, victims)
            lost_bulk = sum(1 for v in victims if not v.delivered and v.priority != 0)
            lost_alarms = sum(1 for v in victims if not v.delivered and v.priority == 0)
            evicted = sum(1 for v in victims if v.delivered)
            for key, count in (
                ("dropped_bulk", lost_bulk),
                ("dropped_alarms", lost_alarms),
                ("evicted_delivered", evicted),
                ("quota_hits", 1),
            ):
                await self._bump(key, count)
        log.warning(
            "store %s reached its quota of %d bytes: dropped %d undelivered bulk row(s),"
            " %d undelivered alarm(s), %d delivered row(s)",
            self.path,
            self.max_bytes,
            lost_bulk,
            lost_alarms,
            evicted,
        )
        return True

    async def mark_delivered(self, message_ids: Sequence[int], delivered_at: float) -> int:
        """The broker acknowledged these; they leave the queue. How many were pending."""
        async with self._lock, self._transaction(durable=False):
            before = self._db.total_changes
            await self._db.executemany(
                "DELETE FROM pending WHERE message_id = ?1"
                " AND priority = (SELECT priority FROM outbox WHERE message_id = ?1)",
                [(int(m),) for m in message_ids],
            )
            count = self._db.total_changes - before
        if count:
            # Kept in memory only: persisting it would write one more page per delivery.
            self.last_delivered_at = max(self.last_delivered_at or delivered_at, delivered_at)
        return count

    async def mark_attempt(self, message_ids: Sequence[int]) -> None:
        """A publish of these was tried (not yet acknowledged): count it."""
        async with self._lock, self._transaction(durable=False):
            await self._db.executemany(
                "UPDATE pending SET attempts = attempts + 1 WHERE message_id = ?1"
                " AND priority = (SELECT priority FROM outbox WHERE message_id = ?1)",
                [(int(m),) for m in message_ids],
            )

    async def apply_retention(self, now: float) -> dict[str, int]:
        """Thin and expire delivered rows past their horizon (see RetentionPolicy); audit
        entries go at the daily horizon, as alarms do."""
        async with self._lock, self._transaction(durable=False):
            thinned, gone = await retention.expired(self._db, now, self.backfill_s, self.retention)
            if thinned or gone:
                await self._remember_last_id()
                await retention.remove(self._db, thinned + gone)
        audit = await self.audit.expire(now - max(self.backfill_s, self.retention.daily_keep_s))
        return {"thinned": len(thinned), "expired": len(gone), "audit_expired": audit}

    # ------------------------------------------------------------------ reading

    async def pending(self, limit: int, *, tenant: str | None = None) -> list[OutboxRow]:
        """Undelivered rows in publishing order: priority (alarms first), then message id."""
        source = "pending p JOIN outbox o ON o.message_id = p.message_id"
        sql = _ROW_SQL.format(attempts="p.attempts", source=source)
        params: tuple[Any, ...] = (limit,)
        if tenant is not None:
            sql += " WHERE p.tenant = ?"
            params = (tenant, limit)
        sql += " ORDER BY p.priority, p.message_id LIMIT ?"
        async with self._lock:
            rows = list(await self._db.execute_fetchall(sql, params))
        return await asyncio.to_thread(_decode_rows, rows)

    async def meter_status(self) -> dict[str, frozenset[str]]:
        """Every meter's last stored status flags (for the pipeline after a restart)."""
        async with self._lock:
            rows = await self._db.execute_fetchall("SELECT meter_id, flags FROM meter_status")
        return {str(m): frozenset(str(f).split()) for m, f in rows}

    async def save_blob(self, name: str, body: bytes) -> None:
        """Keep ``body`` under ``name`` (replacing what was there): state that must survive
        a restart but is not worth a row per item, e.g. the reception statistics.

        Raises :class:`StoreWriteError` (full or unwritable) like :meth:`enqueue`."""
        async with self._lock:
            try:
                async with self._transaction(durable=False):
                    await self._db.execute(
                        "INSERT OR REPLACE INTO blob (name, body) VALUES (?, ?)", (name, body)
                    )
            except sqlite3.Error as exc:
                raise self._write_error(exc) from exc

    def _write_error(self, exc: sqlite3.Error) -> StoreWriteError:
        if exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_FULL:
            return StoreFullError(f"{self.path}: the file system is full: {exc}")
        return unwritable(self.path, exc)

    async def load_blob(self, name: str) -> bytes | None:
        """What :meth:`save_blob` kept under ``name``, or None."""
        async with self._lock:
            rows = list(
                await self._db.execute_fetchall("SELECT body FROM blob WHERE name = ?", (name,))
            )
        return bytes(rows[0][0]) if rows else None

    async def get(self, message_id: int) -> OutboxRow | None:
        """One stored row by message id (pending or delivered), None when it is gone: the
        publisher reads a delta frame's reference batch back with it."""
        sql = _ROW_SQL.format(attempts="0", source="outbox o") + " WHERE o.message_id = ?"
        async with self._lock:
            rows = list(await self._db.execute_fetchall(sql, (message_id,)))
        decoded = await asyncio.to_thread(_decode_rows, rows)
        return decoded[0] if decoded else None

    async def delivered_between(self, tenant: str, start: float, end: float) -> list[OutboxRow]:
        """Delivered rows of ``tenant`` whose interval end (else creation time) is in
        [start, end), by message id: what the backfill command sends again.

        ``attempts`` is 0 in these rows: the count lives with the pending state.
        """
        sql = _ROW_SQL.format(attempts="0", source="outbox o") + (
            f" WHERE o.tenant = ? AND {retention._AGE} >= ? AND {retention._AGE} < ?"
            f" AND {retention._DELIVERED} ORDER BY o.message_id"
        )
        async with self._lock:
            rows = list(await self._db.execute_fetchall(sql, (tenant, start, end)))
        return await asyncio.to_thread(_decode_rows, rows)

    async def stats(self) -> dict[str, Any]:
        """Queue, counters and space, for ``concentratorctl queue`` and the stats uplink."""
        async with self._lock:
            per = await self._db.execute_fetchall(
                "SELECT p.tenant, o.kind, count(*) FROM pending p"
                " JOIN outbox o ON o.message_id = p.message_id GROUP BY 1, 2"
            )
            total = await self._scalar("SELECT count(*) FROM outbox")
            meta = {str(k): v for k, v in await self._db.execute_fetchall("SELECT * FROM meta")}
            space = {
                name: await self._pragma(name)
                for name in ("page_size", "page_count", "freelist_count", "max_page_count")
            }
        pending: dict[str, dict[str, int]] = {}
        for tenant, kind, count in per:
            pending.setdefault(str(tenant), {})[str(kind)] = int(count)
        pending_total = sum(sum(k.values()) for k in pending.values())
        files = [Path(f"{self.path}{s}") for s in ("", "-wal")]
        return {
            "pending": pending,
            "pending_total": pending_total,
            "delivered": int(total) - pending_total,
            "dropped_bulk": int(meta.get("dropped_bulk", 0)),
            "dropped_alarms": int(meta.get("dropped_alarms", 0)),
            "evicted_delivered": int(meta.get("evicted_delivered", 0)),
            "quota_hits": int(meta.get("quota_hits", 0)),
            "last_delivered_at": self.last_delivered_at,
            "file_bytes": sum(f.stat().st_size for f in files if f.exists()),
            "used_bytes": (space["page_count"] - space["freelist_count"]) * space["page_size"],
            "max_bytes": self.max_bytes,
            **space,
            "recovered_from": str(self.recovered_from) if self.recovered_from else None,
        }

    # ------------------------------------------------------------------ helpers

    @asynccontextmanager
    async def _transaction(self, *, durable: bool) -> AsyncIterator[None]:
        """BEGIN IMMEDIATE ... COMMIT with FULL or NORMAL sync, rolled back on any error.

        The caller holds ``_lock``.
        """
        if durable:
            await self._db.execute("PRAGMA synchronous = FULL")
        try:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                await self._db.execute("COMMIT")
            except BaseException:
                await self._rollback()
                raise
        finally:
            if durable:
                await self._db.execute("PRAGMA synchronous = NORMAL")

    async def _rollback(self) -> None:
        # SQLite may already have rolled back (SQLITE_FULL can), or COMMIT went through
        # before a cancellation reached us: then there is nothing to roll back.
        with contextlib.suppress(sqlite3.OperationalError):
            await self._db.execute("ROLLBACK")

    async def _remember_last_id(self) -> None:
        # Before rows are removed: the highest id and the newest interval end must survive
        # the removal of their rows (a set-aside store's ids are read back from them, and
        # the clock is held above the newest end).
        await self._db.execute(
            "UPDATE meta SET value = max(value, coalesce((SELECT max(message_id) FROM outbox),"
            " 0)) WHERE key = 'last_id'"
        )
        await self._db.execute(
            "UPDATE meta SET value = max(value, ?) WHERE key = 'newest_interval_end'",
            (self.newest_interval_end,),
        )

    async def _bump(self, key: str, count: int) -> None:
        await self._db.execute("UPDATE meta SET value = value + ? WHERE key = ?", (count, key))

    async def _pragma(self, name: str) -> int:
        return await self._scalar(f"PRAGMA {name}")

    async def _scalar(self, sql: str) -> int:
        rows = list(await self._db.execute_fetchall(sql))
        return int(rows[0][0])


def id_mark_path(store: Path) -> Path:
    """The message id mark beside the store file (``store.sqlite.ids``)."""
    return Path(f"{store}.ids")


def _decode_rows(rows: list[sqlite3.Row]) -> list[OutboxRow]:
    return [
        OutboxRow(
            message_id=int(r[0]),
            tenant=str(r[1]),
            kind=str(r[2]),
            created_at=float(r[3]),
            interval_end=None if r[4] is None else float(r[4]),
            document=codec.decode(bytes(r[6])),
            attempts=int(r[5]),
        )
        for r in rows
    ]
