"""The disk quota: the file stays within max_bytes, the oldest bulk goes first, counted;
alarms go last and only when no bulk row is left."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from concentratord.store import OutboxItem, Store, StoreFullError
from tests.concentratord.store_helpers import with_store

# These tests are sized in pages: 64 pages of 4 KiB.
PAGE = 4096
QUOTA = 64 * PAGE


def bulk(n: int) -> OutboxItem:
    # Random hex does not compress below ~half: each row costs about 2 KiB of pages.
    noise = random.Random(n).randbytes(2_000).hex()
    return OutboxItem(
        tenant="a", kind="readings", created_at=float(n), interval_end=float(n),
        document={"n": n, "noise": noise},
    )  # fmt: skip


def alarm(n: int, size: int = 16) -> OutboxItem:
    noise = random.Random(-n).randbytes(size).hex()
    return OutboxItem(tenant="a", kind="alarm", created_at=float(n), document={"n": n, "x": noise})


async def _numbers(store: Store) -> list[tuple[str, int]]:
    return [(r.kind, r.document["n"]) for r in await store.pending(10_000)]


def test_store_never_grows_beyond_max_bytes(tmp_path: Path) -> None:
    async def body(store: Store) -> dict[str, Any]:
        for n in range(300):
            await store.enqueue([bulk(n)])
        return await store.stats()

    stats = with_store(tmp_path / "s.sqlite", body, max_bytes=QUOTA, page_size=PAGE)
    assert stats["page_count"] * stats["page_size"] <= QUOTA
    assert stats["quota_hits"] > 0


def test_quota_drops_the_oldest_undelivered_bulk_first_and_counts_it(tmp_path: Path) -> None:
    async def body(store: Store) -> tuple[list[tuple[str, int]], dict[str, Any]]:
        for n in range(300):
            await store.enqueue([bulk(n)])
        return await _numbers(store), await store.stats()

    kept, stats = with_store(tmp_path / "s.sqlite", body, max_bytes=QUOTA, page_size=PAGE)
    numbers = [n for _, n in kept]
    assert numbers == list(range(300 - len(numbers), 300))  # a suffix: the newest survive
    assert stats["dropped_bulk"] == 300 - len(numbers) > 0
    assert stats["dropped_alarms"] == 0


def test_quota_removes_delivered_rows_before_undelivered_ones(tmp_path: Path) -> None:
    async def body(store: Store) -> tuple[list[int], list[int], dict[str, Any]]:
        delivered = []
        for n in range(40):  # ~4 KiB of pages each: fits without a drop
            delivered += await store.enqueue([bulk(n)])
        await store.mark_delivered(delivered, 1.0)
        undelivered = []
        for n in range(40, 120):
            undelivered += await store.enqueue([bulk(n)])
        pending = [r.message_id for r in await store.pending(1_000)]
        return undelivered, [m for m in undelivered if m not in pending], await store.stats()

    undelivered, lost, stats = with_store(
        tmp_path / "s.sqlite", body, max_bytes=QUOTA, page_size=PAGE
    )
    assert lost  # the quota was reached with the delivered rows gone
    assert stats["evicted_delivered"] == 40
    assert stats["dropped_bulk"] == len(lost)
    assert lost == undelivered[: len(lost)]  # the oldest of them


def test_quota_keeps_every_alarm_while_bulk_rows_remain(tmp_path: Path) -> None:
    async def body(store: Store) -> tuple[list[tuple[str, int]], dict[str, Any]]:
        for n in range(20):  # the oldest rows of all are alarms
            await store.enqueue([alarm(n)])
        for n in range(20, 400):
            await store.enqueue([bulk(n)])
            await store.enqueue([alarm(10_000 + n)])
        return await _numbers(store), await store.stats()

    kept, stats = with_store(tmp_path / "s.sqlite", body, max_bytes=QUOTA, page_size=PAGE)
    alarms = [n for kind, n in kept if kind == "alarm"]
    assert alarms == list(range(20)) + [10_000 + n for n in range(20, 400)]
    assert stats["dropped_alarms"] == 0
    assert stats["dropped_bulk"] > 0


def test_quota_drops_the_oldest_alarms_once_no_bulk_is_left(tmp_path: Path) -> None:
    async def body(store: Store) -> tuple[list[tuple[str, int]], dict[str, Any]]:
        await store.enqueue([bulk(0)])
        for n in range(1, 200):
            await store.enqueue([alarm(n, size=1_500)])
        return await _numbers(store), await store.stats()

    kept, stats = with_store(tmp_path / "s.sqlite", body, max_bytes=QUOTA, page_size=PAGE)
    numbers = [n for _, n in kept]
    assert ("readings", 0) not in kept
    assert numbers == list(range(200 - len(numbers), 200))
    assert stats["dropped_bulk"] == 1
    assert stats["dropped_alarms"] == 199 - len(numbers) > 0


def test_quota_counters_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"

    async def fill(store: Store) -> int:
        for n in range(300):
            await store.enqueue([bulk(n)])
        return int((await store.stats())["dropped_bulk"])

    async def read(store: Store) -> int:
        return int((await store.stats())["dropped_bulk"])

    dropped = with_store(path, fill, max_bytes=QUOTA)
    assert with_store(path, read, max_bytes=QUOTA) == dropped > 0


def test_an_item_larger_than_the_quota_is_refused_with_store_full(tmp_path: Path) -> None:
    huge = OutboxItem(
        tenant="a", kind="readings", created_at=0.0,
        document={"noise": random.Random(1).randbytes(400_000).hex()},
    )  # fmt: skip

    async def body(store: Store) -> None:
        await store.enqueue([huge])

    with pytest.raises(StoreFullError):
        with_store(tmp_path / "s.sqlite", body, max_bytes=QUOTA, page_size=PAGE)
