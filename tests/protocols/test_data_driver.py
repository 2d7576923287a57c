"""Drivers as data (issue 12, docs/drivers.md): a TOML table becomes a driver, and a table
that is not valid is refused naming its file and key."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from protocols.meters.builtin_data import builtin_data_drivers, parse_driver
from protocols.meters.data_driver import DataDriver, DriverDataError, driver_from_table
from protocols.meters.registry import BUILTIN, DriverConflictError, Registry
from protocols.records import encode_records, encode_scaled, parse_records
from protocols.telegram import MeterAddress, Telegram

METER = MeterAddress("ACM", "12345678", 0x01, 0x07)
ACME = """
name = "acme"
mvt = [["ACM", 0x01, 0x07]]
base = "none"

[[field]]
name = "total"
quantity = "volume"
match = { vif = "volume" }

[[field]]
name = "status"
quantity = "text"
match = { vif = "error_flags" }
lookup = "errors"
status = true

[lookup.errors]
kind = "bits"
default = "OK"
bits = { "0x01" = "LEAK", "0x04" = "LOW_BATTERY" }
"""


def telegram(block: bytes, status: int | None = 0) -> Telegram:
    return Telegram(
        METER, METER, 0x44, 0x7A, 1, status, 0, 0, False, block, tuple(parse_records(block))
    )


def block(volume_m3: float, error_flags: int) -> bytes:
    return encode_scaled(bytes.fromhex("0413"), volume_m3) + encode_records(
        [(bytes.fromhex("02FD17"), error_flags)]
    )


def acme(**changes: Any) -> DataDriver:
    table = tomllib.loads(ACME)
    table.update(changes)
    return driver_from_table(table, "acme.toml")


def error_of(text: str) -> str:
    with pytest.raises(DriverDataError) as caught:
        parse_driver(text, "drivers.d/acme.toml")
    return str(caught.value)


def test_a_table_declares_the_meters_and_the_fields_of_a_driver() -> None:
    driver = acme()
    assert driver.name == "acme" and driver.mvt == {("ACM", 0x01, 0x07)}
    assert driver.fields(telegram(block(12.345, 0))) == {"total_m3": 12.345, "status": "OK"}


def test_status_bits_become_words_and_unknown_bits_are_kept() -> None:
    fields = acme().fields(telegram(block(1.0, 0x01 | 0x04 | 0x80)))
    assert fields["status"] == "ERRORS_80 LEAK LOW_BATTERY"


def test_a_generic_base_names_every_record_and_renames_some() -> None:
    driver = acme(base="generic", field=[], lookup={}, renames={"total_m3": "volume_m3"})
    fields = driver.fields(telegram(block(2.0, 0)))
    assert fields["volume_m3"] == 2.0 and "total_m3" not in fields and fields["status"] == "OK"


def test_a_generic_base_drops_what_it_is_told_to() -> None:
    driver = acme(base="generic", field=[], lookup={}, drop=["error_flags"])
    assert "error_flags" not in driver.fields(telegram(block(2.0, 0)))


def test_an_unknown_key_is_named_with_the_file() -> None:
    message = error_of('colour = "red"\n' + ACME)
    assert message.startswith("drivers.d/acme.toml: colour: unknown key (known: aliases, base,")


def test_an_unknown_key_in_a_lookup_is_named_by_its_table() -> None:
    message = error_of(ACME + 'colour = "red"\n')
    assert message.startswith("drivers.d/acme.toml: lookup.errors.colour: unknown key")


def test_a_wrong_quantity_of_the_record_is_named_by_its_field() -> None:
    message = error_of(ACME.replace('vif = "volume"', 'vif = "volumes"'))
    assert message.startswith("drivers.d/acme.toml: field[0].match[0].vif: must be one of")


def test_a_triple_that_is_not_one_is_refused() -> None:
    message = error_of(ACME.replace('["ACM", 0x01, 0x07]', '["acm", 1, 7]'))
    assert "mvt[0][0]: must be three capital letters" in message
    message = error_of(ACME.replace('["ACM", 0x01, 0x07]', '["ACM", 1, 256]'))
    assert "mvt[0][2]: must be an integer 0-255" in message


def test_a_field_naming_a_missing_lookup_is_refused() -> None:
    assert "field[1].lookup: no [lookup.alarms] table" in error_of(
        ACME.replace('lookup = "errors"', 'lookup = "alarms"')
    )


def test_a_file_that_is_not_toml_is_refused_with_its_name() -> None:
    assert error_of("name = ").startswith("drivers.d/acme.toml: (file): not TOML")


def test_only_declared_fields_without_any_is_refused() -> None:
    assert 'base = "none" needs at least one' in error_of(
        'name = "acme"\nmvt = [["ACM", 1, 7]]\nbase = "none"\n'
    )


def test_every_builtin_data_driver_names_its_sources() -> None:
    drivers = builtin_data_drivers()
    assert drivers
    assert [d.name for d in drivers if not d.about["sources"]] == []


def test_builtin_data_drivers_are_in_the_registry() -> None:
    for driver in builtin_data_drivers():
        assert BUILTIN.named(driver.name) is not None


def test_a_driver_claiming_a_taken_triple_is_refused_naming_both() -> None:
    first = acme()
    second = acme(name="other")
    with pytest.raises(DriverConflictError, match="claimed by acme and other"):
        Registry((first, second))


def test_an_extended_registry_serves_the_added_driver() -> None:
    registry = BUILTIN.extended([acme()])
    assert registry.driver_for(METER).name == "acme"
    assert BUILTIN.driver_for(METER).name == "generic"
