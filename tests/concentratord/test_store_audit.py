"""The audit trail's table: durable, read by time, bounded in bytes and age."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from concentratord.store import RetentionPolicy, Store

DAY = 86_400.0


def entry(t: float, action: str = "keys import", **extra: Any) -> dict[str, Any]:
    return {
        "time": t,
        "event": "change",
        "user": "alice",
        "computer": "gw/local",
        "action": action,
        "args": extra,
        "outcome": "done",
    }


def run(path: Path, body: Any, **kw: Any) -> Any:
    async def main() -> Any:
        store = await Store.open(
            path, max_bytes=kw.pop("max_bytes", 64 << 20), backfill_s=0.0, **kw
        )
        try:
            return await body(store)
        finally:
            await store.close()

    return asyncio.run(main())


def test_entries_survive_a_reopen_in_order(tmp_path: Path) -> None:
    async def write(store: Store) -> None:
        for t in (1.0, 2.0, 3.0):
            await store.audit.append(entry(t, f"action {t}"))

    async def read(store: Store) -> list[str]:
        return [e["action"] for e in await store.audit.between(None, None)]

    run(tmp_path / "s.sqlite", write)
    assert run(tmp_path / "s.sqlite", read) == ["action 1.0", "action 2.0", "action 3.0"]


def test_between_takes_since_inclusive_and_until_exclusive(tmp_path: Path) -> None:
    async def body(store: Store) -> list[float]:
        for t in (1.0, 2.0, 3.0, 4.0):
            await store.audit.append(entry(t))
        return [e["time"] for e in await store.audit.between(2.0, 4.0)]

    assert run(tmp_path / "s.sqlite", body) == [2.0, 3.0]


def test_the_oldest_entries_go_when_over_the_share_of_the_quota(tmp_path: Path) -> None:
    async def body(store: Store) -> tuple[int, list[dict[str, Any]]]:
        for t in range(200):
            await store.audit.append(entry(float(t), note="x" * 100))
        return store.audit.max_bytes, await store.audit.between(None, None)

    cap, kept = run(tmp_path / "s.sqlite", body, max_bytes=2 << 20, audit_share=0.002)
    assert cap == int((2 << 20) * 0.002)
    assert 0 < len(kept) < 200
    assert kept[-1]["time"] == 199.0  # the newest stays
    assert sum(len(str(e)) for e in kept) <= cap * 1.2


def test_retention_expires_entries_past_the_daily_horizon(tmp_path: Path) -> None:
    policy = RetentionPolicy(raw_keep_s=DAY, daily_keep_s=10 * DAY)

    async def body(store: Store) -> tuple[dict[str, int], list[float]]:
        await store.audit.append(entry(0.0))
        await store.audit.append(entry(15 * DAY))
        result = await store.apply_retention(now=20 * DAY)
        return result, [e["time"] for e in await store.audit.between(None, None)]

    result, kept = run(tmp_path / "s.sqlite", body, retention=policy)
    assert result["audit_expired"] == 1
    assert kept == [15 * DAY]


def test_an_oversized_entry_is_kept_with_its_arguments_cut(tmp_path: Path) -> None:
    async def body(store: Store) -> list[dict[str, Any]]:
        await store.audit.append(entry(1.0, meters=["12345678"] * 2000))
        return await store.audit.between(None, None)

    (kept,) = run(tmp_path / "s.sqlite", body)
    assert kept["args"] == {"truncated": True}
    assert kept["user"] == "alice"
