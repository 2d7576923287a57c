"""TLS with client certificates and username/password, against a real Mosquitto."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.mqtt_broker import MosquittoBroker, make_tls_files, make_uplink
from uplink import MqttUplink

ALARM = "concentratord/gateway/gw-0001/event/alarm"


async def connects(broker: MosquittoBroker, settings: dict[str, Any]) -> bool:
    """True when the uplink connects and a publish is acknowledged; False when its first
    connection attempt fails."""
    uplink: MqttUplink = make_uplink(broker, settings=settings)
    await uplink.start()
    try:
        async with asyncio.timeout(10):
            while not uplink.connected.is_set() and not uplink.counters["connect_failures"]:
                await asyncio.sleep(0.01)
        if not uplink.connected.is_set():
            return False
        await uplink.publish(ALARM, b"{}")
        return True
    finally:
        await uplink.stop()


def tls_broker(tmp_path: Path) -> MosquittoBroker:
    tls = make_tls_files(tmp_path / "tls")
    return MosquittoBroker(tmp_path / "broker", tls=tls, require_certificate=True)


def test_tls_with_client_certificate_connects(tmp_path: Path) -> None:
    with tls_broker(tmp_path) as broker:
        assert broker.tls is not None
        files = {
            "ca_file": str(broker.tls.ca),
            "cert_file": str(broker.tls.client_cert),
            "key_file": str(broker.tls.client_key),
        }
        assert asyncio.run(connects(broker, files))


def test_tls_without_client_certificate_is_refused(tmp_path: Path) -> None:
    with tls_broker(tmp_path) as broker:
        assert broker.tls is not None
        assert not asyncio.run(connects(broker, {"ca_file": str(broker.tls.ca)}))


def test_tls_with_unknown_ca_is_refused(tmp_path: Path) -> None:
    other = make_tls_files(tmp_path / "other")
    with tls_broker(tmp_path) as broker:
        files = {
            "ca_file": str(other.ca),
            "cert_file": str(other.client_cert),
            "key_file": str(other.client_key),
        }
        assert not asyncio.run(connects(broker, files))


def test_username_and_password_connect(tmp_path: Path) -> None:
    with MosquittoBroker(tmp_path / "broker", users={"gw": "s3cret"}) as broker:
        assert asyncio.run(connects(broker, {"username": "gw", "password": "s3cret"}))


def test_wrong_password_is_refused(tmp_path: Path) -> None:
    with MosquittoBroker(tmp_path / "broker", users={"gw": "s3cret"}) as broker:
        assert not asyncio.run(connects(broker, {"username": "gw", "password": "guess"}))
