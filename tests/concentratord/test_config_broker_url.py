"""A broker URL refused by the configuration check never shows its password: the reason
goes to stderr and from there to the journal."""

from __future__ import annotations

from pathlib import Path

import pytest

from concentratord.config import ConfigError, load_config
from tests.concentratord.config_helpers import config_file

CONFIG = """\
[gateway]
id = "gw-test"

[uplink]
broker = "{url}"
"""


def reason(tmp_path: Path, url: str) -> str:
    path = config_file(tmp_path, CONFIG.format(url=url))
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    return str(caught.value)


def test_credentials_in_the_url_are_refused_without_the_password(tmp_path: Path) -> None:
    text = reason(tmp_path, "mqtts://meter:hunter2@head-end.example:8883")
    assert "uplink.broker" in text and "credentials go in username/password" in text
    assert "hunter2" not in text and "meter:***@head-end.example" in text


def test_wrong_scheme_with_a_password_is_refused_without_it(tmp_path: Path) -> None:
    text = reason(tmp_path, "https://meter:hunter2@head-end.example")
    assert "mqtt://" in text and "hunter2" not in text


def test_invalid_port_with_a_password_is_refused_without_it(tmp_path: Path) -> None:
    text = reason(tmp_path, "mqtt://meter:hunter2@head-end.example:99999")
    assert "invalid port" in text and "hunter2" not in text


def test_a_url_without_a_password_is_shown_as_written(tmp_path: Path) -> None:
    assert "'http://head-end.example'" in reason(tmp_path, "http://head-end.example")
