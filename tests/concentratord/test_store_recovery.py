"""Start-up checks and crashes: a corrupt file is moved aside, and kill -9 at random moments
loses no row whose enqueue had returned."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from concentratord.store import ID_SAFETY_GAP, OutboxItem, Store
from tests.concentratord.store_helpers import reading, with_store

ROOT = Path(__file__).resolve().parents[2]
KILLS = 55
SEED = 20_261_127


async def _one(store: Store) -> list[int]:
    return await store.enqueue([reading(1)])


async def _everything(store: Store) -> dict[str, Any]:
    return {"pending": await store.pending(100), "stats": await store.stats()}


def test_healthy_file_is_reopened_as_is(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with_store(path, _one)
    again = with_store(path, _everything)
    assert again["stats"]["recovered_from"] is None
    assert len(again["pending"]) == 1


def test_garbage_file_is_moved_aside_and_a_fresh_store_started(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    garbage = b"this is not an SQLite database\n" * 500
    path.write_bytes(garbage)

    async def body(store: Store) -> tuple[Path | None, list[int]]:
        return store.recovered_from, await store.enqueue([reading(1)])

    recovered, ids = with_store(path, body)
    assert recovered == tmp_path / "s.sqlite.corrupt-1"
    assert recovered.read_bytes() == garbage
    assert ids == [ID_SAFETY_GAP + 1]  # above every id a lost store may have handed out


def test_truncated_file_fails_quick_check_and_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"

    async def fill(store: Store) -> None:
        for n in range(200):
            await store.enqueue([reading(n)])

    with_store(path, fill)
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.truncate(size // 2)

    async def body(store: Store) -> tuple[Path | None, int, str | None]:
        stats = await store.stats()
        return store.recovered_from, stats["pending_total"], stats["recovered_from"]

    recovered, pending, reported = with_store(path, body)
    assert recovered == tmp_path / "s.sqlite.corrupt-1"
    assert reported == str(recovered)
    assert pending == 0  # a fresh store


def test_second_corruption_gets_the_next_free_name(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    for n in (1, 2):
        path.write_bytes(os.urandom(8192))
        recovered = with_store(path, _recovered)
        assert recovered == tmp_path / f"s.sqlite.corrupt-{n}"


async def _recovered(store: Store) -> Path | None:
    return store.recovered_from


# The child: enqueue in a loop (readings batches, an alarm every 4th), mark some delivered,
# and print "<message id> <run> <seq>" after each enqueue has returned, flushed.
CHILD = """
import asyncio, sys
from concentratord.store import ID_SAFETY_GAP, OutboxItem, Store

async def main(path, run):
    store = await Store.open(path, max_bytes=64 << 20, backfill_s=86400.0)
    print("ready", flush=True)
    seq = 0
    while True:
        seq += 1
        kind = "alarm" if seq % 4 == 0 else "readings"
        values = [{"id": f"{m:08d}", "total_m3": seq + m / 1000} for m in range(200)]
        item = OutboxItem(tenant="a", kind=kind, created_at=float(seq),
                          document={"run": run, "seq": seq, "values": values})
        [mid] = await store.enqueue([item])
        print(mid, run, seq, flush=True)
        if seq % 3 == 0:
            await store.mark_delivered([mid], float(seq))

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def test_sigkill_at_random_moments_loses_no_committed_row(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    rng = random.Random(SEED)
    reported: list[tuple[int, int, int]] = []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for run in range(KILLS):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), str(run)],
            stdout=subprocess.PIPE, env=env, cwd=ROOT,
        )  # fmt: skip
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.0, 0.12))
        child.send_signal(signal.SIGKILL)
        out = child.stdout.read()
        child.wait()
        assert child.returncode == -signal.SIGKILL
        for line in out.split(b"\n")[:-1]:  # the last piece may be a torn line
            mid, run_no, seq = (int(x) for x in line.split())
            reported.append((mid, run_no, seq))

    async def read_back(store: Store) -> dict[int, tuple[int, int]]:
        rows = await store.pending(1_000_000)
        rows += await store.delivered_between("a", 0.0, 1e12)
        assert store.recovered_from is None
        return {r.message_id: (r.document["run"], r.document["seq"]) for r in rows}

    stored = with_store(path, read_back)
    assert len(reported) > KILLS  # the children did write between kills
    missing = [r for r in reported if stored.get(r[0]) != (r[1], r[2])]
    assert missing == []
    ids = [mid for mid, _, _ in reported]
    assert ids == sorted(set(ids))  # monotonic across restarts, never reused


def test_item_document_is_not_mutated_by_enqueue(tmp_path: Path) -> None:
    item = OutboxItem(tenant="a", kind="event", created_at=0.0, document={"e": [1, 2]})
    with_store(tmp_path / "s.sqlite", lambda store: store.enqueue([item]))
    assert item.document == {"e": [1, 2]}
