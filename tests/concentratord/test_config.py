"""Configuration: loading, validation and its one-line errors (config/README.md, "Validation
and errors"; docs/design.md, "Bad input gets a clear error, not a crash")."""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

from concentratord.config import (
    PROFILES,
    ConfigError,
    check_config,
    load_config,
    parse_config,
    profile_limits,
)
from tests.concentratord.config_helpers import KEY_LINE, config_file, ids, minimal, toml_list, write

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "config" / "examples").glob("*.toml"))
SHIPPED = [ROOT / "config" / "concentratord.toml", *EXAMPLES]


def relocated(tmp_path: Path, source: Path) -> Path:
    """A shipped file with its /etc/concentratord files moved into tmp_path (and created)."""
    etc = tmp_path / "etc"
    etc.mkdir(exist_ok=True)
    text = source.read_text().replace("/etc/concentratord/", f"{etc}/")
    for name in re.findall(re.escape(str(etc)) + r"/([\w.-]+)", text):
        write(etc / name, KEY_LINE if name.startswith("keys") else "PEM\n")
    return config_file(tmp_path, text, source.name)


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return str(caught.value)


# ------------------------------------------------------------------------ shipped files


def test_shipped_files_are_the_default_and_one_example_per_profile() -> None:
    examples = {p.stem for p in SHIPPED[1:]}
    assert examples == set(PROFILES)


@pytest.mark.parametrize("source", SHIPPED, ids=lambda p: p.name)
def test_shipped_config_loads(tmp_path: Path, source: Path) -> None:
    config = load_config(relocated(tmp_path, source))
    assert config.gateway.id


@pytest.mark.parametrize("source", SHIPPED[1:], ids=lambda p: p.name)
def test_example_uses_the_profile_it_is_named_for(source: Path) -> None:
    assert tomllib.loads(source.read_text())["gateway"]["profile"] == source.stem


def test_default_config_sets_every_key_to_its_default(tmp_path: Path) -> None:
    # The default file documents every key; it must not differ from what omitting it gives.
    written = load_config(relocated(tmp_path, SHIPPED[0]))
    bare = tmp_path / "bare"
    bare.mkdir()
    implied = load_config(minimal(bare))
    for section in ("radio", "schedule", "storage", "control", "limits"):
        assert getattr(written, section) == getattr(implied, section), section


def _keys(table: dict[str, object], prefix: str = "") -> set[str]:
    found: set[str] = set()
    for name, value in table.items():
        found.add(prefix + name)
        if isinstance(value, dict):
            found |= _keys(value, f"{prefix}{name}.")
    return found


def test_every_default_key_is_documented_in_readme() -> None:
    readme = (ROOT / "config" / "README.md").read_text()
    keys = {k for k in _keys(tomllib.loads(SHIPPED[0].read_text())) if "." in k}
    missing = sorted(k for k in keys if f"`{k}`" not in readme)
    assert missing == []


def test_every_model_key_appears_in_the_default_file(tmp_path: Path) -> None:
    text = SHIPPED[0].read_text()
    present = _keys(tomllib.loads(text))
    commented = set(re.findall(r"^# (\w+) = ", text, re.M))
    config = load_config(relocated(tmp_path, SHIPPED[0]))
    for section in ("gateway", "radio", "keys", "schedule", "uplink", "storage", "control"):
        for name in type(getattr(config, section)).model_fields:
            assert f"{section}.{name}" in present or name in commented, f"{section}.{name}"


# ----------------------------------------------------------------------------- profiles


@pytest.mark.parametrize("profile", PROFILES)
def test_profile_sets_limit_and_storage_defaults(tmp_path: Path, profile: str) -> None:
    config = load_config(minimal(tmp_path, profile=profile))
    limits = profile_limits(profile)
    assert config.limits.max_meters == limits.max_meters
    assert config.limits.frame_queue == limits.frame_queue
    assert config.limits.visible_meters == limits.visible_meters
    assert config.limits.memory_bytes == limits.memory_bytes
    assert config.storage.max_bytes == limits.storage_max_bytes


def test_profile_meter_counts_are_the_product_figures() -> None:
    counts = {p: profile_limits(p).max_meters for p in PROFILES}
    assert counts == {"concentrator": 10_000, "concentrator-1m": 30_000, "mini": 25, "bridge": 5}


def test_profile_limits_of_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="concentrator-1m"):
        profile_limits("gateway-xl")


@pytest.mark.parametrize("profile", PROFILES)
def test_max_meters_above_profile_refused(tmp_path: Path, profile: str) -> None:
    allowed = profile_limits(profile).max_meters
    path = minimal(tmp_path, f"[limits]\nmax_meters = {allowed + 1}\n", profile)
    assert error_of(path) == (
        f"{path}: limits.max_meters: profile {profile} allows at most {allowed}, got {allowed + 1}"
    )


