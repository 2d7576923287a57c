"""Commands down and replies up, through a real Mosquitto (docs/uplink.md, "Commands")."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.mqtt_broker import MosquittoBroker, Subscriber, make_uplink
from uplink import Command, MqttUplink, Reply

BASE = "concentratord/gateway/gw-0001"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    with MosquittoBroker(tmp_path / "broker") as running:
        yield running


class Daemon:
    """Stands in for the daemon's command implementations: records and answers."""

    def __init__(self) -> None:
        self.seen: list[Command] = []

    async def __call__(self, command: Command) -> Reply | None:
        self.seen.append(command)
        if command.name == "get_status":
            return Reply(ok=True, result={"meters": 3})
        return Reply(ok=True)


def scenario_with(
    broker: MosquittoBroker,
    body: Callable[[MqttUplink, Subscriber, Daemon], Awaitable[None]],
    *,
    mqtt5: bool = True,
    handler: Any = None,
) -> Daemon:
    daemon = Daemon()

    async def scenario() -> None:
        uplink: MqttUplink = make_uplink(broker, on_command=handler or daemon)
        await uplink.start()
        await asyncio.wait_for(uplink.connected.wait(), 10)
        head_end = Subscriber(broker, ["head-end/#", f"{BASE}/reply/#"], mqtt5=mqtt5)
        try:
            await body(uplink, head_end, daemon)
        finally:
            head_end.close()
            await uplink.stop()

    asyncio.run(asyncio.wait_for(scenario(), 30))
    return daemon


def command(gateway: str = "gw-0001", **fields: Any) -> bytes:
    return json.dumps({"gateway": gateway, **fields}).encode()


def test_mqtt5_command_replies_to_response_topic_with_correlation_data(
    broker: MosquittoBroker,
) -> None:
    async def body(uplink: MqttUplink, head_end: Subscriber, daemon: Daemon) -> None:
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = "head-end/replies/42"
        props.CorrelationData = b"\x00req-42"
        head_end.publish(f"{BASE}/command/get_status", command(), props)
        reply = await head_end.wait_for("head-end/replies/42")
        assert reply.properties.CorrelationData == b"\x00req-42"
        doc = json.loads(reply.payload)
        assert doc["ok"] is True and doc["result"] == {"meters": 3}
        assert doc["command"] == "get_status" and doc["type"] == "reply"

    daemon = scenario_with(broker, body)
    assert [c.name for c in daemon.seen] == ["get_status"]


def test_mqtt311_command_replies_to_reply_to_with_correlation_id(broker: MosquittoBroker) -> None:
    async def body(uplink: MqttUplink, head_end: Subscriber, daemon: Daemon) -> None:
        payload = command(reply_to="head-end/r/7", correlation_id="c-7")
        head_end.publish(f"{BASE}/command/get_status", payload)
        doc = json.loads((await head_end.wait_for("head-end/r/7")).payload)
        assert doc["ok"] is True and doc["correlation_id"] == "c-7"

    scenario_with(broker, body, mqtt5=False)


def test_command_without_reply_topic_replies_on_reply_topic_of_its_name(
    broker: MosquittoBroker,
) -> None:
    async def body(uplink: MqttUplink, head_end: Subscriber, daemon: Daemon) -> None:
        args = {"meters": ["12345678", "87654321"]}
        head_end.publish(f"{BASE}/command/set_priority_meters", command(args=args))
        doc = json.loads((await head_end.wait_for(f"{BASE}/reply/set_priority_meters")).payload)
        assert doc["ok"] is True

    daemon = scenario_with(broker, body, mqtt5=False)
    assert daemon.seen[0].parsed is not None
    assert daemon.seen[0].args == {"meters": ["12345678", "87654321"]}


def refusal(broker: MosquittoBroker, name: str, payload: bytes) -> tuple[dict[str, Any], Daemon]:
    result: dict[str, Any] = {}

    async def body(uplink: MqttUplink, head_end: Subscriber, daemon: Daemon) -> None:
        head_end.publish(f"{BASE}/command/{name}", payload)
        result.update(json.loads((await head_end.wait_for(f"{BASE}/reply/{name}")).payload))

    daemon = scenario_with(broker, body)
    return result, daemon


def test_command_for_another_gateway_is_refused_with_reason(broker: MosquittoBroker) -> None:
    doc, daemon = refusal(broker, "get_status", command(gateway="gw-0002"))
    assert doc["ok"] is False and "gw-0002" in doc["error"]
    assert daemon.seen == []


def test_command_that_is_not_json_is_refused_with_reason(broker: MosquittoBroker) -> None:
    doc, daemon = refusal(broker, "get_status", b"{not json")
    assert doc["ok"] is False and "not JSON" in doc["error"]
    assert daemon.seen == []


def test_command_without_gateway_field_is_refused(broker: MosquittoBroker) -> None:
    doc, _ = refusal(broker, "get_status", b"{}")
    assert doc["ok"] is False and "gateway" in doc["error"]


def test_unknown_command_is_refused_with_reason(broker: MosquittoBroker) -> None:
    doc, _ = refusal(broker, "reboot", command())
    assert doc["ok"] is False and "unknown command 'reboot'" in doc["error"]


def test_backfill_with_from_after_to_is_refused(broker: MosquittoBroker) -> None:
    args = {"from": "2026-03-02T00:00:00Z", "to": "2026-03-01T00:00:00Z"}
    doc, daemon = refusal(broker, "backfill", command(args=args))
    assert doc["ok"] is False and "before" in doc["error"]
    assert daemon.seen == []


def test_handler_failure_is_replied_as_internal_error(broker: MosquittoBroker) -> None:
    async def failing(cmd: Command) -> Reply | None:
        raise RuntimeError("store is closed")

    async def body(uplink: MqttUplink, head_end: Subscriber, daemon: Daemon) -> None:
        head_end.publish(f"{BASE}/command/get_status", command())
        doc = json.loads((await head_end.wait_for(f"{BASE}/reply/get_status")).payload)
        assert doc["ok"] is False and "store is closed" in doc["error"]

    scenario_with(broker, body, handler=failing)
