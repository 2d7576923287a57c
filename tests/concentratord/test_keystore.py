"""The key store: the only writer of keys; the decoder sees its changes at once; keys added
through the control socket outlive a restart."""

from __future__ import annotations

import stat
from pathlib import Path

from concentratord.keystore import KeyStore

KEY = bytes(range(16))
OWNERS = {"11111111": "a", "22222222": "raw"}


def store(tmp_path: Path, configured: dict[str, dict[str, bytes]] | None = None) -> KeyStore:
    return KeyStore(
        configured or {},
        tenants={"a": True, "raw": False},
        owner=OWNERS.get,
        state_dir=tmp_path,
    )


def test_a_key_added_is_seen_through_the_tenants_view(tmp_path: Path) -> None:
    keys = store(tmp_path)
    view = keys.keys_of("a")
    keys.add("a", "11111111", KEY)
    assert view["11111111"] == KEY


def test_a_key_added_outlives_a_restart(tmp_path: Path) -> None:
    store(tmp_path).add("a", "11111111", KEY)
    again = store(tmp_path)
    again.load_local()
    assert again.keys_of("a")["11111111"] == KEY


def test_the_local_keys_file_is_private(tmp_path: Path) -> None:
    keys = store(tmp_path)
    keys.add("a", "11111111", KEY)
    assert stat.S_IMODE(keys.local_path.stat().st_mode) == 0o600


def test_a_removed_key_stays_removed_after_a_restart(tmp_path: Path) -> None:
    keys = store(tmp_path)
    keys.add("a", "11111111", KEY)
    assert keys.remove("a", "11111111") is True
    again = store(tmp_path)
    again.load_local()
    assert "11111111" not in again.keys_of("a")


def test_a_raw_tenants_meter_has_no_decoding_tenant(tmp_path: Path) -> None:
    assert store(tmp_path).decoding_tenant("22222222") is None


def test_the_listing_names_meters_never_keys(tmp_path: Path) -> None:
    keys = store(tmp_path, {"a": {"11111111": KEY}})
    assert keys.listing() == [{"tenant": "a", "id": "11111111"}]
