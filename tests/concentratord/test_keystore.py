"""The key store: configured files as the base, one runtime file of imports and removals
over it, the decoder's live view, listings without key material."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from concentratord import keywrap
from concentratord.keystore import KeyImportError, KeyStore

KEY = bytes(range(16))
OTHER = bytes(range(16, 32))
OWNERS = {"11111111": "a", "22222222": "raw", "33333333": "b"}


def route(meter_id: str, scope: str | None) -> str:
    owner = OWNERS.get(meter_id.rpartition(":")[2])
    if owner is None or (scope is not None and owner != scope):
        raise KeyImportError(f"meter {meter_id} is not a meter of this tenant")
    return owner


def store(tmp_path: Path, base: dict[str, dict[str, bytes]] | None = None, **kw: bytes) -> KeyStore:
    keys = KeyStore(
        base or {},
        sources={"a": "/etc/concentratord/a.keys"},
        tenants={"a": True, "b": True, "raw": False},
        state_dir=tmp_path,
        device_key=kw.get("device_key"),
    )
    keys.load_runtime(lambda m: OWNERS.get(m))
    return keys


def test_an_imported_key_is_seen_through_the_tenants_view(tmp_path: Path) -> None:
    keys = store(tmp_path)
    view = keys.keys_of("a")
    keys.import_keys({"11111111": KEY}, route, None)
    assert view["11111111"] == KEY


def test_an_imported_key_outlives_a_restart(tmp_path: Path) -> None:
    store(tmp_path).import_keys({"11111111": KEY}, route, None)
    assert store(tmp_path).keys_of("a")["11111111"] == KEY


def test_the_runtime_file_is_private(tmp_path: Path) -> None:
    keys = store(tmp_path)
    keys.import_keys({"11111111": KEY}, route, None)
    assert stat.S_IMODE(keys.path.stat().st_mode) == 0o600


def test_the_runtime_file_holds_only_runtime_changes_not_the_base(tmp_path: Path) -> None:
    keys = store(tmp_path, {"a": {"11111111": KEY}})
    keys.import_keys({"33333333": OTHER}, route, None)
    text = keys.path.read_text()
    assert KEY.hex().upper() not in text
    assert "b 33333333 " in text


def test_an_import_replaces_the_configured_key(tmp_path: Path) -> None:
    keys = store(tmp_path, {"a": {"11111111": KEY}})
    keys.import_keys({"11111111": OTHER}, route, None)
    assert store(tmp_path, {"a": {"11111111": KEY}}).keys_of("a")["11111111"] == OTHER


def test_a_removed_configured_key_stays_removed_after_a_restart(tmp_path: Path) -> None:
    keys = store(tmp_path, {"a": {"11111111": KEY}})
    assert keys.remove_keys(["11111111"], None) == ["11111111"]
    assert "11111111" not in store(tmp_path, {"a": {"11111111": KEY}}).keys_of("a")


def test_an_import_with_one_foreign_meter_changes_nothing(tmp_path: Path) -> None:
    keys = store(tmp_path)
    with pytest.raises(KeyImportError, match="33333333"):
        keys.import_keys({"11111111": KEY, "33333333": OTHER}, route, "a")
    assert dict(keys.keys_of("a")) == {}
    assert not keys.path.exists()


def test_a_raw_tenant_is_refused_keys(tmp_path: Path) -> None:
    with pytest.raises(KeyImportError, match="raw"):
        store(tmp_path).import_keys({"22222222": KEY}, route, None)


def test_a_tenant_cannot_remove_another_tenants_key(tmp_path: Path) -> None:
    keys = store(tmp_path)
    keys.import_keys({"33333333": KEY}, route, None)
    with pytest.raises(KeyImportError, match="no key"):
        keys.remove_keys(["33333333"], "a")
    assert keys.keys_of("b")["33333333"] == KEY


def test_listing_names_ids_and_sources_never_keys(tmp_path: Path) -> None:
    keys = store(tmp_path, {"a": {"11111111": KEY}})
    keys.import_keys({"33333333": OTHER}, route, None)
    rows = keys.listing()
    assert rows == [
        {"tenant": "a", "id": "11111111", "source": "/etc/concentratord/a.keys"},
        {"tenant": "b", "id": "33333333", "source": "runtime"},
    ]
    assert KEY.hex() not in str(rows).lower() and OTHER.hex() not in str(rows).lower()


def test_listing_of_one_tenant_shows_only_its_keys(tmp_path: Path) -> None:
    keys = store(tmp_path, {"a": {"11111111": KEY}})
    keys.import_keys({"33333333": OTHER}, route, None)
    assert [r["id"] for r in keys.listing("b")] == ["33333333"]


def test_holders_name_the_tenants_with_a_key_of_that_id(tmp_path: Path) -> None:
    keys = store(tmp_path, {"a": {"KAM:11111111": KEY}})
    assert keys.holders("11111111") == ["a"]
    assert keys.holders("33333333") == []


def test_a_wrapped_runtime_file_holds_no_key_in_the_clear(tmp_path: Path) -> None:
    device = bytes(range(100, 132))
    store(tmp_path, device_key=device).import_keys({"11111111": KEY}, route, None)
    blob = (tmp_path / "keys.local").read_bytes()
    assert keywrap.is_wrapped(blob)
    assert KEY not in blob and KEY.hex().upper().encode() not in blob
    assert store(tmp_path, device_key=device).keys_of("a")["11111111"] == KEY


def test_a_wrapped_runtime_file_without_the_device_key_stops_the_start(tmp_path: Path) -> None:
    store(tmp_path, device_key=bytes(32)).import_keys({"11111111": KEY}, route, None)
    with pytest.raises(KeyImportError, match="no device key"):
        store(tmp_path)


def test_an_earlier_keys_local_without_tenants_is_read(tmp_path: Path) -> None:
    (tmp_path / "keys.local").write_text(f"# keys added\n11111111 {KEY.hex()}\n")
    assert store(tmp_path).keys_of("a")["11111111"] == KEY
