"""Storage benchmark: bytes written per meter-day, and the store's share of a backlog drain.

**Bytes per meter-day** (goal: under 1 KiB). A child process runs the store as the daemon
would for ``DAYS`` simulated days of Kamstrup water meters: every hour one enqueue of that
hour's batches (1,000 meter values per batch document), then the publisher's pending() and
mark_delivered(); at midnight one daily batch. The figure is the child's ``write_bytes``
from /proc/self/io (bytes it caused to be sent to the block layer: WAL appends, checkpoint
writes to the database file, fsyncs' partial pages), from before the open to after the close
(which checkpoints the WAL), divided by meters x days. It must run on a disk-backed file
system: on tmpfs write_bytes stays 0; the scenario refuses to run there.

**Drain** (goal: the whole drain under 60 s; this is the store's share of it). 7 days x 24
hourly batches x 30,000 meters are enqueued undelivered (not timed), then drained as the
publisher does, without the network: ``pending(limit)`` in order (documents decoded) and
``mark_delivered`` of what came back, until the queue is empty.

``python -m bench.disk`` prints the figures; ``bench.disk.main()`` returns them.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from concentratord.store import OutboxItem, Store

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "results" / "tmp"
METER_COUNTS = (1_000, 10_000, 30_000)
DAYS = 3
BATCH = 1_000  # meter values per readings document (one MQTT message)
DRAIN_METERS = 30_000
DRAIN_DAYS = 7
DRAIN_LIMIT = 50  # rows per pending() call: 50,000 meter values
GOAL_BYTES = 1024
GOAL_DRAIN_S = 60.0
MAX_BYTES = 2 * 1024**3
HOUR = 3600.0
T0 = 1_798_761_600.0  # 2027-01-01T00:00:00Z; the store never reads the clock itself


class Field:
    """A simulated field of Kamstrup water meters with stable ids and plausible values."""

    def __init__(self, meters: int, seed: int = 7) -> None:
        rng = random.Random(seed)
        self.rng = rng
        self.ids = [f"{i:08d}" for i in rng.sample(range(10_000_000, 99_999_999), meters)]
        self.total = [rng.uniform(5.0, 3_000.0) for _ in range(meters)]
        self.target = [round(t, 3) for t in self.total]
        self.rssi = [rng.randint(-105, -60) for _ in range(meters)]

    def batches(self, interval: str, end: float) -> list[OutboxItem]:
        """One interval's values as readings documents of up to BATCH meters each."""
        rng = self.rng
        end_iso = _iso(end)
        values: list[dict[str, Any]] = []
        for m, meter_id in enumerate(self.ids):
            if interval == "hourly":
                self.total[m] += rng.random() * 0.02  # up to 20 litres an hour
            heard = end - rng.uniform(1.0, 900.0)
            values.append(
                {
                    "id": meter_id,
                    "total_m3": round(self.total[m], 3),
                    "target_m3": self.target[m],
                    "status": "OK" if rng.random() > 0.01 else "LEAK",
                    "flow_temperature_c": rng.randint(6, 14),
                    "external_temperature_c": rng.randint(2, 25),
                    "rssi_dbm": self.rssi[m] + rng.randint(-2, 2),
                    "timestamp": _iso(heard),
                    "interval_end": end_iso,
                }
            )
        return [
            OutboxItem(
                tenant="utility",
                kind="readings",
                created_at=end,
                interval_end=end,
                interval=interval,
                document={
                    "gateway": "gw-0001",
                    "schema": 1,
                    "interval": interval,
                    "interval_end": end_iso,
                    "values": values[i : i + BATCH],
                },
            )
            for i in range(0, len(values), BATCH)
        ]


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _write_bytes() -> dict[str, int]:
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return {k: int(v) for k, v in fields.items()}


