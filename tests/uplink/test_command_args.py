"""The arguments of the key, group and share-ID commands (docs/uplink.md, "Commands"):
checked before the daemon sees them; refusals never echo a key."""

from __future__ import annotations

from typing import Any

import pytest

from uplink.commands import (
    MAX_KEYS,
    CommandRefusedError,
    KeysImportArgs,
    KeysRemoveArgs,
    PriorityMetersArgs,
    VisibilityArgs,
    parse_command,
)

GW = "gw-0001"
KEY = "00112233445566778899AABBCCDDEEFF"


def parse(name: str, args: dict[str, Any], **doc: Any) -> Any:
    return parse_command(name, {"gateway": GW, "args": args, **doc}, gateway=GW)


def refusal(name: str, args: dict[str, Any], **doc: Any) -> str:
    with pytest.raises(CommandRefusedError) as err:
        parse(name, args, **doc)
    return str(err.value)


def test_keys_import_carries_each_meters_key() -> None:
    command = parse("keys_import", {"keys": [{"id": "kam:12345678", "key": KEY.lower()}]})
    assert command.parsed == KeysImportArgs({"KAM:12345678": bytes.fromhex(KEY)})


def test_a_malformed_key_is_refused_by_position_never_echoed() -> None:
    reason = refusal("keys_import", {"keys": [{"id": "12345678", "key": KEY[:-1] + "G"}]})
    assert reason == "args.keys[1].key: 32 hex digits (AES-128)"


def test_a_meter_twice_in_one_import_is_refused() -> None:
    entry = {"id": "12345678", "key": KEY}
    assert "appears twice" in refusal("keys_import", {"keys": [entry, entry]})


def test_an_import_over_the_limit_is_refused() -> None:
    entries = [{"id": f"{i:08d}", "key": KEY} for i in range(MAX_KEYS + 1)]
    assert f"at most {MAX_KEYS}" in refusal("keys_import", {"keys": entries})


def test_keys_remove_names_meters() -> None:
    assert parse("keys_remove", {"meters": ["12345678"]}).parsed == KeysRemoveArgs(("12345678",))


def test_keys_list_takes_no_arguments() -> None:
    assert "unknown argument" in refusal("keys_list", {"tenant": "other"})


def test_visibility_and_priority_accept_a_group() -> None:
    assert parse("visibility", {"group": "block-7"}).parsed == VisibilityArgs(group="block-7")
    parsed = parse("set_priority_meters", {"group": "block-7"}).parsed
    assert parsed == PriorityMetersArgs(group="block-7")


def test_meters_and_group_together_are_refused() -> None:
    assert "not both" in refusal("visibility", {"group": "g", "meters": ["12345678"]})


def test_the_share_id_and_client_id_are_taken_from_the_payload() -> None:
    command = parse("get_status", {}, share_id="share-abc", client_id="headend-1")
    assert command.share_id == "share-abc" and command.client_id == "headend-1"


def test_an_over_long_client_id_is_refused() -> None:
    assert "client_id" in refusal("get_status", {}, client_id="x" * 129)
