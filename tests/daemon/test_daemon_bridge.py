"""The battery bridge over a simulated day, against the running daemon (issue 11): the
emulated iM871A's radio-on share and the number of uplink sessions are what ``[bridge]``
asks, no socket is held between sessions, and no daily value and no alarm is lost.

Three Kamstrup water meters (fixed, every 96 s) from 2026-01-01T00:00Z at 720x (a day in
two minutes), a real Mosquitto; windows of 10 minutes every hour (radio-on share 1/6),
four deliveries a day, alarms at once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from radio.sim.field import DEFAULT_EPOCH, Field, FieldConfig
from tests.daemon_harness import SimulatedGateway, epoch_of, simulated_gateway, wait_until

SCALE = 720.0
LISTEN, SLEEP, DELIVERIES = 600, 3000, 4
HOUR, DAY = 3600.0, 86_400.0
MEASURE_FROM, MEASURE_TO = 2 * HOUR, 2 * HOUR + DAY  # one whole day, start-up left out
LEAK_AT = 10.5 * HOUR  # raised while the radio may sleep: heard at the next window
GAP_CHECK_AT = 3.5 * HOUR  # between the start session and the 06:01 delivery
END = MEASURE_TO + 0.25 * HOUR
BRIDGE = f"[bridge]\nlisten = {LISTEN}\nsleep = {SLEEP}\ndeliveries = {DELIVERIES}\n"


@dataclass
class Day:
    gw: SimulatedGateway
    field: Field
    meters: list[str]
    leak_meter: str
    status: dict[str, Any]  # at END
    awake_share: float  # the emulator's, over MEASURE_FROM .. MEASURE_TO
    connected_at_gap: int  # the daemon's TCP connections to the broker at GAP_CHECK_AT
    port_open_while_asleep: list[bool]  # the emulator's view while status said asleep


def sim_now(gw: SimulatedGateway) -> float:
    return gw.runner.sim_now()


def wait_sim(gw: SimulatedGateway, t: float) -> None:
    wait_until(lambda: sim_now(gw) >= t, (t - sim_now(gw)) / SCALE + 30.0, f"sim {t}", gw.daemon)


def monotonic_of(gw: SimulatedGateway, t: float) -> float:
    """The time.monotonic() reading at which the field's clock reads ``t``."""
    return time.monotonic() - (sim_now(gw) - t) / SCALE