def test_max_meters_below_profile_accepted(tmp_path: Path) -> None:
    config = load_config(minimal(tmp_path, "[limits]\nmax_meters = 100\n"))
    assert config.limits.max_meters == 100


def test_priority_meters_over_50_refused(tmp_path: Path) -> None:
    path = minimal(tmp_path, f"[schedule]\npriority_meters = {toml_list(ids(51))}\n")
    assert error_of(path) == f"{path}: schedule.priority_meters: at most 50 meters, got 51"


def test_priority_meters_50_accepted(tmp_path: Path) -> None:
    path = minimal(tmp_path, f"[schedule]\npriority_meters = {toml_list(ids(50))}\n")
    assert len(load_config(path).schedule.priority_meters) == 50


@pytest.mark.parametrize(("profile", "allowed"), [("mini", 25), ("bridge", 5)])
def test_priority_meters_over_small_profile_refused(
    tmp_path: Path, profile: str, allowed: int
) -> None:
    meters = toml_list(ids(allowed + 1))
    path = minimal(tmp_path, f"[schedule]\npriority_meters = {meters}\n", profile)
    assert error_of(path) == (
        f"{path}: schedule.priority_meters: at most {allowed} meters on profile {profile}, "
        f"got {allowed + 1}"
    )


def test_priority_meter_listed_twice_refused(tmp_path: Path) -> None:
    path = minimal(tmp_path, '[schedule]\npriority_meters = ["76348799", "76348799"]\n')
    assert error_of(path).endswith("schedule.priority_meters: meter 76348799 is listed twice")


def test_priority_meter_that_is_no_id_refused_with_position(tmp_path: Path) -> None:
    path = minimal(tmp_path, '[schedule]\npriority_meters = ["76348799", "7634"]\n')
    assert error_of(path) == (
        f"{path}: schedule.priority_meters[2]: meter id must be 8 digits, got '7634'"
    )


# ------------------------------------------------------------------- errors and format


def test_unknown_key_refused_naming_it(tmp_path: Path) -> None:
    path = minimal(tmp_path, "[radio]\nbaud = 57600\n")
    assert error_of(path) == f"{path}: radio.baud: unknown key"


def test_unknown_table_refused_naming_it(tmp_path: Path) -> None:
    path = minimal(tmp_path, "[mqtt]\nbroker = 'x'\n")
    assert error_of(path) == f"{path}: mqtt: unknown key"


def test_wrong_type_refused_with_both_types(tmp_path: Path) -> None:
    path = minimal(tmp_path, '[limits]\nframe_queue = "4096"\n')
    assert error_of(path) == f"{path}: limits.frame_queue: must be an integer, got string '4096'"


def test_integer_for_boolean_refused(tmp_path: Path) -> None:
    path = minimal(tmp_path, "[schedule]\nhourly = 1\n")
    assert error_of(path) == f"{path}: schedule.hourly: must be true or false, got integer 1"


def test_unknown_choice_refused_listing_the_choices(tmp_path: Path) -> None:
    path = minimal(tmp_path, '[radio]\nmode = "c2"\n')
    assert error_of(path) == (
        f"{path}: radio.mode: must be one of 'c1', 't1', 'c1t1' or 's1', got 'c2'"
    )


def test_unknown_profile_refused(tmp_path: Path) -> None:
    path = minimal(tmp_path, profile="mega")
    assert error_of(path).startswith(f"{path}: gateway.profile: must be one of 'concentrator'")


def test_missing_gateway_id_refused(tmp_path: Path) -> None:
    path = config_file(tmp_path, '[gateway]\n[uplink]\nbroker = "mqtt://h"\n')
    assert error_of(path) == f"{path}: gateway.id: required key missing"


def test_gateway_id_with_topic_characters_refused(tmp_path: Path) -> None:
    path = config_file(tmp_path, '[gateway]\nid = "gw/1"\n[uplink]\nbroker = "mqtt://h"\n')
    assert error_of(path).startswith(f"{path}: gateway.id: must be 1-64 letters")


def test_missing_uplink_refused(tmp_path: Path) -> None:
    path = config_file(tmp_path, '[gateway]\nid = "gw-1"\n')
    assert error_of(path).startswith(f"{path}: uplink: missing")


