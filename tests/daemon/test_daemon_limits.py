"""Limits that hold, against the running daemon (issue 11): a ``bridge`` gateway with
``limits.max_meters = 3`` hearing 20 meters publishes readings of exactly 3 and raises
``METER_LIMIT``; with a visibility table of 10, the meters it serves are never the ones
forgotten to make room.

Twenty Kamstrup water meters (fixed, every 16 s... as the simulator sends them) at 720x, an
emulated iM871A, a real Mosquitto.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from radio.sim.field import DEFAULT_EPOCH, Field, FieldConfig
from tests.daemon_harness import (
    DaemonProcess,
    UplinkCollector,
    simulated_gateway,
    wait_until,
)

SCALE = 720.0
SERVED = 3
TRACKED = 10


@dataclass
class Run:
    daemon: DaemonProcess
    collector: UplinkCollector
    meters: list[str]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    field = Field(
        FieldConfig(meters=20, seed=11, mix={"water": 1.0}, epoch=DEFAULT_EPOCH, collisions=False)
    )
    with simulated_gateway(
        tmp_path_factory.mktemp("limits"),
        field,
        scale=SCALE,
        keys_text=field.keys_text(),
        epoch=DEFAULT_EPOCH,
        extra=f"[limits]\nmax_meters = {SERVED}\nvisible_meters = {TRACKED}\n",
        edit=lambda text: text.replace('profile = "concentrator"', 'profile = "bridge"', 1),
    ) as gw:
        yield Run(gw.daemon, gw.collector, sorted(m.meter_id for m in field.meters))


def _read_meters(run: Run) -> set[str]:
    return {
        r["id"] for doc in run.collector.docs("event/readings") for r in doc.get("readings", [])
    }


def test_readings_of_exactly_max_meters_meters_are_published(run: Run) -> None:
    wait_until(
        lambda: len(run.collector.docs("event/readings")) >= 3, 30.0, "3 batches", run.daemon
    )
    assert len(_read_meters(run)) == SERVED


def test_meter_limit_is_raised_once(run: Run) -> None:
    def limit_alarms() -> list[dict[str, object]]:
        return [d for d in run.collector.docs("event/alarm") if d.get("alarm") == "METER_LIMIT"]

    wait_until(lambda: bool(limit_alarms()), 30.0, "METER_LIMIT", run.daemon)
    time.sleep(2.0)
    (alarm,) = limit_alarms()
    assert "limits.max_meters = 3" in str(alarm["detail"])


def test_status_counts_and_names_the_meters_over_the_limit(run: Run) -> None:
    status = run.daemon.control("status", {})
    limits = status["limits"]
    assert limits["served"] == SERVED and limits["over_limit"] >= 1
    assert status["counters"]["over_meter_limit"] > 0
    assert all(m.startswith("KAM:") for m in limits["over_limit_meters"])


def test_a_full_visibility_table_never_forgets_a_served_meter(run: Run) -> None:
    served = _read_meters(run)
    for _ in range(5):
        rows = run.daemon.control("visible", {})["meters"]
        assert len(rows) <= TRACKED
        assert served <= {r["id"] for r in rows}
        time.sleep(1.0)
    assert run.daemon.control("status", {})["counters"]["evicted_meters"] > 0
