"""The one authorisation function: allowed or refused by the table, refusals named and
audited, secrets never written."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from concentratord.access import Caller, NotPermittedError, Permission
from concentratord.access.authority import redact
from concentratord.access.identity import headend
from tests.concentratord.access_helpers import recording_authority

ALICE = Caller("alice", "user", "local")


def check(caller: Caller, permission: Permission, entries: list[dict[str, Any]]) -> str | None:
    authority = recording_authority(entries)
    try:
        asyncio.run(authority.check(caller, permission, "keys import", {"text": "secret"}))
    except NotPermittedError as err:
        return str(err)
    return None


def test_a_refusal_names_the_action_the_permission_and_the_caller() -> None:
    assert check(ALICE, Permission.DEVICES, []) == (
        'keys import needs "device management"; you are alice (user)'
    )


def test_an_allowed_action_writes_nothing() -> None:
    entries: list[dict[str, Any]] = []
    assert check(ALICE, Permission.DATA, entries) is None
    assert entries == []


def test_a_refusal_is_audited_with_user_computer_and_redacted_arguments() -> None:
    entries: list[dict[str, Any]] = []
    check(ALICE, Permission.DEVICES, entries)
    (entry,) = entries
    assert entry["event"] == "refusal"
    assert entry["user"] == "alice" and entry["computer"].endswith("/local")
    assert entry["args"] == {"text": "<redacted>"}
    assert entry["time"] == 1000.0


def test_a_head_end_is_named_by_its_tenant_and_client_id() -> None:
    caller = headend("water", "superuser", "he-1")
    assert caller.user == "tenant:water" and caller.computer.endswith("/mqtt:he-1")
    assert caller.tenant == "water"


def test_a_change_of_the_table_applies_to_the_next_check() -> None:
    entries: list[dict[str, Any]] = []
    authority = recording_authority(entries)
    authority.table.grant("user", "device management")
    asyncio.run(authority.check(ALICE, Permission.DEVICES, "keys list", {}))


@pytest.mark.parametrize("name", ["key", "keys", "text", "password", "token", "share_id"])
def test_secret_arguments_are_redacted_also_nested(name: str) -> None:
    assert redact({"outer": {name: "x"}, name: "y", "meters": ["1"]}) == {
        "outer": {name: "<redacted>"},
        name: "<redacted>",
        "meters": ["1"],
    }


def test_an_audit_that_cannot_be_stored_does_not_change_the_decision() -> None:
    from concentratord.access import Authority, PermissionTable

    async def broken(entry: dict[str, Any]) -> None:
        raise OSError("disk gone")

    authority = Authority(PermissionTable(), broken, lambda: 0.0)
    with pytest.raises(NotPermittedError):
        asyncio.run(authority.check(ALICE, Permission.ACCESS, "audit", {}))
