"""Which changes a reload may make (docs/operations.md, "Reload")."""

from __future__ import annotations

from pathlib import Path

import pytest

from concentratord.config import Config, load_config
from concentratord.reload import ReloadRefusedError, changed_keys, check_reload, is_live
from tests.concentratord.config_helpers import config_file, minimal


def two(tmp_path: Path, before: str, after: str) -> tuple[Config, Config]:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = load_config(minimal(tmp_path / "a", before))
    second = load_config(minimal(tmp_path / "b", after))
    return first, second


def test_an_unchanged_file_changes_nothing(tmp_path: Path) -> None:
    old, new = two(tmp_path, "", "")
    assert changed_keys(old, new) == []


def test_priority_meters_change_live(tmp_path: Path) -> None:
    old, new = two(tmp_path, "", '[schedule]\npriority_meters = ["12345678"]\n')
    assert check_reload(old, new) == ["schedule.priority_meters"]


def test_a_radio_change_is_refused_naming_the_key(tmp_path: Path) -> None:
    old, new = two(tmp_path, "", '[radio]\nport = "/dev/ttyUSB7"\n')
    with pytest.raises(ReloadRefusedError, match=r"radio\.port cannot change while running"):
        check_reload(old, new)


def test_a_changed_password_is_seen_and_named_without_its_value(tmp_path: Path) -> None:
    text = '[gateway]\nid = "g"\n[uplink]\nbroker = "mqtt://h"\nusername = "gw"\npassword = "{}"\n'
    old = load_config(config_file(tmp_path, text.format("old-secret"), "a.toml"))
    new = load_config(config_file(tmp_path, text.format("new-secret"), "b.toml"))
    with pytest.raises(ReloadRefusedError) as err:
        check_reload(old, new)
    assert "secret" in str(err.value) and "new-secret" not in str(err.value)


@pytest.mark.parametrize(
    ("key", "live"),
    [
        ("access.user.groups", True),
        ("log.level", True),
        ("visibility.silent_after", True),
        ("schedule.hourly", False),
        ("tenant[1].meters", False),
    ],
)
def test_what_may_change_live(key: str, live: bool) -> None:
    assert is_live(key) is live
