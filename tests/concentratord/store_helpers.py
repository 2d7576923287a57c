"""Store test helpers: open a real SQLite store, run a body on it, close it; sample items.

Shared by the store tests of this folder (tests/concentratord/test_store*.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from concentratord.store import OutboxItem, Store

T = TypeVar("T")
DAY = 86_400.0
MiB = 1024 * 1024


def with_store(path: Path, body: Callable[[Store], Awaitable[T]], **kwargs: Any) -> T:
    """Open the store at ``path``, run ``body`` on it, close it."""

    async def go() -> T:
        options: dict[str, Any] = {"max_bytes": 64 * MiB, "backfill_s": 30 * DAY}
        options.update(kwargs)
        store = await Store.open(path, **options)
        try:
            return await body(store)
        finally:
            await store.close()

    return asyncio.run(go())


def reading(n: int, t: float = 1_000.0, tenant: str = "a", interval: str = "hourly") -> OutboxItem:
    return OutboxItem(
        tenant=tenant,
        kind="readings",
        created_at=t,
        interval_end=t,
        interval=interval,
        document={"interval": interval, "values": [{"id": f"{n:08d}", "total_m3": n / 8}]},
    )


def alarm(n: int, t: float = 1_000.0, tenant: str = "a") -> OutboxItem:
    return OutboxItem(tenant=tenant, kind="alarm", created_at=t, document={"alarm": n})
