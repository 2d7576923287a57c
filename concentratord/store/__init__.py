"""The gateway's SQLite store: the outbox of alarms and interval values.

The design is docs/design.md, "The pipeline" (step 5, Store) and docs/decisions/0006.

``Store.open(path, max_bytes=..., backfill_s=..., retention=RetentionPolicy())`` gives an
outbox whose rows are durable when ``enqueue`` returns, leave the queue only by
``mark_delivered`` (the broker's PUBACK), and are removed only by retention (delivered rows
past their horizon) or the disk quota (oldest bulk first, counted; alarms last).
"""

from concentratord.store.idmark import ID_BLOCK, ID_SAFETY_GAP, IdMarkError, MessageIds
from concentratord.store.model import (
    KINDS,
    Kind,
    OutboxItem,
    OutboxRow,
    RetentionPolicy,
    StoreFullError,
    StoreUnwritableError,
    StoreWriteError,
)
from concentratord.store.outbox import Store, id_mark_path
from concentratord.store.schema import CorruptStoreError

__all__ = [
    "ID_BLOCK",
    "ID_SAFETY_GAP",
    "KINDS",
    "CorruptStoreError",
    "IdMarkError",
    "Kind",
    "MessageIds",
    "OutboxItem",
    "OutboxRow",
    "RetentionPolicy",
    "Store",
    "StoreFullError",
    "StoreUnwritableError",
    "StoreWriteError",
    "id_mark_path",
]
