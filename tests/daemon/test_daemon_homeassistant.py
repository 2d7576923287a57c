"""Home Assistant MQTT discovery against the running daemon (issue 11): with
``uplink.homeassistant = true`` a subscriber sees one entity config per field each meter
sent (and the gateway's), every one valid by the discovery schema's rules, and each
meter's state topic carrying its values.

Five Kamstrup water meters at 720x (an hourly batch every 5 s), an emulated iM871A, a real
Mosquitto.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from radio.sim.field import DEFAULT_EPOCH, Field, FieldConfig
from tests.daemon_harness import (
    GATEWAY,
    PREFIX,
    DaemonProcess,
    UplinkCollector,
    simulated_gateway,
    wait_until,
)
from tests.mqtt_broker import Subscriber
from uplink import hass

SCALE = 720.0


@dataclass
class Run:
    daemon: DaemonProcess
    collector: UplinkCollector
    ha: Subscriber
    meters: list[str]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    field = Field(FieldConfig(meters=5, seed=21, mix={"water": 1.0}, epoch=DEFAULT_EPOCH))
    with simulated_gateway(
        tmp_path_factory.mktemp("hass"),
        field,
        scale=SCALE,
        keys_text=field.keys_text(),
        epoch=DEFAULT_EPOCH,
        uplink={"homeassistant": True},
    ) as gw:
        topics = ["homeassistant/#", f"{PREFIX}/gateway/{GATEWAY}/meter/#"]
        ha = Subscriber(gw.broker, topics)
        try:
            yield Run(gw.daemon, gw.collector, ha, sorted(m.meter_id for m in field.meters))
        finally:
            ha.close()


def received(run: Run, prefix: str) -> dict[str, Any]:
    """The last payload of each topic under ``prefix``, decoded."""
    out = {}
    for message in list(run.ha.messages):
        if message.topic.startswith(prefix) and message.payload:
            out[message.topic] = json.loads(message.payload)
    return out


def last_rows(run: Run) -> dict[str, dict[str, Any]]:
    rows = {}
    for doc in run.collector.docs("event/readings"):
        for row in doc.get("readings", []):
            rows[row["id"]] = row
    return rows


def test_one_entity_per_field_each_meter_sent_and_the_gateway(run: Run) -> None:
    wait_until(lambda: len(last_rows(run)) == len(run.meters), 30.0, "every meter", run.daemon)
    rows = last_rows(run)

    def complete() -> bool:
        configs = received(run, "homeassistant/sensor/")
        expected = sum(len(hass.entity_fields(r)) for r in rows.values()) + 1
        return len(configs) >= expected

    wait_until(complete, 20.0, "every entity announced", run.daemon)
    configs = received(run, "homeassistant/sensor/")
    for meter, row in rows.items():
        mine = [c for c in configs.values() if c["unique_id"].split("_")[3:4] == [meter]]
        assert len(mine) == len(hass.entity_fields(row)), meter
    assert sum(1 for c in configs.values() if c["unique_id"].endswith("_state")) == 1


def test_every_config_passes_the_discovery_schemas_rules(run: Run) -> None:
    configs = received(run, "homeassistant/sensor/")
    assert configs
    for topic, config in configs.items():
        assert hass.check_discovery_topic(topic, "homeassistant") == []
        assert hass.check_discovery(config) == [], topic


def test_each_meter_state_topic_carries_its_values(run: Run) -> None:
    def every_state() -> bool:  # the tests run in any order: this one may be the first
        topics = received(run, f"{PREFIX}/gateway/{GATEWAY}/meter/")
        rows = last_rows(run)
        return all(m in rows and any(t.endswith(f"-{m}/state") for t in topics) for m in run.meters)

    wait_until(every_state, 30.0, "a state of every meter", run.daemon)
    states = received(run, f"{PREFIX}/gateway/{GATEWAY}/meter/")
    rows = last_rows(run)
    for meter in run.meters:
        (state,) = [s for t, s in states.items() if t.endswith(f"-{meter}/state")]
        assert state["total_m3"] == pytest.approx(rows[meter]["total_m3"], abs=1.0)
