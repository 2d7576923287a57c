"""``[bridge]``: the battery bridge's windows and sessions (config/README.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from concentratord.config import ConfigError, load_config
from tests.concentratord.config_helpers import minimal


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return str(caught.value)


def test_a_bridge_without_the_table_is_not_duty_cycled(tmp_path: Path) -> None:
    assert load_config(minimal(tmp_path, profile="bridge")).bridge is None


def test_the_defaults_listen_automatically_and_deliver_four_times_a_day(tmp_path: Path) -> None:
    bridge = load_config(minimal(tmp_path, "[bridge]\n", profile="bridge")).bridge
    assert bridge is not None
    assert (bridge.listen, bridge.sleep, bridge.deliveries) == ("auto", 7200, 4)
    assert bridge.alarm_uplink == "immediate"


def test_windows_take_durations_with_units(tmp_path: Path) -> None:
    text = '[bridge]\nlisten = "10m"\nsleep = "50m"\ndeliveries = 2\n'
    bridge = load_config(minimal(tmp_path, text, profile="bridge")).bridge
    assert bridge is not None
    assert (bridge.listen, bridge.sleep, bridge.deliveries) == (600, 3000, 2)


def test_the_table_is_refused_on_another_profile(tmp_path: Path) -> None:
    message = error_of(minimal(tmp_path, "[bridge]\n", profile="mini"))
    assert "bridge" in message and 'only with profile = "bridge"' in message


def test_a_window_shorter_than_two_minutes_is_refused(tmp_path: Path) -> None:
    message = error_of(minimal(tmp_path, "[bridge]\nlisten = 60\n", profile="bridge"))
    assert "bridge.listen" in message


def test_an_unknown_alarm_uplink_is_refused(tmp_path: Path) -> None:
    message = error_of(minimal(tmp_path, '[bridge]\nalarm_uplink = "never"\n', profile="bridge"))
    assert "bridge.alarm_uplink" in message


def test_a_session_longer_than_the_gap_between_deliveries_is_refused(tmp_path: Path) -> None:
    text = '[bridge]\ndeliveries = 96\nsession_max = "1h"\n'
    message = error_of(minimal(tmp_path, text, profile="bridge"))
    assert "bridge.session_max" in message
