"""MqttUplink against a real Mosquitto: publish-with-ack, outages, retained state, LWT."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from protocols.backoff import Backoff
from tests.mqtt_broker import MosquittoBroker, Subscriber, make_uplink
from uplink import MqttUplink, NotConnectedError, PublishTimeoutError

ROOT = Path(__file__).resolve().parents[2]
STATE = "concentratord/gateway/gw-0001/state"
ALARM = "concentratord/gateway/gw-0001/event/alarm"


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 30))


async def started(broker: MosquittoBroker, **options: Any) -> MqttUplink:
    uplink: MqttUplink = make_uplink(broker, **options)
    await uplink.start()
    await asyncio.wait_for(uplink.connected.wait(), 10)
    return uplink


def state_of(payload: bytes) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(payload)
    return doc


def test_online_state_is_retained_for_a_late_subscriber(broker: MosquittoBroker) -> None:
    async def scenario() -> None:
        uplink = await started(broker)
        late = Subscriber(broker, [STATE], client_id="late")
        message = await late.wait_for(STATE)
        assert message.retain
        doc = state_of(message.payload)
        assert doc["state"] == "online" and doc["gateway"] == "gw-0001"
        assert {"schema", "message_id", "version", "profile", "radio", "uptime_s"} <= set(doc)
        late.close()
        await uplink.stop()

    run(scenario)


def test_publish_returns_after_the_broker_acknowledged(broker: MosquittoBroker) -> None:
    async def scenario() -> None:
        sub = Subscriber(broker, [ALARM])
        uplink = await started(broker)
        await uplink.publish(ALARM, b'{"n":1}')
        assert uplink.counters["acked"] >= 2  # the online state, then this one
        assert (await sub.wait_for(ALARM)).payload == b'{"n":1}'
        sub.close()
        await uplink.stop()

    run(scenario)


def test_publish_while_broker_down_raises_not_connected(broker: MosquittoBroker) -> None:
    async def scenario() -> None:
        uplink = await started(broker)
        broker.stop()
        with pytest.raises(NotConnectedError):
            # Either paho already knows the socket is gone, or the PUBACK never comes.
            await uplink.publish(ALARM, b"{}", timeout=10)
        await uplink.stop()

    run(scenario)


def test_publish_waiting_for_puback_fails_when_connection_drops(broker: MosquittoBroker) -> None:
    async def scenario() -> None:
        uplink = await started(broker)
        broker.pause()  # the publish goes out but no PUBACK comes back
        pending = asyncio.create_task(uplink.publish(ALARM, b"{}", timeout=20))
        while uplink.inflight == 0:
            await asyncio.sleep(0.01)
        assert not pending.done()
        broker.kill()
        with pytest.raises(NotConnectedError):
            await pending
        await uplink.stop()

    run(scenario)


def test_publish_without_puback_times_out(broker: MosquittoBroker) -> None:
    async def scenario() -> None:
        uplink = await started(broker)
        broker.pause()
        with pytest.raises(PublishTimeoutError):
            await uplink.publish(ALARM, b"{}", timeout=0.3)
        broker.resume()
        await uplink.stop()

    run(scenario)


def test_inflight_publishes_are_bounded_by_max_inflight(broker: MosquittoBroker) -> None:
    async def scenario() -> None:
        uplink = await started(broker, settings={"max_inflight": 2})
        broker.pause()
        tasks = [asyncio.create_task(uplink.publish(ALARM, b"{}", timeout=20)) for _ in range(5)]
        while uplink.inflight < 2:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # give the other three every chance to slip through
        assert uplink.inflight == 2
        broker.resume()
        await asyncio.gather(*tasks)
        await uplink.stop()

    run(scenario)


def test_reconnects_after_broker_restart_and_publishes_online_again(
    broker: MosquittoBroker,
) -> None:
    async def scenario() -> None:
        uplink = await started(broker)
        broker.stop()
        while uplink.connected.is_set():
            await asyncio.sleep(0.01)
        broker.start()
        await asyncio.wait_for(uplink.connected.wait(), 10)
        sub = Subscriber(broker, [STATE])
        doc = state_of((await sub.wait_for(STATE)).payload)
        # A fresh document from the provider: the counters say this is the second connect.
        assert doc["state"] == "online" and doc["counters"]["connects"] == 2
        await uplink.publish(ALARM, b"{}")
        sub.close()
        await uplink.stop()

    run(scenario)


def test_backoff_doubles_up_to_the_maximum_with_jitter() -> None:
    backoff = Backoff(1.0, 8.0, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(6)]
    bases = [1, 2, 4, 8, 8, 8]
    assert all(base / 2 <= d < base for d, base in zip(delays, bases, strict=True))
    backoff.reset()
    assert backoff.next_delay() < 1.0


def test_clean_stop_leaves_retained_offline_state(broker: MosquittoBroker) -> None:
    async def scenario() -> None:
        uplink = await started(broker)
        await uplink.stop()
        sub = Subscriber(broker, [STATE])
        message = await sub.wait_for(STATE)
        doc = state_of(message.payload)
        assert message.retain and doc["state"] == "offline" and doc["reason"] == "stopped"
        sub.close()

    run(scenario)


KILLED_CLIENT = textwrap.dedent(
    """
    import asyncio, sys
    from tests.mqtt_broker import MosquittoBroker, make_uplink

    class Remote:  # just what make_uplink needs of a broker
        url, tls = sys.argv[1], None

    async def main():
        uplink = make_uplink(Remote())
        await uplink.start()
        await uplink.connected.wait()
        print("connected", flush=True)
        await asyncio.sleep(60)

    asyncio.run(main())
    """
)


def test_killed_client_leaves_retained_offline_will(broker: MosquittoBroker) -> None:
    async def scenario() -> None:
        proc = subprocess.Popen(
            [sys.executable, "-c", KILLED_CLIENT, broker.url],
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None
            line = await asyncio.get_running_loop().run_in_executor(None, proc.stdout.readline)
            assert line.strip() == b"connected"
        finally:
            proc.kill()
            proc.wait()
        sub = Subscriber(broker, [STATE])
        message = await sub.wait_for(STATE, where=lambda m: b'"offline"' in m.payload)
        doc = state_of(message.payload)
        assert message.retain and doc["reason"] == "connection lost"
        sub.close()

    run(scenario)


def test_protocol_311_setting_connects_with_311(broker: MosquittoBroker) -> None:
    async def scenario() -> None:
        uplink = await started(broker, settings={"protocol": "3.1.1"})
        assert uplink.protocol == "3.1.1"
        await uplink.publish(ALARM, b"{}")
        await uplink.stop()

    run(scenario)


async def _v5_refusing_proxy(broker: MosquittoBroker) -> asyncio.Server:
    """A 3.1.1-only broker in front of the real one: it answers an MQTT 5 CONNECT with the
    3.1.1 "unacceptable protocol version" CONNACK and passes anything else through."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.read(65536)
        # CONNECT: fixed header, remaining length (1 to 4 bytes), "\0\4MQTT", protocol level.
        length_bytes = next(i for i in range(1, 5) if head[i] < 0x80)
        if head[0] == 0x10 and head[length_bytes + 7] == 5:
            writer.write(b"\x20\x02\x00\x01")
            await writer.drain()
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", broker.port)
        up_writer.write(head)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def test_auto_protocol_falls_back_to_311_when_broker_refuses_v5(
    broker: MosquittoBroker,
) -> None:
    async def scenario() -> None:
        proxy = await _v5_refusing_proxy(broker)
        port = proxy.sockets[0].getsockname()[1]
        uplink = make_uplink(broker, settings={"url": f"mqtt://127.0.0.1:{port}"})
        await uplink.start()
        await asyncio.wait_for(uplink.connected.wait(), 10)
        assert uplink.protocol == "3.1.1"
        await uplink.publish(ALARM, b"{}")
        await uplink.stop()
        proxy.close()

    run(scenario)
