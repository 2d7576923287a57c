"""``[[mbus]]``: the wired buses polled (config/README.md, "[[mbus]]")."""

from __future__ import annotations

from pathlib import Path

import pytest

from concentratord.config import ConfigError, load_config
from tests.concentratord.config_helpers import minimal

SECONDARY = "332211002D2C0304"  # id 00112233, manufacturer KAM, version 3, medium 4


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return str(caught.value)


def test_no_table_means_no_wired_bus(tmp_path: Path) -> None:
    assert load_config(minimal(tmp_path)).mbus == ()


def test_a_bus_polls_its_meters_at_the_bus_rate_and_interval(tmp_path: Path) -> None:
    text = (
        '[[mbus]]\nport = "/dev/ttyUSB1"\ninterval = "15m"\n'
        f'[[mbus.meter]]\naddress = 5\n[[mbus.meter]]\naddress = "{SECONDARY}"\n'
        'interval = "1h"\nbaud = 9600\n'
    )
    (bus,) = load_config(minimal(tmp_path, text)).mbus
    assert (bus.port, bus.baud, bus.interval, bus.retries, bus.answer_margin_ms) == (
        "/dev/ttyUSB1",
        2400,
        900,
        2,
        100,
    )
    first, second = bus.meter
    assert (first.address, first.interval, first.baud) == (5, None, None)
    assert (second.address, second.interval, second.baud) == (SECONDARY, 3600, 9600)


def test_a_primary_address_beyond_250_is_refused(tmp_path: Path) -> None:
    text = '[[mbus]]\nport = "/dev/ttyUSB1"\n[[mbus.meter]]\naddress = 251\n'
    assert "mbus[1].meter[1].address: a primary address is 0-250" in error_of(
        minimal(tmp_path, text)
    )


def test_a_secondary_address_must_be_16_hex_digits(tmp_path: Path) -> None:
    text = '[[mbus]]\nport = "/dev/ttyUSB1"\n[[mbus.meter]]\naddress = "1234"\n'
    assert "expected 16 hex digits" in error_of(minimal(tmp_path, text))


def test_a_secondary_address_with_a_wildcard_is_refused(tmp_path: Path) -> None:
    text = '[[mbus]]\nport = "/dev/ttyUSB1"\n[[mbus.meter]]\naddress = "FFFFFFFF2D2C0304"\n'
    assert "holds a wildcard" in error_of(minimal(tmp_path, text))


def test_the_same_meter_twice_on_a_bus_is_refused(tmp_path: Path) -> None:
    text = '[[mbus]]\nport = "/dev/ttyUSB1"\n' + "[[mbus.meter]]\naddress = 7\n" * 2
    assert "mbus[1].meter[2].address: 7 is also meter[1]" in error_of(minimal(tmp_path, text))


def test_a_rate_outside_the_standard_is_refused(tmp_path: Path) -> None:
    text = '[[mbus]]\nport = "/dev/ttyUSB1"\nbaud = 4800\n'
    assert "mbus[1].baud" in error_of(minimal(tmp_path, text))


def test_a_bus_on_the_radio_port_is_refused(tmp_path: Path) -> None:
    text = '[[mbus]]\nport = "/dev/ttyUSB0"\n'  # the radio's default port
    assert "mbus[1].port: /dev/ttyUSB0 is also radio.port" in error_of(minimal(tmp_path, text))


def test_two_buses_on_one_port_are_refused(tmp_path: Path) -> None:
    text = '[[mbus]]\nport = "/dev/ttyUSB1"\n' * 2
    assert "mbus[2].port: /dev/ttyUSB1 is also mbus[1].port" in error_of(minimal(tmp_path, text))


def test_a_relative_port_is_refused(tmp_path: Path) -> None:
    assert "mbus[1].port: must be an absolute" in error_of(
        minimal(tmp_path, '[[mbus]]\nport = "ttyUSB1"\n')
    )


def test_a_poll_interval_under_a_minute_is_refused(tmp_path: Path) -> None:
    text = '[[mbus]]\nport = "/dev/ttyUSB1"\ninterval = "30s"\n'
    assert "mbus[1].interval" in error_of(minimal(tmp_path, text))


def test_a_secondary_address_with_hex_digits_in_its_id_is_refused(tmp_path: Path) -> None:
    text = '[[mbus]]\nport = "/dev/ttyUSB1"\n[[mbus.meter]]\naddress = "3322AA002D2C0304"\n'
    assert "must be decimal (BCD)" in error_of(minimal(tmp_path, text))


def test_a_battery_bridge_polls_no_wired_bus(tmp_path: Path) -> None:
    text = '[bridge]\n[[mbus]]\nport = "/dev/ttyUSB1"\n'
    assert "mbus: a battery bridge ([bridge]) polls no wired bus" in error_of(
        minimal(tmp_path, text, profile="bridge")
    )
