"""What the store refuses waits in memory, bounded and counted, and is stored in order once
the store takes writes again (decision 0006, "Write errors at run time")."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, cast

from concentratord.store import OutboxItem, Store, StoreFullError, StoreUnwritableError
from concentratord.store_writer import StoreWriter
from concentratord.unstored import Unstored, UnstoredItems


class FlakyStore:
    """Takes items while ``error`` is None; raises it otherwise."""

    def __init__(self) -> None:
        self.error: Exception | None = None
        self.stored: list[tuple[tuple[OutboxItem, ...], Mapping[str, frozenset[str]] | None]] = []

    async def enqueue(
        self,
        items: Sequence[OutboxItem],
        *,
        meter_status: Mapping[str, frozenset[str]] | None = None,
    ) -> list[int]:
        if self.error is not None:
            raise self.error
        self.stored.append((tuple(items), meter_status))
        return list(range(len(items)))


def alarm(n: int) -> OutboxItem:
    return OutboxItem("a", "alarm", float(n), {"n": n})


def batch(n: int) -> OutboxItem:
    return OutboxItem("a", "readings", float(n), {"n": n}, interval_end=float(n))


class Events:
    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []

    def raised(self, name: str, _detail: str) -> None:
        self.log.append(("raised", name))

    def cleared(self, name: str, _detail: str) -> None:
        self.log.append(("cleared", name))


def writer(store: FlakyStore, events: Events, **kwargs: Any) -> StoreWriter:
    return StoreWriter(
        cast(Store, store),
        stored=lambda _tenants: None,
        raised=events.raised,
        cleared=events.cleared,
        **kwargs,
    )


def test_an_alarm_the_store_refuses_is_stored_with_its_flags_once_it_can_be() -> None:
    async def main() -> tuple[FlakyStore, Events, StoreWriter]:
        store, events = FlakyStore(), Events()
        w = writer(store, events)
        store.error = StoreFullError("full")
        assert await w.enqueue([alarm(1)], {"m": frozenset({"LEAK"})}) is False
        store.error = None
        assert await w.flush() is True
        return store, events, w

    store, events, w = asyncio.run(main())
    assert store.stored == [((alarm(1),), {"m": frozenset({"LEAK"})})]
    assert events.log == [("raised", "STORE_FULL"), ("cleared", "STORE_FULL")]
    assert w.unstored.counters.store_failures == {"alarm": 1, "readings": 0}


def test_an_unwritable_store_raises_store_unwritable_once() -> None:
    async def main() -> Events:
        store, events = FlakyStore(), Events()
        w = writer(store, events)
        store.error = StoreUnwritableError("read-only")
        for n in range(3):
            await w.enqueue([batch(n)])
        await w.flush()
        return events

    assert asyncio.run(main()).log == [("raised", "STORE_UNWRITABLE")]


def test_items_behind_waiting_ones_wait_too_so_the_order_is_kept() -> None:
    async def main() -> FlakyStore:
        store, events = FlakyStore(), Events()
        w = writer(store, events)
        store.error = StoreFullError("full")
        await w.enqueue([batch(1)])
        store.error = None
        assert await w.enqueue([batch(2)]) is False  # behind batch 1
        await w.flush()
        return store

    assert [items for items, _ in asyncio.run(main()).stored] == [(batch(1),), (batch(2),)]


def test_waiting_alarms_are_stored_before_waiting_batches() -> None:
    async def main() -> FlakyStore:
        store, events = FlakyStore(), Events()
        w = writer(store, events)
        store.error = StoreFullError("full")
        await w.enqueue([batch(1)])
        await w.enqueue([alarm(2)])
        store.error = None
        await w.flush()
        return store

    assert [items for items, _ in asyncio.run(main()).stored] == [(alarm(2),), (batch(1),)]


def test_memory_drops_the_oldest_batches_past_the_bound_and_counts_them() -> None:
    room = UnstoredItems(max_alarms=2, max_batches=2)
    for n in range(5):
        room.refused(Unstored((batch(n),)))
    room.refused(Unstored((alarm(9),)))
    assert room.waiting() == {"alarm": 1, "readings": 2}
    assert room.counters.dropped == {"alarm": 0, "readings": 3}
    assert room.counters.store_failures == {"alarm": 1, "readings": 5}


def test_a_flood_of_batches_never_pushes_out_an_alarm() -> None:
    room = UnstoredItems(max_alarms=2, max_batches=2)
    room.refused(Unstored((alarm(1),)))
    for n in range(100):
        room.refused(Unstored((batch(n),)))
    assert room.first() == Unstored((alarm(1),))


def test_memory_drops_the_oldest_alarm_past_the_alarm_bound() -> None:
    room = UnstoredItems(max_alarms=2, max_batches=2)
    for n in range(3):
        room.refused(Unstored((alarm(n),)))
    assert room.first() == Unstored((alarm(1),))
    assert room.counters.dropped == {"alarm": 1, "readings": 0}
