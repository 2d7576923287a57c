"""Message ids survive everything: the mark file beside the store, restarts, a store set
aside as corrupt, a store that cannot be written (decision 0006)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from concentratord.store import (
    ID_BLOCK,
    ID_SAFETY_GAP,
    IdMarkError,
    MessageIds,
    Store,
    StoreFullError,
    StoreUnwritableError,
    id_mark_path,
)
from concentratord.store.idmark import IdMark
from tests.concentratord.store_helpers import MiB, alarm, reading, with_store
from tests.fs_faults import fill, immutable, small_tmpfs


def test_a_new_mark_reads_as_zero(tmp_path: Path) -> None:
    mark = IdMark.read(tmp_path / "s.sqlite.ids")
    assert (mark.ceiling, mark.trusted) == (0, True)


def test_a_raised_mark_is_read_back(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite.ids"
    mark = IdMark.read(path)
    for ceiling in (1_000, 2_000, 3_000):
        mark.raise_to(ceiling)
    assert IdMark.read(path).ceiling == 3_000


def test_a_mark_is_never_lowered(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite.ids"
    mark = IdMark.read(path)
    mark.raise_to(5_000)
    mark.raise_to(10)
    assert IdMark.read(path).ceiling == 5_000


def test_a_torn_slot_falls_back_to_the_other_slot(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite.ids"
    mark = IdMark.read(path)
    mark.raise_to(1_000)
    mark.raise_to(2_000)
    raw = bytearray(path.read_bytes())
    newest = 0 if raw[:64].split()[1] > raw[64:128].split()[1] else 64
    raw[newest + 10 : newest + 20] = b"\xff" * 10  # the write of 2,000 torn by a power cut
    path.write_bytes(bytes(raw))
    # No id above 1,000 was handed out before the write of 2,000 had returned.
    assert IdMark.read(path).ceiling == 1_000


def test_an_unreadable_mark_is_not_trusted(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite.ids"
    path.write_bytes(b"garbage" * 20)
    assert IdMark.read(path).trusted is False


def test_ids_are_taken_only_under_the_durable_mark(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite.ids"
    ids = MessageIds(IdMark.read(path), first=1)
    taken = [ids.take()[0] for _ in range(3 * ID_BLOCK + 7)]
    assert taken == list(range(1, 3 * ID_BLOCK + 8))
    assert IdMark.read(path).ceiling >= taken[-1]


def test_a_burst_of_ids_never_runs_out(tmp_path: Path) -> None:
    ids = MessageIds(IdMark.read(tmp_path / "s.sqlite.ids"), first=1)
    taken = [ids.take()[0] for _ in range(100_000)]
    assert len(set(taken)) == 100_000 and taken == sorted(taken)


def test_no_id_is_handed_out_when_the_mark_cannot_be_written(tmp_path: Path) -> None:
    ids = MessageIds(IdMark.read(tmp_path / "missing-dir" / "s.sqlite.ids"), first=1)
    with pytest.raises(IdMarkError):
        ids.take()
    with pytest.raises(IdMarkError):
        ids.take()


def test_a_restart_continues_above_ids_given_to_unstored_documents(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"

    async def before(store: Store) -> int:
        await store.enqueue([alarm(1)])
        return store.ids.take(5)[-1]  # e.g. replies: no row in the store

    last_reply = with_store(path, before)
    [after] = with_store(path, lambda s: s.enqueue([alarm(2)]))
    assert after > last_reply


def test_a_recovered_store_starts_above_every_id_before_it(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"

    async def fill_up(store: Store) -> int:
        last = 0
        for n in range(300):
            [last] = await store.enqueue([reading(n)])
        return last

    last = with_store(path, fill_up)
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size // 2)
    [first] = with_store(path, lambda s: s.enqueue([alarm(1)]))
    assert first > last + ID_SAFETY_GAP


def test_a_recovered_store_starts_above_the_set_aside_store_without_a_mark(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.sqlite"

    async def fill_up(store: Store) -> int:
        last = 0
        for n in range(50):
            [last] = await store.enqueue([reading(n)])
        return last

    last = with_store(path, fill_up)
    id_mark_path(path).unlink()  # lost with the card's bad sectors, say
    # A damaged page the quick check finds (the documents' b-tree root), the rest readable.
    db = sqlite3.connect(path)
    [(root,)] = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'document'")
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    with path.open("r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(b"\xa5" * page_size)

    async def body(store: Store) -> tuple[Path | None, list[int]]:
        return store.recovered_from, await store.enqueue([alarm(1)])

    recovered, [first] = with_store(path, body)
    assert recovered is not None
    assert first > last


def test_an_immutable_wal_is_unwritable_not_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    ids = _stored_then_killed(path)
    wal = Path(f"{path}-wal")
    assert wal.stat().st_size > 0
    with immutable(wal):
        with pytest.raises(StoreUnwritableError, match="cannot be written"):
            with_store(path, lambda s: s.pending(10))
        assert not list(tmp_path.glob("*corrupt*"))
    rows = with_store(path, lambda s: s.pending(10))
    assert [r.message_id for r in rows] == ids


# A process that dies without closing leaves its rows in the WAL, as a power cut would.
_KILLED = """
import asyncio, os, sys
from concentratord.store import OutboxItem, Store
async def main():
    store = await Store.open(sys.argv[1], max_bytes=64 << 20, backfill_s=0)
    items = [OutboxItem(tenant="a", kind="alarm", created_at=1.0, document={"n": n})
             for n in range(2)]
    print(" ".join(map(str, await store.enqueue(items))), flush=True)
    os._exit(0)
asyncio.run(main())
"""


def _stored_then_killed(path: Path) -> list[int]:
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", _KILLED, str(path)], cwd=root, capture_output=True, check=True
    )
    return [int(x) for x in out.stdout.split()]


def test_a_full_file_system_is_reported_as_store_full(tmp_path: Path) -> None:
    with small_tmpfs(2 * MiB) as mount:
        path = mount / "s.sqlite"

        async def body(store: Store) -> None:
            await store.enqueue([alarm(1)])
            fill(mount)
            with pytest.raises(StoreFullError):
                for n in range(2_000):
                    await store.enqueue([reading(n)] * 20)

        with_store(path, body, max_bytes=64 * MiB)


def test_a_write_error_is_not_a_sqlite_error(tmp_path: Path) -> None:
    # The daemon handles StoreWriteError; a raw sqlite3 error would escape it.
    assert not issubclass(StoreUnwritableError, sqlite3.Error)
