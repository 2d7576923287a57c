"""Configuration of shared gateways: tenants, their meters, keys and uplinks."""

from __future__ import annotations

from pathlib import Path

import pytest

from concentratord.config import (
    DEFAULT_TENANT,
    ConfigError,
    check_config,
    load_config,
    load_keys,
)
from tests.concentratord.config_helpers import KEY_LINE, config_file, ids, minimal, toml_list, write

HEAD = '[gateway]\nid = "gw-shared"\nprofile = "{profile}"\n'


def tenant(name: str, meters: list[str], extra: str = "") -> str:
    return (
        f'\n[[tenant]]\nname = "{name}"\nmeters = {toml_list(meters)}\n{extra}'
        f'[tenant.uplink]\nbroker = "mqtt://{name}.example"\nprefix = "{name}"\n'
    )


def shared(tmp_path: Path, *tenants: str, profile: str = "concentrator", extra: str = "") -> Path:
    return config_file(tmp_path, HEAD.format(profile=profile) + extra + "".join(tenants))


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return str(caught.value)


def test_without_tenants_one_default_tenant_takes_every_meter(tmp_path: Path) -> None:
    config = load_config(minimal(tmp_path))
    (only,) = config.tenants
    assert (only.name, only.payload) == (DEFAULT_TENANT, "decoded")
    assert only.uplink == config.uplink
    assert config.tenant_for("12345678") is only


def test_meters_are_routed_to_their_tenant_by_id_and_pattern(tmp_path: Path) -> None:
    path = shared(tmp_path, tenant("water", ["7634*"]), tenant("heat", ["12000001", "1300??01"]))
    config = load_config(path)
    assert [t.name for t in config.tenants] == ["water", "heat"]
    assert config.tenant_for("76341234") is config.tenants[0]
    assert config.tenant_for("12000001") is config.tenants[1]
    assert config.tenant_for("13004201") is config.tenants[1]
    assert config.tenant_for("13004202") is None
    assert config.tenant_for("99999999") is None


def test_duplicate_meter_across_tenants_refused_naming_both(tmp_path: Path) -> None:
    path = shared(tmp_path, tenant("water", ["76348799"]), tenant("heat", ["76348799"]))
    assert error_of(path) == (
        f"{path}: tenant[2].meters: meter 76348799 in both tenant 'water' and tenant 'heat'"
    )


def test_pattern_covering_another_tenants_meter_refused(tmp_path: Path) -> None:
    path = shared(tmp_path, tenant("water", ["76348799"]), tenant("heat", ["7634*"]))
    assert error_of(path) == (
        f"{path}: tenant[2].meters: meter 76348799 in both tenant 'water' and tenant 'heat'"
    )


def test_overlapping_patterns_across_tenants_refused(tmp_path: Path) -> None:
    path = shared(tmp_path, tenant("water", ["76*"]), tenant("heat", ["7634??01"]))
    assert error_of(path) == (
        f"{path}: tenant[2].meters: meters matching 76* and 7634??01 "
        "in both tenant 'water' and tenant 'heat'"
    )


def test_overlap_within_one_tenant_accepted(tmp_path: Path) -> None:
    config = load_config(shared(tmp_path, tenant("water", ["7634*", "76348799"])))
    assert config.tenant_for("76348799") is config.tenants[0]


def test_meter_listed_twice_in_a_tenant_refused(tmp_path: Path) -> None:
    path = shared(tmp_path, tenant("water", ["76348799", "76348799"]))
    assert error_of(path) == f"{path}: tenant[1].meters: 76348799 is listed twice"


def test_bad_meter_pattern_refused_with_position(tmp_path: Path) -> None:
    path = shared(tmp_path, tenant("water", ["76348799", "76*99"]))
    assert error_of(path).startswith(f"{path}: tenant[1].meters[2]: meter must be 8 digits")


def test_tenant_meter_lists_beyond_the_profile_refused(tmp_path: Path) -> None:
    path = shared(
        tmp_path,
        tenant("water", ids(3)),
        tenant("heat", ids(3, start=20_000_000)),
        profile="bridge",
    )
    assert error_of(path) == (
        f"{path}: tenant[2].meters: at most 5 meters on profile bridge (limits.max_meters), "
        "got 6 up to here"
    )


def test_one_tenant_beyond_the_mini_profile_refused(tmp_path: Path) -> None:
    path = shared(tmp_path, tenant("water", ids(26)), profile="mini")
    assert error_of(path).startswith(f"{path}: tenant[1].meters: at most 25 meters on profile mini")


