"""The tenant map: patterns first, then the keys a tenant supplied; tenants added at run
time wait for their share ID; key routes never name another tenant."""

from __future__ import annotations

import pytest

from concentratord.config import TenantConfig
from concentratord.keystore import KeyImportError
from concentratord.tenancy import TenantError, TenantMap


def tenant(name: str, meters: list[str], **extra: object) -> TenantConfig:
    uplink = {"broker": "mqtt://127.0.0.1:1883", "prefix": name, "password": "pw-" + name}
    uplink["username"] = name
    return TenantConfig.model_validate({"name": name, "meters": meters, "uplink": uplink, **extra})


def configured() -> TenantMap:
    return TenantMap([tenant("water", ["1000*"]), tenant("heat", ["2000*"])])


def test_a_meter_belongs_to_the_tenant_whose_pattern_matches() -> None:
    tenants = configured()
    assert tenants.owner("10000001") == "water"
    assert tenants.owner("20000001") == "heat"
    assert tenants.owner("30000001") is None


def test_a_meters_from_keys_tenant_owns_the_meters_it_holds_keys_for() -> None:
    tenants = TenantMap([tenant("water", ["1000*"]), tenant("gas", [], meters_from_keys=True)])
    tenants.bind_key_holders(lambda meter, _man: ["gas"] if meter == "30000001" else [])
    assert tenants.owner("30000001") == "gas"
    assert tenants.owner("30000002") is None


def test_a_pattern_wins_over_a_key_held_by_another_tenant() -> None:
    tenants = TenantMap([tenant("water", ["1000*"]), tenant("gas", [], meters_from_keys=True)])
    tenants.bind_key_holders(lambda meter, _man: ["gas"])
    assert tenants.owner("10000001") == "water"


def test_a_tenant_may_route_keys_of_its_own_meters_only() -> None:
    tenants = configured()
    assert tenants.key_route("10000001", "water") == "water"
    with pytest.raises(KeyImportError, match="not a meter of this tenant") as err:
        tenants.key_route("20000001", "water")
    assert "heat" not in str(err.value)


def test_a_meters_from_keys_tenant_may_route_keys_of_meters_of_no_one() -> None:
    tenants = TenantMap([tenant("water", ["1000*"]), tenant("gas", [], meters_from_keys=True)])
    assert tenants.key_route("30000001", "gas") == "gas"
    with pytest.raises(KeyImportError):
        tenants.key_route("10000001", "gas")


def test_local_staff_route_keys_to_the_meters_tenant() -> None:
    assert configured().key_route("KAM:20000001", None) == "heat"


def test_a_runtime_tenant_owns_nothing_until_it_presents_its_share_id() -> None:
    tenants = configured()
    share = tenants.add(tenant("gas", ["3000*"]))
    assert tenants.owner("30000001") is None and not tenants.is_active("gas")
    assert tenants.present("gas", "share-wrong") is False
    assert tenants.present("gas", share) is True
    assert tenants.owner("30000001") == "gas"


def test_a_runtime_tenant_overlapping_another_is_refused() -> None:
    with pytest.raises(TenantError, match="overlap"):
        configured().add(tenant("gas", ["10001234"]))


def test_a_configured_tenant_cannot_be_removed_at_run_time() -> None:
    with pytest.raises(TenantError, match="configured"):
        configured().remove("water")


def test_runtime_tenants_survive_dump_and_load_with_their_state() -> None:
    tenants = configured()
    share = tenants.add(tenant("gas", ["3000*"]))
    tenants.present("gas", share)
    again = configured()
    assert again.load(tenants.dump()) == ["gas"]
    assert again.is_active("gas") and again.owner("30000001") == "gas"
    password = again.config("gas").uplink.password
    assert password is not None and password.get_secret_value() == "pw-gas"


def test_the_listing_shows_no_password_and_no_share_id() -> None:
    tenants = configured()
    share = tenants.add(tenant("gas", ["3000*"]))
    text = str(tenants.listing())
    assert "pw-gas" not in text and share not in text
    assert "waiting for its share ID" in text
