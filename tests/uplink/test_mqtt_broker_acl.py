"""The test broker's users and ACLs (tests/mqtt_broker.py): a helper test, not the daemon's.

One broker for the module, two users each confined to their own tree, as two tenants'
head-ends on a shared broker would be.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mqtt_broker import MosquittoBroker, Subscriber

USERS = {"utility-a": "secret-a", "utility-b": "secret-b"}
ACL = {
    "utility-a": [("readwrite", "a/#")],
    "utility-b": [("readwrite", "b/#")],
}


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoBroker]:
    with MosquittoBroker(tmp_path_factory.mktemp("acl") / "broker", users=USERS, acl=ACL) as b:
        yield b


def login(broker: MosquittoBroker, user: str | None, topics: list[str], **kw: str) -> Subscriber:
    password = kw.get("password", USERS.get(user or "", ""))
    return Subscriber(
        broker, topics, client_id=f"test-{user}-{len(topics)}", username=user, password=password
    )


def test_config_has_the_acl_file_and_refuses_anonymous(broker: MosquittoBroker) -> None:
    config = broker.config.read_text()
    assert "allow_anonymous false" in config
    acl = (broker.workdir / "acl").read_text()
    assert "user utility-a\ntopic readwrite a/#" in acl
    assert "user utility-b\ntopic readwrite b/#" in acl


def test_a_user_reads_and_writes_its_tree_and_nothing_of_another(broker: MosquittoBroker) -> None:
    a = login(broker, "utility-a", ["a/#", "b/#"])
    b = login(broker, "utility-b", ["b/#"])
    try:
        assert not a.refused and not b.refused
        b.publish("b/meter/1", b"b's own")
        b.publish("a/meter/1", b"b into a's tree")  # write denied by the ACL: dropped
        a.publish("a/marker", b"a's own")  # after b's PUBACKs: delivered after theirs would be
        asyncio.run(a.wait_for("a/marker"))
        asyncio.run(b.wait_for("b/meter/1"))
        assert [(m.topic, m.payload) for m in a.messages] == [("a/marker", b"a's own")]
        assert [m.topic for m in b.messages] == ["b/meter/1"]
    finally:
        a.close()
        b.close()


def test_wrong_password_is_refused(broker: MosquittoBroker) -> None:
    sub = login(broker, "utility-a", ["a/#"], password="guess")
    assert sub.refused
    assert sub.reason is not None
    with pytest.raises(ConnectionRefusedError):
        sub.publish("a/x", b"")
    sub.close()


def test_anonymous_is_refused(broker: MosquittoBroker) -> None:
    sub = login(broker, None, ["#"])
    assert sub.refused
    sub.close()


def test_acl_needs_users(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs users"):
        MosquittoBroker(tmp_path, acl=ACL)
    with pytest.raises(ValueError, match="unknown user"):
        MosquittoBroker(tmp_path, users={"utility-a": "x"}, acl=ACL)