def test_duplicate_tenant_name_refused(tmp_path: Path) -> None:
    path = shared(tmp_path, tenant("water", ["1*"]), tenant("water", ["2*"]))
    assert error_of(path) == f"{path}: tenant[2].name: 'water' is also tenant[1]"


def test_raw_tenant_with_keys_file_refused(tmp_path: Path) -> None:
    write(tmp_path / "keys.txt", KEY_LINE)
    extra = 'payload = "raw"\nkeys_file = "keys.txt"\n'
    path = shared(tmp_path, tenant("heat", ["1*"], extra))
    assert error_of(path).startswith(f"{path}: tenant[1].keys_file: a raw tenant holds no keys")


def test_top_level_uplink_with_tenants_refused(tmp_path: Path) -> None:
    extra = '[uplink]\nbroker = "mqtt://h"\n'
    path = shared(tmp_path, tenant("water", ["1*"]), extra=extra)
    assert error_of(path).startswith(f"{path}: uplink: not used with [[tenant]]")


def test_top_level_keys_file_with_tenants_refused(tmp_path: Path) -> None:
    write(tmp_path / "keys.txt", KEY_LINE)
    path = shared(tmp_path, tenant("water", ["1*"]), extra='[keys]\nfile = "keys.txt"\n')
    assert error_of(path).startswith(f"{path}: keys.file: not used with [[tenant]]")


def test_tenant_without_uplink_refused(tmp_path: Path) -> None:
    text = HEAD.format(profile="mini") + '[[tenant]]\nname = "water"\nmeters = ["1*"]\n'
    path = config_file(tmp_path, text)
    assert error_of(path) == f"{path}: tenant[1].uplink: required key missing"


def test_priority_meter_in_no_tenant_refused(tmp_path: Path) -> None:
    extra = '[schedule]\npriority_meters = ["76348799", "99999999"]\n'
    path = shared(tmp_path, tenant("water", ["7634*"]), extra=extra)
    assert error_of(path) == f"{path}: schedule.priority_meters[2]: 99999999 is in no tenant"


def test_each_tenant_gets_only_its_own_keys(tmp_path: Path) -> None:
    write(tmp_path / "water.txt", KEY_LINE)
    path = shared(
        tmp_path,
        tenant("water", ["7634*"], 'keys_file = "water.txt"\n'),
        tenant("heat", ["1*"], 'payload = "raw"\n'),
    )
    keys = load_keys(load_config(path), str(path))
    assert keys == {"water": {"76348799": bytes(range(16))}, "heat": {}}


def test_keys_file_bad_line_names_file_and_line(tmp_path: Path) -> None:
    keys = write(tmp_path / "keys.txt", KEY_LINE + "# comment\n76348800 00112233\n")
    path = minimal(tmp_path, '[keys]\nfile = "keys.txt"\n')
    assert error_of(path) == (
        f"{path}: keys.file: {keys}:3: key of meter 76348800 has 4 bytes, AES-128 needs 16"
        " (a DES key of a security mode 2 meter 8)"
    )


def test_missing_keys_file_refused(tmp_path: Path) -> None:
    path = minimal(tmp_path, '[keys]\nfile = "absent.txt"\n')
    assert error_of(path) == (
        f"{path}: keys.file: cannot read {tmp_path / 'absent.txt'}: No such file or directory"
    )


def test_keys_file_readable_by_group_refused(tmp_path: Path) -> None:
    keys = write(tmp_path / "keys.txt", KEY_LINE, 0o640)
    path = minimal(tmp_path, '[keys]\nfile = "keys.txt"\n')
    assert error_of(path) == (
        f"{path}: keys.file: {keys} is accessible by group or others (mode 0640): chmod 600 it, "
        "or set keys.allow_insecure_permissions"
    )


def test_insecure_keys_file_allowed_explicitly_is_warned_about(tmp_path: Path) -> None:
    write(tmp_path / "keys.txt", KEY_LINE, 0o644)
    path = minimal(tmp_path, '[keys]\nfile = "keys.txt"\nallow_insecure_permissions = true\n')
    warnings = check_config(path)
    assert any("keys.file" in w and "mode 0644" in w for w in warnings)


def test_tenant_keys_file_bad_line_names_the_tenant_key(tmp_path: Path) -> None:
    keys = write(tmp_path / "water.txt", "76348799\n")
    path = shared(tmp_path, tenant("water", ["7634*"], 'keys_file = "water.txt"\n'))
    assert error_of(path) == (
        f"{path}: tenant[1].keys_file: {keys}:1: expected 'ID HEX', 'MAN:ID HEX' or 'ID,HEX'"
    )


