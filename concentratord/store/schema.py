"""Opening the store file: pragmas, the integrity check, recovery from a corrupt file, DDL.

Why three tables instead of one (docs/decisions/0006-outbox-durability.md):

- ``outbox`` holds one small immutable row per message (what it is, whose, when). Scans of
  it for backfill and retention read a few dozen bytes per row, never the documents.
- ``document`` holds the compressed payload. It is written once and read when published.
- ``pending`` holds the undelivered state, keyed ``(priority, message_id)`` so that the
  queue order (alarms first, then oldest first) is the table's own order. Delivering a row
  deletes its small ``pending`` row; it never rewrites the outbox row or the document (an
  UPDATE rewrites a whole record, overflow pages of a large document included).
- ``meter_status`` holds each meter's last status flags, written in the transaction that
  stores the alarm event of their change: after a restart the pipeline compares with them,
  so a flag still set is not raised again and one cleared meanwhile is reported cleared.

There are no secondary indexes: each costs one more page written per commit, and the scans
that would use them (backfill, retention) are rare and read only the small rows.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

import aiosqlite

from concentratord.store.audit import DDL as AUDIT_DDL
from concentratord.store.model import StoreUnwritableError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

DDL = (
    """
CREATE TABLE IF NOT EXISTS outbox (
    message_id   INTEGER PRIMARY KEY,  -- assigned by the store, never reused (meta.last_id)
    tenant       TEXT NOT NULL,
    kind         TEXT NOT NULL,
    interval     TEXT,                 -- readings: 'daily', 'hourly', ... (retention)
    priority     INTEGER NOT NULL,
    created_at   REAL NOT NULL,
    interval_end REAL
);
CREATE TABLE IF NOT EXISTS document (
    message_id INTEGER PRIMARY KEY,
    body       BLOB NOT NULL            -- codec.encode(): format byte + zstd(columnar CBOR)
);
CREATE TABLE IF NOT EXISTS pending (
    priority   INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    tenant     TEXT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (priority, message_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blob (
    name TEXT PRIMARY KEY,              -- 'reception': the visibility statistics
    body BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meter_status (
    meter_id TEXT PRIMARY KEY,
    flags    TEXT NOT NULL              -- status flags set, sorted, space-separated; '' = OK
) WITHOUT ROWID;
"""
    + AUDIT_DDL
)

# Counters and marks kept in ``meta``; all survive restarts.
# ``newest_interval_end`` keeps the newest interval end ever stored once its rows are gone
# (retention, quota): the clock never labels an interval at or before it (decision 0006).
META_KEYS = (
    "last_id",
    "newest_interval_end",
    "dropped_bulk",
    "dropped_alarms",
    "evicted_delivered",
    "quota_hits",
)

# A checkpoint runs every 1,000 WAL pages (SQLite's default, ~4 MiB); afterwards the WAL file
# is cut back to this size, so the WAL never holds more than one large transaction plus
# this much on disk beyond the quota.
JOURNAL_SIZE_LIMIT = 4 * 1024 * 1024


# Only these primary result codes are a verdict of corruption; every other error (READONLY,
# IOERR, FULL, CANTOPEN, PERM, BUSY, ...) is about writing, and leaves the file in place.
_CORRUPT_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})


class CorruptStoreError(Exception):
    """The file failed ``PRAGMA quick_check`` or could not be read as a database."""


def is_corruption(exc: sqlite3.Error) -> bool:
    """Whether SQLite's error says the file is damaged (not merely unwritable)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _CORRUPT_CODES


def unwritable(path: Path, exc: sqlite3.Error) -> StoreUnwritableError:
    """A :class:`StoreUnwritableError` naming the file and SQLite's reason."""
    name = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
    return StoreUnwritableError(f"store {path} cannot be written: {exc} ({name})")


async def connect(path: Path, *, max_bytes: int, page_size: int) -> aiosqlite.Connection:
    """Open (or create) the store at ``path``, checked, configured and with its schema.

    Raises :class:`CorruptStoreError` when the file is unreadable as a database or fails
    quick_check, and :class:`StoreUnwritableError` when it is sound but cannot be written
    (the schema and counters are written at every open, so that is found out here).
    """
    try:
        # isolation_level=None: no implicit BEGIN; the store issues BEGIN IMMEDIATE itself.
        db = await aiosqlite.connect(path, isolation_level=None)
    except sqlite3.Error as exc:
        if is_corruption(exc):
            raise CorruptStoreError(str(exc)) from exc
        raise unwritable(path, exc) from exc
    try:
        await _configure(db, max_bytes=max_bytes, page_size=page_size)
    except CorruptStoreError:
        await db.close()
        raise
    except sqlite3.Error as exc:
        await db.close()
        if is_corruption(exc):
            raise CorruptStoreError(str(exc)) from exc
        raise unwritable(path, exc) from exc
    return db


async def _configure(db: aiosqlite.Connection, *, max_bytes: int, page_size: int) -> None:
    # One process owns the store. EXCLUSIVE, set before the first WAL access, keeps the WAL
    # index in heap memory instead of the mmapped -shm file, whose pages every commit dirties
    # and the kernel then writes back: measured, that was more than half the bytes written
    # per small commit. It also makes a second daemon on the same file fail to start
    # ("database is locked") instead of writing alongside.
    await db.execute("PRAGMA locking_mode = EXCLUSIVE")
    # page_size only takes effect on a new, empty file (before WAL is switched on).
    await db.execute(f"PRAGMA page_size = {int(page_size)}")
    mode = await _scalar(db, "PRAGMA journal_mode = WAL")
    if str(mode).lower() != "wal":
        raise CorruptStoreError(f"cannot switch to WAL (journal_mode is {mode})")
    result = await db.execute_fetchall("PRAGMA quick_check")
    problems = [str(r[0]) for r in result if r[0] != "ok"]
    if problems:
        raise CorruptStoreError("quick_check: " + "; ".join(problems[:5]))
    # NORMAL is the connection's default; enqueue of alarms and readings switches to FULL
    # for its own commit (see Store._write and the ADR).
    await db.execute("PRAGMA synchronous = NORMAL")
    await db.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
    actual_page_size = int(await _scalar(db, "PRAGMA page_size"))
    max_pages = max(16, max_bytes // actual_page_size)
    # Not persistent: set on every open. SQLite will not go below the current page count.
    await db.execute(f"PRAGMA max_page_count = {max_pages}")
    await db.executescript(DDL)
    await db.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (SCHEMA_VERSION,)
    )
    for key in META_KEYS:
        await db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, 0)", (key,))


async def _scalar(db: aiosqlite.Connection, sql: str) -> Any:
    rows = list(await db.execute_fetchall(sql))
    return rows[0][0] if rows else None


def move_aside(path: Path) -> Path:
    """Rename ``path`` and its -wal/-shm to ``path.corrupt-<n>`` (first free n); the new name.

    The -wal and -shm files keep SQLite's naming (``<name>-wal``) so that the moved copy can
    still be opened, with its WAL, for a post-mortem.
    """
    n = 1
    while _exists_any(Path(f"{path}.corrupt-{n}")):
        n += 1
    target = Path(f"{path}.corrupt-{n}")
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{path}{suffix}")
        if source.exists():
            os.replace(source, Path(f"{target}{suffix}"))
    _fsync_dir(path.parent)
    log.error("store %s failed its check; moved aside to %s, starting a fresh one", path, target)
    return target


def _exists_any(base: Path) -> bool:
    return any(Path(f"{base}{s}").exists() for s in ("", "-wal", "-shm"))


def _fsync_dir(directory: Path) -> None:
    # The renames must be durable before the fresh file's first commit is, or a power cut
    # could bring the corrupt file back under the store's name next to a fresh WAL.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def highest_known_id(store: Path) -> int:
    """The highest message id a (set-aside, possibly damaged) store file still shows: its
    highest row or its ``meta.last_id``; 0 when neither can be read.

    Read-only and best effort: a file that was corrupt may still answer these two small
    queries, which lets a recovered store start above ids the mark file may have missed.
    """
    highest = 0
    try:
        db = sqlite3.connect(f"{store.as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return 0
    try:
        for sql in (
            "SELECT max(message_id) FROM outbox",
            "SELECT value FROM meta WHERE key = 'last_id'",
        ):
            try:
                row = db.execute(sql).fetchone()
            except sqlite3.Error:
                continue
            if row is not None and isinstance(row[0], int):
                highest = max(highest, row[0])
    finally:
        db.close()
    return highest
