"""Decode throughput of ``concentratord decode`` on ELL-encrypted Kamstrup water telegrams.

Two workloads of 30,000 telegrams from N distinct meters, each meter with its own key:

- mixed: a full frame every 8th telegram, compact frames in between, as Multical 21
  meters send them;
- full frames: every telegram a full Multical 21 frame (ELL AES-CTR, CI 0x78, the five
  records of the simulator's water kind, radio/sim/kinds.py), made by the builder
  (protocols/wmbus/build.py) from the simulator's reference spec (issue 8).

Each is piped through the console script; the figure is telegrams per CPU-second of the
whole process, start-up included (user + system time from wait4). Keys come from a seeded
generator, so a run decodes the same bytes as the last one.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from protocols.records import encode_records
from protocols.telegram import MeterAddress
from protocols.wmbus.build import EllSpec, TelegramSpec, Tpl, build_telegram
from radio.sim.kinds import WATER, reference_spec

TELEGRAMS = 30_000
METER_COUNTS = (5, 1_000, 30_000)
GOAL = 7_600  # mixed (docs/design.md, "Performance goals")
FULL_FRAME_GOAL = 10_000  # full frames (issue 8: 1.25x the C++ reader on this machine class)


def _keys(meters: int) -> dict[str, bytes]:
    rng = random.Random(meters)
    return {f"{70000000 + m:08d}": rng.randbytes(16) for m in range(meters)}


def telegrams(meters: int, count: int = TELEGRAMS) -> tuple[list[str], dict[str, bytes]]:
    """``count`` hex telegrams from ``meters`` water meters, round robin, and their keys."""
    keys = _keys(meters)
    ids = list(keys)
    lines: list[str] = []
    for n in range(count):
        meter_id = ids[n % meters]
        sequence = n // meters
        volume = 10_000 + 7 * n
        records = encode_records(
            [
                (bytes.fromhex("02FF20"), 0),
                (bytes.fromhex("0413"), volume),
                (bytes.fromhex("4413"), volume - 500),
                (bytes.fromhex("615B"), 12),
                (bytes.fromhex("6167"), 9),
            ]
        )
        tpl = Tpl.NONE if sequence % 8 == 0 else Tpl.COMPACT
        spec = TelegramSpec(
            MeterAddress("KAM", meter_id, 0x1B, 0x16),
            records,
            tpl=tpl,
            ell=EllSpec(access_number=sequence & 0xFF, time=sequence),
        )
        lines.append(build_telegram(spec, keys[meter_id]).hex().upper())
    return lines, keys


def full_frames(meters: int, count: int = TELEGRAMS) -> tuple[list[str], dict[str, bytes]]:
    """``count`` full Multical 21 frames from ``meters`` meters, round robin, and their keys."""
    keys = _keys(meters)
    ids = list(keys)
    lines: list[str] = []
    for n in range(count):
        meter_id = ids[n % meters]
        sequence = n // meters
        volume = 10_000 + 7 * n
        # (info codes, total, target, flow temperature, min external temperature)
        raw = (0, volume, volume - 500, 12, 9)
        spec = reference_spec(WATER, WATER.address(meter_id), raw, True, sequence)
        lines.append(build_telegram(spec, keys[meter_id]).hex().upper())
    return lines, keys


def run_decode(lines: list[str], keys: dict[str, bytes]) -> dict[str, Any]:
    """Pipe ``lines`` through ``concentratord decode``; CPU time of that process."""
    exe = Path(sys.executable).parent / "concentratord"
    with tempfile.TemporaryDirectory() as tmp:
        keys_file = Path(tmp) / "keys.txt"
        keys_file.write_text("".join(f"{k} {v.hex()}\n" for k, v in keys.items()))
        telegram_file = Path(tmp) / "telegrams.txt"
        telegram_file.write_text("\n".join(lines) + "\n")
        with telegram_file.open("rb") as stdin, open(os.devnull, "wb") as devnull:
            wall = time.perf_counter()
            proc = subprocess.Popen(
                [str(exe), "decode", "--keys", str(keys_file)], stdin=stdin, stdout=devnull
            )
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - wall
    if status != 0:
        raise RuntimeError(f"concentratord decode exited with status {status}")
    cpu = usage.ru_utime + usage.ru_stime
    return {"cpu_s": round(cpu, 3), "wall_s": round(wall, 3), "per_cpu_s": round(len(lines) / cpu)}


def check_output(lines: list[str], keys: dict[str, bytes]) -> int:
    """How many of a sample of lines decode without error (a guard against timing errors)."""
    exe = Path(sys.executable).parent / "concentratord"
    with tempfile.TemporaryDirectory() as tmp:
        keys_file = Path(tmp) / "keys.txt"
        keys_file.write_text("".join(f"{k} {v.hex()}\n" for k, v in keys.items()))
        out = subprocess.run(
            [str(exe), "decode", "--keys", str(keys_file)],
            input="\n".join(lines) + "\n",
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    return sum("error" not in json.loads(line) for line in out.splitlines())


Workload = Callable[[int], tuple[list[str], dict[str, bytes]]]


def _workload(name: str, make: Workload, goal: int) -> dict[str, Any]:
    runs: dict[str, Any] = {}
    for meters in METER_COUNTS:
        lines, keys = make(meters)
        sample = lines[: min(2000, len(lines))]
        ok = check_output(sample, keys)
        if ok != len(sample):
            raise RuntimeError(f"{len(sample) - ok} of {len(sample)} sample telegrams failed")
        figure = run_decode(lines, keys)
        runs[str(meters)] = figure
        print(
            f"decode ({name}): {meters:>6} meters, {TELEGRAMS} telegrams: "
            f"{figure['per_cpu_s']:>6} telegrams/CPU-s ({figure['cpu_s']} CPU-s, "
            f"goal {goal})",
            flush=True,
        )
    return runs


def main() -> dict[str, Any]:
    """Run both workloads for each meter count; print and return the figures."""
    results: dict[str, Any] = {"telegrams": TELEGRAMS, "goal_per_cpu_s": GOAL}
    results["runs"] = _workload("mixed", telegrams, GOAL)
    results["full_frames"] = {
        "goal_per_cpu_s": FULL_FRAME_GOAL,
        "runs": _workload("full frames", full_frames, FULL_FRAME_GOAL),
    }
    return results
