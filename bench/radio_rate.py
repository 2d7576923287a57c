"""Radio receive path: a 30,000-meter fixed-network field through the iM871A emulator and
driver over a real pty.

The telegrams are pre-generated (the emulator only writes bytes), the receiving side runs
in its own process so its CPU time is its own: the driver framing the HCI stream and
queueing RadioFrames. A pty ignores the baud rate: the real module's 57,600 baud carries
about 130 such telegrams per second, stated beside the figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

from radio.sim.field import Field, FieldConfig
from radio.sim.imst import Im871aEmulator

FIELD_RATE = 30_000 / 96  # fixed network: every meter every 96 s -> 312.5 telegrams/s
DURATION_S = 10.0
RATES = (FIELD_RATE, 1_000.0, 2_000.0, 4_000.0, 8_000.0, 16_000.0, 32_000.0)
UART_BAUD = 57_600

RECEIVER = r"""
import asyncio, json, resource, sys
from radio.modules.imst import Im871aDriver
from radio.frame import LinkMode

async def main(path, expected, timeout):
    driver = Im871aDriver(path, LinkMode.C1, queue_size=1_000_000)
    await driver.start()
    print("ready", flush=True)
    got = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while got < expected and loop.time() < deadline:
        try:
            await driver.next_frame(max(0.1, deadline - loop.time()))
        except (TimeoutError, asyncio.TimeoutError):
            break
        got += 1
    await driver.stop()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"received": got, "cpu_s": usage.ru_utime + usage.ru_stime,
                      "bad_frames": driver.counters.bad_frames}), flush=True)

asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
"""


def field_telegrams(seconds: float = 120.0) -> list[bytes]:
    """The telegrams a 30,000-meter fixed-network field sends in ``seconds``, pre-generated
    by the simulator (collisions off: the bench measures the host link, not the air)."""
    field = Field(FieldConfig(meters=30_000, mode="fixed", seed=30_000, collisions=False))
    return [tx.frame for tx in field.pregenerate(seconds) if not tx.lost]


def run_rate(rate: float, telegrams: list[bytes]) -> dict[str, Any]:
    """Replay ``rate`` telegrams/s for DURATION_S; what the receiver got and its CPU."""
    count = int(rate * DURATION_S)
    emulator = Im871aEmulator()
    emulator.start()
    wall_baseline = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", RECEIVER, emulator.path, str(count), str(DURATION_S + 10)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("receiver did not start")
        # Baseline CPU: start-up and configuration, subtracted below.
        base = _cpu_of(proc.pid)
        start = time.perf_counter()
        for n in range(count):
            due = start + n / rate
            delay = due - time.perf_counter()
            if delay > 0.002:
                time.sleep(delay)
            emulator.deliver(telegrams[n % len(telegrams)], -70.0)
        sent_for = time.perf_counter() - start
        result = json.loads(proc.stdout.readline())
        proc.wait(timeout=30)
    finally:
        emulator.close()
        if proc.poll() is None:
            proc.kill()
    cpu = result["cpu_s"] - base
    elapsed = max(sent_for, DURATION_S)
    return {
        "rate": round(rate, 1),
        "sent": count,
        "received": result["received"],
        "lost": count - result["received"],
        "cpu_share_of_one_core": round(cpu / elapsed, 4),
        "wall_s": round(time.perf_counter() - wall_baseline, 1),
    }


def _cpu_of(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def main() -> dict[str, Any]:
    """Each rate in turn until frames are lost; print and return the figures."""
    telegrams = field_telegrams()
    avg_len = sum(len(t) + 8 for t in telegrams) / len(telegrams)  # + HCI header/trailer
    uart_ceiling = UART_BAUD / 10 / avg_len
    runs = []
    for rate in RATES:
        run = run_rate(rate, telegrams)
        runs.append(run)
        print(
            f"radio: {run['rate']:>8} telegrams/s for {DURATION_S:.0f} s: lost {run['lost']}, "
            f"receiver CPU {100 * run['cpu_share_of_one_core']:.1f}% of one core",
            flush=True,
        )
        if run["lost"] or run["cpu_share_of_one_core"] > 0.9:
            break
    sustained = max((r["rate"] for r in runs if not r["lost"]), default=0.0)
    print(
        f"radio: highest sustained rate without loss: {sustained} telegrams/s; the real "
        f"module's UART at {UART_BAUD} baud carries about {uart_ceiling:.0f} telegrams/s"
    )
    return {
        "field_rate": FIELD_RATE,
        "duration_s": DURATION_S,
        "runs": runs,
        "highest_sustained_rate": sustained,
        "uart_ceiling_telegrams_s": round(uart_ceiling),
    }
