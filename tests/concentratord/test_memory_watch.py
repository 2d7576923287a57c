"""``MEMORY_HIGH``: raised once above limits.memory_bytes, cleared below 90 % of it."""

from __future__ import annotations

from concentratord.memory_watch import MemoryWatch, resident_bytes

MIB = 2**20


def watch(readings: list[int]) -> tuple[MemoryWatch, list[tuple[str, str]]]:
    alarms: list[tuple[str, str]] = []
    values = iter(readings)
    w = MemoryWatch(
        100 * MIB,
        lambda name, detail, state: alarms.append((name, state)),
        measure=lambda: next(values),
    )
    return w, alarms


def test_above_the_limit_raises_once() -> None:
    w, alarms = watch([101 * MIB, 150 * MIB])
    w.check()
    w.check()
    assert alarms == [("MEMORY_HIGH", "raised")]


def test_it_clears_only_below_ninety_percent() -> None:
    w, alarms = watch([101 * MIB, 95 * MIB, 89 * MIB])
    for _ in range(3):
        w.check()
    assert alarms == [("MEMORY_HIGH", "raised"), ("MEMORY_HIGH", "cleared")]


def test_the_resident_memory_of_this_process_is_read() -> None:
    assert 10 * MIB < resident_bytes() < 4096 * MIB
