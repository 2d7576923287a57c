"""Reload against the running daemon (issue 11): SIGHUP with a changed schedule applies it
without a restart; a broken file, or a change that needs a restart, is refused and the
running configuration kept; every attempt is in the audit trail.

Ten Kamstrup water meters at 720x (five minutes of gateway time in 0.4 s), an emulated
iM871A, a real Mosquitto.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from radio.sim.field import DEFAULT_EPOCH, Field, FieldConfig
from tests.daemon_harness import (
    DaemonProcess,
    UplinkCollector,
    simulated_gateway,
    wait_until,
)

SCALE = 720.0


@dataclass
class Run:
    daemon: DaemonProcess
    collector: UplinkCollector
    config: Path
    meters: list[str]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    field = Field(FieldConfig(meters=10, seed=3, mix={"water": 1.0}, epoch=DEFAULT_EPOCH))
    uid = os.getuid()

    def administrator(text: str) -> str:
        return text.replace(
            f"[access]\nuser = {{ users = [{uid}] }}",
            f"[access]\nadministrator = {{ users = [{uid}] }}",
        )

    with simulated_gateway(
        tmp_path_factory.mktemp("reload"),
        field,
        scale=SCALE,
        keys_text=field.keys_text(),
        epoch=DEFAULT_EPOCH,
        edit=administrator,
    ) as gw:
        yield Run(
            gw.daemon, gw.collector, gw.files.config, sorted(m.meter_id for m in field.meters)
        )


def five_minute_meters(run: Run, since: int = 0) -> set[str]:
    docs = run.collector.docs("event/readings")[since:]
    return {r["id"] for d in docs if d.get("interval") == "5min" for r in d.get("readings", [])}


def reload_entries(run: Run) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = run.daemon.control("audit", {})
    return [e for e in entries if e["action"] == "reload"]


def sighup(run: Run, text: str) -> None:
    run.config.write_text(text)
    before = len(reload_entries(run))
    os.kill(run.daemon.pid, signal.SIGHUP)
    wait_until(lambda: len(reload_entries(run)) > before, 10.0, "the reload audited", run.daemon)


def with_priority(text: str, meter: str) -> str:
    return text.replace("priority_meters = []", f'priority_meters = ["{meter}"]', 1)


def test_sighup_with_a_changed_schedule_applies_it(run: Run) -> None:
    original = run.config.read_text()
    assert "priority_meters = []" in original
    meter = run.meters[0]
    assert meter not in five_minute_meters(run)
    sighup(run, with_priority(original, meter))
    seen = len(run.collector.docs("event/readings"))
    wait_until(lambda: meter in five_minute_meters(run, seen), 20.0, "a 5-min value", run.daemon)
    entry = reload_entries(run)[-1]
    assert entry["event"] == "change" and entry["user"] == "signal:SIGHUP"
    assert entry["outcome"] == "done: schedule.priority_meters"
    assert run.daemon.running


def test_a_broken_file_is_refused_and_the_running_configuration_kept(run: Run) -> None:
    good = run.config.read_text()
    sighup(run, good + "\n[schedule\n")  # not TOML
    entry = reload_entries(run)[-1]
    assert entry["event"] == "refusal" and "refused:" in entry["outcome"]
    seen = len(run.collector.docs("event/readings"))
    meter = run.meters[0]
    wait_until(
        lambda: meter in five_minute_meters(run, seen), 20.0, "5-min values go on", run.daemon
    )
    run.config.write_text(good)


def test_a_change_that_needs_a_restart_is_refused_naming_the_key(run: Run) -> None:
    good = run.config.read_text()
    sighup(run, good.replace('mode = "c1"', 'mode = "t1"', 1))
    entry = reload_entries(run)[-1]
    assert entry["event"] == "refusal"
    assert "radio.mode cannot change while running" in entry["outcome"]
    assert run.daemon.control("config", {"action": "show"})["radio"]["mode"] == "c1"
    run.config.write_text(good)


def test_concentratorctl_reload_does_the_same_and_is_audited_once(run: Run) -> None:
    before = len(reload_entries(run))
    result = run.daemon.control("reload", {})
    assert result == {"changed": []}
    entries = reload_entries(run)[before:]
    assert len(entries) == 1 and entries[0]["outcome"] == "done: no change"
