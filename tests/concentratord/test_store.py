"""The outbox on a real SQLite file: order, ids, delivery, backfill, retention, encoding."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from concentratord.store import OutboxItem, RetentionPolicy, Store, codec
from tests.concentratord.store_helpers import DAY, MiB, alarm, reading, with_store


def test_alarms_come_before_bulk_in_pending(tmp_path: Path) -> None:
    async def body(store: Store) -> list[str]:
        await store.enqueue([reading(1), reading(2)])
        await store.enqueue([alarm(3)])
        return [r.kind for r in await store.pending(10)]

    assert with_store(tmp_path / "s.sqlite", body) == ["alarm", "readings", "readings"]


def test_pending_is_oldest_first_within_a_priority(tmp_path: Path) -> None:
    async def body(store: Store) -> tuple[list[int], list[int]]:
        ids: list[int] = []
        for n in range(5):
            ids += await store.enqueue([reading(n)])
        return ids, [r.message_id for r in await store.pending(10)]

    ids, order = with_store(tmp_path / "s.sqlite", body)
    assert order == ids == sorted(ids)


def test_pending_limit_and_tenant_filter(tmp_path: Path) -> None:
    async def body(store: Store) -> tuple[int, list[str]]:
        await store.enqueue([reading(1, tenant="a"), reading(2, tenant="b"), alarm(3, tenant="b")])
        limited = len(await store.pending(1))
        return limited, [r.tenant for r in await store.pending(10, tenant="b")]

    assert with_store(tmp_path / "s.sqlite", body) == (1, ["b", "b"])


def test_pending_rows_carry_the_stored_document_and_fields(tmp_path: Path) -> None:
    async def body(store: Store) -> Any:
        [mid] = await store.enqueue([reading(7, t=3_600.0)])
        return mid, (await store.pending(1))[0]

    mid, row = with_store(tmp_path / "s.sqlite", body)
    assert (row.message_id, row.tenant, row.kind) == (mid, "a", "readings")
    assert (row.created_at, row.interval_end, row.attempts) == (3_600.0, 3_600.0, 0)
    assert row.document == reading(7).document


def test_message_ids_are_monotonic_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"

    async def enqueue_three(store: Store) -> list[int]:
        return await store.enqueue([reading(1), reading(2), alarm(3)])

    first = with_store(path, enqueue_three)
    second = with_store(path, enqueue_three)
    # Consecutive within a run; a restart continues above the durable mark (a gap).
    assert first == list(range(first[0], first[0] + 3))
    assert second == list(range(second[0], second[0] + 3))
    assert second[0] > first[-1]


def test_message_ids_are_not_reused_after_the_newest_rows_are_removed(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"

    async def fill_deliver_expire(store: Store) -> list[int]:
        ids = await store.enqueue([reading(1, t=0.0), reading(2, t=0.0)])
        await store.mark_delivered(ids, 1.0)
        await store.apply_retention(now=20 * 366 * DAY)  # removes every row
        return ids

    old = with_store(path, fill_deliver_expire, backfill_s=0.0)

    async def enqueue_one(store: Store) -> list[int]:
        return await store.enqueue([reading(3)])

    assert with_store(path, enqueue_one)[0] > max(old)


def test_a_row_stays_pending_until_marked_delivered(tmp_path: Path) -> None:
    async def body(store: Store) -> tuple[list[int], list[int], int]:
        ids = await store.enqueue([reading(1), reading(2)])
        await store.mark_attempt(ids)  # published, no PUBACK yet
        still = [r.message_id for r in await store.pending(10)]
        marked = await store.mark_delivered(ids[:1], 5.0)
        return still, [r.message_id for r in await store.pending(10)], marked

    still, after, marked = with_store(tmp_path / "s.sqlite", body)
    assert len(still) == 2
    assert after == still[1:]
    assert marked == 1


def test_mark_attempt_counts_publish_attempts(tmp_path: Path) -> None:
    async def body(store: Store) -> list[int]:
        ids = await store.enqueue([reading(1)])
        await store.mark_attempt(ids)
        await store.mark_attempt(ids)
        return [r.attempts for r in await store.pending(10)]

    assert with_store(tmp_path / "s.sqlite", body) == [2]


def test_delivered_between_returns_delivered_rows_of_the_tenant_in_range(tmp_path: Path) -> None:
    async def body(store: Store) -> list[float | None]:
        ids = await store.enqueue(
            [reading(n, t=n * 3_600.0) for n in range(6)] + [reading(9, t=7_200.0, tenant="b")]
        )
        await store.mark_delivered(ids[:5] + ids[6:], 99_999.0)  # ids[5] stays pending
        rows = await store.delivered_between("a", 3_600.0, 6 * 3_600.0)
        return [r.interval_end for r in rows]

    # [start, end): 3600 in, 18000 in, 21600 (ids[5]) undelivered anyway; tenant b excluded.
    assert with_store(tmp_path / "s.sqlite", body) == [3_600.0, 7_200.0, 10_800.0, 14_400.0]


def test_delivered_between_uses_created_at_when_there_is_no_interval_end(tmp_path: Path) -> None:
    async def body(store: Store) -> list[int]:
        ids = await store.enqueue([alarm(1, t=50.0), alarm(2, t=150.0)])
        await store.mark_delivered(ids, 200.0)
        return [r.document["alarm"] for r in await store.delivered_between("a", 100.0, 200.0)]

    assert with_store(tmp_path / "s.sqlite", body) == [2]


def test_retention_thins_hourly_to_daily_then_deletes(tmp_path: Path) -> None:
    policy = RetentionPolicy(raw_keep_s=100 * DAY, daily_keep_s=1_000 * DAY)
    now = 2_000 * DAY

    async def body(store: Store) -> tuple[dict[str, int], list[tuple[str, int]]]:
        items = [
            reading(1, t=now - 50 * DAY),  # hourly, young: kept
            reading(2, t=now - 200 * DAY),  # hourly, past raw: thinned
            reading(3, t=now - 200 * DAY, interval="daily"),  # daily, past raw: kept
            reading(4, t=now - 1_500 * DAY, interval="daily"),  # daily, past daily: deleted
            alarm(5, t=now - 200 * DAY),  # alarm, past raw: kept
            alarm(6, t=now - 1_500 * DAY),  # alarm, past daily: deleted
        ]
        ids = await store.enqueue(items)
        await store.mark_delivered(ids, now)
        result = await store.apply_retention(now)
        rows = await store.delivered_between("a", 0.0, now)
        return result, [(r.kind, _number(r.document)) for r in rows]

    result, kept = with_store(tmp_path / "s.sqlite", body, retention=policy, backfill_s=DAY)
    assert result == {"thinned": 1, "expired": 2, "audit_expired": 0}
    assert kept == [("readings", 1), ("readings", 3), ("alarm", 5)]


def test_retention_never_removes_undelivered_rows(tmp_path: Path) -> None:
    policy = RetentionPolicy(raw_keep_s=DAY, daily_keep_s=2 * DAY)

    async def body(store: Store) -> int:
        await store.enqueue([reading(1, t=0.0), alarm(2, t=0.0)])
        await store.apply_retention(now=100 * DAY)
        return len(await store.pending(10))

    assert with_store(tmp_path / "s.sqlite", body, retention=policy, backfill_s=0.0) == 2


def test_retention_keeps_everything_inside_the_backfill_window(tmp_path: Path) -> None:
    policy = RetentionPolicy(raw_keep_s=DAY, daily_keep_s=2 * DAY)

    async def body(store: Store) -> dict[str, int]:
        ids = await store.enqueue([reading(1, t=0.0), alarm(2, t=0.0)])
        await store.mark_delivered(ids, 1.0)
        return await store.apply_retention(now=5 * DAY)

    result = with_store(tmp_path / "s.sqlite", body, retention=policy, backfill_s=10 * DAY)
    assert result == {"thinned": 0, "expired": 0, "audit_expired": 0}


def test_stats_report_pending_per_tenant_and_kind_and_space(tmp_path: Path) -> None:
    async def body(store: Store) -> dict[str, Any]:
        ids = await store.enqueue([reading(1), reading(2, tenant="b"), alarm(3)])
        await store.mark_delivered(ids[1:2], 10.0)
        return await store.stats()

    stats = with_store(tmp_path / "s.sqlite", body, max_bytes=MiB)
    assert stats["pending"] == {"a": {"readings": 1, "alarm": 1}}
    assert (stats["pending_total"], stats["delivered"]) == (2, 1)
    assert (stats["dropped_bulk"], stats["dropped_alarms"]) == (0, 0)
    assert stats["max_page_count"] * stats["page_size"] == MiB
    assert stats["last_delivered_at"] == 10.0
    assert stats["recovered_from"] is None


def test_store_file_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"

    async def body(store: Store) -> None:
        await store.enqueue([reading(1)])

    with_store(path, body)
    assert path.read_bytes()[18:20] == b"\x02\x02"  # header: read/write version 2 = WAL


def test_unknown_kind_is_refused(tmp_path: Path) -> None:
    bad = OutboxItem(tenant="a", kind="nonsense", created_at=0.0, document={})  # type: ignore[arg-type]

    async def body(store: Store) -> None:
        await store.enqueue([bad])

    with pytest.raises(ValueError, match="nonsense"):
        with_store(tmp_path / "s.sqlite", body)


@pytest.mark.parametrize(
    "document",
    [
        {"values": [{"id": "00012345", "total_m3": 12.345, "n": 3, "ok": True}] * 3},
        {"values": [{"a": -0.0, "b": 1e-9}, {"a": 0.1, "b": float("inf")}]},
        {"values": [{"a": 1, "b": "x"}, {"b": "y", "a": 2}]},  # key order differs: row form
        {"values": [{"a": 1}, {"a": 1.5}, {"a": None}], "nested": {"l": [[1, 2], []]}},
        {"values": [{"id": "0123", "v": 2**70}, {"id": "12", "v": -1}]},
        {"big": [{"x": i / 1000, "id": f"{i:08d}"} for i in range(3_000)]},
        # Lists and objects in a table's cells come back as lists and dicts (cbor2 6 decodes
        # a tag's content to tuples and frozendicts).
        {"values": [{"id": "1", "l": ["a"], "m": {"k": [1]}}, {"id": "2", "l": [], "m": {}}]},
    ],
)
def test_codec_round_trips_exactly(document: dict[str, Any]) -> None:
    back = codec.decode(codec.encode(document))
    assert back == document
    assert repr(back) == repr(document)  # same types, key order and float signs


def test_a_stored_batch_with_nested_cells_can_be_published_as_json() -> None:
    from uplink.codecs import JsonCodec

    document = {"readings": [{"id": "1", "m": {"k": 1}}, {"id": "2", "m": {"k": 2}}]}
    stored = codec.decode(codec.encode(document))
    assert JsonCodec().decode(JsonCodec().encode(stored)) == document


def test_codec_refuses_an_unknown_format() -> None:
    with pytest.raises(ValueError, match="format"):
        codec.decode(b"\x02" + codec.encode({"a": 1})[1:])


def test_codec_packs_a_uniform_batch_compactly() -> None:
    values = [
        {"id": f"{70_000_000 + 37 * i:08d}", "total_m3": round(100 + i * 0.137, 3), "rssi": -70}
        for i in range(1_000)
    ]
    assert len(codec.encode({"values": values})) < 8 * len(values)


def _number(document: dict[str, Any]) -> int:
    if "alarm" in document:
        return int(document["alarm"])
    return int(document["values"][0]["id"])


def test_ids_taken_for_unstored_documents_are_never_handed_out_again(tmp_path: Path) -> None:
    async def main() -> tuple[range, list[int], list[int]]:
        store = await Store.open(tmp_path / "s.sqlite", max_bytes=16 << 20, backfill_s=0)
        first = await store.enqueue([_reserve_item()])
        taken = store.ids.take(10)
        await store.close()
        store = await Store.open(tmp_path / "s.sqlite", max_bytes=16 << 20, backfill_s=0)
        after = await store.enqueue([_reserve_item()])
        await store.close()
        return taken, first, after

    taken, first, after = asyncio.run(main())
    assert taken == range(first[0] + 1, first[0] + 11)
    assert after[0] > taken[-1]


def _reserve_item() -> OutboxItem:
    return OutboxItem(tenant="t", kind="alarm", created_at=1.0, document={"x": 1})
