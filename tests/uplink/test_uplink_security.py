"""TLS with client certificates and username/password, against a real Mosquitto."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

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


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A broker that takes TLS only and requires a client certificate signed by its CA."""
    tls = make_tls_files(tmp_path / "tls")
    with MosquittoBroker(tmp_path / "broker", tls=tls, require_certificate=True) as running:
        yield running


@pytest.fixture
def password_broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A broker that refuses anonymous clients and knows the user ``gw``."""
    with MosquittoBroker(tmp_path / "broker", users={"gw": "s3cret"}) as running:
        yield running


def test_tls_with_client_certificate_connects(tls_broker: MosquittoBroker) -> None:
    assert tls_broker.tls is not None
    files = {
        "ca_file": str(tls_broker.tls.ca),
        "cert_file": str(tls_broker.tls.client_cert),
        "key_file": str(tls_broker.tls.client_key),
    }
    assert asyncio.run(connects(tls_broker, files))


def test_tls_without_client_certificate_is_refused(tls_broker: MosquittoBroker) -> None:
    assert tls_broker.tls is not None
    assert not asyncio.run(connects(tls_broker, {"ca_file": str(tls_broker.tls.ca)}))


def test_tls_with_unknown_ca_is_refused(tmp_path: Path, tls_broker: MosquittoBroker) -> None:
    other = make_tls_files(tmp_path / "other")
    files = {
        "ca_file": str(other.ca),
        "cert_file": str(other.client_cert),
        "key_file": str(other.client_key),
    }
    assert not asyncio.run(connects(tls_broker, files))


def test_username_and_password_connect(password_broker: MosquittoBroker) -> None:
    settings = {"username": "gw", "password": "s3cret"}
    assert asyncio.run(connects(password_broker, settings))


def test_wrong_password_is_refused(password_broker: MosquittoBroker) -> None:
    settings = {"username": "gw", "password": "guess"}
    assert not asyncio.run(connects(password_broker, settings))
