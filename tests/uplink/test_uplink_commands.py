"""Commands down and replies up, through a real Mosquitto (docs/uplink.md, "Commands")."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.mqtt_broker import MosquittoBroker, Received, Subscriber, make_uplink
from uplink import Command, MqttUplink, Reply
from uplink.commands import MAX_COMMAND_BYTES

BASE = "concentratord/gateway/gw-0001"
# The default reply prefix of prefix "concentratord": where a head-end may have replies sent.
HEADEND = "concentratord/headend"


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
        # Everything: a reply published where it must not be would be seen.
        head_end = Subscriber(broker, ["#"], mqtt5=mqtt5)
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
        props.ResponseTopic = f"{HEADEND}/replies/42"
        props.CorrelationData = b"\x00req-42"
        head_end.publish(f"{BASE}/command/get_status", command(), props)
        reply = await head_end.wait_for(f"{HEADEND}/replies/42")
        assert reply.properties.CorrelationData == b"\x00req-42"
        doc = json.loads(reply.payload)
        assert doc["ok"] is True and doc["result"] == {"meters": 3}
        assert doc["command"] == "get_status" and doc["type"] == "reply"

    daemon = scenario_with(broker, body)
    assert [c.name for c in daemon.seen] == ["get_status"]


def test_mqtt311_command_replies_to_reply_to_with_correlation_id(broker: MosquittoBroker) -> None:
    async def body(uplink: MqttUplink, head_end: Subscriber, daemon: Daemon) -> None:
        payload = command(reply_to=f"{HEADEND}/r/7", correlation_id="c-7")
        head_end.publish(f"{BASE}/command/get_status", payload)
        doc = json.loads((await head_end.wait_for(f"{HEADEND}/r/7")).payload)
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


# ------------------------------------------------------------- reply topics and size limits


def reply_of(
    broker: MosquittoBroker,
    payload: bytes,
    *,
    name: str = "get_status",
    props: Properties | None = None,
    reply_topic: str | None = None,
) -> tuple[Received, list[Received], Daemon]:
    """Publish one command; return its reply (on ``reply_topic``, default the command's
    default reply topic) and every message seen up to it."""
    result: dict[str, Any] = {}

    async def body(uplink: MqttUplink, head_end: Subscriber, daemon: Daemon) -> None:
        head_end.publish(f"{BASE}/command/{name}", payload, props)
        result["reply"] = await head_end.wait_for(reply_topic or f"{BASE}/reply/{name}")
        result["seen"] = list(head_end.messages)

    daemon = scenario_with(broker, body)
    return result["reply"], result["seen"], daemon


def response_topic(topic: str, correlation: bytes | None = None) -> Properties:
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = topic
    if correlation is not None:
        props.CorrelationData = correlation
    return props


def topics_of(seen: list[Received]) -> set[str]:
    return {m.topic for m in seen}


def test_reply_to_under_another_prefix_is_refused_on_the_default_reply_topic(
    broker: MosquittoBroker,
) -> None:
    reply, seen, daemon = reply_of(broker, command(reply_to="other/headend/r/1"))
    doc = json.loads(reply.payload)
    assert doc["ok"] is False
    assert doc["error"] == (
        "reply_to: topic 'other/headend/r/1' is not under this tenant's reply prefix "
        "'concentratord/headend/'"
    )
    assert "other/headend/r/1" not in topics_of(seen)
    assert daemon.seen == []


def test_reply_to_in_the_gateway_event_tree_is_refused_and_nothing_is_published_there(
    broker: MosquittoBroker,
) -> None:
    reply, seen, daemon = reply_of(broker, command(reply_to=f"{BASE}/event/alarm"))
    doc = json.loads(reply.payload)
    assert doc["ok"] is False
    assert doc["error"] == (
        f"reply_to: topic '{BASE}/event/alarm' is in the gateway tree 'concentratord/gateway/', "
        "not under this tenant's reply prefix 'concentratord/headend/'"
    )
    assert f"{BASE}/event/alarm" not in topics_of(seen)
    assert daemon.seen == []


def test_response_topic_outside_the_reply_prefix_is_refused_on_the_default_reply_topic(
    broker: MosquittoBroker,
) -> None:
    props = response_topic("other-tenant/replies/9")
    reply, seen, daemon = reply_of(broker, command(), props=props)
    doc = json.loads(reply.payload)
    assert doc["ok"] is False
    assert doc["error"] == (
        "response topic: topic 'other-tenant/replies/9' is not under this tenant's reply "
        "prefix 'concentratord/headend/'"
    )
    assert "other-tenant/replies/9" not in topics_of(seen)
    assert daemon.seen == []


def test_foreign_reply_to_next_to_a_response_topic_is_refused_on_the_response_topic(
    broker: MosquittoBroker,
) -> None:
    props = response_topic(f"{HEADEND}/replies/3")
    payload = command(reply_to=f"{BASE}/event/alarm")
    reply, seen, daemon = reply_of(broker, payload, props=props, reply_topic=f"{HEADEND}/replies/3")
    doc = json.loads(reply.payload)
    assert doc["ok"] is False and doc["error"].startswith("reply_to: topic ")
    assert f"{BASE}/event/alarm" not in topics_of(seen)
    assert daemon.seen == []


def test_refusal_of_a_response_topic_carries_the_correlation_data(
    broker: MosquittoBroker,
) -> None:
    props = response_topic("other-tenant/replies/9", b"req-9")
    reply, _, _ = reply_of(broker, command(), props=props)
    assert reply.properties.CorrelationData == b"req-9"


def test_reply_to_over_256_bytes_is_refused_with_its_size_and_not_echoed(
    broker: MosquittoBroker,
) -> None:
    long_topic = f"{HEADEND}/" + "x" * 300
    reply, seen, daemon = reply_of(broker, command(reply_to=long_topic))
    doc = json.loads(reply.payload)
    assert doc["ok"] is False and doc["error"] == "reply_to: 322 bytes, at most 256"
    assert long_topic not in topics_of(seen)
    assert daemon.seen == []


def test_correlation_id_of_256_bytes_is_accepted_and_echoed(broker: MosquittoBroker) -> None:
    reply, _, daemon = reply_of(broker, command(correlation_id="é" * 128))
    doc = json.loads(reply.payload)
    assert doc["ok"] is True and doc["correlation_id"] == "é" * 128
    assert [c.name for c in daemon.seen] == ["get_status"]


def test_correlation_id_over_256_bytes_is_refused_with_its_size_and_not_echoed(
    broker: MosquittoBroker,
) -> None:
    reply, _, daemon = reply_of(broker, command(correlation_id="c" * 257))
    doc = json.loads(reply.payload)
    assert doc["ok"] is False and doc["error"] == "correlation_id: 257 bytes, at most 256"
    assert "correlation_id" not in doc
    assert daemon.seen == []


def test_correlation_id_of_10_mb_is_refused_and_not_echoed(broker: MosquittoBroker) -> None:
    # Far beyond the payload limit: refused before it is even decoded.
    reply, _, daemon = reply_of(broker, command(correlation_id="c" * 10_000_000))
    doc = json.loads(reply.payload)
    assert doc["ok"] is False and f"at most {MAX_COMMAND_BYTES}" in doc["error"]
    assert "correlation_id" not in doc and len(reply.payload) < 1024
    assert daemon.seen == []


def test_correlation_data_over_256_bytes_is_refused_and_not_echoed(
    broker: MosquittoBroker,
) -> None:
    props = response_topic(f"{HEADEND}/replies/1", b"d" * 257)
    reply, _, daemon = reply_of(broker, command(), props=props, reply_topic=f"{HEADEND}/replies/1")
    doc = json.loads(reply.payload)
    assert doc["ok"] is False and doc["error"] == "correlation data: 257 bytes, at most 256"
    assert getattr(reply.properties, "CorrelationData", None) is None
    assert daemon.seen == []


def test_correlation_data_of_256_bytes_is_accepted_and_echoed(broker: MosquittoBroker) -> None:
    props = response_topic(f"{HEADEND}/replies/1", b"d" * 256)
    reply, _, _ = reply_of(broker, command(), props=props, reply_topic=f"{HEADEND}/replies/1")
    assert json.loads(reply.payload)["ok"] is True
    assert reply.properties.CorrelationData == b"d" * 256


def test_command_payload_over_64_kib_is_refused_with_its_size(broker: MosquittoBroker) -> None:
    payload = command(args={"meters": ["12345678"] * 7000})
    reply, _, daemon = reply_of(broker, payload, name="backfill")
    doc = json.loads(reply.payload)
    assert doc["ok"] is False
    assert doc["error"] == f"payload: {len(payload)} bytes, at most {MAX_COMMAND_BYTES}"
    assert daemon.seen == []


def test_a_command_refused_before_the_daemon_sees_it_is_reported_for_the_audit(
    broker: MosquittoBroker,
) -> None:
    reported: list[tuple[str, dict[str, Any], str]] = []
    daemon = Daemon()

    async def hook(name: str, doc: dict[str, Any], reason: str) -> None:
        reported.append((name, doc, reason))

    async def scenario() -> None:
        uplink: MqttUplink = make_uplink(broker, on_command=daemon, on_refused=hook)
        await uplink.start()
        await asyncio.wait_for(uplink.connected.wait(), 10)
        head_end = Subscriber(broker, ["#"])
        try:
            head_end.publish(f"{BASE}/command/get_status", command("gw-other", client_id="he"))
            await head_end.wait_for(f"{BASE}/reply/get_status")
            head_end.publish(f"{BASE}/command/get_status", command())  # answered by the daemon
            await head_end.wait_for(
                f"{BASE}/reply/get_status",
                where=lambda r: b'"ok":true' in r.payload.replace(b" ", b""),
            )
        finally:
            head_end.close()
            await uplink.stop()

    asyncio.run(asyncio.wait_for(scenario(), 30))
    assert [(n, d.get("client_id"), r) for n, d, r in reported] == [
        ("get_status", "he", "gateway: command is for 'gw-other', this is 'gw-0001'")
    ]
    assert [c.name for c in daemon.seen] == ["get_status"]