def test_client_id_defaults_per_tenant(tmp_path: Path) -> None:
    config = load_config(shared(tmp_path, tenant("water", ["1*"]), tenant("heat", ["2*"])))
    assert [config.client_id(t) for t in config.tenants] == [
        "concentratord-gw-shared-water",
        "concentratord-gw-shared-heat",
    ]


def test_broker_settings_carry_the_tenant_uplink(tmp_path: Path) -> None:
    extra = 'username = "u"\npassword = "p"\nkeepalive = 300\n'
    config = load_config(minimal(tmp_path, extra))
    settings = config.broker_settings(config.tenants[0])
    assert (settings.url, settings.username, settings.password) == (
        "mqtt://127.0.0.1:1883",
        "u",
        "p",
    )
    assert (settings.keepalive, settings.client_id) == (300, "concentratord-gw-test-default")


def test_reply_prefix_under_another_tenants_prefix_refused(tmp_path: Path) -> None:
    water = tenant("water", ["1*"]) + 'reply_prefix = "heat/replies"\n'
    path = shared(tmp_path, water, tenant("heat", ["2*"]))
    assert error_of(path) == (
        f"{path}: tenant[1].uplink.reply_prefix: 'heat/replies/' meets the topics of tenant "
        "'heat' (prefix 'heat')"
    )


def test_reply_prefix_containing_another_tenants_prefix_refused(tmp_path: Path) -> None:
    water = tenant("water", ["1*"]) + 'reply_prefix = "utility"\n'
    heat = tenant("heat", ["2*"]).replace('prefix = "heat"', 'prefix = "utility/heat"')
    path = shared(tmp_path, water, heat)
    assert error_of(path).startswith(f"{path}: tenant[1].uplink.reply_prefix: 'utility/' meets")


def test_tenants_sharing_a_prefix_may_share_its_reply_prefix(tmp_path: Path) -> None:
    same = 'prefix = "shared"'
    water = tenant("water", ["1*"]).replace('prefix = "water"', same)
    heat = tenant("heat", ["2*"]).replace('prefix = "heat"', same)
    config = load_config(shared(tmp_path, water, heat))
    assert {t.uplink.reply_prefix for t in config.tenants} == {"shared/headend/"}


def test_single_bracket_tenant_table_refused_with_a_hint(tmp_path: Path) -> None:
    text = HEAD.format(profile="mini") + '[tenant]\nname = "water"\nmeters = ["1*"]\n'
    path = config_file(tmp_path, text)
    assert error_of(path) == (
        f"{path}: tenant: must be [[tenant]] tables (double brackets), not one [tenant] table"
    )


def test_tenant_with_no_meters_refused(tmp_path: Path) -> None:
    path = shared(tmp_path, tenant("water", []))
    assert error_of(path) == (
        f"{path}: tenant[1].meters: give the tenant's meters, or meters_from_keys = true"
    )


def test_a_pattern_may_name_the_manufacturer(tmp_path: Path) -> None:
    path = shared(tmp_path, tenant("water", ["KAM:7634*"]), tenant("gas", ["ELS:76348799"]))
    config = load_config(path)
    assert config.tenants[0].meters == ("KAM:7634????",)
    assert config.tenant_for("76341234", "KAM") is config.tenants[0]
    assert config.tenant_for("76341234", "DME") is None
    assert config.tenant_for("76348799", "ELS") is config.tenants[1]


def test_one_id_of_two_manufacturers_may_belong_to_two_tenants(tmp_path: Path) -> None:
    path = shared(tmp_path, tenant("water", ["KAM:76348799"]), tenant("heat", ["DME:76348799"]))
    config = load_config(path)
    assert config.tenant_for("76348799", "KAM") is config.tenants[0]
    assert config.tenant_for("76348799", "DME") is config.tenants[1]


def test_an_id_without_manufacturer_overlaps_that_id_of_every_manufacturer(
    tmp_path: Path,
) -> None:
    path = shared(tmp_path, tenant("water", ["76348799"]), tenant("heat", ["DME:7634*"]))
    assert error_of(path) == (
        f"{path}: tenant[2].meters: meter 76348799 in both tenant 'water' and tenant 'heat'"
    )


def test_a_manufacturer_must_be_three_letters(tmp_path: Path) -> None:
    path = shared(tmp_path, tenant("water", ["KAMX:7634*"]))
    assert "optionally after a manufacturer" in error_of(path)