async def _simulate(path: Path, meters: int, days: int) -> dict[str, Any]:
    field = Field(meters)  # generated before the measurement starts
    before = _write_bytes()
    store = await Store.open(path, max_bytes=MAX_BYTES, backfill_s=30 * 86_400)
    for hour in range(1, days * 24 + 1):
        end = T0 + hour * HOUR
        items = field.batches("hourly", end)
        if hour % 24 == 0:
            items += field.batches("daily", end)
        await store.enqueue(items)
        rows = await store.pending(len(items))
        await store.mark_delivered([r.message_id for r in rows], end + 5.0)
        if hour % 24 == 0:
            await store.apply_retention(end)
        # An hour is long enough for the kernel to write every dirty page back (it does so
        # after 30 s); without this, pages dirtied again before writeback would count once.
        os.sync()
    stats = await store.stats()
    await store.close()
    after = _write_bytes()
    delta = {k: after[k] - before[k] for k in ("write_bytes", "cancelled_write_bytes")}
    return {"meters": meters, "days": days, **delta, "file_bytes": stats["file_bytes"]}


def child(path: str, meters: int, days: int) -> None:
    """Entry point of the measuring child: one JSON line on stdout."""
    print(json.dumps(asyncio.run(_simulate(Path(path), meters, days))), flush=True)


def bytes_per_meter_day(meters: int, days: int = DAYS) -> dict[str, Any]:
    """Run the simulation in a child process on the disk-backed WORK directory."""
    directory = WORK / f"disk-{meters}"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    try:
        out = subprocess.run(
            [sys.executable, "-m", "bench.disk", "--child", str(directory / "store.sqlite"),
             str(meters), str(days)],
            cwd=ROOT, check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    result: dict[str, Any] = json.loads(out)
    result["bytes_per_meter_day"] = round(result["write_bytes"] / (meters * days))
    return result


async def drain(meters: int = DRAIN_METERS, days: int = DRAIN_DAYS) -> dict[str, Any]:
    """Fill a backlog of ``days`` of hourly batches, then time draining it."""
    directory = WORK / "drain"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    try:
        field = Field(meters)
        store = await Store.open(directory / "s.sqlite", max_bytes=MAX_BYTES, backfill_s=0)
        fill = time.perf_counter()
        for hour in range(1, days * 24 + 1):
            await store.enqueue(field.batches("hourly", T0 + hour * HOUR))
        fill = time.perf_counter() - fill
        rows_total = values = 0
        start = time.perf_counter()
        while rows := await store.pending(DRAIN_LIMIT):
            rows_total += len(rows)
            values += sum(len(r.document["values"]) for r in rows)
            await store.mark_delivered([r.message_id for r in rows], T0 + 8 * 86_400)
        elapsed = time.perf_counter() - start
        file_bytes = (await store.stats())["file_bytes"]
        await store.close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return {
        "meters": meters,
        "days": days,
        "rows": rows_total,
        "values": values,
        "fill_s": round(fill, 2),
        "drain_s": round(elapsed, 2),
        "file_bytes": file_bytes,
    }


def _filesystem(path: Path) -> str:
    out = subprocess.run(["stat", "-f", "-c", "%T", str(path)], capture_output=True, text=True)
    return out.stdout.strip()


def main() -> dict[str, Any]:
    """Both measurements; prints them and returns the result for bench/results/disk.json."""
    WORK.mkdir(parents=True, exist_ok=True)
    fs = _filesystem(WORK)
    if fs in {"tmpfs", "ramfs"}:
        raise RuntimeError(f"{WORK} is on {fs}: write_bytes would not count; use a disk")
    runs = {str(n): bytes_per_meter_day(n) for n in METER_COUNTS}
    for n, run in runs.items():
        print(f"disk: {n} meters, {DAYS} days: {run['bytes_per_meter_day']} bytes/meter-day")
    drained = asyncio.run(drain())
    print(
        f"drain: {drained['values']} values in {drained['rows']} rows: {drained['drain_s']} s"
        f" (goal < {GOAL_DRAIN_S} s for the whole drain)"
    )
    return {
        "filesystem": fs,
        "goal_bytes_per_meter_day": GOAL_BYTES,
        "batch_values": BATCH,
        "bytes_per_meter_day": runs,
        "goal_drain_s": GOAL_DRAIN_S,
        "drain": drained,
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        print(json.dumps(main(), indent=2))