def broker_connections(pid: int, port: int) -> int:
    """Established TCP connections of process ``pid`` to ``port`` on the loopback."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            remote_port = int(cols[2].rsplit(":", 1)[1], 16)
            if cols[3] == "01" and remote_port == port and cols[9] in inodes:
                count += 1
    return count


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Day]:
    field = Field(
        FieldConfig(meters=3, seed=23, mix={"water": 1.0}, epoch=DEFAULT_EPOCH, collisions=False)
    )
    meters = sorted(m.meter_id for m in field.meters)
    with simulated_gateway(
        tmp_path_factory.mktemp("bridge"),
        field,
        scale=SCALE,
        keys_text=field.keys_text(),
        epoch=DEFAULT_EPOCH,
        extra=BRIDGE,
        edit=lambda text: text.replace('profile = "concentrator"', 'profile = "bridge"', 1),
    ) as gw:
        assert gw.daemon.proc is not None
        pid, port = gw.daemon.proc.pid, gw.broker.port
        wait_sim(gw, GAP_CHECK_AT)
        connected_at_gap = broker_connections(pid, port)
        asleep_views = []
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and len(asleep_views) < 5:  # a few looks
            if not gw.daemon.control("status")["power"]["radio_listening"]:
                time.sleep(0.05)  # the emulator notices a closed port within 10 ms
                if not gw.daemon.control("status")["power"]["radio_listening"]:
                    asleep_views.append(gw.emulator.host_present)
            time.sleep(0.2)
        wait_sim(gw, LEAK_AT)
        field.inject_alarm(meters[0], "leak")
        wait_sim(gw, END)
        share = gw.emulator.awake_share(
            monotonic_of(gw, MEASURE_FROM), monotonic_of(gw, MEASURE_TO)
        )
        # For bench/README.md and the closing note (pytest -s shows it).
        print(
            f"bridge day: emulated radio-on share {share:.4f}"
            f" (configured {LISTEN / (LISTEN + SLEEP):.4f})"
        )
        yield Day(
            gw,
            field,
            meters,
            meters[0],
            gw.daemon.control("status"),
            share,
            connected_at_gap,
            asleep_views,
        )


# Waking is part of the radio's on-time: the host reopens the port, wakes the module and
# configures it again (a few tens of ms). At 720x each wake costs half a gateway minute,
# 24 a day: about 2 % of the day on top of listen / (listen + sleep) (0.193 measured
# against 0.167 on a quiet machine), where on a real bridge it is a few thousandths.
WAKE_ALLOWANCE = 0.05


def test_the_radio_is_on_the_share_of_the_day_the_configuration_asks(day: Day) -> None:
    configured = LISTEN / (LISTEN + SLEEP)
    assert configured - 0.01 < day.awake_share < configured + WAKE_ALLOWANCE, day.awake_share


def test_the_module_sleeps_in_its_low_power_mode_between_windows(day: Day) -> None:
    assert day.status["power"]["radio_sleep"] == "low-power mode"
    assert day.gw.emulator.lpm_entries >= DAY / (LISTEN + SLEEP) - 1


def test_status_reports_the_measured_and_the_configured_radio_on_share(day: Day) -> None:
    power = day.status["power"]
    assert power["radio_on_share_configured"] == round(LISTEN / (LISTEN + SLEEP), 4)
    assert abs(power["radio_on_share"] - day.awake_share) < 0.03


def test_the_uplink_connects_for_each_delivery_of_the_day(day: Day) -> None:
    sessions = day.status["power"]["uplink_sessions"]["default"]
    assert sessions["sessions_day_by_cause"]["delivery"] == DELIVERIES
    assert sessions["deliveries_configured"] == DELIVERIES


def test_every_session_announced_itself_online_and_went_offline_sleeping(day: Day) -> None:
    states = day.gw.collector.docs("state")
    sessions = day.status["power"]["uplink_sessions"]["default"]["sessions"]
    online = [s for s in states if s.get("state") == "online"]
    sleeping = [s for s in states if s.get("reason") == "sleeping"]
    assert len(online) == sessions
    assert len(sleeping) >= sessions - 1  # the last may still be open


def test_no_connection_to_the_broker_is_held_between_sessions(day: Day) -> None:
    assert day.connected_at_gap == 0


def test_the_serial_port_is_closed_while_the_radio_sleeps(day: Day) -> None:
    assert day.port_open_while_asleep, "the radio was never seen asleep"
    assert not any(day.port_open_while_asleep)


def test_the_daily_value_of_every_meter_is_delivered(day: Day) -> None:
    end = "2026-01-02T00:00:00Z"
    daily = [
        doc
        for doc in day.gw.collector.docs("event/readings")
        if doc.get("interval") == "daily" and doc.get("interval_end") == end
    ]
    assert {r["id"] for doc in daily for r in doc["readings"]} == set(day.meters)


def test_the_alarm_is_delivered_in_a_session_of_its_own(day: Day) -> None:
    leaks = [
        m
        for m in day.gw.collector.messages
        if m.kind() == "event/alarm" and m.doc is not None and m.doc.get("id") == day.leak_meter
    ]
    assert leaks, "the leak alarm never reached the head-end"
    doc = leaks[0].doc
    assert doc is not None
    heard = epoch_of(doc["timestamp"]) - DEFAULT_EPOCH
    arrived = sim_now(day.gw) - (time.monotonic() - leaks[0].received) * SCALE
    assert heard >= LEAK_AT
    assert arrived - heard < 0.25 * HOUR  # not held for the next delivery (18:01)
    causes = day.status["power"]["uplink_sessions"]["default"]["sessions_day_by_cause"]
    assert causes["alarm"] >= 1


def test_no_alarm_the_daemon_raised_is_lost(day: Day) -> None:
    listed = {(a["id"], a["time"]) for a in day.gw.daemon.control("alarms") if "time" in a}
    assert any(meter == day.leak_meter for meter, _ in listed)

    def delivered() -> set[tuple[str, str]]:
        docs = day.gw.collector.docs("event/alarm")
        return {(d["id"], d["timestamp"]) for d in docs if "id" in d}

    wait_until(lambda: listed <= delivered(), 30.0, "every alarm delivered", day.gw.daemon)


def test_no_meter_is_called_silent_for_the_hours_the_radio_slept(day: Day) -> None:
    silent = [
        d for d in day.gw.collector.docs("event/alarm") if "METER_SILENT" in d.get("raised", [])
    ]
    assert silent == []


def test_stats_carry_the_power_budget_of_the_tenant(day: Day) -> None:
    stats = day.gw.collector.docs("event/stats")
    assert stats, "no event/stats delivered"
    power = stats[-1]["power"]
    assert set(power["uplink_sessions"]) == {"default"}
    assert abs(power["radio_on_share"] - LISTEN / (LISTEN + SLEEP)) < 0.05
