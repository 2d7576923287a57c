"""Meters' last status flags in the store: what lets a restarted daemon tell a new alarm
from one it has already reported (docs/design.md, "The pipeline", step 3, Alarms)."""

from __future__ import annotations

from pathlib import Path

import pytest

from concentratord.store import OutboxItem, Store
from tests.concentratord.store_helpers import DAY, with_store

LEAK = frozenset({"LEAK"})


def alarm() -> OutboxItem:
    return OutboxItem(tenant="a", kind="alarm", created_at=1_000.0, document={"status": "LEAK"})


def test_a_new_store_knows_no_meter_status(tmp_path: Path) -> None:
    async def body(store: Store) -> dict[str, frozenset[str]]:
        return await store.meter_status()

    assert with_store(tmp_path / "s.sqlite", body, backfill_s=DAY) == {}


def test_meter_status_survives_reopening(tmp_path: Path) -> None:
    async def write(store: Store) -> None:
        status = {"76348799": frozenset({"LEAK", "BURST"}), "1": frozenset[str]()}
        await store.enqueue([alarm()], meter_status=status)

    async def read(store: Store) -> dict[str, frozenset[str]]:
        return await store.meter_status()

    with_store(tmp_path / "s.sqlite", write, backfill_s=DAY)
    assert with_store(tmp_path / "s.sqlite", read, backfill_s=DAY) == {
        "76348799": frozenset({"BURST", "LEAK"}),
        "1": frozenset(),
    }


def test_a_later_status_replaces_the_earlier_one(tmp_path: Path) -> None:
    async def body(store: Store) -> dict[str, frozenset[str]]:
        await store.enqueue([alarm()], meter_status={"76348799": LEAK})
        await store.enqueue([alarm()], meter_status={"76348799": frozenset()})
        return await store.meter_status()

    assert with_store(tmp_path / "s.sqlite", body, backfill_s=DAY) == {"76348799": frozenset()}


def test_enqueue_stores_the_meter_status_with_the_alarm(tmp_path: Path) -> None:
    async def body(store: Store) -> tuple[int, dict[str, frozenset[str]]]:
        await store.enqueue([alarm()], meter_status={"76348799": LEAK})
        return len(await store.pending(10)), await store.meter_status()

    assert with_store(tmp_path / "s.sqlite", body, backfill_s=DAY) == (1, {"76348799": LEAK})


def test_a_refused_enqueue_stores_no_meter_status(tmp_path: Path) -> None:
    bad = OutboxItem(tenant="a", kind="nonsense", created_at=0.0, document={})  # type: ignore[arg-type]

    async def body(store: Store) -> dict[str, frozenset[str]]:
        with pytest.raises(ValueError):
            await store.enqueue([bad], meter_status={"76348799": LEAK})
        return await store.meter_status()

    assert with_store(tmp_path / "s.sqlite", body, backfill_s=DAY) == {}
