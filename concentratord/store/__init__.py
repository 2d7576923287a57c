"""The gateway's SQLite store: the outbox of alarms and interval values (DESIGN.md §3.5).

``Store.open(path, max_bytes=..., backfill_s=..., retention=RetentionPolicy())`` gives an
outbox whose rows are durable when ``enqueue`` returns, leave the queue only by
``mark_delivered`` (the broker's PUBACK), and are removed only by retention (delivered rows
past their horizon) or the disk quota (oldest bulk first, counted; alarms last).
"""

from concentratord.store.model import (
    KINDS,
    Kind,
    OutboxItem,
    OutboxRow,
    RetentionPolicy,
    StoreFullError,
)
from concentratord.store.outbox import Store
from concentratord.store.schema import CorruptStoreError

__all__ = [
    "KINDS",
    "CorruptStoreError",
    "Kind",
    "OutboxItem",
    "OutboxRow",
    "RetentionPolicy",
    "Store",
    "StoreFullError",
]