@pytest.mark.parametrize("broker", ["http://head-end:1883", "tcp://head-end", "head-end:1883"])
def test_broker_url_scheme_other_than_mqtt_refused(tmp_path: Path, broker: str) -> None:
    path = config_file(tmp_path, f'[gateway]\nid = "g"\n[uplink]\nbroker = "{broker}"\n')
    assert error_of(path) == (
        f"{path}: uplink.broker: must start with mqtt:// or mqtts://, got '{broker}'"
    )


def test_broker_without_host_refused(tmp_path: Path) -> None:
    path = config_file(tmp_path, '[gateway]\nid = "g"\n[uplink]\nbroker = "mqtts://:8883"\n')
    assert error_of(path) == f"{path}: uplink.broker: names no host: 'mqtts://:8883'"


def test_broker_port_defaults_by_tls(tmp_path: Path) -> None:
    config = load_config(minimal(tmp_path))
    assert config.uplink is not None
    assert (config.uplink.host, config.uplink.port, config.uplink.tls) == ("127.0.0.1", 1883, False)


def test_reply_prefix_defaults_to_headend_under_the_prefix(tmp_path: Path) -> None:
    config = load_config(minimal(tmp_path))
    assert config.uplink is not None
    assert config.uplink.reply_prefix == "concentratord/headend/"


def test_reply_prefix_default_follows_a_configured_prefix(tmp_path: Path) -> None:
    config = load_config(minimal(tmp_path, 'prefix = "water/amr"\n'))
    assert config.uplink is not None
    assert config.uplink.reply_prefix == "water/amr/headend/"


def test_reply_prefix_placeholder_is_replaced_by_the_prefix(tmp_path: Path) -> None:
    config = load_config(minimal(tmp_path, 'prefix = "water"\nreply_prefix = "hq/{prefix}"\n'))
    assert config.uplink is not None
    assert config.uplink.reply_prefix == "hq/water/"


def test_reply_prefix_reaches_the_broker_settings(tmp_path: Path) -> None:
    config = load_config(minimal(tmp_path, 'reply_prefix = "hq/replies"\n'))
    assert config.broker_settings(config.tenants[0]).reply_prefix == "hq/replies/"


def test_reply_prefix_in_the_gateway_tree_refused(tmp_path: Path) -> None:
    path = minimal(tmp_path, 'reply_prefix = "{prefix}/gateway/gw-test/replies"\n')
    assert error_of(path) == (
        f"{path}: uplink.reply_prefix: reply prefix 'concentratord/gateway/gw-test/replies' "
        "overlaps the gateway tree 'concentratord/gateway/': a reply could pass for the "
        "gateway's own messages"
    )


def test_reply_prefix_containing_the_gateway_tree_refused(tmp_path: Path) -> None:
    path = minimal(tmp_path, 'reply_prefix = "{prefix}"\n')
    assert "uplink.reply_prefix: reply prefix 'concentratord' overlaps" in error_of(path)


def test_reply_prefix_with_a_wildcard_refused(tmp_path: Path) -> None:
    path = minimal(tmp_path, 'reply_prefix = "hq/#"\n')
    assert error_of(path) == (
        f"{path}: uplink.reply_prefix: reply prefix 'hq/#' is not a valid topic prefix"
    )


def test_tls_file_with_plain_mqtt_refused(tmp_path: Path) -> None:
    write(tmp_path / "ca.pem", "PEM\n")
    path = minimal(tmp_path, 'ca_file = "ca.pem"\n')
    assert error_of(path) == f"{path}: uplink.ca_file: TLS files need an mqtts:// broker"


def test_cmd_port_for_a_serial_module_refused(tmp_path: Path) -> None:
    path = minimal(tmp_path, '[radio]\nmodule = "im871a"\nport = "cmd:rtl_sdr"\n')
    assert error_of(path).startswith(f"{path}: radio.port: 'cmd:' ports are for module")


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = config_file(tmp_path, '[gateway]\nid = "gw-1"\nprofile = mini\n')
    assert error_of(path) == f"{path}: line 3, column 11: invalid TOML: Invalid value"


def test_missing_file_refused(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    assert error_of(path) == f"{path}: cannot read: No such file or directory"


def test_several_errors_reported_as_the_first_and_a_count(tmp_path: Path) -> None:
    path = minimal(tmp_path, "[radio]\nbaud = 1\nparity = 'N'\n")
    assert error_of(path) == f"{path}: radio.baud: unknown key (and 1 more)"


@pytest.mark.parametrize(
    "text",
    [
        '[gateway]\nid = "g"\nprofile = "mini"\n[uplink]\nbroker = "mqtt://h"\n[radio]\nx = 1\n',
        '[gateway]\nid = """a\nb"""\n[uplink]\nbroker = "mqtt://h"\n',
        "[gateway\n",
        '[gateway]\nid = "g"\n[uplink]\nbroker = "mqtt://h"\nprefix = "a//b"\n',
    ],
)
def test_error_is_one_line_starting_with_the_file(tmp_path: Path, text: str) -> None:
    path = config_file(tmp_path, text)
    message = error_of(path)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")


# ------------------------------------------------------------------------------ purity


def test_validation_does_not_change_its_input(tmp_path: Path) -> None:
    data = tomllib.loads(minimal(tmp_path).read_text())
    before = copy.deepcopy(data)
    parse_config(data, str(tmp_path / "c.toml"))
    assert data == before


def test_failed_load_leaves_the_previous_config_as_it_was(tmp_path: Path) -> None:
    path = minimal(tmp_path)
    first = load_config(path)
    snapshot = first.model_dump()
    config_file(tmp_path, path.read_text() + "[limits]\nmax_meters = 99999\n")
    with pytest.raises(ConfigError):
        load_config(path)
    assert first.model_dump() == snapshot


def test_config_is_immutable(tmp_path: Path) -> None:
    config = load_config(minimal(tmp_path))
    with pytest.raises(ValidationError):
        setattr(config.gateway, "id", "other")  # noqa: B010 - mypy cannot see frozen


# ---------------------------------------------------------------------- paths, secrets


def test_relative_paths_are_taken_from_the_config_directory(tmp_path: Path) -> None:
    path = config_file(
        tmp_path, '[gateway]\nid = "g"\nstate_dir = "state"\n[uplink]\nbroker = "mqtt://h"\n'
    )
    config = load_config(path)
    assert config.gateway.state_dir == str(tmp_path / "state")
    assert config.storage.path == str(tmp_path / "state" / "store.sqlite")


def test_password_is_not_in_the_repr(tmp_path: Path) -> None:
    config = load_config(minimal(tmp_path, 'username = "u"\npassword = "hunter2"\n'))
    assert "hunter2" not in repr(config)
    assert config.uplink is not None and config.uplink.password is not None
    assert config.uplink.password.get_secret_value() == "hunter2"


# ---------------------------------------------------------------- control, check_config


def test_control_socket_defaults_to_the_runtime_directory(tmp_path: Path) -> None:
    assert load_config(minimal(tmp_path)).control.socket == "/run/concentratord/control.sock"


def test_access_role_is_the_highest_one_held(tmp_path: Path) -> None:
    extra = "[access.superuser]\nusers = [1000]\n[access.user]\ngroups = [100, 1000]\n"
    access = load_config(minimal(tmp_path, extra)).access
    assert access.role_of(0, []) == "administrator"
    assert access.role_of(1000, [1000]) == "superuser"
    assert access.role_of(1001, [100]) == "user"
    assert access.role_of(1001, [5]) is None


def test_roles_under_control_are_refused_with_where_they_went(tmp_path: Path) -> None:
    path = minimal(tmp_path, "[control.user]\nusers = [1000]\n")
    assert "control.user: roles are given in [access.user] now" in error_of(path)


def test_negative_uid_refused(tmp_path: Path) -> None:
    path = minimal(tmp_path, "[access.user]\nusers = [-1]\n")
    assert error_of(path).startswith(f"{path}: access.user.users[1]: a uid or gid must not")


def test_check_config_of_a_plain_file_has_no_warnings(tmp_path: Path) -> None:
    # No role names: whether group "concentratord" exists depends on the test machine.
    text = '[gateway]\nid = "g"\n[uplink]\nbroker = "mqtt://h"\n[access.user]\ngroups = []\n'
    assert check_config(config_file(tmp_path, text)) == []


def test_check_config_warns_about_unknown_role_names(tmp_path: Path) -> None:
    path = minimal(tmp_path, '[access.superuser]\ngroups = ["no-such-group-here"]\n')
    assert f"{path}: access.superuser.groups: no such group: 'no-such-group-here'" in (
        check_config(path)
    )


def test_check_config_warns_about_accelerated_time(tmp_path: Path) -> None:
    path = minimal(tmp_path, "[schedule]\ntime_scale = 360\n")
    assert any("schedule.time_scale" in w for w in check_config(path))


def test_check_config_warns_about_a_password_over_plain_mqtt(tmp_path: Path) -> None:
    path = minimal(tmp_path, 'username = "u"\npassword = "p"\n')
    assert f"{path}: uplink.password: sent unencrypted over mqtt://; use mqtts://" in (
        check_config(path)
    )


def test_check_config_raises_like_load_config(tmp_path: Path) -> None:
    path = minimal(tmp_path, "[radio]\nbaud = 1\n")
    with pytest.raises(ConfigError, match=r"radio\.baud: unknown key"):
        check_config(path)
